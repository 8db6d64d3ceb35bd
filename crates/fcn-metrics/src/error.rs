//! The one error type of this crate.

use std::fmt;

/// Everything that can go wrong when building, updating or merging metrics.
///
/// Positions are indices into the flat label slices given to
/// [`ConfusionMatrix::update`](crate::ConfusionMatrix::update); for batch updates the
/// error is wrapped in [`MetricsError::Image`], which names the image.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsError {
    /// A matrix over zero classes was requested.
    NoClasses,
    /// The number of classes does not fit in memory as an `n x n` matrix of counts.
    TooManyClasses {
        /// The number of classes asked for.
        num_classes: usize,
    },
    /// The prediction and target slices have different lengths.
    LengthMismatch {
        /// Length of the prediction slice.
        pred_len: usize,
        /// Length of the target slice.
        target_len: usize,
    },
    /// A predicted class is outside `[0, num_classes)`.
    PredictionOutOfRange {
        /// The offending value.
        value: i64,
        /// Its position in the slice.
        index: usize,
        /// The number of classes of the matrix.
        num_classes: usize,
    },
    /// A ground-truth value is neither a class in `[0, num_classes)` nor the ignore value.
    TargetOutOfRange {
        /// The offending value.
        value: i64,
        /// Its position in the slice.
        index: usize,
        /// The number of classes of the matrix.
        num_classes: usize,
        /// The configured ignore value, if any.
        ignore_index: Option<u32>,
    },
    /// Two matrices with different class counts or ignore values cannot be merged.
    MergeMismatch {
        /// `(num_classes, ignore_index)` of the matrix merged into.
        left: (usize, Option<u32>),
        /// `(num_classes, ignore_index)` of the matrix merged from.
        right: (usize, Option<u32>),
    },
    /// A list of counts does not have `num_classes * num_classes` entries.
    CountsLength {
        /// `num_classes * num_classes`.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The counts would no longer fit in a `u64` (a corrupt or hostile matrix).
    CountOverflow,
    /// A list of class names does not have one name per class.
    ClassNames {
        /// The number of classes.
        expected: usize,
        /// The number of names given.
        actual: usize,
    },
    /// An error in one image of a batch update.
    Image {
        /// Position of the image in the batch.
        image: usize,
        /// What went wrong in it.
        source: Box<MetricsError>,
    },
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoClasses => write!(f, "a confusion matrix needs at least one class"),
            Self::TooManyClasses { num_classes } => {
                write!(
                    f,
                    "{num_classes} classes is too many for an n x n confusion matrix"
                )
            }
            Self::LengthMismatch {
                pred_len,
                target_len,
            } => write!(
                f,
                "prediction has {pred_len} pixels but target has {target_len}; they must match"
            ),
            Self::PredictionOutOfRange {
                value,
                index,
                num_classes,
            } => write!(
                f,
                "predicted class {value} at pixel {index} is outside [0, {num_classes})"
            ),
            Self::TargetOutOfRange {
                value,
                index,
                num_classes,
                ignore_index,
            } => {
                write!(
                    f,
                    "ground-truth value {value} at pixel {index} is not a class in [0, {num_classes})"
                )?;
                match ignore_index {
                    Some(ignore) => write!(f, " nor the ignore value {ignore}")?,
                    None => write!(f, " and no ignore value is set")?,
                }
                write!(
                    f,
                    " (to skip such values as FCN's score.py does, use OutOfRange::Skip, or --lenient with fcn eval)"
                )
            }
            Self::MergeMismatch { left, right } => write!(
                f,
                "cannot merge a matrix of {} classes (ignore {:?}) into one of {} classes (ignore {:?})",
                right.0, right.1, left.0, left.1
            ),
            Self::CountsLength { expected, actual } => write!(
                f,
                "a confusion matrix needs {expected} counts (classes squared), got {actual}"
            ),
            Self::ClassNames { expected, actual } => {
                write!(
                    f,
                    "expected {expected} class names (one per class), got {actual}"
                )
            }
            Self::CountOverflow => write!(f, "the pixel counts overflow a u64"),
            Self::Image { image, source } => write!(f, "in image {image} of the batch: {source}"),
        }
    }
}

// `Image` shows its inner error in its own message, so there is no separate `source`.
impl std::error::Error for MetricsError {}
