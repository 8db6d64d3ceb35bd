//! Max pooling with indices, PyTorch's rules (window scan order, NaN propagation, ceil mode).

use rayon::prelude::*;

use crate::ops::{Pool2d, PoolGeometry};

/// Max pooling of every (n, c) plane: returns the output and, per output value, the flat index
/// (`h * W + w`) of the input value it came from.
pub(crate) fn max_pool2d(x: &[f32], g: &PoolGeometry, p: &Pool2d) -> (Vec<f32>, Vec<u32>) {
    let plane_in = g.in_h * g.in_w;
    let plane_out = g.out_h * g.out_w;
    let mut y = vec![0.0f32; g.planes * plane_out];
    let mut idx = vec![0u32; g.planes * plane_out];
    y.par_chunks_mut(plane_out)
        .zip(idx.par_chunks_mut(plane_out))
        .zip(x.par_chunks(plane_in))
        .for_each(|((y, idx), x)| pool_plane(x, y, idx, g, p));
    (y, idx)
}

fn pool_plane(x: &[f32], y: &mut [f32], idx: &mut [u32], g: &PoolGeometry, p: &Pool2d) {
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    for oh in 0..g.out_h {
        // Window in padded coordinates, clipped to the input (padding never wins a max).
        let h0 = (oh * sh) as isize - ph as isize;
        let h1 = (h0 + kh as isize).min(g.in_h as isize) as usize;
        let h0 = h0.max(0) as usize;
        for ow in 0..g.out_w {
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
                            break;
                        }
                    }
                }
                if best.is_nan() {
                    break;
                }
            }
            y[oh * g.out_w + ow] = best;
            idx[oh * g.out_w + ow] = best_at as u32;
        }
    }
}

/// Routes each output gradient to the input position its maximum came from.
pub(crate) fn max_pool2d_backward(gy: &[f32], idx: &[u32], g: &PoolGeometry) -> Vec<f32> {
    let plane_in = g.in_h * g.in_w;
    let plane_out = g.out_h * g.out_w;
    let mut gx = vec![0.0f32; g.planes * plane_in];
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
