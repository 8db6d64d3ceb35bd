//! End-to-end tests of the `fcn` binary.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod bench_cli;
mod data_cli;
#[cfg(feature = "mpi")]
mod distributed_cli;
mod eval_cli;
mod train_cli;
