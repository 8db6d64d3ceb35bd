//! Semantic-segmentation datasets, read exactly as the reference tools read them.
//!
//! A [`Dataset`] yields [`Sample`]s: an RGB image (`ndarray` HxWx3 `u8`) and its
//! [`LabelMap`] (HxW `u8` or `u16`), with the dataset's [`ClassSet`]. Adapters read the real
//! layouts of PASCAL VOC / SBD, COCO, Cityscapes, ADE20K, KITTI, Mapillary Vistas, BDD100K,
//! RailSem19 and plain folders; a seeded synthetic generator makes transit scenes without any
//! file. There is no tensor dependency.
//!
//! ```
//! use fcn_data::{ClassSet, voc_colormap};
//!
//! let classes = ClassSet::with_voc_colors(["background", "aeroplane", "bicycle"])?;
//! assert_eq!(classes.len(), 3);
//! assert_eq!(classes.ignore(), Some(255));
//! assert_eq!(voc_colormap(2)[1], [128, 0, 0]);
//! # Ok::<(), fcn_data::Error>(())
//! ```
#![deny(missing_docs)]

mod classes;
mod dataset;
mod error;
mod files;
mod image_io;
mod label_png;
mod sample;
mod sbd_mat;

pub mod ade20k;
pub mod cityscapes;
pub mod coco;
pub mod folder;
pub mod kitti;
pub mod loader;
pub mod mat;
pub mod registry;
pub mod sbd;
pub mod synthetic;
pub mod taxonomy;
pub mod tools;
pub mod transforms;
pub mod voc;

pub use classes::{ClassSet, overlay_labels, voc_colormap};
pub use dataset::{
    Concat, Dataset, DatasetExt, Mapped, ShardBalance, ShardSampler, Shuffled, Subset,
};
pub use error::{Error, Result};
pub use image_io::{
    MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, decode_rgb, encode_rgb_png, read_rgb, write_rgb_png,
};
pub use label_png::{
    MAX_DECODED_BYTES, decode_label_png, encode_gray_png, encode_palette_png, read_label_png,
    write_atomically, write_gray_png, write_palette_png,
};
pub use sample::{LabelMap, Sample};
