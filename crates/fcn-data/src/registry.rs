//! Datasets by name: the [`DatasetFormat`]s, `synthetic` and `FORMAT:ROOT[:SPLIT]` specs as
//! the `fcn` command line and training configurations take them, and the label space they are
//! read in ([`ClassChoice`]). The one place a spec becomes a dataset.
//!
//! ```
//! use fcn_data::registry::{ClassChoice, DataSpec, DatasetFormat, OpenOptions};
//!
//! let spec: DataSpec = "cityscapes:/data/cityscapes:val".parse()?;
//! assert_eq!(spec.format, DatasetFormat::Cityscapes);
//! let scenes = DataSpec::parse("synthetic")?.open_with(&OpenOptions {
//!     synthetic: fcn_data::registry::SyntheticOptions { train: 2, height: 32, width: 48, ..Default::default() },
//!     classes: ClassChoice::Transit,
//! })?;
//! assert_eq!(scenes.len(), 2);
//! assert!("png".parse::<DatasetFormat>().unwrap_err().to_string().contains("cityscapes"));
//! # Ok::<(), fcn_data::Error>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::ade20k::{Ade20k, Split as AdeSplit};
use crate::cityscapes::{Annotation, Cityscapes, Target};
use crate::coco::{Coco, CocoClasses};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::folder::{MapillaryVersion, RailSem19Split, bdd100k, mapillary_vistas, railsem19};
use crate::kitti::{KittiRoad, KittiSemantics, RoadTask, SemanticsTarget};
use crate::sbd::{Sbd, SbdSplit};
use crate::synthetic::SyntheticTransit;
use crate::taxonomy::{Remapped, SourceDataset};
use crate::voc::{Voc, VocSplit};

/// A dataset format: how a root folder is read (or, for `synthetic`, that there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetFormat {
    /// Seeded synthetic transit scenes ([`SyntheticTransit`]); no root.
    Synthetic,
    /// COCO instances with all 80 categories (+ background).
    Coco,
    /// COCO instances mapped to the 21 VOC classes (torchvision's rule).
    CocoVoc,
    /// PASCAL VOC 2012.
    Voc,
    /// SBD (`benchmark_RELEASE/dataset`).
    Sbd,
    /// Cityscapes, gtFine train ids.
    Cityscapes,
    /// ADE20K SceneParsing, reduce-zero-label.
    Ade20k,
    /// KITTI semantics, Cityscapes train ids.
    Kitti,
    /// KITTI road / lane.
    KittiRoad,
    /// BDD100K semantic segmentation.
    Bdd100k,
    /// Mapillary Vistas v1.2.
    Mapillary,
    /// RailSem19.
    Railsem19,
}

impl DatasetFormat {
    /// Every format, in the order of [`DatasetFormat::NAMES`].
    pub const ALL: [DatasetFormat; 12] = [
        DatasetFormat::Synthetic,
        DatasetFormat::Coco,
        DatasetFormat::CocoVoc,
        DatasetFormat::Voc,
        DatasetFormat::Sbd,
        DatasetFormat::Cityscapes,
        DatasetFormat::Ade20k,
        DatasetFormat::Kitti,
        DatasetFormat::KittiRoad,
        DatasetFormat::Bdd100k,
        DatasetFormat::Mapillary,
        DatasetFormat::Railsem19,
    ];
    /// The names of the formats.
    pub const NAMES: &'static [&'static str] = &[
        "synthetic",
        "coco",
        "coco-voc",
        "voc",
        "sbd",
        "cityscapes",
        "ade20k",
        "kitti",
        "kitti-road",
        "bdd100k",
        "mapillary",
        "railsem19",
    ];

    /// The name in specs, on the command line and in TOML files.
    pub fn name(self) -> &'static str {
        match self {
            DatasetFormat::Synthetic => "synthetic",
            DatasetFormat::Coco => "coco",
            DatasetFormat::CocoVoc => "coco-voc",
            DatasetFormat::Voc => "voc",
            DatasetFormat::Sbd => "sbd",
            DatasetFormat::Cityscapes => "cityscapes",
            DatasetFormat::Ade20k => "ade20k",
            DatasetFormat::Kitti => "kitti",
            DatasetFormat::KittiRoad => "kitti-road",
            DatasetFormat::Bdd100k => "bdd100k",
            DatasetFormat::Mapillary => "mapillary",
            DatasetFormat::Railsem19 => "railsem19",
        }
    }

    /// The splits the format takes (the first is the default), for help and error messages.
    pub fn splits(self) -> &'static str {
        match self {
            DatasetFormat::Synthetic => "train | val",
            DatasetFormat::Coco | DatasetFormat::CocoVoc => {
                "train2017 | val2017 | <name of an annotations/instances_*.json>"
            }
            DatasetFormat::Voc => {
                "train | val | trainval | seg11valid | <name of an ImageSets/Segmentation list>"
            }
            DatasetFormat::Sbd => "train | val",
            DatasetFormat::Cityscapes => "train | val | test (gtFine train ids)",
            DatasetFormat::Ade20k => "training | validation (SceneParsing, reduce-zero-label)",
            DatasetFormat::Kitti => "training (semantics, Cityscapes train ids)",
            DatasetFormat::KittiRoad => "road | lane",
            DatasetFormat::Bdd100k => "train | val",
            DatasetFormat::Mapillary => "training | validation (v1.2)",
            DatasetFormat::Railsem19 => "all | train | val",
        }
    }

    /// The transit-taxonomy table for the labels this format is opened with (`None` for
    /// `synthetic`, whose scenes are already in the transit taxonomy).
    pub fn transit_source(self) -> Option<SourceDataset> {
        Some(match self {
            DatasetFormat::Synthetic => return None,
            DatasetFormat::Voc | DatasetFormat::Sbd | DatasetFormat::CocoVoc => {
                SourceDataset::Voc21
            }
            DatasetFormat::Coco => SourceDataset::Coco80,
            // Opened with train ids (KITTI semantics through the Cityscapes table).
            DatasetFormat::Cityscapes | DatasetFormat::Kitti => SourceDataset::CityscapesTrainIds,
            DatasetFormat::KittiRoad => SourceDataset::KittiRoad,
            DatasetFormat::Ade20k => SourceDataset::Ade20k150,
            DatasetFormat::Bdd100k => SourceDataset::Bdd100k,
            DatasetFormat::Mapillary => SourceDataset::MapillaryV12,
            DatasetFormat::Railsem19 => SourceDataset::RailSem19,
        })
    }

    fn unknown_split(self, split: &str) -> Error {
        Error::UnknownSplit {
            format: self.name(),
            split: split.to_owned(),
            expected: self.splits(),
        }
    }
}

impl fmt::Display for DatasetFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        DatasetFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                fcn_common::Error::UnknownChoice {
                    what: "dataset format",
                    value: s.to_owned(),
                    allowed: DatasetFormat::NAMES,
                }
                .into()
            })
    }
}

/// Which label space a dataset is read in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClassChoice {
    /// The dataset's own classes.
    #[default]
    All,
    /// The 21 VOC classes (COCO through torchvision's rule; VOC and SBD as they are).
    Voc21,
    /// The transit taxonomy (synthetic scenes are already in it).
    Transit,
}

impl ClassChoice {
    /// Every choice, in the order of [`ClassChoice::NAMES`].
    pub const ALL: [ClassChoice; 3] = [ClassChoice::All, ClassChoice::Voc21, ClassChoice::Transit];
    /// The names of the choices.
    pub const NAMES: &'static [&'static str] = &["all", "voc21", "transit"];

    /// The name on the command line and in TOML files.
    pub fn name(self) -> &'static str {
        match self {
            ClassChoice::All => "all",
            ClassChoice::Voc21 => "voc21",
            ClassChoice::Transit => "transit",
        }
    }
}

impl fmt::Display for ClassChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ClassChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ClassChoice::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                fcn_common::Error::UnknownChoice {
                    what: "class choice",
                    value: s.to_owned(),
                    allowed: ClassChoice::NAMES,
                }
                .into()
            })
    }
}

/// The seed of the synthetic scenes `fcn` trains and evaluates on, fixed so every run sees the
/// same images.
pub const SYNTHETIC_SEED: u64 = 2015;

/// How the `synthetic` format's scenes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticOptions {
    /// Scenes in the `train` split.
    pub train: usize,
    /// Scenes in the `val` split.
    pub val: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// The seed ([`SYNTHETIC_SEED`] by default).
    pub seed: u64,
}

impl Default for SyntheticOptions {
    /// `fcn train`'s defaults: 4000 training and 100 validation scenes of 128 x 128.
    fn default() -> Self {
        Self {
            train: 4000,
            val: 100,
            height: 128,
            width: 128,
            seed: SYNTHETIC_SEED,
        }
    }
}

/// How [`DataSpec::open_with`] opens a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenOptions {
    /// The synthetic scenes' sizes (used by the `synthetic` format only).
    pub synthetic: SyntheticOptions,
    /// The label space.
    pub classes: ClassChoice,
}

/// A parsed dataset spec: `synthetic`, or `FORMAT:ROOT[:SPLIT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    /// The format.
    pub format: DatasetFormat,
    /// The dataset's root folder (`None` for `synthetic`).
    pub root: Option<PathBuf>,
    /// The split, if given (each format's first otherwise).
    pub split: Option<String>,
}

impl DataSpec {
    /// The synthetic transit scenes (the split chosen by the caller: train or val).
    pub fn synthetic() -> Self {
        Self {
            format: DatasetFormat::Synthetic,
            root: None,
            split: None,
        }
    }

    /// Parses `synthetic`, `FORMAT:ROOT` or `FORMAT:ROOT:SPLIT`.
    pub fn parse(spec: &str) -> Result<Self> {
        if spec == DatasetFormat::Synthetic.name() {
            return Ok(Self::synthetic());
        }
        let bad = || Error::BadDataSpec {
            spec: spec.to_owned(),
            formats: DatasetFormat::NAMES,
        };
        let (format, rest) = spec.split_once(':').ok_or_else(bad)?;
        if format.is_empty() || rest.is_empty() {
            return Err(bad());
        }
        let format: DatasetFormat = format.parse()?;
        if format == DatasetFormat::Synthetic {
            // Synthetic scenes have no root.
            return Err(bad());
        }
        let (root, split) = match rest.rsplit_once(':') {
            Some((root, split)) if !root.is_empty() && !split.contains('/') => {
                (root, Some(split.to_owned()))
            }
            _ => (rest, None),
        };
        Ok(Self {
            format,
            root: Some(PathBuf::from(root)),
            split,
        })
    }

    /// Opens the dataset in its own classes (synthetic scenes with the default sizes).
    pub fn open(&self) -> Result<Arc<dyn Dataset>> {
        self.open_with(&OpenOptions::default())
    }

    /// Opens the dataset in the label space `options.classes`: `voc21` reads COCO through
    /// torchvision's VOC rule and is refused for formats without VOC classes; `transit` maps
    /// through the format's transit-taxonomy table.
    pub fn open_with(&self, options: &OpenOptions) -> Result<Arc<dyn Dataset>> {
        let format = match (self.format, options.classes) {
            (DatasetFormat::Coco, ClassChoice::Voc21) => DatasetFormat::CocoVoc,
            (format, _) => format,
        };
        let voc_classes = matches!(
            format,
            DatasetFormat::Voc | DatasetFormat::Sbd | DatasetFormat::CocoVoc
        );
        if options.classes == ClassChoice::Voc21 && !voc_classes {
            return Err(Error::ClassesUnavailable {
                classes: ClassChoice::Voc21.name(),
                format: format.name(),
                available: "voc, sbd and coco",
            });
        }
        let dataset = match format {
            DatasetFormat::Synthetic => open_synthetic(&options.synthetic, self.split.as_deref())?,
            _ => {
                let root = self.root.as_deref().ok_or(Error::MissingRoot {
                    format: format.name(),
                })?;
                open_dataset(format, root, self.split.as_deref())?
            }
        };
        match (options.classes, format.transit_source()) {
            (ClassChoice::Transit, Some(source)) => {
                Ok(Arc::new(Remapped::to_transit(dataset, source)))
            }
            (ClassChoice::Transit, None) if format != DatasetFormat::Synthetic => {
                Err(Error::ClassesUnavailable {
                    classes: ClassChoice::Transit.name(),
                    format: format.name(),
                    available: "formats with a transit-taxonomy table",
                })
            }
            _ => Ok(dataset),
        }
    }
}

impl FromStr for DataSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        DataSpec::parse(s)
    }
}

/// The spec as written: `synthetic`, `FORMAT:ROOT` or `FORMAT:ROOT:SPLIT`.
impl std::fmt::Display for DataSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.format.name())?;
        if let Some(root) = &self.root {
            write!(f, ":{}", root.display())?;
            if let Some(split) = &self.split {
                write!(f, ":{split}")?;
            }
        }
        Ok(())
    }
}

/// In configuration files a spec is its text.
impl serde::Serialize for DataSpec {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DataSpec {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DataSpec::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The synthetic scenes of `split` (`train` by default, or `val`).
fn open_synthetic(options: &SyntheticOptions, split: Option<&str>) -> Result<Arc<dyn Dataset>> {
    let SyntheticOptions {
        height,
        width,
        seed,
        ..
    } = *options;
    Ok(Arc::new(match split.unwrap_or("train") {
        "train" => SyntheticTransit::train(options.train, height, width, seed)?,
        "val" => SyntheticTransit::val(options.val, height, width, seed)?,
        other => return Err(DatasetFormat::Synthetic.unknown_split(other)),
    }))
}

/// Opens the dataset of `format` at `root`, split `split` (each format's first split when
/// `None`), in its own classes; `synthetic` ignores `root` and makes the default scenes
/// ([`SyntheticOptions::default`]).
pub fn open_dataset(
    format: DatasetFormat,
    root: &Path,
    split: Option<&str>,
) -> Result<Arc<dyn Dataset>> {
    Ok(match format {
        DatasetFormat::Synthetic => open_synthetic(&SyntheticOptions::default(), split)?,
        DatasetFormat::Coco | DatasetFormat::CocoVoc => {
            let split = split.unwrap_or("train2017");
            let classes = if format == DatasetFormat::Coco {
                CocoClasses::AllCategories
            } else {
                CocoClasses::Voc21
            };
            let annotations = root
                .join("annotations")
                .join(format!("instances_{split}.json"));
            Arc::new(Coco::new(root.join(split), annotations, classes)?)
        }
        DatasetFormat::Voc => {
            let split = match split.unwrap_or("train") {
                "train" => VocSplit::Train,
                "val" => VocSplit::Val,
                "trainval" => VocSplit::TrainVal,
                "seg11valid" => VocSplit::Seg11Valid,
                other => VocSplit::Named(other.to_owned()),
            };
            Arc::new(Voc::open(root, split)?)
        }
        DatasetFormat::Sbd => {
            let split = match split.unwrap_or("train") {
                "train" => SbdSplit::Train,
                "val" => SbdSplit::Val,
                other => return Err(format.unknown_split(other)),
            };
            Arc::new(Sbd::open(root, split)?)
        }
        DatasetFormat::Cityscapes => Arc::new(Cityscapes::open(
            root,
            split.unwrap_or("train"),
            Annotation::Fine,
            Target::TrainIds,
        )?),
        DatasetFormat::Ade20k => {
            let split = match split.unwrap_or("training") {
                "training" | "train" => AdeSplit::Training,
                "validation" | "val" => AdeSplit::Validation,
                other => return Err(format.unknown_split(other)),
            };
            Arc::new(Ade20k::open(root, split, true)?)
        }
        DatasetFormat::Kitti => match split.unwrap_or("training") {
            "training" | "train" => {
                Arc::new(KittiSemantics::open(root, SemanticsTarget::TrainIds, None)?)
            }
            other => return Err(format.unknown_split(other)),
        },
        DatasetFormat::KittiRoad => {
            let task = match split.unwrap_or("road") {
                "road" => RoadTask::Road,
                "lane" => RoadTask::Lane,
                other => return Err(format.unknown_split(other)),
            };
            Arc::new(KittiRoad::open(root, task)?)
        }
        DatasetFormat::Bdd100k => Arc::new(bdd100k(root, split.unwrap_or("train"))?),
        DatasetFormat::Mapillary => Arc::new(mapillary_vistas(
            root,
            split.unwrap_or("training"),
            MapillaryVersion::V1_2,
            false,
        )?),
        DatasetFormat::Railsem19 => {
            let split = match split.unwrap_or("all") {
                "all" => RailSem19Split::All,
                "train" => RailSem19Split::Train,
                "val" => RailSem19Split::Val,
                other => return Err(format.unknown_split(other)),
            };
            Arc::new(railsem19(root, split)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_and_without_split() {
        let s = DataSpec::parse("voc:/data/VOC2012:seg11valid").unwrap();
        assert_eq!(s.format, DatasetFormat::Voc);
        assert_eq!(s.root, Some(PathBuf::from("/data/VOC2012")));
        assert_eq!(s.split.as_deref(), Some("seg11valid"));
        let s = DataSpec::parse("cityscapes:/data/cs").unwrap();
        assert_eq!(s.split, None);
        assert_eq!(DataSpec::parse("synthetic").unwrap().root, None);
        assert!(DataSpec::parse("voc").is_err());
        assert!(DataSpec::parse(":x").is_err());
        assert!(DataSpec::parse("synthetic:/data").is_err());
        let err = DataSpec::parse("nope:/x").unwrap_err().to_string();
        assert!(
            err.contains("\"nope\"") && err.contains("cityscapes"),
            "{err}"
        );
        let err = open_dataset(DatasetFormat::Sbd, Path::new("/x"), Some("test"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("train | val"), "{err}");
    }

    #[test]
    fn names_round_trip_in_text_and_serde() {
        for (format, name) in DatasetFormat::ALL.into_iter().zip(DatasetFormat::NAMES) {
            assert_eq!(format.name(), *name);
            assert_eq!(name.parse::<DatasetFormat>().unwrap(), format);
            assert_eq!(
                serde_json::to_string(&format).unwrap(),
                format!("\"{name}\"")
            );
        }
        for (choice, name) in ClassChoice::ALL.into_iter().zip(ClassChoice::NAMES) {
            assert_eq!(name.parse::<ClassChoice>().unwrap(), choice);
            assert_eq!(
                serde_json::to_string(&choice).unwrap(),
                format!("\"{name}\"")
            );
        }
        let err = "voc20".parse::<ClassChoice>().unwrap_err().to_string();
        assert!(err.contains("all, voc21, transit"), "{err}");
    }

    #[test]
    fn synthetic_opens_by_split_and_refuses_voc_classes() {
        let options = OpenOptions {
            synthetic: SyntheticOptions {
                train: 3,
                val: 2,
                height: 16,
                width: 24,
                seed: 1,
            },
            classes: ClassChoice::Transit,
        };
        let mut spec = DataSpec::parse("synthetic").unwrap();
        assert_eq!(spec.open_with(&options).unwrap().len(), 3);
        spec.split = Some("val".into());
        assert_eq!(spec.open_with(&options).unwrap().len(), 2);
        spec.split = Some("test".into());
        assert!(spec.open_with(&options).is_err());
        let voc21 = OpenOptions {
            classes: ClassChoice::Voc21,
            ..options
        };
        let err = DataSpec::parse("synthetic")
            .unwrap()
            .open_with(&voc21)
            .err()
            .unwrap();
        assert!(err.to_string().contains("voc21"), "{err}");
        let err = DataSpec {
            format: DatasetFormat::Voc,
            root: None,
            split: None,
        }
        .open()
        .err()
        .unwrap();
        assert!(err.to_string().contains("ROOT"), "{err}");
    }
}
