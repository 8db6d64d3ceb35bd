//! Max pooling with indices, PyTorch's rules (window scan order, NaN propagation, ceil mode).

use rayon::prelude::*;

use crate::geometry::{Pool2d, PoolGeometry};

/// Output rows per parallel task, at least.
const MIN_ROWS: usize = 8;

/// Max pooling of every (n, c) plane: returns the output and, per output value, the flat index
/// (`h * W + w`) of the input value it came from.
///
/// Parallel over output rows of all planes together, so a single large plane still uses every
/// thread. 2x2 windows with stride 2 and no padding (FCN, VGG) take a branch-free path over two
/// input rows at a time; anything else, and the windows clipped by ceil mode, the general scan.
pub(crate) fn max_pool2d(x: &[f32], g: &PoolGeometry, p: &Pool2d) -> (Vec<f32>, Vec<u32>) {
    let plane_in = g.in_h * g.in_w;
    let plane_out = g.out_h * g.out_w;
    let mut y = vec![0.0f32; g.planes * plane_out];
    let mut idx = vec![0u32; g.planes * plane_out];
    if plane_out == 0 {
        return (y, idx);
    }
    let fast = p.kernel == [2, 2] && p.stride == [2, 2] && p.padding == [0, 0];
    y.par_chunks_mut(g.out_w)
        .zip(idx.par_chunks_mut(g.out_w))
        .enumerate()
        .with_min_len(MIN_ROWS)
        .for_each(|(row, (y, idx))| {
            let (plane, oh) = (row / g.out_h, row % g.out_h);
            let x = &x[plane * plane_in..(plane + 1) * plane_in];
            if fast && 2 * oh + 1 < g.in_h {
                // Windows that lie wholly inside the input: two full rows, two full columns.
                let full = g.out_w.min(g.in_w / 2);
                let top = 2 * oh * g.in_w;
                pool_row_2x2(
                    &x[top..top + 2 * full],
                    &x[top + g.in_w..top + g.in_w + 2 * full],
                    top as u32,
                    g.in_w as u32,
                    &mut y[..full],
                    &mut idx[..full],
                );
                for ow in full..g.out_w {
                    (y[ow], idx[ow]) = pool_window(x, g, p, oh, ow);
                }
            } else {
                for (ow, (y, idx)) in y.iter_mut().zip(idx.iter_mut()).enumerate() {
                    (*y, *idx) = pool_window(x, g, p, oh, ow);
                }
            }
        });
    (y, idx)
}

/// Whether `v`, met after `best` in scan order, replaces it: strictly greater, or the first NaN
/// (a NaN, once held, stays). Written without branches so that the loops vectorise.
#[inline(always)]
fn replaces(v: f32, best: f32) -> bool {
    (v > best) | (v.is_nan() & !best.is_nan())
}

/// One output row of 2x2 stride-2 windows: `a` and `b` are the two input rows (two values per
/// output), `top` the flat index of `a[0]` in the plane and `w` the plane's width.
fn pool_row_2x2(a: &[f32], b: &[f32], top: u32, w: u32, y: &mut [f32], idx: &mut [u32]) {
    for (ow, (((y, idx), a), b)) in y
        .iter_mut()
        .zip(idx.iter_mut())
        .zip(a.chunks_exact(2))
        .zip(b.chunks_exact(2))
        .enumerate()
    {
        // Scan order: a[0], a[1], b[0], b[1].
        let (mut best, mut at) = (a[0], 0u32);
        for (v, off) in [(a[1], 1), (b[0], w), (b[1], w + 1)] {
            let take = replaces(v, best);
            best = if take { v } else { best };
            at = if take { off } else { at };
        }
        *y = best;
        *idx = top + 2 * ow as u32 + at;
    }
}

/// One window, scanned row-major, in padded coordinates clipped to the input (padding never
/// wins a max).
fn pool_window(x: &[f32], g: &PoolGeometry, p: &Pool2d, oh: usize, ow: usize) -> (f32, u32) {
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    let h0 = (oh * sh) as isize - ph as isize;
    let h1 = (h0 + kh as isize).min(g.in_h as isize) as usize;
    let h0 = h0.max(0) as usize;
    let w0 = (ow * sw) as isize - pw as isize;
    let w1 = (w0 + kw as isize).min(g.in_w as isize) as usize;
    let w0 = w0.max(0) as usize;
    let mut best = f32::NEG_INFINITY;
    let mut best_at = h0 * g.in_w + w0;
    for h in h0..h1 {
        for w in w0..w1 {
            let at = h * g.in_w + w;
            let v = x[at];
            // First maximum in scan order wins; a NaN wins and stays (PyTorch CPU).
            if v > best || v.is_nan() {
                best = v;
                best_at = at;
                if v.is_nan() {
                    return (best, best_at as u32);
                }
            }
        }
    }
    (best, best_at as u32)
}

/// Routes each output gradient to the input position its maximum came from.
pub(crate) fn max_pool2d_backward(gy: &[f32], idx: &[u32], g: &PoolGeometry) -> Vec<f32> {
    let plane_in = g.in_h * g.in_w;
    let plane_out = g.out_h * g.out_w;
    let mut gx = vec![0.0f32; g.planes * plane_in];
    if plane_in == 0 || plane_out == 0 {
        return gx;
    }
    // Sequential within a plane: overlapping windows may send several gradients to one input.
    gx.par_chunks_mut(plane_in)
        .zip(gy.par_chunks(plane_out))
        .zip(idx.par_chunks(plane_out))
        .for_each(|((gx, gy), idx)| {
            for (&g, &i) in gy.iter().zip(idx) {
                gx[i as usize] += g;
            }
        });
    gx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general scan over every window, the reference for the fast paths.
    fn reference(x: &[f32], g: &PoolGeometry, p: &Pool2d) -> (Vec<f32>, Vec<u32>) {
        let (mut y, mut idx) = (Vec::new(), Vec::new());
        for plane in x.chunks(g.in_h * g.in_w) {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let (v, i) = pool_window(plane, g, p, oh, ow);
                    y.push(v);
                    idx.push(i);
                }
            }
        }
        (y, idx)
    }

    #[test]
    fn fast_path_matches_the_general_scan() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for ceil_mode in [false, true] {
            for (h, w) in [
                (1, 1),
                (1, 3),
                (2, 2),
                (3, 5),
                (7, 9),
                (8, 8),
                (13, 35),
                (36, 17),
            ] {
                let p = Pool2d {
                    ceil_mode,
                    ..Pool2d::FCN
                };
                let out = |n| crate::geometry::pool_output_size(n, 2, 2, 0, ceil_mode);
                let (Some(out_h), Some(out_w)) = (out(h), out(w)) else {
                    continue;
                };
                let g = PoolGeometry {
                    planes: 3,
                    in_h: h,
                    in_w: w,
                    out_h,
                    out_w,
                };
                // Few distinct values (ties), with NaNs and infinities sprinkled in.
                let x: Vec<f32> = (0..3 * h * w)
                    .map(|_| match next() % 16 {
                        0 => f32::NAN,
                        1 => f32::NEG_INFINITY,
                        2 => f32::INFINITY,
                        r => (r % 4) as f32,
                    })
                    .collect();
                let (y, idx) = max_pool2d(&x, &g, &p);
                let (ry, ridx) = reference(&x, &g, &p);
                assert_eq!(idx, ridx, "{h}x{w} ceil {ceil_mode}");
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&y), bits(&ry), "{h}x{w} ceil {ceil_mode}");
            }
        }
    }
}
