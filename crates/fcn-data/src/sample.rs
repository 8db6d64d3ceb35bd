//! One training or evaluation sample: an RGB image and its label map.

use std::path::PathBuf;

use ndarray::{Array2, Array3};

/// A dense label map, in the narrowest type that holds the dataset's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelMap {
    /// Up to 255 classes (plus an ignore value): VOC, Cityscapes, ADE20K SceneParsing, ...
    U8(Array2<u8>),
    /// More classes, or raw 16-bit files (instance maps, ADE20K full).
    U16(Array2<u16>),
}

impl LabelMap {
    /// (height, width).
    pub fn dim(&self) -> (usize, usize) {
        match self {
            LabelMap::U8(a) => a.dim(),
            LabelMap::U16(a) => a.dim(),
        }
    }

    /// The value at (row, column), widened.
    pub fn get(&self, row: usize, col: usize) -> Option<u16> {
        match self {
            LabelMap::U8(a) => a.get((row, col)).map(|&v| u16::from(v)),
            LabelMap::U16(a) => a.get((row, col)).copied(),
        }
    }

    /// The values widened to `u16`, row-major.
    pub fn to_u16(&self) -> Array2<u16> {
        match self {
            LabelMap::U8(a) => a.mapv(u16::from),
            LabelMap::U16(a) => a.clone(),
        }
    }

    /// The map as `u8`, or `None` if a value exceeds 255.
    pub fn to_u8(&self) -> Option<Array2<u8>> {
        match self {
            LabelMap::U8(a) => Some(a.clone()),
            LabelMap::U16(a) => {
                if a.iter().any(|&v| v > 255) {
                    None
                } else {
                    Some(a.mapv(|v| v as u8))
                }
            }
        }
    }
}

/// An RGB image (height x width x 3, `u8`) with its label map (height x width).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The pixels, HxWx3, RGB order, 0..255.
    pub image: Array3<u8>,
    /// The class of each pixel; the dataset's [`ClassSet`](crate::ClassSet) says which value is
    /// ignored.
    pub label: LabelMap,
    /// A stable name for the sample, unique in its dataset (usually the image's file stem).
    pub id: String,
    /// The image file it was read from, if any (synthetic samples have none).
    pub image_path: Option<PathBuf>,
    /// The label file it was read from, if any.
    pub label_path: Option<PathBuf>,
}

impl Sample {
    /// (height, width) of the image.
    pub fn dim(&self) -> (usize, usize) {
        let (h, w, _) = self.image.dim();
        (h, w)
    }
}
