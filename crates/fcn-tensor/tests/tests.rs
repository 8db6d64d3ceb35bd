//! Integration tests of `fcn-tensor`.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
mod devices;
mod golden;
mod golden_bn_resize;
mod gradcheck;
mod optim;
mod properties;
mod winograd;
