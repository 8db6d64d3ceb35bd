//! Class weights of the loss (`optim.class_weights`).

use fcn_data::Dataset;

use crate::error::Result;

/// Samples read to estimate class frequencies.
const WEIGHT_SAMPLES: usize = 256;
/// Largest class weight of median-frequency balancing.
const MAX_CLASS_WEIGHT: f32 = 10.0;

/// SegNet's median-frequency class weights from up to [`WEIGHT_SAMPLES`] evenly spaced
/// training samples: `freq(c)` = pixels of c / pixels of the images that hold c, and
/// `w(c) = median(freq) / freq(c)`, capped at [`MAX_CLASS_WEIGHT`]; classes never seen weigh 1.
pub fn median_frequency_weights(dataset: &dyn Dataset) -> Result<Vec<f32>> {
    let classes = dataset.classes().len();
    let ignore = dataset.classes().ignore();
    let mut pixels = vec![0u64; classes];
    let mut image_pixels = vec![0u64; classes];
    let n = dataset.len().min(WEIGHT_SAMPLES);
    for k in 0..n {
        let sample = dataset.get(k * dataset.len() / n.max(1))?;
        let mut counts = vec![0u64; classes];
        let (h, w) = sample.label.dim();
        for y in 0..h {
            for x in 0..w {
                if let Some(v) = sample.label.get(y, x)
                    && Some(v) != ignore
                    && usize::from(v) < classes
                {
                    counts[usize::from(v)] += 1;
                }
            }
        }
        let total: u64 = counts.iter().sum();
        for c in 0..classes {
            if counts[c] > 0 {
                pixels[c] += counts[c];
                image_pixels[c] += total;
            }
        }
    }
    let freq: Vec<Option<f64>> = (0..classes)
        .map(|c| (pixels[c] > 0).then(|| pixels[c] as f64 / image_pixels[c] as f64))
        .collect();
    let mut seen: Vec<f64> = freq.iter().flatten().copied().collect();
    if seen.is_empty() {
        return Ok(vec![1.0; classes]);
    }
    seen.sort_by(f64::total_cmp);
    let median = seen[seen.len() / 2];
    Ok(freq
        .iter()
        .map(|f| f.map_or(1.0, |f| ((median / f) as f32).min(MAX_CLASS_WEIGHT)))
        .collect())
}
