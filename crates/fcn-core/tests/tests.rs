//! The integration tests of `fcn-core`: one binary, one module per area.
#![allow(clippy::unwrap_used)]

mod autograd;
mod batch_norm;
mod batch_norm_weights;
mod geometry;
mod optim;
mod parity;
mod weights;
