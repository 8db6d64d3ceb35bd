//! Pixel-wise softmax cross-entropy with an ignore label: loss and gradient.

use rayon::prelude::*;

use crate::ops::Reduction;

/// Pixels per parallel task.
const PIXELS: usize = 4096;

/// Loss and gradient of the logits `x` (N, C, H*W) against `target` (N, H*W). Labels are already
/// validated: each is a class or `ignore`. `weight` has one entry per class.
///
/// Two passes, both parallel and contiguous in memory: per pixel, the log-sum-exp over channels
/// and the loss; then per channel plane, the gradient `w_t * scale * (softmax - onehot)`.
pub(crate) fn softmax_cross_entropy(
    x: &[f32],
    target: &[i64],
    dims: [usize; 3],
    ignore: i64,
    weight: Option<&[f32]>,
    reduction: Reduction,
) -> (f32, Vec<f32>) {
    let [n, c, hw] = dims;
    let class_weight = |t: i64| weight.map_or(1.0, |w| w[t as usize]);
    let scale = match reduction {
        Reduction::SumOverBatch => 1.0 / n as f64,
        Reduction::Mean => {
            let total: f64 = target
                .iter()
                .filter(|&&t| t != ignore)
                .map(|&t| f64::from(class_weight(t)))
                .sum();
            // Every pixel ignored: the loss is 0 and so is every gradient (PyTorch gives NaN).
            if total > 0.0 { 1.0 / total } else { 0.0 }
        }
    };

    // Pass 1: log-sum-exp per pixel (stable: shifted by the maximum) and the summed loss.
    let mut log_sum = vec![0.0f32; n * hw];
    // Partial sums collected in order and added sequentially: the loss does not depend on how
    // the work was split between threads.
    let partials: Vec<f64> = log_sum
        .par_chunks_mut(hw.max(1))
        .enumerate()
        .flat_map(|(i, image_lse)| {
            image_lse
                .par_chunks_mut(PIXELS)
                .enumerate()
                .map(move |(j, lse)| (i, j * PIXELS, lse))
        })
        .map(|(i, p0, lse)| {
            let image = &x[i * c * hw..(i + 1) * c * hw];
            let mut max = image[p0..p0 + lse.len()].to_vec();
            for ch in 1..c {
                for (m, &v) in max.iter_mut().zip(&image[ch * hw + p0..]) {
                    *m = m.max(v);
                }
            }
            let mut sum = vec![0.0f32; lse.len()];
            for ch in 0..c {
                for ((s, &m), &v) in sum.iter_mut().zip(&max).zip(&image[ch * hw + p0..]) {
                    *s += (v - m).exp();
                }
            }
            let mut partial = 0.0f64;
            for (k, l) in lse.iter_mut().enumerate() {
                *l = max[k] + sum[k].ln();
                let t = target[i * hw + p0 + k];
                if t != ignore {
                    let picked = image[t as usize * hw + p0 + k];
                    partial += f64::from(class_weight(t)) * f64::from(*l - picked);
                }
            }
            partial
        })
        .collect();
    let loss: f64 = partials.iter().sum();

    // Pass 2: the gradient, one channel plane at a time.
    let mut grad = vec![0.0f32; x.len()];
    grad.par_chunks_mut(hw.max(1))
        .zip(x.par_chunks(hw.max(1)))
        .enumerate()
        .for_each(|(plane, (g, x))| {
            let (i, ch) = (plane / c, (plane % c) as i64);
            let labels = &target[i * hw..(i + 1) * hw];
            let lse = &log_sum[i * hw..(i + 1) * hw];
            for (((g, &v), &l), &t) in g.iter_mut().zip(x).zip(lse).zip(labels) {
                *g = if t == ignore {
                    0.0
                } else {
                    let onehot = if t == ch { 1.0 } else { 0.0 };
                    ((v - l).exp() - onehot) * (f64::from(class_weight(t)) * scale) as f32
                };
            }
        });
    ((loss * scale) as f32, grad)
}
