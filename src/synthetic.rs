//! Deterministic label maps that look like segmentation output, for benchmarks and tests: the
//! generator lives in `fcn_data::synthetic` (re-exported here for the benchmarks).

pub use fcn_core::SplitMix64;
pub use fcn_data::synthetic::{LabelPair, label_pair};
