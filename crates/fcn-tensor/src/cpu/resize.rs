//! Bilinear resizing (PyTorch's `upsample_bilinear2d` rules, value for value) and the channel
//! copies of concatenation and splitting.

use rayon::prelude::*;

/// Values per parallel task, at least.
const MIN_VALUES: usize = 1 << 14;

/// Where output position `o` of an axis reads: the two input positions and their weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tap {
    pub i0: usize,
    pub i1: usize,
    pub l0: f32,
    pub l1: f32,
}

/// PyTorch's `area_pixel_compute_scale` when only the output size is given (float arithmetic):
/// `(in - 1) / (out - 1)` with aligned corners (0 for one output), else `in / out`.
pub(crate) fn axis_scale(input: usize, output: usize, align_corners: bool) -> f32 {
    if align_corners {
        if output > 1 {
            (input - 1) as f32 / (output - 1) as f32
        } else {
            0.0
        }
    } else {
        input as f32 / output as f32
    }
}

/// The taps of output position `o` (PyTorch's `compute_source_index_and_lambda`): equal sizes
/// copy; otherwise the source coordinate `scale * o` (aligned corners) or
/// `max(scale * (o + 0.5) - 0.5, 0)`, its floor clamped to the input, and the next position
/// unless at the last.
pub(crate) fn tap(o: usize, input: usize, output: usize, align_corners: bool) -> Tap {
    if input == output {
        return Tap {
            i0: o,
            i1: o,
            l0: 1.0,
            l1: 0.0,
        };
    }
    let scale = axis_scale(input, output, align_corners);
    let src = if align_corners {
        scale * o as f32
    } else {
        (scale * (o as f32 + 0.5) - 0.5).max(0.0)
    };
    let i0 = (src.floor() as usize).min(input - 1);
    let l1 = (src - i0 as f32).clamp(0.0, 1.0);
    let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
    Tap {
        i0,
        i1,
        l0: 1.0 - l1,
        l1,
    }
}

fn taps(input: usize, output: usize, align_corners: bool) -> Vec<Tap> {
    (0..output)
        .map(|o| tap(o, input, output, align_corners))
        .collect()
}

/// Bilinear resize of every plane from `[in_h, in_w]` to `[out_h, out_w]`.
pub(crate) fn resize_bilinear(
    x: &[f32],
    planes: usize,
    [in_h, in_w]: [usize; 2],
    [out_h, out_w]: [usize; 2],
    align_corners: bool,
) -> Vec<f32> {
    let mut y = vec![0.0f32; planes * out_h * out_w];
    if y.is_empty() {
        return y;
    }
    let rows = taps(in_h, out_h, align_corners);
    let cols = taps(in_w, out_w, align_corners);
    // Parallel over output rows of all planes together.
    y.par_chunks_mut(out_w)
        .enumerate()
        .with_min_len((MIN_VALUES / out_w).max(1))
        .for_each(|(row, y)| {
            let (p, oh) = (row / out_h, row % out_h);
            let t = rows[oh];
            let plane = &x[p * in_h * in_w..(p + 1) * in_h * in_w];
            let r0 = &plane[t.i0 * in_w..(t.i0 + 1) * in_w];
            let r1 = &plane[t.i1 * in_w..(t.i1 + 1) * in_w];
            for (y, c) in y.iter_mut().zip(&cols) {
                // PyTorch's order: the rows' weights outside, the columns' inside.
                *y = t.l0 * (c.l0 * r0[c.i0] + c.l1 * r0[c.i1])
                    + t.l1 * (c.l0 * r1[c.i0] + c.l1 * r1[c.i1]);
            }
        });
    y
}

/// The gradient of [`resize_bilinear`]: each output gradient spread over its four input
/// values with the forward weights, one axis at a time (the rows into a buffer of input rows by
/// output columns, contiguous multiply-adds; then the columns), planes in parallel.
pub(crate) fn resize_bilinear_backward(
    gy: &[f32],
    planes: usize,
    [in_h, in_w]: [usize; 2],
    [out_h, out_w]: [usize; 2],
    align_corners: bool,
) -> Vec<f32> {
    let mut gx = vec![0.0f32; planes * in_h * in_w];
    if gx.is_empty() || out_h * out_w == 0 {
        return gx;
    }
    let rows = taps(in_h, out_h, align_corners);
    let cols = taps(in_w, out_w, align_corners);
    gx.par_chunks_mut(in_h * in_w)
        .zip(gy.par_chunks(out_h * out_w))
        .for_each_init(
            || vec![0.0f32; in_h * out_w],
            |by_rows, (gx, gy)| {
                by_rows.fill(0.0);
                for (t, gy) in rows.iter().zip(gy.chunks_exact(out_w)) {
                    for (i, l) in [(t.i0, t.l0), (t.i1, t.l1)] {
                        let acc = &mut by_rows[i * out_w..(i + 1) * out_w];
                        for (a, &g) in acc.iter_mut().zip(gy) {
                            *a += l * g;
                        }
                    }
                }
                for (gx, row) in gx.chunks_exact_mut(in_w).zip(by_rows.chunks_exact(out_w)) {
                    for (c, &v) in cols.iter().zip(row.iter()) {
                        gx[c.i0] += c.l0 * v;
                        gx[c.i1] += c.l1 * v;
                    }
                }
            },
        );
    gx
}

/// Copies channels `from .. from + count` of `src` (images, src_c, plane) to channels
/// `to .. to + count` of `dst` (images, dst_c, plane), in parallel over images.
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy_channels(
    src: &[f32],
    src_c: usize,
    from: usize,
    dst: &mut [f32],
    dst_c: usize,
    to: usize,
    count: usize,
    plane: usize,
) {
    if plane == 0 || src_c == 0 || dst_c == 0 {
        return;
    }
    dst.par_chunks_mut(dst_c * plane)
        .zip(src.par_chunks(src_c * plane))
        .for_each(|(dst, src)| {
            dst[to * plane..(to + count) * plane]
                .copy_from_slice(&src[from * plane..(from + count) * plane]);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_follow_pytorch_half_pixel_rule() {
        // 4 -> 8 without aligned corners: src = 0.5 (o + 0.5) - 0.5, clamped at 0.
        let t = tap(0, 4, 8, false);
        assert_eq!((t.i0, t.i1, t.l0, t.l1), (0, 1, 1.0, 0.0));
        let t = tap(1, 4, 8, false);
        assert_eq!((t.i0, t.i1, t.l1), (0, 1, 0.25));
        // The last output reads the last input twice.
        let t = tap(7, 4, 8, false);
        assert_eq!((t.i0, t.i1, t.l1), (3, 3, 0.25));
        // Aligned corners hit both ends exactly.
        let t = tap(7, 4, 8, true);
        assert_eq!((t.i0, t.i1, t.l1), (3, 3, 0.0));
        // One output with aligned corners reads the first input.
        assert_eq!(tap(0, 5, 1, true).i0, 0);
    }
}
