//! The integration tests of `fcn-data`: one binary, one module per area.
#![allow(clippy::unwrap_used)]

mod ade20k;
mod bad;
mod cityscapes;
mod coco;
mod folder;
mod kitti;
mod loader;
mod registry;
mod sbd;
mod synthetic;
mod taxonomy;
mod transforms;
mod voc;
