//! Jaccard / IoU metrics for semantic segmentation: streaming, mergeable, and numerically
//! identical to FCN's `score.py` and torchmetrics.
//!
//! ```
//! use fcn_metrics::{ConfusionMatrix, Report};
//!
//! # fn main() -> Result<(), fcn_metrics::MetricsError> {
//! // Three classes; 255 marks void pixels in the ground truth (the default ignore value).
//! let mut matrix = ConfusionMatrix::new(3)?;
//! let target: [u8; 6] = [0, 0, 1, 1, 2, 255];
//! let pred: [u8; 6] = [0, 1, 1, 1, 2, 0];
//! matrix.update(&pred, &target)?;
//!
//! assert_eq!(matrix.total(), 5); // the void pixel is not counted
//! assert_eq!(matrix.pixel_accuracy(), Some(0.8));
//! assert_eq!(matrix.iou(0), Some(0.5)); // 1 / (2 + 1 - 1)
//! // (1/2 + 2/3 + 1) / 3, summed in numpy's order:
//! assert_eq!(matrix.mean_iou(), Some((0.5 + 2.0 / 3.0 + 1.0) / 3.0));
//!
//! // Shards of a dataset merge into the same matrix a single pass gives.
//! let mut shard = ConfusionMatrix::new(3)?;
//! shard.update(&[2u8, 2], &[2u8, 0])?;
//! matrix.merge(&shard)?;
//!
//! let names: Vec<String> = ["road", "car", "sky"].map(String::from).to_vec();
//! let report = Report::new(&matrix, Some(&names))?;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```
//!
//! # What is computed
//!
//! [`ConfusionMatrix`] accumulates one matrix over a whole dataset (rows: ground truth,
//! columns: prediction) and derives the scores of `FCN_REFERENCE.md` section 5: per-class IoU,
//! Dice, precision and recall; mean IoU over classes with a non-empty union (FCN `score.py`,
//! torchmetrics `average="macro"`); pixel accuracy; mean class accuracy; frequency-weighted
//! IoU; and torchmetrics' "micro" IoU, which is not pixel accuracy. A score that is 0 / 0 for a
//! class is `None`, never NaN and never a silent 0; [`Absent`] chooses how such classes enter a
//! mean, and [`ConfusionMatrix::per_class_iou_or`] gives torchmetrics' `zero_division`.
//!
//! [`PerImageIou`] computes the per-image averages (torchmetrics `segmentation.MeanIoU`), a
//! different number that is kept under its own name.
//!
//! # Inputs and errors
//!
//! Label maps are flat slices of `u8`, `u16`, `u32`, `i32` or `i64` ([`Label`]); prediction
//! and target may differ in type. Ground-truth pixels equal to the ignore value (default 255)
//! or negative are skipped. Any other ground-truth value outside `[0, n)` is an error unless
//! [`OutOfRange::Skip`] is set; a prediction outside `[0, n)` is always an error (numpy's
//! `bincount` would silently count it in the wrong cell). Every update either succeeds whole
//! or leaves the matrix unchanged.
//!
//! Policy: functions that take user data return [`MetricsError`]; only the accessors that take
//! a class index ([`ConfusionMatrix::count`], [`ConfusionMatrix::iou`], ...) panic on an index
//! `>= n`, like slice indexing.
//!
//! # Features
//!
//! - `rayon`: [`ConfusionMatrix::update_batch`] and [`PerImageIou::update_batch`] run in
//!   parallel over images.
//! - `serde`: `Serialize` / `Deserialize` for [`ConfusionMatrix`] (validated on load) and
//!   [`Report`].
#![deny(missing_docs)]

mod confusion;
mod error;
mod kernel;
mod label;
mod numpy_sum;
mod per_image;
mod report;
#[cfg(feature = "serde")]
mod serde_impl;

pub use confusion::{
    Absent, ClassScores, ConfusionMatrix, DEFAULT_IGNORE_INDEX, MAX_CLASSES, OutOfRange, Scores,
};
pub use error::MetricsError;
pub use label::Label;
pub use per_image::PerImageIou;
pub use report::{ClassReport, PerImageSummary, Report};
