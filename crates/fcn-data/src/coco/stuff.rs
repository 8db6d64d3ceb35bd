//! COCO-Stuff 164k label maps, read from a folder as mmsegmentation reads them.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::image_io::read_rgb;
use crate::label_png::read_label_png;
use crate::sample::{LabelMap, Sample};

/// The 171 COCO-Stuff classes in train-id order (mmsegmentation's `COCOStuffDataset`): the 80
/// things, then the 91 stuff classes.
pub const COCO_STUFF_CLASSES: [&str; 171] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
    "banner",
    "blanket",
    "branch",
    "bridge",
    "building-other",
    "bush",
    "cabinet",
    "cage",
    "cardboard",
    "carpet",
    "ceiling-other",
    "ceiling-tile",
    "cloth",
    "clothes",
    "clouds",
    "counter",
    "cupboard",
    "curtain",
    "desk-stuff",
    "dirt",
    "door-stuff",
    "fence",
    "floor-marble",
    "floor-other",
    "floor-stone",
    "floor-tile",
    "floor-wood",
    "flower",
    "fog",
    "food-other",
    "fruit",
    "furniture-other",
    "grass",
    "gravel",
    "ground-other",
    "hill",
    "house",
    "leaves",
    "light",
    "mat",
    "metal",
    "mirror-stuff",
    "moss",
    "mountain",
    "mud",
    "napkin",
    "net",
    "paper",
    "pavement",
    "pillow",
    "plant-other",
    "plastic",
    "platform",
    "playingfield",
    "railing",
    "railroad",
    "river",
    "road",
    "rock",
    "roof",
    "rug",
    "salad",
    "sand",
    "sea",
    "shelf",
    "sky-other",
    "skyscraper",
    "snow",
    "solid-other",
    "stairs",
    "stone",
    "straw",
    "structural-other",
    "table",
    "tent",
    "textile-other",
    "towel",
    "tree",
    "vegetable",
    "wall-brick",
    "wall-concrete",
    "wall-other",
    "wall-panel",
    "wall-stone",
    "wall-tile",
    "wall-wood",
    "water-other",
    "waterdrops",
    "window-blind",
    "window-other",
    "wood",
];

/// Source values (COCO category id - 1) that no COCO-Stuff class uses.
const UNUSED_SOURCE_VALUES: [u8; 11] = [11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90];

/// mmsegmentation's `clsID_to_trID` (`tools/dataset_converters/coco_stuff164k.py`) for one
/// source value: the 171 used values 0..=181 become 0..=170 in order and 255 stays 255. Like
/// the converter, which only rewrites the values in its table, any other value is kept as is.
pub fn stuff_train_id(source: u8) -> u8 {
    if source > 181 || UNUSED_SOURCE_VALUES.contains(&source) {
        return source;
    }
    let unused_below = UNUSED_SOURCE_VALUES.iter().filter(|&&u| u < source).count() as u8;
    source - unused_below
}

/// Which label files [`CocoStuff`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StuffLabels {
    /// The released `stuffthingmaps_trainval2017` PNGs, `<stem>.png` (value = category id - 1,
    /// 255 unlabeled), converted with [`stuff_train_id`] on reading.
    Source,
    /// Maps already converted by mmsegmentation's script, `<stem>_labelTrainIds.png`, taken as
    /// they are.
    TrainIds,
}

/// COCO-Stuff 164k as a [`Dataset`]: every `*.jpg` of an image folder (sorted by name, as
/// mmsegmentation scans them) with its label map in a label folder. Labels are train ids
/// 0..=170 ([`COCO_STUFF_CLASSES`]), 255 unlabeled.
#[derive(Debug, Clone)]
pub struct CocoStuff {
    image_dir: PathBuf,
    label_dir: PathBuf,
    labels: StuffLabels,
    stems: Vec<String>,
    classes: ClassSet,
}

impl CocoStuff {
    /// Lists the images of `image_dir` (e.g. `images/val2017`) whose labels are in
    /// `label_dir` (e.g. `annotations/val2017`).
    pub fn new(
        image_dir: impl Into<PathBuf>,
        label_dir: impl Into<PathBuf>,
        labels: StuffLabels,
    ) -> Result<Self> {
        let image_dir = image_dir.into();
        let entries = std::fs::read_dir(&image_dir).map_err(|e| Error::read(&image_dir, e))?;
        let mut stems = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::read(&image_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".jpg") {
                stems.push(stem.to_string());
            }
        }
        stems.sort();
        let classes = ClassSet::with_voc_colors(COCO_STUFF_CLASSES)?;
        Ok(Self {
            image_dir,
            label_dir: label_dir.into(),
            labels,
            stems,
            classes,
        })
    }

    /// The label file of an image stem.
    fn label_path(&self, stem: &str) -> PathBuf {
        let suffix = match self.labels {
            StuffLabels::Source => ".png",
            StuffLabels::TrainIds => "_labelTrainIds.png",
        };
        self.label_dir.join(format!("{stem}{suffix}"))
    }

    /// Reads a label map as train ids (16-bit files are truncated modulo 256, as mmseg's
    /// `astype(np.uint8)` truncates them).
    fn read_label(&self, path: &Path) -> Result<Array2<u8>> {
        let raw = match read_label_png(path)? {
            LabelMap::U8(map) => map,
            LabelMap::U16(map) => map.mapv(|v| v as u8),
        };
        Ok(match self.labels {
            StuffLabels::Source => raw.mapv(stuff_train_id),
            StuffLabels::TrainIds => raw,
        })
    }
}

impl Dataset for CocoStuff {
    fn len(&self) -> usize {
        self.stems.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        let Some(stem) = self.stems.get(index) else {
            return Err(Error::IndexOutOfRange {
                index,
                len: self.stems.len(),
            });
        };
        let image_path = self.image_dir.join(format!("{stem}.jpg"));
        let label_path = self.label_path(stem);
        let image = read_rgb(&image_path)?;
        let label = self.read_label(&label_path)?;
        let (height, width, _) = image.dim();
        if label.dim() != (height, width) {
            return Err(Error::SizeMismatch {
                image: image_path,
                image_size: (height, width),
                label: label_path,
                label_size: label.dim(),
            });
        }
        Ok(Sample {
            image,
            label: LabelMap::U8(label),
            id: stem.clone(),
            image_path: Some(image_path),
            label_path: Some(label_path),
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
    fn train_ids_follow_the_mmseg_table() {
        assert_eq!(stuff_train_id(0), 0);
        assert_eq!(stuff_train_id(10), 10);
        assert_eq!(stuff_train_id(12), 11);
        assert_eq!(stuff_train_id(26), 24);
        assert_eq!(stuff_train_id(91), 80);
        assert_eq!(stuff_train_id(181), 170);
        assert_eq!(stuff_train_id(255), 255);
        // Values outside the table are left alone by the converter.
        assert_eq!(stuff_train_id(11), 11);
        assert_eq!(stuff_train_id(200), 200);
        let used = (0..=181u8)
            .filter(|v| !UNUSED_SOURCE_VALUES.contains(v))
            .count();
        assert_eq!(used, COCO_STUFF_CLASSES.len());
    }
}
