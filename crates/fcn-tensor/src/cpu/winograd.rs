//! Winograd convolution F(m x m, 3x3) for 3x3, stride-1, dilation-1, ungrouped layers, NCHW.
//!
//! Each output tile of `m x m` pixels is computed from a `t x t` input tile (`t = m + 2`):
//! `Y = A^T [ (G g G^T) .* (B^T d B) ] A`. The element-wise products summed over input
//! channels are `t * t` GEMMs, one per transform position: `[out_c x in_c] x [in_c x tiles]`.
//! F(2x2) does 2.25x fewer multiplications than direct convolution in that stage, F(4x4) 4x.
//!
//! Work is split into blocks of tiles of one image. Each task transforms its block's input into
//! a reused buffer (positions, then channels, then tiles: each GEMM's right operand is one
//! contiguous matrix), runs the GEMMs single-threaded, and transforms the products back into
//! the output, adding the bias and applying the ReLU on the way. The transforms work on vectors
//! of the block's tiles (one value per tile, contiguous), so they vectorise; with AVX2/FMA or
//! AVX-512 available at run time they are compiled for it.
#![allow(unsafe_code)]

use rayon::prelude::*;

use super::gemm::{Mat, SharedMut, Threads, gemm};
use crate::geometry::ConvGeometry;

/// The output tile size of a Winograd convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tile {
    /// F(2x2, 3x3): 4x4 input tiles, 16 GEMMs.
    F2,
    /// F(4x4, 3x3): 6x6 input tiles, 36 GEMMs.
    F4,
}

/// The three transform matrices of one F(m, 3), row-major.
struct Spec {
    /// Output tile side.
    m: usize,
    /// Input tile side, `m + 2`.
    t: usize,
    /// Input transform `B^T` (t x t).
    bt: &'static [f32],
    /// Kernel transform `G` (t x 3), in f64: the kernels are transformed once per call.
    g: &'static [f64],
    /// Output transform `A^T` (m x t).
    at: &'static [f32],
}

// F(2, 3) at the points 0, 1, -1 (and infinity).
#[rustfmt::skip]
const BT2: [f32; 16] = [
    1.0,  0.0, -1.0,  0.0,
    0.0,  1.0,  1.0,  0.0,
    0.0, -1.0,  1.0,  0.0,
    0.0,  1.0,  0.0, -1.0,
];
#[rustfmt::skip]
const G2: [f64; 12] = [
    1.0,  0.0, 0.0,
    0.5,  0.5, 0.5,
    0.5, -0.5, 0.5,
    0.0,  0.0, 1.0,
];
#[rustfmt::skip]
const AT2: [f32; 8] = [
    1.0, 1.0,  1.0,  0.0,
    0.0, 1.0, -1.0, -1.0,
];

// F(4, 3) at the points 0, 1, -1, 2, -2 (and infinity): Lavin and Gray's matrices.
#[rustfmt::skip]
const BT4: [f32; 36] = [
    4.0,  0.0, -5.0,  0.0, 1.0, 0.0,
    0.0, -4.0, -4.0,  1.0, 1.0, 0.0,
    0.0,  4.0, -4.0, -1.0, 1.0, 0.0,
    0.0, -2.0, -1.0,  2.0, 1.0, 0.0,
    0.0,  2.0, -1.0, -2.0, 1.0, 0.0,
    0.0,  4.0,  0.0, -5.0, 0.0, 1.0,
];
#[rustfmt::skip]
const G4: [f64; 18] = [
    1.0 / 4.0,    0.0,          0.0,
    -1.0 / 6.0,   -1.0 / 6.0,   -1.0 / 6.0,
    -1.0 / 6.0,   1.0 / 6.0,    -1.0 / 6.0,
    1.0 / 24.0,   1.0 / 12.0,   1.0 / 6.0,
    1.0 / 24.0,   -1.0 / 12.0,  1.0 / 6.0,
    0.0,          0.0,          1.0,
];
#[rustfmt::skip]
const AT4: [f32; 24] = [
    1.0, 1.0,  1.0, 1.0,  1.0, 0.0,
    0.0, 1.0, -1.0, 2.0, -2.0, 0.0,
    0.0, 1.0,  1.0, 4.0,  4.0, 0.0,
    0.0, 1.0, -1.0, 8.0, -8.0, 1.0,
];

impl Tile {
    fn spec(self) -> Spec {
        match self {
            Self::F2 => Spec {
                m: 2,
                t: 4,
                bt: &BT2,
                g: &G2,
                at: &AT2,
            },
            Self::F4 => Spec {
                m: 4,
                t: 6,
                bt: &BT4,
                g: &G4,
                at: &AT4,
            },
        }
    }
}

/// Floats of transformed input and products a task keeps per block of tiles (4 MiB): large
/// blocks give the GEMMs enough columns; the block is then streamed from L2/L3 once per stage.
const BLOCK_FLOATS: usize = 1 << 20;
/// Bounds on the tiles per block (the GEMMs' column count).
const MIN_BLOCK_TILES: usize = 16;
const MAX_BLOCK_TILES: usize = 256;

/// Whether Winograd applies to the convolution of `g`: 3x3, stride 1, dilation 1, one group.
pub(crate) fn applies(g: &ConvGeometry) -> bool {
    g.kernel == [3, 3] && g.stride == [1, 1] && g.dilation == [1, 1] && g.groups == 1
}

/// Whether the input gradient of `g` is a Winograd convolution too: its adjoint (a "full"
/// convolution of the output gradient) has padding `2 - padding`, so the padding must be at
/// most 2.
pub(crate) fn applies_to_backward_data(g: &ConvGeometry) -> bool {
    applies(g) && g.padding[0] <= 2 && g.padding[1] <= 2
}

/// `y = conv(x, w) + bias` by Winograd, followed by a ReLU when `relu` is set. `g` must satisfy
/// [`applies`].
pub(crate) fn forward(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    relu: bool,
    tile: Tile,
) -> Vec<f32> {
    debug_assert!(applies(g));
    let s = tile.spec();
    let (c_in, c_out) = (g.in_c, g.out_c);
    let out_plane = g.out_h * g.out_w;
    let len = g.n * c_out * out_plane;
    let mut y = vec![0.0f32; len];
    if len == 0 {
        return y;
    }
    let positions = s.t * s.t;
    let u = transform_kernels(w, c_out, c_in, &s);
    let tiles_w = g.out_w.div_ceil(s.m);
    let per_image = g.out_h.div_ceil(s.m) * tiles_w;
    let nb = (BLOCK_FLOATS / (positions * (c_in + c_out)))
        .clamp(MIN_BLOCK_TILES, MAX_BLOCK_TILES)
        .min(per_image);
    let blocks = per_image.div_ceil(nb);
    let out = SharedMut::new(&mut y);
    let isa = Isa::detect();
    (0..g.n * blocks)
        .into_par_iter()
        .for_each_init(Buffers::default, |buf, task| {
            let (n, block) = (task / blocks, task % blocks);
            let first = block * nb;
            let count = nb.min(per_image - first);
            let block = Block {
                first,
                count,
                nb,
                tiles_w,
            };
            buf.v.resize(positions * c_in * nb, 0.0);
            buf.m.resize(positions * c_out * nb, 0.0);
            buf.scratch.resize(2 * positions * nb, 0.0);
            let x_image = &x[n * c_in * g.in_h * g.in_w..][..c_in * g.in_h * g.in_w];
            isa.run(|| transform_input(x_image, g, &s, &block, &mut buf.v, &mut buf.scratch));
            for pos in 0..positions {
                gemm(
                    &mut buf.m[pos * c_out * nb..][..c_out * nb],
                    nb,
                    Mat::new(&u[pos * c_out * c_in..], c_out, c_in, c_in),
                    Mat::new(&buf.v[pos * c_in * nb..], c_in, count, nb),
                    false,
                    Threads::One,
                );
            }
            let epilogue = Epilogue { bias, relu, n };
            isa.run(|| transform_output(&buf.m, g, &s, &block, &epilogue, &mut buf.scratch, out));
        });
    y
}

/// The gradient with respect to the input of the convolution of `g` (which must satisfy
/// [`applies_to_backward_data`]): the forward convolution of `gy` with the kernels rotated by
/// 180 degrees and transposed, padded by `2 - padding`.
pub(crate) fn backward_data(gy: &[f32], w: &[f32], g: &ConvGeometry, tile: Tile) -> Vec<f32> {
    debug_assert!(applies_to_backward_data(g));
    let adjoint = ConvGeometry {
        in_c: g.out_c,
        in_h: g.out_h,
        in_w: g.out_w,
        out_c: g.in_c,
        out_h: g.in_h,
        out_w: g.in_w,
        padding: [2 - g.padding[0], 2 - g.padding[1]],
        ..*g
    };
    let mut flipped = vec![0.0f32; w.len()];
    for co in 0..g.out_c {
        for ci in 0..g.in_c {
            let src = &w[(co * g.in_c + ci) * 9..][..9];
            let dst = &mut flipped[(ci * g.out_c + co) * 9..][..9];
            for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                *d = *s;
            }
        }
    }
    forward(gy, &flipped, None, &adjoint, false, tile)
}

/// A task's reused buffers: transformed input (positions x in_c x tiles), products (positions x
/// out_c x tiles) and scratch for the two halves of a transform.
#[derive(Default)]
struct Buffers {
    v: Vec<f32>,
    m: Vec<f32>,
    scratch: Vec<f32>,
}

/// A run of tiles of one image: tiles `first .. first + count` in row-major tile order, stored
/// `nb` apart.
struct Block {
    first: usize,
    count: usize,
    nb: usize,
    tiles_w: usize,
}

impl Block {
    /// Tile row and column of the block's `i`-th tile.
    fn tile(&self, i: usize) -> (usize, usize) {
        let p = self.first + i;
        (p / self.tiles_w, p % self.tiles_w)
    }
}

/// What the output transform adds: the bias, the ReLU, and which image it writes.
struct Epilogue<'a> {
    bias: Option<&'a [f32]>,
    relu: bool,
    n: usize,
}

/// `U[pos][k][c] = (G w[k][c] G^T)[pos]`, computed in f64.
fn transform_kernels(w: &[f32], c_out: usize, c_in: usize, s: &Spec) -> Vec<f32> {
    let (t, positions) = (s.t, s.t * s.t);
    // Per kernel first ([k][c][pos]), then transposed to the GEMMs' layout.
    let mut per_kernel = vec![0.0f32; c_out * c_in * positions];
    per_kernel
        .par_chunks_mut(positions)
        .zip(w.par_chunks(9))
        .for_each(|(dst, k)| {
            // tmp = G k (t x 3), then tmp G^T (t x t).
            let mut tmp = [0.0f64; 18];
            for a in 0..t {
                for j in 0..3 {
                    tmp[a * 3 + j] = (0..3).map(|i| s.g[a * 3 + i] * f64::from(k[i * 3 + j])).sum();
                }
            }
            for a in 0..t {
                for b in 0..t {
                    let v: f64 = (0..3).map(|j| tmp[a * 3 + j] * s.g[b * 3 + j]).sum();
                    dst[a * t + b] = v as f32;
                }
            }
        });
    let kernels = c_out * c_in;
    let mut u = vec![0.0f32; kernels * positions];
    u.par_chunks_mut(kernels.max(1))
        .enumerate()
        .for_each(|(pos, dst)| {
            for (kc, d) in dst.iter_mut().enumerate() {
                *d = per_kernel[kc * positions + pos];
            }
        });
    u
}

/// `dst[dst_at(a)..][..n] = sum_r mat[a][r] * src[src_at(r)..][..n]` for each row `a` of `mat`
/// (`cols` columns): a small matrix applied to vectors of tiles. Zero coefficients are skipped.
#[inline(always)]
fn combine(
    mat: &[f32],
    cols: usize,
    src: &[f32],
    src_at: impl Fn(usize) -> usize,
    dst: &mut [f32],
    dst_at: impl Fn(usize) -> usize,
    n: usize,
) {
    for (a, row) in mat.chunks_exact(cols).enumerate() {
        let d = &mut dst[dst_at(a)..][..n];
        let mut written = false;
        for (r, &coef) in row.iter().enumerate() {
            if coef == 0.0 {
                continue;
            }
            let s = &src[src_at(r)..][..n];
            if written {
                for (d, &s) in d.iter_mut().zip(s) {
                    *d += coef * s;
                }
            } else {
                for (d, &s) in d.iter_mut().zip(s) {
                    *d = coef * s;
                }
                written = true;
            }
        }
        if !written {
            d.fill(0.0);
        }
    }
}

/// `V[pos][c][i] = (B^T d B)[pos]` for the input tile `d` of channel `c` under the block's
/// `i`-th tile (zero outside the input).
#[inline(always)]
fn transform_input(
    x: &[f32],
    g: &ConvGeometry,
    s: &Spec,
    block: &Block,
    v: &mut [f32],
    scratch: &mut [f32],
) {
    let (t, nb, count) = (s.t, block.nb, block.count);
    let positions = t * t;
    let plane = g.in_h * g.in_w;
    let (tiles, rows) = scratch.split_at_mut(positions * nb);
    for c in 0..g.in_c {
        let x = &x[c * plane..][..plane];
        // Gather: tiles[(r * t + b) * nb + i] = input value (r, b) of tile i.
        for i in 0..count {
            let (ti, tj) = block.tile(i);
            let row0 = (ti * s.m) as isize - g.padding[0] as isize;
            let col0 = (tj * s.m) as isize - g.padding[1] as isize;
            let inside_cols = col0 >= 0 && col0 as usize + t <= g.in_w;
            for r in 0..t {
                let ih = row0 + r as isize;
                if ih < 0 || ih >= g.in_h as isize {
                    for b in 0..t {
                        tiles[(r * t + b) * nb + i] = 0.0;
                    }
                    continue;
                }
                let line = &x[ih as usize * g.in_w..][..g.in_w];
                if inside_cols {
                    let src = &line[col0 as usize..][..t];
                    for (b, &value) in src.iter().enumerate() {
                        tiles[(r * t + b) * nb + i] = value;
                    }
                } else {
                    for b in 0..t {
                        let iw = col0 + b as isize;
                        tiles[(r * t + b) * nb + i] = if iw >= 0 && iw < g.in_w as isize {
                            line[iw as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
        // Columns then rows: rows[a][b] = sum_r B^T[a][r] d[r][b]; V[a][b'] = sum_b rows[a][b] B[b][b'].
        for b in 0..t {
            combine(
                s.bt,
                t,
                tiles,
                |r| (r * t + b) * nb,
                rows,
                |a| (a * t + b) * nb,
                count,
            );
        }
        for a in 0..t {
            combine(
                s.bt,
                t,
                rows,
                |b| (a * t + b) * nb,
                v,
                |b2| ((a * t + b2) * g.in_c + c) * nb,
                count,
            );
        }
    }
}

/// `y[tile] = A^T M A + bias` (then the ReLU), for each output channel and each tile of the
/// block, written into the image's output planes where the tile lies inside them.
#[inline(always)]
fn transform_output(
    products: &[f32],
    g: &ConvGeometry,
    s: &Spec,
    block: &Block,
    epilogue: &Epilogue<'_>,
    scratch: &mut [f32],
    out: SharedMut,
) {
    let (t, m, nb, count) = (s.t, s.m, block.nb, block.count);
    let c_out = g.out_c;
    let out_plane = g.out_h * g.out_w;
    let (rows, tiles) = scratch.split_at_mut(m * t * nb);
    for k in 0..c_out {
        // rows[a][b] = sum_r A^T[a][r] M[r][b]; tiles[a][b'] = sum_b rows[a][b] A[b][b'].
        for b in 0..t {
            combine(
                s.at,
                t,
                products,
                |r| ((r * t + b) * c_out + k) * nb,
                rows,
                |a| (a * t + b) * nb,
                count,
            );
        }
        for a in 0..m {
            combine(
                s.at,
                t,
                rows,
                |b| (a * t + b) * nb,
                tiles,
                |b2| (a * m + b2) * nb,
                count,
            );
        }
        let values = &mut tiles[..m * m * nb];
        let bias = epilogue.bias.map_or(0.0, |b| b[k]);
        if epilogue.relu {
            // `if v < 0` rather than `max`: a NaN stays NaN, as in PyTorch.
            for v in values.iter_mut() {
                *v += bias;
                if *v < 0.0 {
                    *v = 0.0;
                }
            }
        } else if bias != 0.0 {
            values.iter_mut().for_each(|v| *v += bias);
        }
        let plane = (epilogue.n * c_out + k) * out_plane;
        for i in 0..count {
            let (ti, tj) = block.tile(i);
            let width = m.min(g.out_w - tj * m);
            for a in 0..m.min(g.out_h - ti * m) {
                let offset = plane + (ti * m + a) * g.out_w + tj * m;
                out.check(offset, 1, width, 0);
                // SAFETY: each output pixel belongs to exactly one tile, and each tile to one
                // task; the row lies inside the output (checked).
                let row = unsafe { std::slice::from_raw_parts_mut(out.at(offset), width) };
                for (b, d) in row.iter_mut().enumerate() {
                    *d = values[(a * m + b) * nb + i];
                }
            }
        }
    }
}

/// The vector instructions the transforms are compiled for, chosen once per call.
#[derive(Debug, Clone, Copy)]
enum Isa {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Self::Avx2;
            }
        }
        Self::Baseline
    }

    /// Runs `f` compiled for this instruction set (`f`'s body is inlined into the wrapper).
    #[inline(always)]
    fn run(self, f: impl FnOnce()) {
        match self {
            Self::Baseline => f(),
            // SAFETY: the features were detected at run time.
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => unsafe { run_avx2(f) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => unsafe { run_avx512(f) },
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2(f: impl FnOnce()) {
    f();
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn run_avx512(f: impl FnOnce()) {
    f();
}
