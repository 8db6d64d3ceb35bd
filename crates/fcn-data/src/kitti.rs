//! KITTI: the semantics benchmark (Cityscapes label ids, 16-bit `label * 256 + k` instances)
//! and the road benchmark's colour-coded ground truth.
//!
//! Semantics layout: `training/image_2/%06d_10.png` with `training/semantic/%06d_10.png`
//! (8-bit Cityscapes label ids) and `training/instance/%06d_10.png` (16-bit). There is no
//! official split; pass a list file to choose one.
//!
//! Road layout: `training/image_2/{um,umm,uu}_%06d.png` with
//! `training/gt_image_2/{um,umm,uu}_road_%06d.png` (and `um_lane_%06d.png`): RGB, where the
//! devkit's `getGroundTruth` reads road = blue > 0 and valid = red > 0, so magenta
//! (255,0,255) is road, red (255,0,0) non-road and black outside the evaluated area.
//!
//! ```
//! use fcn_data::kitti::{instance_label_id, instance_number};
//!
//! assert_eq!(instance_label_id(26 * 256 + 3), 26);
//! assert_eq!(instance_number(26 * 256 + 3), 3);
//! ```

use std::path::Path;

use ndarray::{Array2, Array3};

use crate::cityscapes::{label_id_classes, label_ids_to_train_ids, train_classes};
use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::dataset::check_index;
use crate::error::{Error, Result};
use crate::files::{FilePair, check_sizes, scan_suffix};
use crate::folder::FolderConfig;
use crate::image_io::read_rgb;
use crate::label_png::read_label_png;
use crate::sample::{LabelMap, Sample};

/// The label id of a KITTI instance value: `value / 256`.
pub fn instance_label_id(value: u16) -> u16 {
    value / 256
}

/// The instance number of a KITTI instance value: `value % 256` (0: no instance; instances
/// count from 1 per class).
pub fn instance_number(value: u16) -> u16 {
    value % 256
}

/// What a KITTI semantics sample's label map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SemanticsTarget {
    /// Cityscapes train ids (0..18, 255), through the Cityscapes LUT.
    #[default]
    TrainIds,
    /// The raw Cityscapes label ids (0..33).
    LabelIds,
    /// The raw 16-bit `instance/` values (`label * 256 + k`).
    Instances,
}

/// KITTI semantics 2015 (the 200 training frames, or those a list file names).
#[derive(Debug, Clone)]
pub struct KittiSemantics {
    pairs: Vec<FilePair>,
    target: SemanticsTarget,
    classes: ClassSet,
}

impl KittiSemantics {
    /// The frames of `root/training` (the folder holding `training/`). `split_file`, if given,
    /// lists frame names (`000000_10`), one a line, in the order wanted.
    pub fn open(root: &Path, target: SemanticsTarget, split_file: Option<&Path>) -> Result<Self> {
        let training = root.join("training");
        let labels = match target {
            SemanticsTarget::TrainIds | SemanticsTarget::LabelIds => "semantic",
            SemanticsTarget::Instances => "instance",
        };
        let mut config = FolderConfig::new(
            training.join("image_2"),
            training.join(labels),
            ".png",
            ".png",
        );
        if let Some(list) = split_file {
            config = config.with_split_file(list);
        }
        let classes = match target {
            SemanticsTarget::TrainIds => train_classes(),
            SemanticsTarget::LabelIds | SemanticsTarget::Instances => label_id_classes(),
        };
        Ok(Self {
            pairs: config.pairs()?,
            target,
            classes,
        })
    }

    /// The image/label pairs, in order.
    pub fn pairs(&self) -> &[FilePair] {
        &self.pairs
    }
}

impl Dataset for KittiSemantics {
    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index(index, self.pairs.len())?;
        let pair = &self.pairs[index];
        let image = read_rgb(&pair.image)?;
        let label = match (self.target, read_label_png(&pair.label)?) {
            (SemanticsTarget::TrainIds, LabelMap::U8(ids)) => {
                LabelMap::U8(label_ids_to_train_ids(&ids))
            }
            (SemanticsTarget::LabelIds, LabelMap::U8(ids)) => LabelMap::U8(ids),
            (SemanticsTarget::Instances, LabelMap::U16(values)) => LabelMap::U16(values),
            (SemanticsTarget::Instances, LabelMap::U8(_)) => {
                return Err(Error::format(
                    &pair.label,
                    "bit depth",
                    "a 16-bit instance PNG",
                    "8 bits",
                ));
            }
            (_, LabelMap::U16(_)) => {
                return Err(Error::format(
                    &pair.label,
                    "bit depth",
                    "an 8-bit semantic PNG",
                    "16 bits",
                ));
            }
        };
        check_sizes(&image, &pair.image, &label, &pair.label)?;
        Ok(Sample {
            image,
            label,
            id: pair.id.clone(),
            image_path: Some(pair.image.clone()),
            label_path: Some(pair.label.clone()),
        })
    }

    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

/// Road-benchmark label values.
pub const NON_ROAD: u8 = 0;
/// Road-benchmark label values.
pub const ROAD: u8 = 1;
/// Road-benchmark ignore value (black: outside the evaluated area).
pub const ROAD_IGNORE: u8 = 255;

/// Converts road-benchmark ground truth (RGB, HxWx3) as the devkit does: red > 0 is valid, and
/// a valid pixel is [`ROAD`] when blue > 0, else [`NON_ROAD`]; invalid pixels are
/// [`ROAD_IGNORE`]. An array without 3 channels is an `InvalidArgument`.
pub fn decode_road_ground_truth(rgb: &Array3<u8>) -> Result<Array2<u8>> {
    let (height, width, channels) = rgb.dim();
    if channels != 3 {
        return Err(Error::NotRgb {
            what: "road ground truth",
            channels,
        });
    }
    Ok(Array2::from_shape_fn((height, width), |(y, x)| {
        match (rgb[[y, x, 0]] > 0, rgb[[y, x, 2]] > 0) {
            (false, _) => ROAD_IGNORE,
            (true, true) => ROAD,
            (true, false) => NON_ROAD,
        }
    }))
}

/// Which road-benchmark ground truth to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoadTask {
    /// `*_road_*.png`: every category (um, umm, uu).
    #[default]
    Road,
    /// `*_lane_*.png`: the ego lane, which only `um` has.
    Lane,
}

/// The KITTI road benchmark's training frames that have ground truth for the task.
#[derive(Debug, Clone)]
pub struct KittiRoad {
    pairs: Vec<FilePair>,
    classes: ClassSet,
}

impl KittiRoad {
    /// The frames of `root/training` (`root` holds `training/`) with `task` ground truth.
    pub fn open(root: &Path, task: RoadTask) -> Result<Self> {
        let images = root.join("training/image_2");
        let ground_truth = root.join("training/gt_image_2");
        let infix = match task {
            RoadTask::Road => "_road_",
            RoadTask::Lane => "_lane_",
        };
        let mut pairs = Vec::new();
        for pair in pair_by_scan_optional(&images, ".png")? {
            // `um_000000` -> `um_road_000000`.
            let Some((category, number)) = pair.split_once('_') else {
                return Err(Error::format(
                    images.join(format!("{pair}.png")),
                    "file name",
                    "<category>_<number>.png",
                    pair.clone(),
                ));
            };
            let label = ground_truth.join(format!("{category}{infix}{number}.png"));
            if label.is_file() {
                pairs.push(FilePair {
                    image: images.join(format!("{pair}.png")),
                    label,
                    id: pair,
                });
            }
        }
        let classes = ClassSet::new(
            vec!["non-road".to_string(), "road".to_string()],
            vec![[255, 0, 0], [255, 0, 255]],
        )?;
        Ok(Self { pairs, classes })
    }

    /// The image/label pairs, in order.
    pub fn pairs(&self) -> &[FilePair] {
        &self.pairs
    }
}

/// The ids (relative paths minus `suffix`) of the images in `dir`, sorted.
fn pair_by_scan_optional(dir: &Path, suffix: &str) -> Result<Vec<String>> {
    Ok(scan_suffix(dir, suffix)?
        .into_iter()
        .map(|relative| relative[..relative.len() - suffix.len()].to_string())
        .collect())
}

impl Dataset for KittiRoad {
    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index(index, self.pairs.len())?;
        let pair = &self.pairs[index];
        let image = read_rgb(&pair.image)?;
        let label = LabelMap::U8(decode_road_ground_truth(&read_rgb(&pair.label)?)?);
        check_sizes(&image, &pair.image, &label, &pair.label)?;
        Ok(Sample {
            image,
            label,
            id: pair.id.clone(),
            image_path: Some(pair.image.clone()),
            label_path: Some(pair.label.clone()),
        })
    }

    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn road_colours() {
        let colours = [
            [255, 0, 255],
            [255, 0, 0],
            [0, 0, 0],
            [0, 0, 255],
            [1, 7, 1],
        ];
        let rgb = Array3::from_shape_fn((1, 5, 3), |(_, x, c)| colours[x][c]);
        let label = decode_road_ground_truth(&rgb).unwrap();
        assert!(decode_road_ground_truth(&Array3::zeros((1, 1, 1))).is_err());
        assert_eq!(
            label.row(0).to_vec(),
            [ROAD, NON_ROAD, ROAD_IGNORE, ROAD_IGNORE, ROAD]
        );
    }
}
