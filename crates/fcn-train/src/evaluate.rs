//! Evaluation: a model over a dataset, scored with `fcn-metrics` exactly as score.py does.

use std::sync::Arc;

use fcn_core::{Device, Fcn, Mode, Preprocess, Tape, Tensor, tensor::ops};
use fcn_data::Dataset;
use fcn_data::loader::{Loader, LoaderConfig, Sampling};
use fcn_data::transforms::{Compose, Normalization};
use fcn_metrics::{ConfusionMatrix, PerImageIou, Report};

use crate::error::Result;

/// The loader normalisation matching a model's preprocessing.
pub fn normalization(preprocess: Preprocess) -> Normalization {
    match preprocess {
        Preprocess::Caffe => Normalization::Caffe,
        Preprocess::ImageNet => Normalization::ImageNet,
    }
}

/// Scores of one evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Dataset-level confusion matrix.
    pub matrix: ConfusionMatrix,
    /// Per-image averages.
    pub per_image: PerImageIou,
    /// Images scored.
    pub images: usize,
}

impl Evaluation {
    /// The full report with class names.
    pub fn report(&self, names: &[String]) -> Result<Report> {
        Ok(Report::new(&self.matrix, Some(names))?
            .with_per_image(&self.per_image)
            .with_num_images(self.images as u64))
    }

    /// The mean IoU of always predicting the class with the most ground-truth pixels (the
    /// majority-class baseline a trained model must beat).
    pub fn majority_baseline_miou(&self) -> Option<f64> {
        let n = self.matrix.num_classes();
        let majority = (0..n).max_by_key(|&c| self.matrix.gt_pixels(c))?;
        let mut counts = vec![0u64; n * n];
        for gt in 0..n {
            counts[gt * n + majority] = self.matrix.gt_pixels(gt);
        }
        ConfusionMatrix::from_counts(n, counts).ok()?.mean_iou()
    }
}

/// Class scores of one image batch (N, 3, H, W) on `device`, as labels (N*H*W).
pub fn predict_labels(model: &Fcn, images: Tensor, device: Device) -> Result<Vec<u32>> {
    let mut tape = Tape::inference();
    let x = tape.constant(
        images
            .to_device(device)
            .map_err(fcn_core::CoreError::from)?,
    );
    let scores = model.forward(&mut tape, &x, Mode::Eval)?;
    Ok(ops::argmax_channels(scores.value()).map_err(fcn_core::CoreError::from)?)
}

/// Evaluates `model` on every image of `dataset` (whole images, batch 1), calling `on_image`
/// with each sample's index and predicted labels (row-major, its own size).
pub fn evaluate(
    model: &Fcn,
    dataset: Arc<dyn Dataset>,
    device: Device,
    workers: usize,
    mut on_image: impl FnMut(usize, &[u32]) -> Result<()>,
) -> Result<Evaluation> {
    let classes = dataset.classes().clone();
    let ignore = classes.ignore().map(u32::from);
    let mut matrix = ConfusionMatrix::new(model.num_classes())?.with_ignore_index(ignore);
    let mut per_image = PerImageIou::like(&matrix);
    let config = LoaderConfig {
        batch_size: 1,
        workers: workers.max(1),
        prefetch: 2 * workers.max(1),
        sampling: Sampling::Sequential,
        drop_last: false,
        seed: 0,
        normalization: normalization(model.preprocess()),
    };
    let loader = Loader::new(dataset, Compose::new(), config)?;
    let mut images = 0;
    for batch in loader.epoch(0) {
        let batch = batch?;
        let input =
            Tensor::from_vec(batch.images, &batch.shape).map_err(fcn_core::CoreError::from)?;
        let pred = predict_labels(model, input, device)?;
        let mut image = matrix.empty_like();
        image.update(&pred, &batch.labels)?;
        matrix.merge(&image)?;
        per_image.add_image(&image)?;
        on_image(batch.indices[0], &pred)?;
        images += 1;
    }
    Ok(Evaluation {
        matrix,
        per_image,
        images,
    })
}
