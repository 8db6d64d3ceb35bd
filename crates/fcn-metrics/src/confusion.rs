//! The streaming confusion matrix and the dataset-level scores computed from it.

use crate::kernel;
use crate::numpy_sum::{nanmean, pairwise_sum};
use crate::{Label, MetricsError};

/// The ignore value used unless another is set: PASCAL VOC's and Cityscapes' void label.
pub const DEFAULT_IGNORE_INDEX: u32 = 255;

/// The largest number of classes a matrix may have: enough for the full ADE20K vocabulary
/// (3688 classes), while the `n x n` counts stay at 128 MiB.
pub const MAX_CLASSES: usize = 1 << 12;

/// What [`ConfusionMatrix::update`] does with a ground-truth value that is neither a class in
/// `[0, n)` nor the ignore value (nor negative, for signed label types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum OutOfRange {
    /// Fail with [`MetricsError::TargetOutOfRange`] naming the value and its position, and leave
    /// the matrix unchanged. The default: such a value is almost always a class-count or
    /// label-encoding mistake.
    #[default]
    Error,
    /// Skip the pixel, exactly like FCN's `score.py` (`k = (a >= 0) & (a < n)`).
    Skip,
}

/// How a score that is undefined for a class (0 / 0) enters a mean.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Absent {
    /// Leave the class out of the mean: `np.nanmean` in FCN's `score.py`, torchmetrics'
    /// `average="macro"`. The default.
    #[default]
    Skip,
    /// Count the class with this value, like scikit-learn's macro average over an explicit
    /// label list with `zero_division`. (torchmetrics' macro average always leaves such classes
    /// out; its `zero_division` only affects per-class values: see
    /// [`ConfusionMatrix::per_class_iou_or`].) The value should be finite: a NaN makes the mean NaN.
    As(f64),
}

/// A confusion matrix over `n` classes, accumulated over a whole dataset.
///
/// Rows are ground-truth classes, columns predicted classes; `count(i, j)` is the number of pixels
/// of class `i` predicted as `j`. Only pixels whose ground truth is a class in `[0, n)` (and not
/// the ignore value) are counted. Counts are `u64`: no real dataset overflows them, and
/// matrices loaded or merged from elsewhere are checked.
///
/// Scores follow FCN's `score.py` (see `FCN_REFERENCE.md` section 5): dataset-level, with
/// classes whose union is empty left out of the means. They are returned as `Option<f64>`:
/// `None` where the reference gives NaN. Means are summed in numpy's order, so they equal the
/// reference to the last bit.
///
/// When the ignore value is itself a class index (`ignore < n`), that class is never counted as
/// ground truth and is left out of every mean, as torchmetrics does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    num_classes: usize,
    ignore_index: Option<u32>,
    out_of_range: OutOfRange,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix over `num_classes` classes, ignoring 255, strict about other values.
    pub fn new(num_classes: usize) -> Result<Self, MetricsError> {
        check_num_classes(num_classes)?;
        Self::from_counts(num_classes, vec![0; num_classes * num_classes])
    }

    /// A matrix with the given row-major counts (`counts[gt * n + pred]`), for example one
    /// saved by another process.
    pub fn from_counts(num_classes: usize, counts: Vec<u64>) -> Result<Self, MetricsError> {
        check_num_classes(num_classes)?;
        let expected = num_classes * num_classes;
        if counts.len() != expected {
            return Err(MetricsError::CountsLength {
                expected,
                actual: counts.len(),
            });
        }
        // Every score sums counts: their total must fit in a u64.
        if counts
            .iter()
            .try_fold(0u64, |sum, &c| sum.checked_add(c))
            .is_none()
        {
            return Err(MetricsError::CountOverflow);
        }
        Ok(Self {
            num_classes,
            ignore_index: Some(DEFAULT_IGNORE_INDEX),
            out_of_range: OutOfRange::Error,
            counts,
        })
    }

    /// Sets the ground-truth value to skip (`None`: no ignore value; negative values of signed
    /// label types are always skipped).
    #[must_use]
    pub fn with_ignore_index(mut self, ignore_index: Option<u32>) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    /// Sets what happens to ground-truth values outside the classes (see [`OutOfRange`]).
    #[must_use]
    pub fn with_out_of_range(mut self, out_of_range: OutOfRange) -> Self {
        self.out_of_range = out_of_range;
        self
    }

    /// The number of classes `n`.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The ground-truth value that is skipped, if any.
    pub fn ignore_index(&self) -> Option<u32> {
        self.ignore_index
    }

    /// What happens to ground-truth values outside the classes.
    pub fn out_of_range(&self) -> OutOfRange {
        self.out_of_range
    }

    /// The row-major counts, `n * n` of them: `counts()[gt * n + pred]`.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Pixels of ground-truth class `gt` predicted as `pred`. Panics if either is `>= n`.
    pub fn count(&self, gt: usize, pred: usize) -> u64 {
        assert!(gt < self.num_classes && pred < self.num_classes);
        self.counts[gt * self.num_classes + pred]
    }

    /// The number of pixels counted (every pixel whose ground truth is a class).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Pixels whose ground truth is `class` (the row sum `t_i`). Panics if `class >= n`.
    pub fn gt_pixels(&self, class: usize) -> u64 {
        let n = self.num_classes;
        self.counts[class * n..(class + 1) * n].iter().sum()
    }

    /// Counted pixels predicted as `class` (the column sum `p_i`). Panics if `class >= n`.
    pub fn pred_pixels(&self, class: usize) -> u64 {
        assert!(class < self.num_classes);
        self.counts
            .iter()
            .skip(class)
            .step_by(self.num_classes)
            .sum()
    }

    /// Pixels of `class` predicted as `class` (the diagonal entry). Panics if `class >= n`.
    pub fn true_positives(&self, class: usize) -> u64 {
        self.count(class, class)
    }

    /// Adds one label map: `pred` and `target` are the same pixels in the same order.
    ///
    /// Errors (the matrix is then unchanged): lengths differ; a prediction outside `[0, n)`;
    /// a ground-truth value outside `[0, n)` that is not the ignore value or negative, unless
    /// [`OutOfRange::Skip`] is set.
    pub fn update<P: Label, T: Label>(
        &mut self,
        pred: &[P],
        target: &[T],
    ) -> Result<(), MetricsError> {
        self.check(pred, target)?;
        let ignore = self.ignore_u64();
        kernel::accumulate(&mut self.counts, self.num_classes, ignore, pred, target);
        Ok(())
    }

    /// Adds a batch of label maps, in parallel over images when the `rayon` feature is on.
    ///
    /// On error nothing is added, and the error ([`MetricsError::Image`]) names the first
    /// image at fault.
    pub fn update_batch<P: Label, T: Label>(
        &mut self,
        batch: &[(&[P], &[T])],
    ) -> Result<(), MetricsError> {
        let sum = self.batch_sum(batch)?;
        self.add_counts(&sum);
        Ok(())
    }

    #[cfg(feature = "rayon")]
    fn batch_sum<P: Label, T: Label>(
        &self,
        batch: &[(&[P], &[T])],
    ) -> Result<Vec<u64>, MetricsError> {
        use rayon::prelude::*;
        // Each split stops at its own first error; the smallest image index among them is the
        // first error of the whole batch.
        batch
            .par_iter()
            .enumerate()
            .fold(
                || Ok(self.empty_like()),
                |acc: Result<Self, (usize, MetricsError)>, (i, (pred, target))| {
                    let mut m = acc?;
                    m.update(pred, target).map_err(|e| (i, e))?;
                    Ok(m)
                },
            )
            .reduce(
                || Ok(self.empty_like()),
                |a, b| match (a, b) {
                    (Ok(mut a), Ok(b)) => {
                        a.add_counts(&b.counts);
                        Ok(a)
                    }
                    (Err(a), Err(b)) => Err(if a.0 <= b.0 { a } else { b }),
                    (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
                },
            )
            .map(|m| m.counts)
            .map_err(|(image, e)| MetricsError::Image {
                image,
                source: Box::new(e),
            })
    }

    #[cfg(not(feature = "rayon"))]
    fn batch_sum<P: Label, T: Label>(
        &self,
        batch: &[(&[P], &[T])],
    ) -> Result<Vec<u64>, MetricsError> {
        let mut sum = self.empty_like();
        for (image, (pred, target)) in batch.iter().enumerate() {
            sum.update(pred, target).map_err(|e| MetricsError::Image {
                image,
                source: Box::new(e),
            })?;
        }
        Ok(sum.counts)
    }

    /// Adds the counts of another matrix (for sharded or distributed evaluation). Both must
    /// have the same number of classes and the same ignore value.
    pub fn merge(&mut self, other: &ConfusionMatrix) -> Result<(), MetricsError> {
        self.check_mergeable(other)?;
        self.total()
            .checked_add(other.total())
            .ok_or(MetricsError::CountOverflow)?;
        self.add_counts(&other.counts);
        Ok(())
    }

    /// Counts of `other` can be added to this matrix's: same classes, same ignore value.
    pub(crate) fn check_mergeable(&self, other: &ConfusionMatrix) -> Result<(), MetricsError> {
        let (left, right) = (
            (self.num_classes, self.ignore_index),
            (other.num_classes, other.ignore_index),
        );
        if left == right {
            Ok(())
        } else {
            Err(MetricsError::MergeMismatch { left, right })
        }
    }

    /// Sets every count to zero, keeping the settings.
    pub fn reset(&mut self) {
        self.counts.fill(0);
    }

    /// Validates a pair of label maps against this matrix's settings.
    pub(crate) fn check<P: Label, T: Label>(
        &self,
        pred: &[P],
        target: &[T],
    ) -> Result<(), MetricsError> {
        if pred.len() != target.len() {
            return Err(MetricsError::LengthMismatch {
                pred_len: pred.len(),
                target_len: target.len(),
            });
        }
        let n = self.num_classes as u64;
        if let Some(index) = kernel::first_bad_prediction(pred, n) {
            return Err(MetricsError::PredictionOutOfRange {
                value: pred[index].to_i64(),
                index,
                num_classes: self.num_classes,
            });
        }
        let unknown = match self.out_of_range {
            OutOfRange::Error => kernel::first_bad_target(target, n, self.ignore_u64()),
            OutOfRange::Skip => None,
        };
        if let Some(index) = unknown {
            return Err(MetricsError::TargetOutOfRange {
                value: target[index].to_i64(),
                index,
                num_classes: self.num_classes,
                ignore_index: self.ignore_index,
            });
        }
        Ok(())
    }

    /// An empty matrix with the same classes and settings (for per-image or per-shard counts).
    pub fn empty_like(&self) -> Self {
        Self {
            counts: vec![0; self.counts.len()],
            ..*self
        }
    }

    fn add_counts(&mut self, counts: &[u64]) {
        for (a, b) in self.counts.iter_mut().zip(counts) {
            *a += b;
        }
    }

    fn ignore_u64(&self) -> u64 {
        self.ignore_index.map_or(u64::MAX, u64::from)
    }

    /// Whether `class` enters the means (every class but an in-range ignore value).
    fn evaluated(&self, class: usize) -> bool {
        self.ignore_index
            .is_none_or(|ignore| ignore as usize != class)
    }

    fn row_sums(&self) -> Vec<u64> {
        self.counts
            .chunks_exact(self.num_classes)
            .map(|row| row.iter().sum())
            .collect()
    }

    fn column_sums(&self) -> Vec<u64> {
        let mut sums = vec![0u64; self.num_classes];
        for row in self.counts.chunks_exact(self.num_classes) {
            for (s, c) in sums.iter_mut().zip(row) {
                *s += c;
            }
        }
        sums
    }

    fn diagonal(&self) -> Vec<u64> {
        (0..self.num_classes).map(|c| self.count(c, c)).collect()
    }

    /// IoU of one class: `tp / (t + p - tp)`; `None` when the union is empty.
    pub fn iou(&self, class: usize) -> Option<f64> {
        let tp = self.true_positives(class);
        ratio(tp, self.gt_pixels(class) + self.pred_pixels(class) - tp)
    }

    /// Dice (F1) of one class: `2 tp / (t + p)`; `None` when both are empty.
    pub fn dice(&self, class: usize) -> Option<f64> {
        ratio(
            2 * self.true_positives(class),
            self.gt_pixels(class) + self.pred_pixels(class),
        )
    }

    /// Precision of one class: `tp / p`; `None` when the class is never predicted.
    pub fn precision(&self, class: usize) -> Option<f64> {
        ratio(self.true_positives(class), self.pred_pixels(class))
    }

    /// Recall (class accuracy) of one class: `tp / t`; `None` when the class is absent from
    /// the ground truth.
    pub fn recall(&self, class: usize) -> Option<f64> {
        ratio(self.true_positives(class), self.gt_pixels(class))
    }

    /// IoU of every class (`score.py`'s `iu`, with `None` for NaN).
    pub fn per_class_iou(&self) -> Vec<Option<f64>> {
        let (t, p, tp) = (self.row_sums(), self.column_sums(), self.diagonal());
        (0..self.num_classes)
            .map(|c| ratio(tp[c], t[c] + p[c] - tp[c]))
            .collect()
    }

    /// IoU of every class with undefined ones replaced by `zero_division`: torchmetrics'
    /// `MulticlassJaccardIndex(average="none", zero_division=...)`.
    pub fn per_class_iou_or(&self, zero_division: f64) -> Vec<f64> {
        self.per_class_iou()
            .into_iter()
            .map(|v| v.unwrap_or(zero_division))
            .collect()
    }

    /// Recall of every class (`score.py`'s per-class accuracy).
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        let (t, tp) = (self.row_sums(), self.diagonal());
        (0..self.num_classes).map(|c| ratio(tp[c], t[c])).collect()
    }

    /// Dice of every class.
    pub fn per_class_dice(&self) -> Vec<Option<f64>> {
        let (t, p, tp) = (self.row_sums(), self.column_sums(), self.diagonal());
        (0..self.num_classes)
            .map(|c| ratio(2 * tp[c], t[c] + p[c]))
            .collect()
    }

    /// Pixel accuracy: correctly predicted pixels over counted pixels. `None` when empty.
    pub fn pixel_accuracy(&self) -> Option<f64> {
        ratio(self.diagonal().iter().sum(), self.total())
    }

    /// Mean IoU over classes with a non-empty union: FCN `score.py`'s `np.nanmean(iu)`,
    /// torchmetrics `MulticlassJaccardIndex(average="macro")`. `None` when nothing is counted.
    pub fn mean_iou(&self) -> Option<f64> {
        self.mean_iou_with(Absent::Skip)
    }

    /// Mean IoU with an explicit policy for classes whose union is empty.
    pub fn mean_iou_with(&self, absent: Absent) -> Option<f64> {
        self.mean_over_evaluated(self.per_class_iou(), absent)
    }

    /// Mean class accuracy over classes present in the ground truth (`score.py`'s
    /// `np.nanmean(acc)`).
    pub fn mean_accuracy(&self) -> Option<f64> {
        self.mean_over_evaluated(self.per_class_accuracy(), Absent::Skip)
    }

    /// Mean Dice over classes with a non-empty union.
    pub fn mean_dice(&self) -> Option<f64> {
        self.mean_over_evaluated(self.per_class_dice(), Absent::Skip)
    }

    /// Frequency-weighted IoU: `sum over t_i > 0 of (t_i / sum t) * IoU_i`, summed as
    /// `score.py` does. Equals torchmetrics' `average="weighted"`.
    pub fn fw_iou(&self) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let t = self.row_sums();
        let terms: Vec<f64> = self
            .per_class_iou()
            .into_iter()
            .enumerate()
            .filter(|&(c, _)| t[c] > 0 && self.evaluated(c))
            .map(|(c, iou)| (t[c] as f64 / total as f64) * iou.unwrap_or(0.0))
            .collect();
        Some(pairwise_sum(&terms))
    }

    /// "Micro" IoU: total intersection over total union, torchmetrics' `average="micro"`.
    /// This is **not** pixel accuracy.
    pub fn micro_iou(&self) -> Option<f64> {
        let (t, p, tp) = (self.row_sums(), self.column_sums(), self.diagonal());
        let evaluated = (0..self.num_classes).filter(|&c| self.evaluated(c));
        let (inter, union) =
            evaluated.fold((0, 0), |(i, u), c| (i + tp[c], u + t[c] + p[c] - tp[c]));
        ratio(inter, union)
    }

    fn mean_over_evaluated(&self, values: Vec<Option<f64>>, absent: Absent) -> Option<f64> {
        let values: Vec<Option<f64>> = values
            .into_iter()
            .enumerate()
            .filter(|&(c, _)| self.evaluated(c))
            .map(|(_, v)| match absent {
                Absent::Skip => v,
                Absent::As(x) => Some(v.unwrap_or(x)),
            })
            .collect();
        nanmean(&values)
    }

    /// Every score at once, for reports.
    pub fn scores(&self) -> Scores {
        let (t, p, tp) = (self.row_sums(), self.column_sums(), self.diagonal());
        let per_class = (0..self.num_classes)
            .map(|c| ClassScores {
                iou: ratio(tp[c], t[c] + p[c] - tp[c]),
                accuracy: ratio(tp[c], t[c]),
                precision: ratio(tp[c], p[c]),
                dice: ratio(2 * tp[c], t[c] + p[c]),
                gt_pixels: t[c],
                pred_pixels: p[c],
                true_positives: tp[c],
                evaluated: self.evaluated(c),
            })
            .collect();
        Scores {
            pixel_accuracy: self.pixel_accuracy(),
            mean_accuracy: self.mean_accuracy(),
            mean_iou: self.mean_iou(),
            fw_iou: self.fw_iou(),
            mean_dice: self.mean_dice(),
            num_pixels: self.total(),
            per_class,
        }
    }
}

fn check_num_classes(num_classes: usize) -> Result<(), MetricsError> {
    match num_classes {
        0 => Err(MetricsError::NoClasses),
        n if n > MAX_CLASSES => Err(MetricsError::TooManyClasses { num_classes }),
        _ => Ok(()),
    }
}

/// `num / den` as `f64`, or `None` for 0 / 0 (never NaN).
fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The dataset-level scores of a [`ConfusionMatrix`]; `None` marks an undefined value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Scores {
    /// Correct pixels over counted pixels.
    pub pixel_accuracy: Option<f64>,
    /// Mean recall over classes present in the ground truth.
    pub mean_accuracy: Option<f64>,
    /// Mean IoU over classes with a non-empty union.
    pub mean_iou: Option<f64>,
    /// Frequency-weighted IoU.
    pub fw_iou: Option<f64>,
    /// Mean Dice over classes with a non-empty union.
    pub mean_dice: Option<f64>,
    /// Pixels counted.
    pub num_pixels: u64,
    /// One entry per class.
    pub per_class: Vec<ClassScores>,
}

/// The scores of one class.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClassScores {
    /// Intersection over union; `None` when the union is empty.
    pub iou: Option<f64>,
    /// Recall (class accuracy); `None` when the class is absent from the ground truth.
    pub accuracy: Option<f64>,
    /// Precision; `None` when the class is never predicted.
    pub precision: Option<f64>,
    /// Dice / F1; `None` when the union is empty.
    pub dice: Option<f64>,
    /// Ground-truth pixels of the class.
    pub gt_pixels: u64,
    /// Counted pixels predicted as the class.
    pub pred_pixels: u64,
    /// Pixels of the class predicted as the class.
    pub true_positives: u64,
    /// Whether the class enters the means (false only for an in-range ignore value).
    pub evaluated: bool,
}
