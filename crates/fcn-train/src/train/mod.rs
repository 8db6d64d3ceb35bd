//! The training loop: resumable, logged, evaluated.
//!
//! [`Run`] is defined in `run.rs` with its construction; the other files each add one part of
//! its work (`step.rs`, `validation.rs`, `training_loop.rs`) or hold a piece it is built from.

mod batches;
mod class_weights;
mod events;
mod run;
mod setup;
mod step;
mod training_loop;
mod validation;

pub use class_weights::median_frequency_weights;
pub use events::{Event, Summary};
pub use run::Run;
