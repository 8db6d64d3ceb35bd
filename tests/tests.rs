//! End-to-end tests of the `fcn` binary.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod data_cli;
mod eval_cli;
mod train_cli;
