//! The `fcn` command-line tool's library side: a facade over the workspace crates and the
//! pieces the binary is built from.
//!
//! - [`metrics`]: the `fcn-metrics` crate (IoU, confusion matrix, reports).
//! - [`data`]: the `fcn-data` crate (datasets, label PNG I/O, transforms, loader).
#![deny(missing_docs)]

pub use fcn_core as core;
pub use fcn_data as data;
pub use fcn_metrics as metrics;
pub use fcn_tensor as tensor;
pub use fcn_train as train;
