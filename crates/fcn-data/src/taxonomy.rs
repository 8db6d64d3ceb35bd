//! The transit taxonomy: one label space for street and rail scenes, so several datasets train
//! one model.
//!
//! The first 19 classes are the Cityscapes train ids in their order (so Cityscapes, KITTI and
//! BDD100K labels need no remapping); class 19 is rail track, which street datasets lack and
//! rail and tram feeds need. Value 255 is ignore.
//!
//! Mapping tables from other datasets are CSV files (`crates/fcn-data/taxonomy/*.csv`, embedded
//! in the library) that a user can copy, edit and load with [`LabelRemap::from_csv`].
//!
//! ```
//! use fcn_data::taxonomy::{SourceDataset, transit_remap};
//!
//! let remap = transit_remap(SourceDataset::RailSem19);
//! assert_eq!(remap.get(12), 19); // rail-track -> rail track
//! assert_eq!(remap.get(11), 11); // human -> person
//! assert_eq!(remap.get(255), 255);
//! ```

use std::path::Path;

use ndarray::Array2;

use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::sample::{LabelMap, Sample};

/// Name and colour (RGB, Cityscapes-like) of each transit class, by index.
pub const TRANSIT_CLASSES: [(&str, [u8; 3]); 20] = [
    ("road", [128, 64, 128]),
    ("sidewalk", [244, 35, 232]),
    ("building", [70, 70, 70]),
    ("wall", [102, 102, 156]),
    ("fence", [190, 153, 153]),
    ("pole", [153, 153, 153]),
    ("traffic light", [250, 170, 30]),
    ("traffic sign", [220, 220, 0]),
    ("vegetation", [107, 142, 35]),
    ("terrain", [152, 251, 152]),
    ("sky", [70, 130, 180]),
    ("person", [220, 20, 60]),
    ("rider", [255, 0, 0]),
    ("car", [0, 0, 142]),
    ("truck", [0, 0, 70]),
    ("bus", [0, 60, 100]),
    ("train/tram", [0, 80, 100]),
    ("motorcycle", [0, 0, 230]),
    ("bicycle", [119, 11, 32]),
    ("rail track", [230, 150, 140]),
];

/// The label value of ignored pixels in the transit taxonomy.
pub const TRANSIT_IGNORE: u8 = 255;

/// The transit taxonomy as a class set (ignore 255, every class evaluated).
pub fn transit_classes() -> ClassSet {
    let names = TRANSIT_CLASSES.iter().map(|(n, _)| n.to_string()).collect();
    let colors = TRANSIT_CLASSES.iter().map(|(_, c)| *c).collect();
    match ClassSet::new(names, colors) {
        Ok(set) => set,
        // The table above is non-empty with one colour per name.
        Err(_) => unreachable!("the transit table is well formed"),
    }
}

/// A label dataset whose classes have a mapping table into the transit taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SourceDataset {
    /// Cityscapes label ids (`*_gtFine_labelIds.png`, 0..33): train ids plus rail track.
    CityscapesLabelIds,
    /// Cityscapes train ids (0..18): the same classes, in the same order.
    CityscapesTrainIds,
    /// KITTI semantics label ids: Cityscapes label ids, so the same table.
    KittiSemantics,
    /// The KITTI road benchmark as [`crate::kitti::KittiRoad`] reads it (0 non-road, 1 road).
    KittiRoad,
    /// PASCAL VOC, 21 classes (0 background).
    Voc21,
    /// COCO, 80 categories as contiguous ids 1..80 in category-id order, 0 background.
    Coco80,
    /// ADE20K SceneParsing, 150 classes after mmseg's reduce-zero-label (0..149).
    Ade20k150,
    /// Mapillary Vistas v1.2, 66 labels (65 'Unlabeled').
    MapillaryV12,
    /// RailSem19, 19 labels.
    RailSem19,
    /// BDD100K semantic masks: Cityscapes train ids.
    Bdd100k,
}

impl SourceDataset {
    /// Every source with a table.
    pub const ALL: [SourceDataset; 10] = [
        SourceDataset::CityscapesLabelIds,
        SourceDataset::CityscapesTrainIds,
        SourceDataset::KittiSemantics,
        SourceDataset::KittiRoad,
        SourceDataset::Voc21,
        SourceDataset::Coco80,
        SourceDataset::Ade20k150,
        SourceDataset::MapillaryV12,
        SourceDataset::RailSem19,
        SourceDataset::Bdd100k,
    ];

    /// A short name for command lines and configuration files: `cityscapes-label-ids`,
    /// `cityscapes-train-ids`, `kitti-semantics`, `kitti-road`, `voc21`, `coco80`, `ade20k150`,
    /// `mapillary-v1.2`, `railsem19`, `bdd100k`.
    pub fn name(self) -> &'static str {
        match self {
            SourceDataset::CityscapesLabelIds => "cityscapes-label-ids",
            SourceDataset::CityscapesTrainIds => "cityscapes-train-ids",
            SourceDataset::KittiSemantics => "kitti-semantics",
            SourceDataset::KittiRoad => "kitti-road",
            SourceDataset::Voc21 => "voc21",
            SourceDataset::Coco80 => "coco80",
            SourceDataset::Ade20k150 => "ade20k150",
            SourceDataset::MapillaryV12 => "mapillary-v1.2",
            SourceDataset::RailSem19 => "railsem19",
            SourceDataset::Bdd100k => "bdd100k",
        }
    }

    /// The source called `name` (see [`SourceDataset::name`]).
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
                Error::invalid(
                    "taxonomy source",
                    format!("{name:?} is not one of {}", known.join(", ")),
                )
            })
    }

    /// The file name of its table under `crates/fcn-data/taxonomy/` (embedded in the library).
    pub fn table_file(self) -> &'static str {
        match self {
            SourceDataset::CityscapesLabelIds | SourceDataset::KittiSemantics => {
                "cityscapes_label_ids.csv"
            }
            SourceDataset::CityscapesTrainIds => "cityscapes_train_ids.csv",
            SourceDataset::KittiRoad => "kitti_road.csv",
            SourceDataset::Voc21 => "voc21.csv",
            SourceDataset::Coco80 => "coco80.csv",
            SourceDataset::Ade20k150 => "ade20k150.csv",
            SourceDataset::MapillaryV12 => "mapillary_v1_2.csv",
            SourceDataset::RailSem19 => "railsem19.csv",
            SourceDataset::Bdd100k => "bdd100k.csv",
        }
    }

    /// The embedded text of its table.
    pub fn table_text(self) -> &'static str {
        match self {
            SourceDataset::CityscapesLabelIds | SourceDataset::KittiSemantics => {
                include_str!("../taxonomy/cityscapes_label_ids.csv")
            }
            SourceDataset::CityscapesTrainIds => {
                include_str!("../taxonomy/cityscapes_train_ids.csv")
            }
            SourceDataset::KittiRoad => include_str!("../taxonomy/kitti_road.csv"),
            SourceDataset::Voc21 => include_str!("../taxonomy/voc21.csv"),
            SourceDataset::Coco80 => include_str!("../taxonomy/coco80.csv"),
            SourceDataset::Ade20k150 => include_str!("../taxonomy/ade20k150.csv"),
            SourceDataset::MapillaryV12 => include_str!("../taxonomy/mapillary_v1_2.csv"),
            SourceDataset::RailSem19 => include_str!("../taxonomy/railsem19.csv"),
            SourceDataset::Bdd100k => include_str!("../taxonomy/bdd100k.csv"),
        }
    }
}

/// One row of a mapping table: a source label value, its name in the source dataset, and the
/// target class it becomes (255 for ignore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRow {
    /// The value in the source label maps.
    pub source_value: u16,
    /// The source dataset's name for it.
    pub source_name: String,
    /// The target class index, or the target's ignore value.
    pub target: u8,
}

/// A mapping table from a source label space into a target class set, read from CSV.
///
/// The format, one row per line: `source_value,source_name,target_class`, where
/// `target_class` is a class name of the target set or `ignore`. Lines starting with `#` and
/// blank lines are skipped; a first row `source_value,source_name,transit_class` (any third
/// header word) is a header. A source value may appear once. Values not listed map to ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingTable {
    /// The rows, in file order.
    pub rows: Vec<MappingRow>,
    /// The value unlisted and `ignore` rows map to.
    pub ignore: u8,
}

impl MappingTable {
    /// Parses a table into `target`; `origin` names the text in errors (a file path).
    pub fn parse(text: &str, origin: &Path, target: &ClassSet) -> Result<Self> {
        let ignore = match target.ignore() {
            Some(v) => u8::try_from(v).map_err(|_| {
                Error::invalid(
                    "mapping target",
                    format!("ignore value {v} does not fit in u8"),
                )
            })?,
            None => TRANSIT_IGNORE,
        };
        if target.len() > usize::from(ignore) {
            return Err(Error::invalid(
                "mapping target",
                format!(
                    "{} classes collide with ignore value {ignore}",
                    target.len()
                ),
            ));
        }
        let mut rows: Vec<MappingRow> = Vec::new();
        let mut seen = vec![false; 1 << 16];
        for (number, line) in text.lines().enumerate() {
            let line_name = || format!("line {}", number + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != 3 {
                return Err(Error::format(
                    origin,
                    line_name(),
                    "3 comma-separated fields: source_value,source_name,target_class",
                    format!("{} fields in {line:?}", fields.len()),
                ));
            }
            if rows.is_empty() && fields[0] == "source_value" {
                continue;
            }
            let source_value: u16 = fields[0].parse().map_err(|_| {
                Error::format(
                    origin,
                    line_name(),
                    "a source value 0..65535",
                    format!("{:?}", fields[0]),
                )
            })?;
            if std::mem::replace(&mut seen[usize::from(source_value)], true) {
                return Err(Error::format(
                    origin,
                    line_name(),
                    "each source value once",
                    format!("{source_value} again"),
                ));
            }
            let target_index = if fields[2] == "ignore" {
                ignore
            } else {
                match target.index_of(fields[2]) {
                    // `index < len <= ignore <= 255`, checked above.
                    Some(index) => index as u8,
                    None => {
                        return Err(Error::format(
                            origin,
                            line_name(),
                            format!("a target class ({}) or 'ignore'", target.names().join(", ")),
                            format!("{:?}", fields[2]),
                        ));
                    }
                }
            };
            rows.push(MappingRow {
                source_value,
                source_name: fields[1].to_string(),
                target: target_index,
            });
        }
        Ok(Self { rows, ignore })
    }

    /// Reads a table file into `target`.
    pub fn read(path: &Path, target: &ClassSet) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::read(path, source))?;
        Self::parse(&text, path, target)
    }

    /// The embedded table from `source` into the transit taxonomy.
    pub fn transit(source: SourceDataset) -> Self {
        let origin = Path::new(source.table_file());
        match Self::parse(source.table_text(), origin, &transit_classes()) {
            Ok(table) => table,
            // The embedded tables are checked by the tests.
            Err(error) => unreachable!("embedded taxonomy table is malformed: {error}"),
        }
    }

    /// The lookup this table defines.
    pub fn remap(&self) -> LabelRemap {
        let mut remap = LabelRemap::all_to(self.ignore);
        for row in &self.rows {
            remap.set(row.source_value, row.target);
        }
        remap
    }
}

/// A lookup from source label values (`u16`) to target classes (`u8`); values without an
/// entry map to ignore.
#[derive(Clone, PartialEq, Eq)]
pub struct LabelRemap {
    table: Box<[u8]>,
}

impl std::fmt::Debug for LabelRemap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        let ignore = self.table.last().copied().unwrap_or(TRANSIT_IGNORE);
        for (value, &target) in self.table.iter().enumerate() {
            if target != ignore {
                map.entry(&value, &target);
            }
        }
        map.finish()
    }
}

impl LabelRemap {
    /// A lookup sending every value to `target`.
    pub fn all_to(target: u8) -> Self {
        Self {
            table: vec![target; 1 << 16].into_boxed_slice(),
        }
    }

    /// A lookup from `(source, target)` pairs; other values map to `ignore`.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u16, u8)>, ignore: u8) -> Self {
        let mut remap = Self::all_to(ignore);
        for (source, target) in pairs {
            remap.set(source, target);
        }
        remap
    }

    /// Reads a mapping table CSV (see [`MappingTable`]) into the transit taxonomy. Errors name
    /// the file and line.
    pub fn from_csv(path: &Path) -> Result<Self> {
        Ok(MappingTable::read(path, &transit_classes())?.remap())
    }

    /// Maps `source` to `target`.
    pub fn set(&mut self, source: u16, target: u8) {
        self.table[usize::from(source)] = target;
    }

    /// The target of `source`.
    pub fn get(&self, source: u16) -> u8 {
        self.table[usize::from(source)]
    }

    /// Applies the lookup to every pixel; the result is always `u8`.
    pub fn apply(&self, label: &LabelMap) -> LabelMap {
        LabelMap::U8(match label {
            LabelMap::U8(map) => self.apply_u8(map),
            LabelMap::U16(map) => map.mapv(|v| self.get(v)),
        })
    }

    /// Applies the lookup to an 8-bit map.
    pub fn apply_u8(&self, map: &Array2<u8>) -> Array2<u8> {
        map.mapv(|v| self.table[usize::from(v)])
    }
}

/// The lookup from `source`'s labels into the transit taxonomy (embedded table).
pub fn transit_remap(source: SourceDataset) -> LabelRemap {
    MappingTable::transit(source).remap()
}

/// A dataset whose labels are passed through a [`LabelRemap`] into another class set, such as
/// the transit taxonomy.
#[derive(Debug, Clone)]
pub struct Remapped<D> {
    inner: D,
    remap: LabelRemap,
    classes: ClassSet,
}

impl<D: Dataset> Remapped<D> {
    /// `inner`'s samples with labels remapped by `remap` into `classes`.
    pub fn new(inner: D, remap: LabelRemap, classes: ClassSet) -> Self {
        Self {
            inner,
            remap,
            classes,
        }
    }

    /// `inner`'s samples in the transit taxonomy, through the embedded table of `source`.
    pub fn to_transit(inner: D, source: SourceDataset) -> Self {
        Self::new(inner, transit_remap(source), transit_classes())
    }

    /// The wrapped dataset.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Dataset> Dataset for Remapped<D> {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        let mut sample = self.inner.get(index)?;
        sample.label = self.remap.apply(&sample.label);
        Ok(sample)
    }

    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rows_name_the_file_and_line() {
        let classes = transit_classes();
        let origin = Path::new("my/table.csv");
        let cases = [
            (
                "source_value,source_name,transit_class\n1,a,road\n2,b,spaceship\n",
                "line 3",
            ),
            ("# c\n1,a\n", "line 2"),
            ("x,a,road\n", "line 1"),
            ("1,a,road\n1,b,sky\n", "line 2"),
            ("70000,a,road\n", "line 1"),
        ];
        for (text, line) in cases {
            let message = MappingTable::parse(text, origin, &classes)
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("my/table.csv") && message.contains(line),
                "{message}"
            );
        }
    }

    #[test]
    fn source_names_round_trip() {
        for source in SourceDataset::ALL {
            assert_eq!(SourceDataset::from_name(source.name()).unwrap(), source);
        }
        let message = SourceDataset::from_name("kitty").unwrap_err().to_string();
        assert!(
            message.contains("kitty") && message.contains("railsem19"),
            "{message}"
        );
    }

    #[test]
    fn unlisted_values_are_ignored() {
        let table =
            MappingTable::parse("3,a,sky\n4,b,ignore\n", Path::new("t"), &transit_classes())
                .unwrap();
        let remap = table.remap();
        assert_eq!(remap.get(3), 10);
        assert_eq!(remap.get(4), TRANSIT_IGNORE);
        assert_eq!(remap.get(0), TRANSIT_IGNORE);
        assert_eq!(remap.get(u16::MAX), TRANSIT_IGNORE);
        assert_eq!(format!("{remap:?}"), "{3: 10}");
    }
}
