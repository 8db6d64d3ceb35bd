//! Per-image averaging of IoU: a different number from the dataset-level mean IoU.

use crate::numpy_sum::nanmean;
use crate::{ConfusionMatrix, Label, MetricsError, OutOfRange};

/// IoU computed on each image separately, then averaged over images.
///
/// This is **not** the dataset-level mean IoU of [`ConfusionMatrix::mean_iou`] (FCN's
/// `score.py`, the number papers report): a small object in one image weighs as much as a whole
/// image of road. It is what per-image tools report, in two flavours that are easy to mix up:
///
/// - [`mean_of_image_means`](Self::mean_of_image_means): the mean over images of each image's
///   mean IoU (torchmetrics' functional `mean_iou(..., input_format="index")` averaged over
///   images);
/// - [`mean_over_image_classes`](Self::mean_over_image_classes): the mean over every (image,
///   class) pair with a non-empty union; this is what torchmetrics 1.9's
///   `segmentation.MeanIoU(per_class=False)` returns.
///
/// In each image, a class enters only when its union there is non-empty. Ignored pixels are
/// dropped from both maps first (torchmetrics' `MeanIoU` has no ignore value; on maps without
/// ignored pixels the numbers agree).
#[derive(Debug, Clone, PartialEq)]
pub struct PerImageIou {
    template: ConfusionMatrix,
    iou_sums: Vec<f64>,
    image_counts: Vec<u64>,
    image_mean_sum: f64,
    images_scored: u64,
    images_seen: u64,
}

impl PerImageIou {
    /// An empty accumulator over `num_classes` classes, ignoring 255, strict about other values.
    pub fn new(num_classes: usize) -> Result<Self, MetricsError> {
        Ok(Self::from_template(ConfusionMatrix::new(num_classes)?))
    }

    /// An empty accumulator with the settings (classes, ignore value, out-of-range policy) of
    /// `matrix`; its counts are not used.
    pub fn like(matrix: &ConfusionMatrix) -> Self {
        Self::from_template(matrix.empty_like())
    }

    fn from_template(template: ConfusionMatrix) -> Self {
        let n = template.num_classes();
        Self {
            template,
            iou_sums: vec![0.0; n],
            image_counts: vec![0; n],
            image_mean_sum: 0.0,
            images_scored: 0,
            images_seen: 0,
        }
    }

    /// Sets the ground-truth value to skip (see [`ConfusionMatrix::with_ignore_index`]).
    #[must_use]
    pub fn with_ignore_index(mut self, ignore_index: Option<u32>) -> Self {
        self.template = self.template.with_ignore_index(ignore_index);
        self
    }

    /// Sets what happens to ground-truth values outside the classes.
    #[must_use]
    pub fn with_out_of_range(mut self, out_of_range: OutOfRange) -> Self {
        self.template = self.template.with_out_of_range(out_of_range);
        self
    }

    /// Adds one image. Errors as [`ConfusionMatrix::update`]; nothing is added then.
    pub fn update<P: Label, T: Label>(
        &mut self,
        pred: &[P],
        target: &[T],
    ) -> Result<(), MetricsError> {
        let mut image = self.template.empty_like();
        image.update(pred, target)?;
        self.add_checked_image(&image);
        Ok(())
    }

    /// Adds the image whose counts are in `image` (a matrix over that one image): lets a caller
    /// that already built the per-image matrix for [`ConfusionMatrix::merge`] reuse it. The
    /// matrix must have the same classes and ignore value.
    pub fn add_image(&mut self, image: &ConfusionMatrix) -> Result<(), MetricsError> {
        self.template.check_mergeable(image)?;
        self.add_checked_image(image);
        Ok(())
    }

    fn add_checked_image(&mut self, image: &ConfusionMatrix) {
        let ious = image.per_class_iou();
        let evaluated: Vec<Option<f64>> = ious
            .iter()
            .enumerate()
            .map(|(c, &iou)| iou.filter(|_| self.evaluated(c)))
            .collect();
        for (c, iou) in evaluated.iter().enumerate() {
            if let Some(iou) = iou {
                self.iou_sums[c] += iou;
                self.image_counts[c] += 1;
            }
        }
        if let Some(mean) = nanmean(&evaluated) {
            self.image_mean_sum += mean;
            self.images_scored += 1;
        }
        self.images_seen += 1;
    }

    /// Adds a batch of images, in parallel when the `rayon` feature is on. On error nothing is
    /// added and the error names the first image at fault.
    pub fn update_batch<P: Label, T: Label>(
        &mut self,
        batch: &[(&[P], &[T])],
    ) -> Result<(), MetricsError> {
        let image_matrix = |(image, (pred, target)): (usize, &(&[P], &[T]))| {
            let mut m = self.template.empty_like();
            m.update(pred, target)
                .map(|()| m)
                .map_err(|e| MetricsError::Image {
                    image,
                    source: Box::new(e),
                })
        };
        // Every image is scored before any error is looked at: collecting straight into a
        // `Result` would report whichever bad image a thread met first, not the first in order.
        #[cfg(feature = "rayon")]
        let results: Vec<Result<ConfusionMatrix, MetricsError>> = {
            use rayon::prelude::*;
            batch.par_iter().enumerate().map(image_matrix).collect()
        };
        #[cfg(not(feature = "rayon"))]
        let results: Vec<Result<ConfusionMatrix, MetricsError>> =
            batch.iter().enumerate().map(image_matrix).collect();
        let matrices: Vec<ConfusionMatrix> = results.into_iter().collect::<Result<_, _>>()?;
        // Added in image order, so the floating-point sums do not depend on thread timing.
        for m in &matrices {
            self.add_checked_image(m);
        }
        Ok(())
    }

    /// Adds everything another accumulator saw. Both must have the same classes and ignore value.
    pub fn merge(&mut self, other: &PerImageIou) -> Result<(), MetricsError> {
        self.template.check_mergeable(&other.template)?;
        for (a, b) in self.iou_sums.iter_mut().zip(&other.iou_sums) {
            *a += b;
        }
        for (a, b) in self.image_counts.iter_mut().zip(&other.image_counts) {
            *a += b;
        }
        self.image_mean_sum += other.image_mean_sum;
        self.images_scored += other.images_scored;
        self.images_seen += other.images_seen;
        Ok(())
    }

    /// Forgets every image, keeping the settings.
    pub fn reset(&mut self) {
        *self = Self::from_template(self.template.clone());
    }

    /// Images added.
    pub fn num_images(&self) -> u64 {
        self.images_seen
    }

    /// Images with at least one class of non-empty union (the others have no mean IoU of their
    /// own and are left out of [`mean_of_image_means`](Self::mean_of_image_means)).
    pub fn num_scored_images(&self) -> u64 {
        self.images_scored
    }

    /// The mean over images of each image's mean IoU.
    pub fn mean_of_image_means(&self) -> Option<f64> {
        (self.images_scored > 0).then(|| self.image_mean_sum / self.images_scored as f64)
    }

    /// The mean IoU over all (image, class) pairs with a non-empty union: torchmetrics 1.9
    /// `segmentation.MeanIoU(per_class=False)`.
    pub fn mean_over_image_classes(&self) -> Option<f64> {
        let pairs: u64 = self.image_counts.iter().sum();
        (pairs > 0).then(|| self.iou_sums.iter().sum::<f64>() / pairs as f64)
    }

    /// For each class, its IoU averaged over the images where its union is non-empty:
    /// torchmetrics `segmentation.MeanIoU(per_class=True)`, with `None` where it gives -1.
    pub fn per_class(&self) -> Vec<Option<f64>> {
        self.iou_sums
            .iter()
            .zip(&self.image_counts)
            .map(|(&s, &k)| (k > 0).then(|| s / k as f64))
            .collect()
    }

    fn evaluated(&self, class: usize) -> bool {
        self.template
            .ignore_index()
            .is_none_or(|ignore| ignore as usize != class)
    }
}
