//! The measurements behind `fcn bench`: each runs our code on fixed, seeded data and returns
//! a result that prints as a table and serialises as JSON. Peer comparisons (PyTorch, numpy)
//! are scripts under the repository's `benches/` that call these through the binary.
//!
//! - [`metrics`]: confusion-matrix accumulation (`fcn bench metrics`).
//! - [`ops`]: the FCN ops, forward and backward (`fcn bench ops`).
//! - [`model`]: a whole network's training step and forward pass (`fcn bench model`).
//! - [`allreduce`]: the gradient all-reduce across ranks (`fcn bench allreduce`).

pub mod allreduce;
pub mod metrics;
pub mod model;
pub mod ops;

/// The processor's name from `/proc/cpuinfo`, or `unknown`.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
