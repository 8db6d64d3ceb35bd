//! Integration tests of fcn-train.
#![allow(clippy::unwrap_used)]

mod report;
mod train;
