//! Convolution by tiled im2col + GEMM, and the two backward passes.
//!
//! Work is split into tiles of a few output rows of one image and one group. Each task unrolls
//! its tile into a private, reused column buffer and runs a single-threaded GEMM, so memory
//! stays proportional to a tile, not to the whole im2col matrix. The same three kernels serve
//! transposed convolution: its forward pass is the backward-data pass of the convolution that
//! maps its output back to its input.
#![allow(unsafe_code)]

use rayon::prelude::*;

use super::gemm::{Mat, SharedMut, Threads, gemm, gemm_unchecked};
use crate::geometry::ConvGeometry;

/// Output pixels per tile: the column buffer (`K x TILE_PIXELS` floats) stays in L2.
const TILE_PIXELS: usize = 256;
/// With few unrolled rows (small `K`), tiles grow up to this many floats of columns, so that
/// each GEMM has enough pixels to pay for packing its weights (the main job's 8- and
/// 16-channel layers: 5% less convolution time than 256-pixel tiles; 2x as many floats: slower).
const SMALL_K_TILE_FLOATS: usize = 1 << 16;
/// Floats of unrolled columns a task keeps between a GEMM and its col2im (256 KiB).
const CACHE_FLOATS: usize = 1 << 16;
/// Output pixels per GEMM in the weight gradient: longer tiles re-read the gradient being summed
/// less often (measured on `conv3x3_bwd`: 256 -> 161, 512 -> 165, 1024 -> 148 GFLOP/s, where
/// the unrolled tile outgrows L2).
const WEIGHT_TILE_PIXELS: usize = 512;
/// Partial weight gradients summed in a fixed order (see `weight_gradient_by_pixels`).
const WEIGHT_PARTS: usize = 8;
/// Up to this many output channels per group, the partial weight gradients are summed
/// transposed (measured, one thread, weight gradient of a 3x3 convolution: 8 channels at
/// 326x326 11.0 -> 8.2 ms, 64 at 41x41 3.4 -> 3.1 ms, 128 at 80x80 43 -> 40 ms; 256 at 40x40
/// 54 -> 60 ms, so not there).
const TRANSPOSED_WEIGHT_MAX_CHANNELS: usize = 128;
/// Largest weight gradient (floats) computed from partial sums over pixels; larger ones (fc6)
/// are split by columns instead, without copies.
const PARTIAL_GRADIENT_MAX: usize = 1 << 20;
/// Columns of the weight gradient per task: fixed, so results do not depend on thread count.
const WEIGHT_BLOCK: usize = 64;

impl ConvGeometry {
    fn in_cg(&self) -> usize {
        self.in_c / self.groups
    }
    fn out_cg(&self) -> usize {
        self.out_c / self.groups
    }
    /// Rows of the unrolled input: one per (input channel of the group, kernel row, kernel col).
    fn k(&self) -> usize {
        self.in_cg() * self.kernel[0] * self.kernel[1]
    }
    fn in_plane(&self) -> usize {
        self.in_h * self.in_w
    }
    fn out_plane(&self) -> usize {
        self.out_h * self.out_w
    }
    /// A 1x1, stride-1, unpadded convolution: a plain GEMM on the input, no unrolling.
    fn pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }
    fn tile_rows(&self) -> usize {
        let pixels = TILE_PIXELS.max(SMALL_K_TILE_FLOATS / self.k().max(1));
        (pixels / self.out_w.max(1)).clamp(1, self.out_h.max(1))
    }
    /// Tiles of output rows: `[r0, r1)` ranges.
    fn tiles(&self, rows: usize) -> Vec<(usize, usize)> {
        (0..self.out_h)
            .step_by(rows)
            .map(|r0| (r0, (r0 + rows).min(self.out_h)))
            .collect()
    }
    /// Input row of output row `oh` and kernel row `ki` (may be outside the input).
    fn input_row(&self, oh: usize, ki: usize) -> isize {
        (oh * self.stride[0] + ki * self.dilation[0]) as isize - self.padding[0] as isize
    }
}

/// For kernel column `kj`: the output columns `[lo, hi)` whose input column lies inside the
/// input, and the input column of output column `lo`.
fn valid_columns(g: &ConvGeometry, kj: usize) -> (usize, usize, usize) {
    let shift = kj * g.dilation[1]; // input column of output column 0, plus the padding
    let pad = g.padding[1];
    let stride = g.stride[1];
    // iw = ow * stride + shift - pad must satisfy 0 <= iw < in_w.
    let lo = pad.saturating_sub(shift).div_ceil(stride);
    let hi = if g.in_w + pad > shift {
        ((g.in_w + pad - shift - 1) / stride + 1).min(g.out_w)
    } else {
        0
    };
    let lo = lo.min(hi);
    (lo, hi, (lo * stride + shift).saturating_sub(pad))
}

/// Unrolls rows `k_range` of the column matrix for output rows `[r0, r1)` of one image-group.
/// `x` holds that group's input planes; `cols` receives `k_range.len() x (r1 - r0) * out_w`.
fn im2col(
    x: &[f32],
    g: &ConvGeometry,
    (r0, r1): (usize, usize),
    k_range: (usize, usize),
    cols: &mut [f32],
) {
    let [kh, kw] = g.kernel;
    let width = (r1 - r0) * g.out_w;
    let stride = g.stride[1];
    for (row, k) in cols.chunks_exact_mut(width).zip(k_range.0..k_range.1) {
        let (ci, ki, kj) = (k / (kh * kw), k / kw % kh, k % kw);
        let plane = &x[ci * g.in_plane()..(ci + 1) * g.in_plane()];
        let (lo, hi, first) = valid_columns(g, kj);
        for (dst, oh) in row.chunks_exact_mut(g.out_w).zip(r0..r1) {
            let ih = g.input_row(oh, ki);
            if ih < 0 || ih >= g.in_h as isize || lo == hi {
                dst.fill(0.0);
                continue;
            }
            let src = &plane[ih as usize * g.in_w + first..(ih as usize + 1) * g.in_w];
            dst[..lo].fill(0.0);
            dst[hi..].fill(0.0);
            if stride == 1 {
                dst[lo..hi].copy_from_slice(&src[..hi - lo]);
            } else {
                for (d, &s) in dst[lo..hi].iter_mut().zip(src.iter().step_by(stride)) {
                    *d = s;
                }
            }
        }
    }
}

/// Adds unrolled columns back into input planes: the adjoint of [`im2col`], from the transposed
/// layout. `cols_t` holds, for each output pixel of rows `[r0, r1)`, the values of input
/// channels `c0 .. c0 + channels` (each `kh x kw`, kernel column fastest): the taps of one
/// kernel row land on neighbouring input columns, so with dilation 1 they are one vector add.
/// `planes[ci]` holds input rows `row0 ..` of channel `ci`.
fn col2im_t(
    cols_t: &[f32],
    g: &ConvGeometry,
    (r0, r1): (usize, usize),
    (c0, channels): (usize, usize),
    planes: &mut [&mut [f32]],
    row0: usize,
) {
    let [kh, kw] = g.kernel;
    let block = channels * kh * kw;
    let contiguous = g.dilation[1] == 1;
    for (t, oh) in (r0..r1).enumerate() {
        for ow in 0..g.out_w {
            let values = &cols_t[(t * g.out_w + ow) * block..][..block];
            let iw0 = (ow * g.stride[1]) as isize - g.padding[1] as isize;
            let inside = contiguous && iw0 >= 0 && iw0 as usize + kw <= g.in_w;
            for (cl, channel) in values.chunks_exact(kh * kw).enumerate() {
                let plane = &mut planes[c0 + cl];
                for (ki, taps) in channel.chunks_exact(kw).enumerate() {
                    let ih = g.input_row(oh, ki);
                    if ih < 0 || ih >= g.in_h as isize {
                        continue;
                    }
                    let row = &mut plane[(ih as usize - row0) * g.in_w..][..g.in_w];
                    if inside {
                        let dst = &mut row[iw0 as usize..iw0 as usize + kw];
                        for (d, &v) in dst.iter_mut().zip(taps) {
                            *d += v;
                        }
                    } else {
                        for (kj, &v) in taps.iter().enumerate() {
                            let iw = iw0 + (kj * g.dilation[1]) as isize;
                            if iw >= 0 && iw < g.in_w as isize {
                                row[iw as usize] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every (image, group, tile) triple: the independent tasks of a pass.
fn image_group_tiles(
    g: &ConvGeometry,
    tiles: &[(usize, usize)],
) -> Vec<(usize, usize, (usize, usize))> {
    let mut tasks = Vec::with_capacity(g.n * g.groups * tiles.len());
    for n in 0..g.n {
        for grp in 0..g.groups {
            tasks.extend(tiles.iter().map(|&t| (n, grp, t)));
        }
    }
    tasks
}

/// `y = conv(x, w) + bias`, followed by a ReLU when `relu` is set.
///
/// Each task adds the bias and applies the ReLU to its tile while the tile is still in cache,
/// and the output is never zero-filled: the tiles' GEMMs overwrite all of it.
pub(crate) fn conv_forward(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    relu: bool,
) -> Vec<f32> {
    let (k, p, out_cg) = (g.k(), g.out_plane(), g.out_cg());
    let len = g.n * g.out_c * p;
    let mut y = Vec::with_capacity(len);
    if len == 0 {
        return y;
    }
    let out = SharedMut::uninit(&mut y.spare_capacity_mut()[..len]);
    let tasks = image_group_tiles(g, &g.tiles(g.tile_rows()));
    tasks
        .par_iter()
        .for_each_init(Vec::new, |cols, &(n, grp, (r0, r1))| {
            let x_group =
                &x[(n * g.in_c + grp * g.in_cg()) * g.in_plane()..][..g.in_cg() * g.in_plane()];
            let width = (r1 - r0) * g.out_w;
            let b = if g.pointwise() {
                Mat::new(&x_group[r0 * g.out_w..], g.in_cg(), width, g.in_plane())
            } else {
                cols.resize(k * width, 0.0);
                im2col(x_group, g, (r0, r1), (0, k), cols);
                Mat::new(cols, k, width, width)
            };
            let a = Mat::new(&w[grp * out_cg * k..], out_cg, k, k);
            let offset = (n * g.out_c + grp * out_cg) * p + r0 * g.out_w;
            out.check(offset, out_cg, width, p);
            // SAFETY: the region (this image, this group's channels, rows r0..r1) belongs to this
            // task alone and lies inside `y` (checked); the GEMM overwrites it without reading.
            unsafe { gemm_unchecked(out.at(offset), p, a, b, false) };
            if bias.is_none() && !relu {
                return;
            }
            for c in 0..out_cg {
                let channel = grp * out_cg + c;
                // SAFETY: row c of the region just written, owned by this task (as above).
                let row = unsafe { std::slice::from_raw_parts_mut(out.at(offset + c * p), width) };
                let b = bias.map_or(0.0, |bias| bias[channel]);
                if relu {
                    // `if v < 0` rather than `max`: a NaN stays NaN, as in PyTorch.
                    for v in row.iter_mut() {
                        *v += b;
                        if *v < 0.0 {
                            *v = 0.0;
                        }
                    }
                } else {
                    row.iter_mut().for_each(|v| *v += b);
                }
            }
        });
    // SAFETY: the tiles cover every (image, channel, output row) of `y`, and each task's GEMM
    // wrote its whole region.
    unsafe { y.set_len(len) };
    y
}

/// The gradient with respect to the input. With stride 1 it is a forward convolution of `gy`
/// with the kernels flipped and transposed (the fast path); otherwise `col2im(w^T gy)`.
///
/// The fast path computes every input pixel from a full kernel window, so it costs
/// `in_plane / out_plane` times the multiply-adds of the col2im path: the same for a padded
/// 3x3 convolution, but 4.8x for fc6 (7x7, unpadded) on a 5x5 output. It is taken only where
/// that ratio stays small.
pub(crate) fn conv_backward_data(gy: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let reach = |axis: usize| g.dilation[axis] * (g.kernel[axis] - 1);
    let cheap = 4 * g.in_plane() <= 5 * g.out_plane();
    if g.stride == [1, 1] && g.padding[0] <= reach(0) && g.padding[1] <= reach(1) && cheap {
        let flipped_geometry = ConvGeometry {
            in_c: g.out_c,
            in_h: g.out_h,
            in_w: g.out_w,
            out_c: g.in_c,
            out_h: g.in_h,
            out_w: g.in_w,
            padding: [reach(0) - g.padding[0], reach(1) - g.padding[1]],
            ..*g
        };
        return conv_forward(gy, &flip_kernels(w, g), None, &flipped_geometry, false);
    }
    col2im_backward_data(gy, w, g)
}

/// Weights `(out_c, in_c / groups, kh, kw)` rearranged for the adjoint convolution:
/// `(in_c, out_c / groups, kh, kw)`, each kernel rotated by 180 degrees.
fn flip_kernels(w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let [kh, kw] = g.kernel;
    let (in_cg, out_cg, taps) = (g.in_cg(), g.out_cg(), kh * kw);
    let mut flipped = vec![0.0f32; w.len()];
    for grp in 0..g.groups {
        for co in 0..out_cg {
            for ci in 0..in_cg {
                let src = &w[((grp * out_cg + co) * in_cg + ci) * taps..][..taps];
                let dst = &mut flipped[((grp * in_cg + ci) * out_cg + co) * taps..][..taps];
                for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                    *d = *s;
                }
            }
        }
    }
    flipped
}

/// `gx = col2im(w^T gy)`, for any stride.
fn col2im_backward_data(gy: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (k, p, out_cg, in_cg) = (g.k(), g.out_plane(), g.out_cg(), g.in_cg());
    let mut gx = vec![0.0f32; g.n * g.in_c * g.in_plane()];
    if gx.is_empty() || out_cg == 0 || p == 0 {
        return gx;
    }
    let out = SharedMut::new(&mut gx);
    // Tiles two apart touch disjoint input rows, so even tiles run together, then odd ones;
    // each input value is added to in a fixed order, whatever the thread count.
    let span = (g.kernel[0] - 1) * g.dilation[0] + 1;
    let rows = g
        .tile_rows()
        .max(span.div_ceil(g.stride[0]).saturating_sub(1))
        .max(1);
    let tiles = g.tiles(rows);
    for parity in 0..2 {
        let these: Vec<(usize, usize)> = tiles.iter().copied().skip(parity).step_by(2).collect();
        let tasks = image_group_tiles(g, &these);
        tasks
            .par_iter()
            .for_each_init(Vec::new, |cols, &(n, grp, (r0, r1))| {
                let width = (r1 - r0) * g.out_w;
                let a = Mat::new(&w[grp * out_cg * k..], out_cg, k, k).t();
                let b = Mat::new(
                    &gy[(n * g.out_c + grp * out_cg) * p + r0 * g.out_w..],
                    out_cg,
                    width,
                    p,
                );
                let base = (n * g.in_c + grp * in_cg) * g.in_plane();
                if g.pointwise() {
                    let offset = base + r0 * g.in_w;
                    out.check(offset, in_cg, width, g.in_plane());
                    // SAFETY: a pointwise tile writes only its own pixels of its image and group.
                    unsafe { gemm_unchecked(out.at(offset), g.in_plane(), a, b, false) };
                    return;
                }
                // Input rows this tile touches, clipped to the input.
                let first = g.input_row(r0, 0).max(0) as usize;
                let last =
                    (g.input_row(r1 - 1, g.kernel[0] - 1) + 1).clamp(0, g.in_h as isize) as usize;
                if first >= last {
                    return;
                }
                let mut planes: Vec<&mut [f32]> = (0..in_cg)
                    .map(|ci| {
                        let offset = base + ci * g.in_plane() + first * g.in_w;
                        out.check(offset, 1, (last - first) * g.in_w, 0);
                        // SAFETY: rows first..last of this image-group's planes are touched by
                        // this tile and, in this pass, by no other (tiles two apart are disjoint).
                        unsafe {
                            std::slice::from_raw_parts_mut(out.at(offset), (last - first) * g.in_w)
                        }
                    })
                    .collect();
                // Blocks of whole input channels, small enough to stay in cache between the
                // GEMM that writes them and the col2im that reads them. The GEMM writes the
                // transposed layout (pixel-major) that col2im_t adds from.
                let per_channel = g.kernel[0] * g.kernel[1];
                let channels = (CACHE_FLOATS / (width * per_channel)).clamp(1, in_cg);
                cols.resize(channels * per_channel * width, 0.0);
                let gy_t = b.t();
                for c0 in (0..in_cg).step_by(channels) {
                    let cb = channels.min(in_cg - c0);
                    let kb = cb * per_channel;
                    let w_block =
                        Mat::new(&w[grp * out_cg * k + c0 * per_channel..], out_cg, kb, k);
                    gemm(
                        &mut cols[..width * kb],
                        kb,
                        gy_t,
                        w_block,
                        false,
                        Threads::One,
                    );
                    col2im_t(
                        &cols[..width * kb],
                        g,
                        (r0, r1),
                        (c0, cb),
                        &mut planes,
                        first,
                    );
                }
            });
    }
    gx
}

/// The gradient with respect to the weights: `gw = sum over images and tiles of gy cols^T`.
pub(crate) fn conv_backward_weight(x: &[f32], gy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (k, p, out_cg) = (g.k(), g.out_plane(), g.out_cg());
    let mut gw = vec![0.0f32; g.out_c * k];
    if gw.is_empty() || p == 0 || g.n == 0 {
        return gw;
    }
    let tiles = g.tiles((WEIGHT_TILE_PIXELS / g.out_w.max(1)).clamp(1, g.out_h.max(1)));
    if gw.len() <= PARTIAL_GRADIENT_MAX {
        weight_gradient_by_pixels(x, gy, g, &tiles, &mut gw);
        return gw;
    }
    let out = SharedMut::new(&mut gw);
    let tasks: Vec<(usize, usize)> = (0..g.groups)
        .flat_map(|grp| (0..k).step_by(WEIGHT_BLOCK).map(move |k0| (grp, k0)))
        .collect();
    tasks
        .par_iter()
        .for_each_init(Vec::new, |cols, &(grp, k0)| {
            let k1 = (k0 + WEIGHT_BLOCK).min(k);
            let offset = grp * out_cg * k + k0;
            out.check(offset, out_cg, k1 - k0, k);
            for n in 0..g.n {
                let x_group =
                    &x[(n * g.in_c + grp * g.in_cg()) * g.in_plane()..][..g.in_cg() * g.in_plane()];
                for &(r0, r1) in &tiles {
                    let width = (r1 - r0) * g.out_w;
                    let a = Mat::new(
                        &gy[(n * g.out_c + grp * out_cg) * p + r0 * g.out_w..],
                        out_cg,
                        width,
                        p,
                    );
                    let b = if g.pointwise() {
                        Mat::new(
                            &x_group[k0 * g.in_plane() + r0 * g.out_w..],
                            k1 - k0,
                            width,
                            g.in_plane(),
                        )
                        .t()
                    } else {
                        cols.resize((k1 - k0) * width, 0.0);
                        im2col(x_group, g, (r0, r1), (k0, k1), cols);
                        Mat::new(cols, k1 - k0, width, width).t()
                    };
                    // SAFETY: columns k0..k1 of this group's rows of gw belong to this task alone.
                    unsafe { gemm_unchecked(out.at(offset), k, a, b, true) };
                }
            }
        });
    gw
}

/// The weight gradient of layers whose gradient is small: the (image, group, tile) tasks are
/// cut into `WEIGHT_PARTS` runs, each run sums its own full gradient (unrolling each tile once,
/// like the forward pass), and the runs are added in order: the result does not depend on the
/// thread count.
fn weight_gradient_by_pixels(
    x: &[f32],
    gy: &[f32],
    g: &ConvGeometry,
    tiles: &[(usize, usize)],
    gw: &mut [f32],
) {
    let (k, p, out_cg, in_cg) = (g.k(), g.out_plane(), g.out_cg(), g.in_cg());
    // Each part sums `gw^T` (k x out_cg) when there are few output channels: the GEMM then runs
    // with the pixels against the narrow side, which the `gemm` crate handles better.
    let transposed = out_cg <= TRANSPOSED_WEIGHT_MAX_CHANNELS;
    let tasks = image_group_tiles(g, tiles);
    let per_part = tasks.len().div_ceil(WEIGHT_PARTS).max(1);
    let partials: Vec<Vec<f32>> = tasks
        .par_chunks(per_part)
        .map(|run| {
            let mut part = vec![0.0f32; gw.len()];
            let mut cols = Vec::new();
            for &(n, grp, (r0, r1)) in run {
                let width = (r1 - r0) * g.out_w;
                let x_group =
                    &x[(n * g.in_c + grp * in_cg) * g.in_plane()..][..in_cg * g.in_plane()];
                let a = Mat::new(
                    &gy[(n * g.out_c + grp * out_cg) * p + r0 * g.out_w..],
                    out_cg,
                    width,
                    p,
                );
                let b = if g.pointwise() {
                    Mat::new(&x_group[r0 * g.out_w..], k, width, g.in_plane()).t()
                } else {
                    cols.resize(k * width, 0.0);
                    im2col(x_group, g, (r0, r1), (0, k), &mut cols);
                    Mat::new(&cols, k, width, width).t()
                };
                let part = &mut part[grp * out_cg * k..(grp + 1) * out_cg * k];
                if transposed {
                    gemm(part, out_cg, b.t(), a.t(), true, Threads::One);
                } else {
                    gemm(part, k, a, b, true, Threads::One);
                }
            }
            part
        })
        .collect();
    if transposed {
        // Row (group, co) of gw gathers column co of each part's (k x out_cg) block.
        gw.par_chunks_mut(k).enumerate().for_each(|(row, gw)| {
            let (grp, co) = (row / out_cg, row % out_cg);
            for part in &partials {
                let part = &part[grp * out_cg * k..][..out_cg * k];
                for (kk, d) in gw.iter_mut().enumerate() {
                    *d += part[kk * out_cg + co];
                }
            }
        });
        return;
    }
    gw.par_chunks_mut(4096).enumerate().for_each(|(chunk, gw)| {
        let start = chunk * 4096;
        for part in &partials {
            for (d, &v) in gw.iter_mut().zip(&part[start..]) {
                *d += v;
            }
        }
    });
}

/// `y (n, channels, plane) += bias[channel]`, one addition per value.
pub(crate) fn add_bias(y: &mut [f32], bias: &[f32], channels: usize, plane: usize) {
    for (i, v) in y.iter_mut().enumerate() {
        *v += bias[i / plane % channels];
    }
}

/// The gradient with respect to a per-channel bias: the sum of `gy` over images and pixels.
pub(crate) fn bias_backward(gy: &[f32], n: usize, channels: usize, plane: usize) -> Vec<f32> {
    (0..channels)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = (0..n)
                .map(|i| {
                    gy[(i * channels + c) * plane..][..plane]
                        .iter()
                        .map(|&v| f64::from(v))
                        .sum::<f64>()
                })
                .sum();
            sum as f32
        })
        .collect()
}
