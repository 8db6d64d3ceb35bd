//! Batch normalisation (statistics, the fused apply, the backward pass) and global average
//! pooling over NCHW values seen as (images, channels, plane). Sums run in f64, as PyTorch's CPU
//! kernels accumulate, so the statistics do not depend on the number of threads.

use rayon::prelude::*;

/// Values per parallel task, at least, for the per-plane loops.
const MIN_VALUES: usize = 1 << 14;

/// Planes per parallel task so that each task has at least [`MIN_VALUES`] values.
fn planes_per_task(plane: usize) -> usize {
    (MIN_VALUES / plane.max(1)).max(1)
}

/// The values of channel `ch` of image `img`.
fn plane_of(x: &[f32], [_, c, plane]: [usize; 3], img: usize, ch: usize) -> &[f32] {
    let start = (img * c + ch) * plane;
    &x[start..start + plane]
}

/// Per channel, the mean and the biased variance (sum of squared deviations over the count),
/// two passes in f64.
pub(crate) fn channel_statistics(x: &[f32], dims @ [n, c, plane]: [usize; 3]) -> Vec<(f64, f64)> {
    let count = (n * plane).max(1) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let planes = || (0..n).map(|img| plane_of(x, dims, img, ch));
            let sum: f64 = planes()
                .map(|p| p.iter().map(|&v| f64::from(v)).sum::<f64>())
                .sum();
            let mean = sum / count;
            let squares: f64 = planes()
                .map(|p| {
                    p.iter()
                        .map(|&v| (f64::from(v) - mean).powi(2))
                        .sum::<f64>()
                })
                .sum();
            (mean, squares / count)
        })
        .collect()
}

/// `y = x * alpha[c] + beta[c]`, plus `residual` when given, then a ReLU when `relu`: the
/// normalisation and affine transform folded into one multiply-add per value (PyTorch's CPU
/// form), the residual add and the activation in the same pass.
pub(crate) fn scale_shift(
    x: &[f32],
    alpha: &[f32],
    beta: &[f32],
    residual: Option<&[f32]>,
    relu: bool,
    [_, c, plane]: [usize; 3],
) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    if y.is_empty() || plane == 0 {
        return y;
    }
    let per_task = planes_per_task(plane) * plane;
    y.par_chunks_mut(per_task)
        .enumerate()
        .for_each(|(task, y)| {
            let first = task * per_task;
            for (k, y) in y.chunks_mut(plane).enumerate() {
                let start = first + k * plane;
                let ch = (start / plane) % c;
                let (a, b) = (alpha[ch], beta[ch]);
                let x = &x[start..start + plane];
                match residual {
                    Some(r) => {
                        let r = &r[start..start + plane];
                        for ((y, &x), &r) in y.iter_mut().zip(x).zip(r) {
                            *y = x * a + b + r;
                        }
                    }
                    None => {
                        for (y, &x) in y.iter_mut().zip(x) {
                            *y = x * a + b;
                        }
                    }
                }
                if relu {
                    for y in y.iter_mut() {
                        // Not `max`: a NaN stays NaN, as in `relu`.
                        if *y < 0.0 {
                            *y = 0.0;
                        }
                    }
                }
            }
        });
    y
}

/// Per channel, `sum(g)` and `sum(g * (x - mean))` in f64: the reductions of the backward pass.
pub(crate) fn backward_sums(
    gy: &[f32],
    x: &[f32],
    mean: &[f32],
    dims @ [n, c, _]: [usize; 3],
) -> Vec<(f64, f64)> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let m = f64::from(mean[ch]);
            let mut sum = 0.0f64;
            let mut dot = 0.0f64;
            for img in 0..n {
                let g = plane_of(gy, dims, img, ch);
                let x = plane_of(x, dims, img, ch);
                for (&g, &x) in g.iter().zip(x) {
                    sum += f64::from(g);
                    dot += f64::from(g) * (f64::from(x) - m);
                }
            }
            (sum, dot)
        })
        .collect()
}

/// The input gradient of batch normalisation. With batch statistics (`through_statistics`),
/// PyTorch's rule `(g - sum_g / M - (x - mean) * dot * invstd^2 / M) * invstd * w`; with running
/// statistics, `g * invstd * w`. `sums` are [`backward_sums`]'s per channel.
#[allow(clippy::too_many_arguments)]
pub(crate) fn input_gradient(
    gy: &[f32],
    x: &[f32],
    mean: &[f32],
    invstd: &[f32],
    weight: &[f32],
    sums: &[(f64, f64)],
    through_statistics: bool,
    [n, c, plane]: [usize; 3],
) -> Vec<f32> {
    let mut gx = vec![0.0f32; x.len()];
    if gx.is_empty() || plane == 0 {
        return gx;
    }
    let count = (n * plane) as f64;
    // Per channel: gx = g * a + x * b + d.
    let coefficients: Vec<[f32; 3]> = (0..c)
        .map(|ch| {
            let invstd = f64::from(invstd[ch]);
            let w = f64::from(weight[ch]);
            if through_statistics {
                let (sum, dot) = sums[ch];
                let k = dot * invstd * invstd / count;
                let m = f64::from(mean[ch]);
                let a = invstd * w;
                // (g - sum/M - (x - m) k) a = g a - x k a + (m k - sum/M) a
                [
                    a as f32,
                    (-k * a) as f32,
                    ((m * k - sum / count) * a) as f32,
                ]
            } else {
                [(invstd * w) as f32, 0.0, 0.0]
            }
        })
        .collect();
    let per_task = planes_per_task(plane) * plane;
    gx.par_chunks_mut(per_task)
        .enumerate()
        .for_each(|(task, gx)| {
            let first = task * per_task;
            for (k, gx) in gx.chunks_mut(plane).enumerate() {
                let start = first + k * plane;
                let [a, b, d] = coefficients[(start / plane) % c];
                let g = &gy[start..start + plane];
                let x = &x[start..start + plane];
                for ((gx, &g), &x) in gx.iter_mut().zip(g).zip(x) {
                    *gx = g * a + (x * b + d);
                }
            }
        });
    gx
}

/// The mean of every plane (global average pooling), summed in f64.
pub(crate) fn plane_means(x: &[f32], plane: usize) -> Vec<f32> {
    if plane == 0 {
        return Vec::new();
    }
    x.par_chunks(plane)
        .with_min_len(planes_per_task(plane))
        .map(|p| (p.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64) as f32)
        .collect()
}

/// The gradient of [`plane_means`]: each plane's gradient spread evenly over its values.
pub(crate) fn plane_means_backward(gy: &[f32], plane: usize) -> Vec<f32> {
    let mut gx = vec![0.0f32; gy.len() * plane];
    if plane == 0 {
        return gx;
    }
    let share = 1.0 / plane as f32;
    gx.par_chunks_mut(plane)
        .zip(gy.par_iter())
        .with_min_len(planes_per_task(plane))
        .for_each(|(gx, &g)| gx.fill(g * share));
    gx
}
