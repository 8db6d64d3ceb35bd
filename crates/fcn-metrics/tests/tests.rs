//! Integration tests of `fcn-metrics`: golden values from the references, properties, errors.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod errors;
mod golden;
mod properties;
