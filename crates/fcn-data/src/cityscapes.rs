//! Cityscapes: `leftImg8bit` / `gtFine` (or `gtCoarse`) pairing, the full cityscapesScripts
//! label table, label ids -> train ids (19 classes, 255 ignore), and 16-bit instance ids.
//!
//! Layout: `leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png` with
//! `gtFine/{split}/{city}/{stem}_gtFine_labelIds.png` (8-bit label ids),
//! `_gtFine_instanceIds.png` (16-bit) and, when made by `createTrainIdLabelImgs.py`,
//! `_gtFine_labelTrainIds.png`. Images are found by a recursive scan sorted by path, as mmseg
//! does.
//!
//! ```
//! use fcn_data::cityscapes::{LABEL_ID_TO_TRAIN_ID, label_by_id};
//!
//! assert_eq!(LABEL_ID_TO_TRAIN_ID[7], 0); // road
//! assert_eq!(LABEL_ID_TO_TRAIN_ID[10], 255); // rail track is ignored in Cityscapes
//! assert_eq!(label_by_id(26).map(|l| l.name), Some("car"));
//! ```

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::folder::{check_index, check_sizes, missing_label, scan_suffix};
use crate::image_io::read_rgb;
use crate::label_png::read_label_png;
use crate::sample::{LabelMap, Sample};

/// One row of cityscapesScripts' `helpers/labels.py` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CityscapesLabel {
    /// The label's name.
    pub name: &'static str,
    /// The value in `_labelIds.png` (-1 for license plate, which is never drawn).
    pub id: i16,
    /// The train id (0..18), 255 for ignored labels, -1 for license plate.
    pub train_id: i16,
    /// The category name.
    pub category: &'static str,
    /// The category id.
    pub category_id: u8,
    /// Whether instances are annotated (`_instanceIds` holds `id * 1000 + k`).
    pub has_instances: bool,
    /// Whether evaluation ignores the label.
    pub ignore_in_eval: bool,
    /// Its colour (RGB).
    pub color: [u8; 3],
}

// One argument per column, in the order of the Python `Label` namedtuple, so rows read alike.
#[allow(clippy::too_many_arguments)]
const fn label(
    name: &'static str,
    id: i16,
    train_id: i16,
    category: &'static str,
    category_id: u8,
    has_instances: bool,
    ignore_in_eval: bool,
    color: [u8; 3],
) -> CityscapesLabel {
    CityscapesLabel {
        name,
        id,
        train_id,
        category,
        category_id,
        has_instances,
        ignore_in_eval,
        color,
    }
}

/// The full cityscapesScripts label table, in its order (35 rows).
pub const LABELS: [CityscapesLabel; 35] = [
    label("unlabeled", 0, 255, "void", 0, false, true, [0, 0, 0]),
    label("ego vehicle", 1, 255, "void", 0, false, true, [0, 0, 0]),
    label(
        "rectification border",
        2,
        255,
        "void",
        0,
        false,
        true,
        [0, 0, 0],
    ),
    label("out of roi", 3, 255, "void", 0, false, true, [0, 0, 0]),
    label("static", 4, 255, "void", 0, false, true, [0, 0, 0]),
    label("dynamic", 5, 255, "void", 0, false, true, [111, 74, 0]),
    label("ground", 6, 255, "void", 0, false, true, [81, 0, 81]),
    label("road", 7, 0, "flat", 1, false, false, [128, 64, 128]),
    label("sidewalk", 8, 1, "flat", 1, false, false, [244, 35, 232]),
    label("parking", 9, 255, "flat", 1, false, true, [250, 170, 160]),
    label(
        "rail track",
        10,
        255,
        "flat",
        1,
        false,
        true,
        [230, 150, 140],
    ),
    label(
        "building",
        11,
        2,
        "construction",
        2,
        false,
        false,
        [70, 70, 70],
    ),
    label(
        "wall",
        12,
        3,
        "construction",
        2,
        false,
        false,
        [102, 102, 156],
    ),
    label(
        "fence",
        13,
        4,
        "construction",
        2,
        false,
        false,
        [190, 153, 153],
    ),
    label(
        "guard rail",
        14,
        255,
        "construction",
        2,
        false,
        true,
        [180, 165, 180],
    ),
    label(
        "bridge",
        15,
        255,
        "construction",
        2,
        false,
        true,
        [150, 100, 100],
    ),
    label(
        "tunnel",
        16,
        255,
        "construction",
        2,
        false,
        true,
        [150, 120, 90],
    ),
    label("pole", 17, 5, "object", 3, false, false, [153, 153, 153]),
    label(
        "polegroup",
        18,
        255,
        "object",
        3,
        false,
        true,
        [153, 153, 153],
    ),
    label(
        "traffic light",
        19,
        6,
        "object",
        3,
        false,
        false,
        [250, 170, 30],
    ),
    label(
        "traffic sign",
        20,
        7,
        "object",
        3,
        false,
        false,
        [220, 220, 0],
    ),
    label(
        "vegetation",
        21,
        8,
        "nature",
        4,
        false,
        false,
        [107, 142, 35],
    ),
    label("terrain", 22, 9, "nature", 4, false, false, [152, 251, 152]),
    label("sky", 23, 10, "sky", 5, false, false, [70, 130, 180]),
    label("person", 24, 11, "human", 6, true, false, [220, 20, 60]),
    label("rider", 25, 12, "human", 6, true, false, [255, 0, 0]),
    label("car", 26, 13, "vehicle", 7, true, false, [0, 0, 142]),
    label("truck", 27, 14, "vehicle", 7, true, false, [0, 0, 70]),
    label("bus", 28, 15, "vehicle", 7, true, false, [0, 60, 100]),
    label("caravan", 29, 255, "vehicle", 7, true, true, [0, 0, 90]),
    label("trailer", 30, 255, "vehicle", 7, true, true, [0, 0, 110]),
    label("train", 31, 16, "vehicle", 7, true, false, [0, 80, 100]),
    label("motorcycle", 32, 17, "vehicle", 7, true, false, [0, 0, 230]),
    label("bicycle", 33, 18, "vehicle", 7, true, false, [119, 11, 32]),
    label(
        "license plate",
        -1,
        -1,
        "vehicle",
        7,
        false,
        true,
        [0, 0, 142],
    ),
];

/// Number of train classes.
pub const NUM_TRAIN_CLASSES: usize = 19;

/// The ignore value of train ids.
pub const IGNORE: u8 = 255;

/// Label id -> train id for every `u8` value: the table's `trainId` for ids 0..33, 255 for
/// every other value (as the reference LUT with default 255; license plate, id -1, never
/// occurs in a file).
pub const LABEL_ID_TO_TRAIN_ID: [u8; 256] = {
    let mut lut = [IGNORE; 256];
    let mut row = 0;
    while row < LABELS.len() {
        let label = &LABELS[row];
        if label.id >= 0 && label.train_id >= 0 {
            lut[label.id as usize] = label.train_id as u8;
        }
        row += 1;
    }
    lut
};

/// The table row of label id `id`.
pub fn label_by_id(id: i16) -> Option<&'static CityscapesLabel> {
    LABELS.iter().find(|l| l.id == id)
}

/// The row of train id `train_id` (0..18); for a duplicated train id the first row wins, as
/// cityscapesScripts' `trainId2label` (built from the reversed list) does.
pub fn label_by_train_id(train_id: u8) -> Option<&'static CityscapesLabel> {
    LABELS.iter().find(|l| l.train_id == i16::from(train_id))
}

/// Converts a `_labelIds` map to train ids through [`LABEL_ID_TO_TRAIN_ID`].
pub fn label_ids_to_train_ids(label_ids: &Array2<u8>) -> Array2<u8> {
    label_ids.mapv(|id| LABEL_ID_TO_TRAIN_ID[usize::from(id)])
}

/// The label id of an `_instanceIds` value: the value itself below 1000, else `value / 1000`.
pub fn instance_label_id(value: u16) -> u16 {
    if value < 1000 { value } else { value / 1000 }
}

/// The 0-based instance number of an `_instanceIds` value (`value % 1000`), or `None` for a
/// value below 1000 (a label without instances, or a `*group` region).
pub fn instance_number(value: u16) -> Option<u16> {
    (value >= 1000).then_some(value % 1000)
}

/// The label-id map of an `_instanceIds` map (each value through [`instance_label_id`]).
pub fn instance_ids_to_label_ids(instance_ids: &Array2<u16>) -> Array2<u8> {
    // Label ids are below 34, so every result fits `u8`; larger values saturate to ignore.
    instance_ids.mapv(|v| u8::try_from(instance_label_id(v)).unwrap_or(IGNORE))
}

/// The 19 train classes (names, colours; 255 ignored).
pub fn train_classes() -> ClassSet {
    let rows = (0..NUM_TRAIN_CLASSES as u8).filter_map(label_by_train_id);
    let (names, colors): (Vec<String>, Vec<[u8; 3]>) =
        rows.map(|l| (l.name.to_string(), l.color)).unzip();
    match ClassSet::new(names, colors) {
        Ok(set) => set,
        Err(_) => unreachable!("the label table has every train id"),
    }
}

/// The 34 label-id classes (0..33); those the table ignores in evaluation are marked not
/// evaluated. No value is ignored outright (unlabeled is a class, 0).
pub fn label_id_classes() -> ClassSet {
    let rows: Vec<&CityscapesLabel> = LABELS.iter().filter(|l| l.id >= 0).collect();
    let names = rows.iter().map(|l| l.name.to_string()).collect();
    let colors = rows.iter().map(|l| l.color).collect();
    let evaluated = rows.iter().map(|l| !l.ignore_in_eval).collect();
    match ClassSet::new(names, colors).and_then(|set| set.with_evaluated(evaluated)) {
        Ok(set) => set.with_ignore(None),
        Err(_) => unreachable!("the label table is well formed"),
    }
}

/// Which annotation set to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Annotation {
    /// `gtFine`.
    #[default]
    Fine,
    /// `gtCoarse` (which also has the `train_extra` split).
    Coarse,
}

impl Annotation {
    /// `gtFine` or `gtCoarse`.
    pub fn folder(self) -> &'static str {
        match self {
            Annotation::Fine => "gtFine",
            Annotation::Coarse => "gtCoarse",
        }
    }
}

/// What a sample's label map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// Train ids (0..18, 255) computed from `_labelIds.png` through the LUT.
    #[default]
    TrainIds,
    /// The `_labelTrainIds.png` files made by `createTrainIdLabelImgs.py` or mmseg's converter.
    ShippedTrainIds,
    /// The raw label ids (0..33), as torchvision's `Cityscapes(target_type='semantic')`.
    LabelIds,
    /// The raw 16-bit `_instanceIds.png` values (`id * 1000 + k`, or a plain id).
    InstanceIds,
}

impl Target {
    fn file_suffix(self) -> &'static str {
        match self {
            Target::TrainIds | Target::LabelIds => "labelIds.png",
            Target::ShippedTrainIds => "labelTrainIds.png",
            Target::InstanceIds => "instanceIds.png",
        }
    }
}

#[derive(Debug, Clone)]
struct Frame {
    id: String,
    image: PathBuf,
    label: PathBuf,
}

/// A Cityscapes split.
#[derive(Debug, Clone)]
pub struct Cityscapes {
    frames: Vec<Frame>,
    target: Target,
    classes: ClassSet,
}

impl Cityscapes {
    /// `split` (`train`, `val`, `test`, or `train_extra` for coarse) of the dataset at `root`
    /// (the folder holding `leftImg8bit` and `gtFine`), with `target` labels.
    pub fn open(root: &Path, split: &str, annotation: Annotation, target: Target) -> Result<Self> {
        const IMAGE_SUFFIX: &str = "_leftImg8bit.png";
        let images_dir = root.join("leftImg8bit").join(split);
        let labels_dir = root.join(annotation.folder()).join(split);
        let label_suffix = format!("_{}_{}", annotation.folder(), target.file_suffix());
        let mut frames = Vec::new();
        for relative in scan_suffix(&images_dir, IMAGE_SUFFIX)? {
            let stem = &relative[..relative.len() - IMAGE_SUFFIX.len()];
            let image = images_dir.join(&relative);
            let label = labels_dir.join(format!("{stem}{label_suffix}"));
            if !label.is_file() {
                return Err(missing_label(&image, &label));
            }
            let id = stem.rsplit('/').next().unwrap_or(stem).to_string();
            frames.push(Frame { id, image, label });
        }
        let classes = match target {
            Target::TrainIds | Target::ShippedTrainIds => train_classes(),
            Target::LabelIds | Target::InstanceIds => label_id_classes(),
        };
        Ok(Self {
            frames,
            target,
            classes,
        })
    }

    /// The image files, in order.
    pub fn image_paths(&self) -> impl Iterator<Item = &Path> {
        self.frames.iter().map(|f| f.image.as_path())
    }

    /// The label files, in order.
    pub fn label_paths(&self) -> impl Iterator<Item = &Path> {
        self.frames.iter().map(|f| f.label.as_path())
    }

    fn read_label(&self, path: &Path) -> Result<LabelMap> {
        let raw = read_label_png(path)?;
        match (self.target, raw) {
            (Target::InstanceIds, LabelMap::U16(map)) => Ok(LabelMap::U16(map)),
            (Target::InstanceIds, LabelMap::U8(_)) => Err(Error::format(
                path,
                "bit depth",
                "a 16-bit instance-id PNG",
                "8 bits",
            )),
            (Target::TrainIds, LabelMap::U8(map)) => Ok(LabelMap::U8(label_ids_to_train_ids(&map))),
            (Target::LabelIds | Target::ShippedTrainIds, LabelMap::U8(map)) => {
                Ok(LabelMap::U8(map))
            }
            (_, LabelMap::U16(_)) => Err(Error::format(
                path,
                "bit depth",
                "an 8-bit label PNG",
                "16 bits",
            )),
        }
    }
}

impl Dataset for Cityscapes {
    fn len(&self) -> usize {
        self.frames.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index(index, self.frames.len())?;
        let frame = &self.frames[index];
        let image = read_rgb(&frame.image)?;
        let label = self.read_label(&frame.label)?;
        check_sizes(&image, &frame.image, &label, &frame.label)?;
        Ok(Sample {
            image,
            label,
            id: frame.id.clone(),
            image_path: Some(frame.image.clone()),
            label_path: Some(frame.label.clone()),
        })
    }

    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shape() {
        assert_eq!(LABELS.len(), 35);
        let train_ids: Vec<i16> = LABELS
            .iter()
            .map(|l| l.train_id)
            .filter(|&t| (0..19).contains(&t))
            .collect();
        assert_eq!(train_ids, (0..19).collect::<Vec<_>>());
        assert_eq!(train_classes().names()[16], "train");
        assert_eq!(label_id_classes().len(), 34);
        assert_eq!(LABEL_ID_TO_TRAIN_ID[34], 255);
        assert_eq!(LABEL_ID_TO_TRAIN_ID[255], 255);
    }

    #[test]
    fn instance_values() {
        assert_eq!(instance_label_id(26002), 26);
        assert_eq!(instance_number(26002), Some(2));
        assert_eq!(instance_label_id(24000), 24);
        assert_eq!(instance_number(24000), Some(0));
        assert_eq!(instance_label_id(7), 7);
        assert_eq!(instance_number(7), None);
    }
}
