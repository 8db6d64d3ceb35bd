//! Integration tests of fcn-train.
#![allow(clippy::unwrap_used)]

mod distributed;
mod report;
mod train;
mod winograd;
