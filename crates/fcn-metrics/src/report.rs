//! A named, printable, serialisable summary of the scores.

use std::fmt;

use crate::{ConfusionMatrix, MetricsError, PerImageIou};

/// Every score of an evaluation with class names: prints as an aligned table and, with the
/// `serde` feature, serialises to JSON (undefined values as `null`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Report {
    /// Correct pixels over counted pixels.
    pub pixel_accuracy: Option<f64>,
    /// Mean class accuracy (recall) over classes present in the ground truth.
    pub mean_accuracy: Option<f64>,
    /// Dataset-level mean IoU over classes with a non-empty union (FCN `score.py`).
    pub mean_iou: Option<f64>,
    /// Frequency-weighted IoU.
    pub fw_iou: Option<f64>,
    /// Mean Dice over classes with a non-empty union.
    pub mean_dice: Option<f64>,
    /// Pixels counted (ground truth a class, not ignored).
    pub num_pixels: u64,
    /// The number of classes.
    pub num_classes: usize,
    /// The ground-truth value that was skipped.
    pub ignore_index: Option<u32>,
    /// Images evaluated, when known.
    pub num_images: Option<u64>,
    /// Per-image averages, when computed.
    pub per_image: Option<PerImageSummary>,
    /// One entry per class, in class order.
    pub per_class: Vec<ClassReport>,
}

/// The per-image averages of [`PerImageIou`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PerImageSummary {
    /// Mean over images of each image's mean IoU.
    pub mean_of_image_means: Option<f64>,
    /// Mean over (image, class) pairs with a non-empty union (torchmetrics `MeanIoU`).
    pub mean_over_image_classes: Option<f64>,
}

/// The scores of one class, with its name.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ClassReport {
    /// The class name (its index when no names were given).
    pub name: String,
    /// Intersection over union.
    pub iou: Option<f64>,
    /// Recall (class accuracy).
    pub accuracy: Option<f64>,
    /// Dice / F1.
    pub dice: Option<f64>,
    /// Precision.
    pub precision: Option<f64>,
    /// Ground-truth pixels of the class.
    pub gt_pixels: u64,
    /// Counted pixels predicted as the class.
    pub pred_pixels: u64,
}

impl Report {
    /// The report of `matrix`, with one name per class, or the class indices when `names` is
    /// `None`.
    pub fn new(matrix: &ConfusionMatrix, names: Option<&[String]>) -> Result<Self, MetricsError> {
        let n = matrix.num_classes();
        if let Some(names) = names.filter(|names| names.len() != n) {
            return Err(MetricsError::ClassNames {
                expected: n,
                actual: names.len(),
            });
        }
        let scores = matrix.scores();
        let per_class = scores
            .per_class
            .iter()
            .enumerate()
            .map(|(c, s)| {
                // An ignore value inside the classes: never ground truth, left out of every
                // mean, so it has no scores of its own either.
                let score = |v: Option<f64>| v.filter(|_| s.evaluated);
                ClassReport {
                    name: names.map_or_else(|| c.to_string(), |names| names[c].clone()),
                    iou: score(s.iou),
                    accuracy: score(s.accuracy),
                    dice: score(s.dice),
                    precision: score(s.precision),
                    gt_pixels: s.gt_pixels,
                    pred_pixels: s.pred_pixels,
                }
            })
            .collect();
        Ok(Self {
            pixel_accuracy: scores.pixel_accuracy,
            mean_accuracy: scores.mean_accuracy,
            mean_iou: scores.mean_iou,
            fw_iou: scores.fw_iou,
            mean_dice: scores.mean_dice,
            num_pixels: scores.num_pixels,
            num_classes: n,
            ignore_index: matrix.ignore_index(),
            num_images: None,
            per_image: None,
            per_class,
        })
    }

    /// Adds the per-image averages (and the image count) of `per_image`.
    #[must_use]
    pub fn with_per_image(mut self, per_image: &PerImageIou) -> Self {
        self.num_images = Some(per_image.num_images());
        self.per_image = Some(PerImageSummary {
            mean_of_image_means: per_image.mean_of_image_means(),
            mean_over_image_classes: per_image.mean_over_image_classes(),
        });
        self
    }

    /// Sets the number of images evaluated.
    #[must_use]
    pub fn with_num_images(mut self, num_images: u64) -> Self {
        self.num_images = Some(num_images);
        self
    }
}

/// A score as a percentage with two decimals, or `-` when undefined.
fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.2}", 100.0 * v))
}

impl fmt::Display for Report {
    /// An aligned table, scores in percent, `-` for undefined values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .per_class
            .iter()
            .map(|c| c.name.chars().count())
            .chain(["class".len(), "frequency-weighted IoU".len()])
            .max()
            .unwrap_or(0);
        writeln!(
            f,
            "{:<width$}  {:>7}  {:>7}  {:>7}  {:>9}  {:>12}  {:>12}",
            "class", "IoU", "acc", "Dice", "precision", "GT pixels", "pred pixels"
        )?;
        for c in &self.per_class {
            writeln!(
                f,
                "{:<width$}  {:>7}  {:>7}  {:>7}  {:>9}  {:>12}  {:>12}",
                c.name,
                percent(c.iou),
                percent(c.accuracy),
                percent(c.dice),
                percent(c.precision),
                c.gt_pixels,
                c.pred_pixels
            )?;
        }
        let mut summary = vec![
            ("pixel accuracy", percent(self.pixel_accuracy)),
            ("mean accuracy", percent(self.mean_accuracy)),
            ("mean IoU", percent(self.mean_iou)),
            ("frequency-weighted IoU", percent(self.fw_iou)),
            ("mean Dice", percent(self.mean_dice)),
        ];
        if let Some(p) = &self.per_image {
            summary.push(("per-image mean IoU", percent(p.mean_of_image_means)));
        }
        writeln!(f, "{}", "-".repeat(width + 2 + 7))?;
        for (label, value) in summary {
            writeln!(f, "{label:<width$}  {value:>7}")?;
        }
        write!(f, "{:<width$}  {:>7}", "pixels counted", self.num_pixels)?;
        if let Some(images) = self.num_images {
            write!(f, "\n{:<width$}  {:>7}", "images", images)?;
        }
        Ok(())
    }
}
