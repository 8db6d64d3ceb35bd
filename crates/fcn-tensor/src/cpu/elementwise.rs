//! Element-wise kernels: ReLU, dropout masks, crop, channel argmax.
#![allow(unsafe_code)]

use rayon::prelude::*;

/// Values per parallel task for cheap element-wise loops.
const CHUNK: usize = 1 << 16;

pub(crate) fn relu(x: &[f32]) -> Vec<f32> {
    // Not `max`, which maps NaN to 0: PyTorch's ReLU keeps NaN.
    map(x, |v| if v < 0.0 { 0.0 } else { v })
}

/// `gy` where the ReLU output is positive, 0 elsewhere (PyTorch's rule: the gradient at 0 is 0).
pub(crate) fn relu_backward(gy: &[f32], y: &[f32]) -> Vec<f32> {
    zip_map(gy, y, |g, y| if y > 0.0 { g } else { 0.0 })
}

pub(crate) fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    zip_map(a, b, |a, b| a + b)
}

pub(crate) fn mul(a: &[f32], b: &[f32]) -> Vec<f32> {
    zip_map(a, b, |a, b| a * b)
}

pub(crate) fn scale(x: &[f32], factor: f32) -> Vec<f32> {
    map(x, |v| v * factor)
}

fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    // Written into spare capacity: a zeroed `vec!` would cost one more pass over memory.
    let mut y = Vec::with_capacity(x.len());
    y.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| {
            for (y, &x) in y.iter_mut().zip(x) {
                y.write(f(x));
            }
        });
    // SAFETY: the chunks of `y` and `x` pair up one to one, so every element was written.
    unsafe { y.set_len(x.len()) };
    y
}

fn zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "element-wise operands differ in length");
    let mut y = Vec::with_capacity(a.len());
    y.spare_capacity_mut()[..a.len()]
        .par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(y, (a, b))| {
            for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
                y.write(f(a, b));
            }
        });
    // SAFETY: `a` and `b` have `y`'s length and their chunks pair up one to one, so every
    // element was written.
    unsafe { y.set_len(a.len()) };
    y
}

/// A uniform value in `[0, 1)` for position `index` of stream `seed`: counter-based, so masks
/// are the same whatever the thread count.
fn uniform(seed: u64, index: u64) -> f32 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}

/// A dropout mask of `groups` groups of `group_len` equal values: 0 with probability `p`,
/// `1 / (1 - p)` otherwise (inverted scaling). Element-wise dropout has groups of 1,
/// channel-wise dropout one group per (n, c) plane.
pub(crate) fn dropout_mask(groups: usize, group_len: usize, p: f32, seed: u64) -> Vec<f32> {
    let keep = 1.0 / (1.0 - p);
    let mut mask = vec![0.0f32; groups * group_len];
    mask.par_chunks_mut(group_len.max(1))
        .enumerate()
        .for_each(|(g, m)| {
            m.fill(if uniform(seed, g as u64) < p {
                0.0
            } else {
                keep
            })
        });
    mask
}

/// Rows `oh .. oh + h` and columns `ow .. ow + w` of every (n, c) plane of `in_h x in_w`.
pub(crate) fn crop(
    x: &[f32],
    planes: usize,
    in_hw: [usize; 2],
    offset: [usize; 2],
    size: [usize; 2],
) -> Vec<f32> {
    let [in_h, in_w] = in_hw;
    let [oh, ow] = offset;
    let [h, w] = size;
    let mut y = vec![0.0f32; planes * h * w];
    y.par_chunks_mut(h * w)
        .zip(x.par_chunks(in_h * in_w))
        .for_each(|(y, x)| {
            for (r, row) in y.chunks_exact_mut(w).enumerate() {
                let start = (oh + r) * in_w + ow;
                row.copy_from_slice(&x[start..start + w]);
            }
        });
    y
}

/// The gradient of [`crop`]: `gy` placed back at the offset, zeros elsewhere.
pub(crate) fn crop_backward(
    gy: &[f32],
    planes: usize,
    in_hw: [usize; 2],
    offset: [usize; 2],
    size: [usize; 2],
) -> Vec<f32> {
    let [in_h, in_w] = in_hw;
    let [oh, ow] = offset;
    let [h, w] = size;
    let mut gx = vec![0.0f32; planes * in_h * in_w];
    gx.par_chunks_mut(in_h * in_w)
        .zip(gy.par_chunks(h * w))
        .for_each(|(gx, gy)| {
            for (r, row) in gy.chunks_exact(w).enumerate() {
                let start = (oh + r) * in_w + ow;
                gx[start..start + w].copy_from_slice(row);
            }
        });
    gx
}

/// Per pixel, the channel with the largest value; the first on ties, a NaN over any number.
pub(crate) fn argmax_channels(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<u32> {
    let mut out = vec![0u32; n * hw];
    out.par_chunks_mut(hw)
        .zip(x.par_chunks(c * hw))
        .for_each(|(out, x)| {
            let mut best: Vec<f32> = x[..hw].to_vec();
            for ch in 1..c {
                let plane = &x[ch * hw..(ch + 1) * hw];
                for ((b, o), &v) in best.iter_mut().zip(out.iter_mut()).zip(plane) {
                    if (v > *b || v.is_nan()) && !b.is_nan() {
                        *b = v;
                        *o = ch as u32;
                    }
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_mask_keeps_the_expected_fraction_and_scales() {
        let mask = dropout_mask(100_000, 1, 0.3, 7);
        let kept = mask.iter().filter(|&&m| m > 0.0).count() as f64 / 100_000.0;
        assert!((kept - 0.7).abs() < 0.01, "{kept}");
        assert!(
            mask.iter()
                .all(|&m| m == 0.0 || (m - 1.0 / 0.7).abs() < 1e-6)
        );
        // Mean of the mask is 1: inverted scaling keeps expectations.
        let mean = mask.iter().map(|&m| f64::from(m)).sum::<f64>() / 100_000.0;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        assert_eq!(mask, dropout_mask(100_000, 1, 0.3, 7));
        assert_ne!(mask, dropout_mask(100_000, 1, 0.3, 8));
    }

    #[test]
    fn channel_dropout_drops_whole_planes() {
        let mask = dropout_mask(64, 25, 0.5, 1);
        for plane in mask.chunks(25) {
            assert!(plane.iter().all(|&m| m == plane[0]));
        }
        assert!(mask.contains(&0.0) && mask.contains(&2.0));
    }

    #[test]
    fn argmax_takes_the_first_of_ties_and_nan() {
        // One image, 3 channels, 3 pixels.
        let x = [
            1.0,
            5.0,
            0.0,
            /* c1 */ 1.0,
            2.0,
            f32::NAN,
            /* c2 */ 3.0,
            5.0,
            9.0,
        ];
        assert_eq!(argmax_channels(&x, 1, 3, 3), vec![2, 0, 1]);
    }
}
