//! Evaluation: a model over a dataset, scored with `fcn-metrics` exactly as score.py does.

use std::sync::Arc;

use fcn_core::{Device, Fcn, Mode, Preprocess, Tape, Tensor, tensor::ops};
use fcn_data::Dataset;
use fcn_data::loader::{Loader, LoaderConfig, Sampling, Shard};
use fcn_data::transforms::{Compose, Normalization};
use fcn_metrics::{ConfusionMatrix, PerImageIou, Report};

use crate::error::Result;

/// The loader normalisation matching a model's preprocessing: the model's own value, since
/// fcn-core's `Preprocess` and fcn-data's `Normalization` are one type (`fcn_common::Preprocess`).
pub fn normalization(preprocess: Preprocess) -> Normalization {
    preprocess
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
    /// Merges per-image confusion matrices (sorted by index first, so that every split of the
    /// images into shards gives the same per-image averages, bit for bit).
    pub fn from_images(
        template: &ConfusionMatrix,
        images: &[(usize, ConfusionMatrix)],
    ) -> Result<Self> {
        let mut order: Vec<&(usize, ConfusionMatrix)> = images.iter().collect();
        order.sort_by_key(|(index, _)| *index);
        let mut matrix = template.empty_like();
        let mut per_image = PerImageIou::like(template);
        for (_, image) in order {
            matrix.merge(image)?;
            per_image.add_image(image)?;
        }
        Ok(Self {
            matrix,
            per_image,
            images: images.len(),
        })
    }

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

/// The class scores (N, C, H, W) of a normalised image batch (N, 3, H, W), on the batch's
/// device: the one forward pass behind every prediction.
pub fn class_scores(model: &Fcn, images: Tensor) -> Result<Tensor> {
    let mut tape = Tape::inference();
    let x = tape.constant(images);
    Ok(model.forward(&mut tape, &x, Mode::Eval)?.into_value())
}

/// Class scores of one image batch (N, 3, H, W) on `device`, as labels (N*H*W).
pub fn predict_labels(model: &Fcn, images: Tensor, device: Device) -> Result<Vec<u32>> {
    let images = images
        .to_device(device)
        .map_err(fcn_core::CoreError::from)?;
    let scores = class_scores(model, images)?;
    Ok(ops::argmax_channels(&scores).map_err(fcn_core::CoreError::from)?)
}

/// Window starts along one axis: every `stride`, the last flush with the end.
fn window_starts(size: usize, window: usize, stride: usize) -> Vec<usize> {
    if size <= window {
        return vec![0];
    }
    let mut starts: Vec<usize> = (0..=size - window).step_by(stride.max(1)).collect();
    if starts.last() != Some(&(size - window)) {
        starts.push(size - window);
    }
    starts
}

/// Labels of one image (1, 3, H, W) by sliding-window inference: `window` x `window` tiles
/// every `stride` pixels (the last tile flush with the edge), class scores averaged where
/// tiles overlap, then the argmax. Images no larger than the window run whole.
pub fn predict_labels_sliding(
    model: &Fcn,
    image: &Tensor,
    device: Device,
    window: usize,
    stride: usize,
) -> Result<Vec<u32>> {
    let shape = image.shape().to_vec();
    let (h, w) = (shape[2], shape[3]);
    if h <= window && w <= window {
        return predict_labels(model, image.clone(), device);
    }
    let classes = model.num_classes();
    let mut sums = vec![0f32; classes * h * w];
    let mut hits = vec![0u32; h * w];
    let (th, tw) = (window.min(h), window.min(w));
    for &y in &window_starts(h, window, stride) {
        for &x in &window_starts(w, window, stride) {
            let tile = ops::crop(image, [y, x], [th, tw]).map_err(fcn_core::CoreError::from)?;
            let tile = tile.to_device(device).map_err(fcn_core::CoreError::from)?;
            let scores = class_scores(model, tile)?;
            let scores = scores.to_vec().map_err(fcn_core::CoreError::from)?;
            for c in 0..classes {
                for r in 0..th {
                    let src = &scores[(c * th + r) * tw..(c * th + r + 1) * tw];
                    let dst_start = (c * h + y + r) * w + x;
                    for (d, s) in sums[dst_start..dst_start + tw].iter_mut().zip(src) {
                        *d += s;
                    }
                }
            }
            for r in 0..th {
                for hit in &mut hits[(y + r) * w + x..(y + r) * w + x + tw] {
                    *hit += 1;
                }
            }
        }
    }
    // Averaging does not change the argmax per pixel when every class gets the same count, so
    // the sums are compared directly.
    let plane = h * w;
    Ok((0..plane)
        .map(|p| {
            let mut best = 0;
            for c in 1..classes {
                if sums[c * plane + p] > sums[best * plane + p] {
                    best = c;
                }
            }
            best as u32
        })
        .collect())
}

/// How [`evaluate`] runs the model over an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Inference {
    /// The whole image at once.
    #[default]
    Whole,
    /// Square tiles of `window` pixels every `stride` pixels, scores averaged on overlaps.
    Sliding {
        /// Tile side.
        window: usize,
        /// Step between tiles.
        stride: usize,
    },
}

/// Evaluates `model` on every image of `dataset` (whole images, batch 1), calling `on_image`
/// with each sample's index and predicted labels (row-major, its own size).
pub fn evaluate(
    model: &Fcn,
    dataset: Arc<dyn Dataset>,
    device: Device,
    workers: usize,
    on_image: impl FnMut(usize, &[u32]) -> Result<()>,
) -> Result<Evaluation> {
    evaluate_with(model, dataset, device, workers, Inference::Whole, on_image)
}

/// [`evaluate`] with a choice of whole-image or sliding-window inference.
pub fn evaluate_with(
    model: &Fcn,
    dataset: Arc<dyn Dataset>,
    device: Device,
    workers: usize,
    inference: Inference,
    on_image: impl FnMut(usize, &[u32]) -> Result<()>,
) -> Result<Evaluation> {
    let template = scoring_matrix(model, dataset.as_ref())?;
    let images = evaluate_shard(
        model,
        dataset,
        device,
        workers,
        inference,
        Shard::WHOLE,
        on_image,
    )?;
    Evaluation::from_images(&template, &images)
}

/// The empty confusion matrix an evaluation of `model` on `dataset` fills.
pub(crate) fn scoring_matrix(model: &Fcn, dataset: &dyn Dataset) -> Result<ConfusionMatrix> {
    let ignore = dataset.classes().ignore().map(u32::from);
    Ok(ConfusionMatrix::new(model.num_classes())?.with_ignore_index(ignore))
}

/// Scores this shard's images of `dataset` (images `shard.index`, `shard.index + shard.count`,
/// ...): each image's confusion matrix with its index, in index order. Distributed evaluation
/// gathers every shard's list and merges them with [`Evaluation::from_images`].
pub fn evaluate_shard(
    model: &Fcn,
    dataset: Arc<dyn Dataset>,
    device: Device,
    workers: usize,
    inference: Inference,
    shard: Shard,
    mut on_image: impl FnMut(usize, &[u32]) -> Result<()>,
) -> Result<Vec<(usize, ConfusionMatrix)>> {
    let template = scoring_matrix(model, dataset.as_ref())?;
    let config = LoaderConfig {
        batch_size: 1,
        workers: workers.max(1),
        prefetch: 2 * workers.max(1),
        sampling: Sampling::Sequential,
        drop_last: false,
        seed: 0,
        normalization: normalization(model.preprocess()),
        shard,
    };
    let loader = Loader::new(dataset, Compose::new(), config)?;
    let mut images = Vec::new();
    for batch in loader.epoch(0) {
        let batch = batch?;
        let input =
            Tensor::from_vec(batch.images, &batch.shape).map_err(fcn_core::CoreError::from)?;
        let pred = match inference {
            Inference::Whole => predict_labels(model, input, device)?,
            Inference::Sliding { window, stride } => {
                predict_labels_sliding(model, &input, device, window, stride)?
            }
        };
        let mut image = template.empty_like();
        image.update(&pred, &batch.labels)?;
        on_image(batch.indices[0], &pred)?;
        images.push((batch.indices[0], image));
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_pixel() {
        assert_eq!(window_starts(10, 16, 8), [0]);
        assert_eq!(window_starts(20, 16, 8), [0, 4]);
        assert_eq!(window_starts(40, 16, 12), [0, 12, 24]);
        assert_eq!(window_starts(41, 16, 12), [0, 12, 24, 25]);
    }
}
