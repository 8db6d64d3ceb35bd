//! Datasets by name: `FORMAT:ROOT[:SPLIT]` specs, as the `fcn` command line takes them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ade20k::{Ade20k, Split as AdeSplit};
use crate::cityscapes::{Annotation, Cityscapes, Target};
use crate::coco::{Coco, CocoClasses};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::folder::{MapillaryVersion, RailSem19Split, bdd100k, mapillary_vistas, railsem19};
use crate::kitti::{KittiRoad, KittiSemantics, RoadTask, SemanticsTarget};
use crate::sbd::{Sbd, SbdSplit};
use crate::taxonomy::SourceDataset;
use crate::voc::{Voc, VocSplit};

/// The formats [`open_dataset`] knows, with the splits each takes (the first is the default).
pub const FORMATS: &[(&str, &str)] = &[
    (
        "voc",
        "train | val | trainval | seg11valid | <name of an ImageSets/Segmentation list>",
    ),
    ("sbd", "train | val"),
    ("cityscapes", "train | val | test (gtFine train ids)"),
    (
        "ade20k",
        "training | validation (SceneParsing, reduce-zero-label)",
    ),
    ("kitti", "training (semantics, Cityscapes train ids)"),
    ("kitti-road", "road | lane"),
    ("bdd100k", "train | val"),
    ("mapillary", "training | validation (v1.2)"),
    ("railsem19", "all | train | val"),
];

/// A parsed `FORMAT:ROOT[:SPLIT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    /// The format name (see [`FORMATS`]).
    pub format: String,
    /// The dataset's root folder.
    pub root: PathBuf,
    /// The split, if given.
    pub split: Option<String>,
}

impl DataSpec {
    /// Parses `FORMAT:ROOT` or `FORMAT:ROOT:SPLIT`.
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "dataset",
                format!(
                    "{spec:?}: expected FORMAT:ROOT[:SPLIT] (formats: {})",
                    format_names()
                ),
            )
        };
        let (format, rest) = spec.split_once(':').ok_or_else(bad)?;
        if format.is_empty() || rest.is_empty() {
            return Err(bad());
        }
        let (root, split) = match rest.rsplit_once(':') {
            Some((root, split)) if !root.is_empty() && !split.contains('/') => {
                (root, Some(split.to_owned()))
            }
            _ => (rest, None),
        };
        Ok(Self {
            format: format.to_owned(),
            root: PathBuf::from(root),
            split,
        })
    }

    /// Opens the dataset.
    pub fn open(&self) -> Result<Arc<dyn Dataset>> {
        open_dataset(&self.format, &self.root, self.split.as_deref())
    }
}

fn format_names() -> String {
    FORMATS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_split(format: &str, split: &str) -> Error {
    let choices = FORMATS
        .iter()
        .find(|(n, _)| *n == format)
        .map_or("", |(_, s)| *s);
    Error::invalid(
        "split",
        format!("{split:?} for {format}; expected {choices}"),
    )
}

/// Opens the dataset of `format` at `root`, split `split` (each format's first split when
/// `None`).
pub fn open_dataset(format: &str, root: &Path, split: Option<&str>) -> Result<Arc<dyn Dataset>> {
    Ok(match format {
        "coco" | "coco-voc" => {
            let split = split.unwrap_or("train2017");
            let classes = if format == "coco" {
                CocoClasses::AllCategories
            } else {
                CocoClasses::Voc21
            };
            let annotations = root
                .join("annotations")
                .join(format!("instances_{split}.json"));
            Arc::new(Coco::new(root.join(split), annotations, classes)?)
        }
        "voc" => {
            let split = match split.unwrap_or("train") {
                "train" => VocSplit::Train,
                "val" => VocSplit::Val,
                "trainval" => VocSplit::TrainVal,
                "seg11valid" => VocSplit::Seg11Valid,
                other => VocSplit::Named(other.to_owned()),
            };
            Arc::new(Voc::open(root, split)?)
        }
        "sbd" => {
            let split = match split.unwrap_or("train") {
                "train" => SbdSplit::Train,
                "val" => SbdSplit::Val,
                other => return Err(unknown_split(format, other)),
            };
            Arc::new(Sbd::open(root, split)?)
        }
        "cityscapes" => Arc::new(Cityscapes::open(
            root,
            split.unwrap_or("train"),
            Annotation::Fine,
            Target::TrainIds,
        )?),
        "ade20k" => {
            let split = match split.unwrap_or("training") {
                "training" | "train" => AdeSplit::Training,
                "validation" | "val" => AdeSplit::Validation,
                other => return Err(unknown_split(format, other)),
            };
            Arc::new(Ade20k::open(root, split, true)?)
        }
        "kitti" => match split.unwrap_or("training") {
            "training" | "train" => {
                Arc::new(KittiSemantics::open(root, SemanticsTarget::TrainIds, None)?)
            }
            other => return Err(unknown_split(format, other)),
        },
        "kitti-road" => {
            let task = match split.unwrap_or("road") {
                "road" => RoadTask::Road,
                "lane" => RoadTask::Lane,
                other => return Err(unknown_split(format, other)),
            };
            Arc::new(KittiRoad::open(root, task)?)
        }
        "bdd100k" => Arc::new(bdd100k(root, split.unwrap_or("train"))?),
        "mapillary" => Arc::new(mapillary_vistas(
            root,
            split.unwrap_or("training"),
            MapillaryVersion::V1_2,
            false,
        )?),
        "railsem19" => {
            let split = match split.unwrap_or("all") {
                "all" => RailSem19Split::All,
                "train" => RailSem19Split::Train,
                "val" => RailSem19Split::Val,
                other => return Err(unknown_split(format, other)),
            };
            Arc::new(railsem19(root, split)?)
        }
        other => {
            return Err(Error::invalid(
                "dataset format",
                format!("{other:?}; expected one of {}", format_names()),
            ));
        }
    })
}

/// The transit-taxonomy table for the labels [`open_dataset`] gives for `format` (`None` for a
/// format without one).
pub fn transit_source(format: &str) -> Option<SourceDataset> {
    Some(match format {
        "voc" | "sbd" | "coco-voc" => SourceDataset::Voc21,
        "coco" => SourceDataset::Coco80,
        // Opened with train ids (KITTI semantics through the Cityscapes table).
        "cityscapes" | "kitti" => SourceDataset::CityscapesTrainIds,
        "kitti-road" => SourceDataset::KittiRoad,
        "ade20k" => SourceDataset::Ade20k150,
        "bdd100k" => SourceDataset::Bdd100k,
        "mapillary" => SourceDataset::MapillaryV12,
        "railsem19" => SourceDataset::RailSem19,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_and_without_split() {
        let s = DataSpec::parse("voc:/data/VOC2012:seg11valid").unwrap();
        assert_eq!(s.format, "voc");
        assert_eq!(s.root, PathBuf::from("/data/VOC2012"));
        assert_eq!(s.split.as_deref(), Some("seg11valid"));
        let s = DataSpec::parse("cityscapes:/data/cs").unwrap();
        assert_eq!(s.split, None);
        assert!(DataSpec::parse("voc").is_err());
        assert!(DataSpec::parse(":x").is_err());
        let err = open_dataset("nope", Path::new("/x"), None).err().unwrap();
        assert!(err.to_string().contains("cityscapes"), "{err}");
        let err = open_dataset("sbd", Path::new("/x"), Some("test"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("train | val"), "{err}");
    }
}
