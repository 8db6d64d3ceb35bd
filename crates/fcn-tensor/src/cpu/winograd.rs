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
    /// Kernel transform `G` (t x 3).
    g: &'static [f32],
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
const G2: [f32; 12] = [
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
const G4: [f32; 18] = [
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
/// Bounds on the tiles per block (the GEMMs' column count): with many channels, the GEMMs
/// stream the transformed kernels from memory once per block, so blocks stay wide.
const MIN_BLOCK_TILES: usize = 64;
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
    let isa = Isa::detect();
    // The calling thread's buffer of transformed kernels, reused (put back below).
    let mut u = KERNELS.take();
    transform_kernels(w, c_out, c_in, &s, isa, &mut u);
    let tiles_w = g.out_w.div_ceil(s.m);
    let per_image = g.out_h.div_ceil(s.m) * tiles_w;
    let widest =
        (BLOCK_FLOATS / (positions * (c_in + c_out))).clamp(MIN_BLOCK_TILES, MAX_BLOCK_TILES);
    // Blocks of equal width: no narrow last block.
    let blocks = per_image.div_ceil(widest);
    let nb = per_image.div_ceil(blocks);
    let out = SharedMut::new(&mut y);
    (0..g.n * blocks).into_par_iter().for_each(|task| {
        BUFFERS.with_borrow_mut(|buf| {
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
            dispatch!(
                isa,
                transform_input(x_image, g, &s, &block, &mut buf.v, &mut buf.scratch)
            );
            for pos in 0..positions {
                gemm(
                    &mut buf.m[pos * c_out * nb..][..c_out * nb],
                    nb,
                    Mat::new(&u[pos * c_in..], c_out, c_in, positions * c_in),
                    Mat::new(&buf.v[pos * c_in * nb..], c_in, count, nb),
                    false,
                    Threads::One,
                );
            }
            let epilogue = Epilogue { bias, relu, n };
            let scratch = &mut buf.scratch;
            dispatch!(
                isa,
                transform_output(&buf.m, g, &s, &block, &epilogue, scratch, out)
            );
        });
    });
    KERNELS.with_borrow_mut(|kernels| *kernels = u);
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

thread_local! {
    /// Each thread's block buffers, kept between calls: fresh ones would cost a page fault per
    /// 4 KiB every call (they reach megabytes with hundreds of channels).
    static BUFFERS: std::cell::RefCell<Buffers> = std::cell::RefCell::default();
    /// The calling thread's transformed kernels, kept between calls for the same reason (4x the
    /// weights with F(4x4): 38 MB for 512 channels).
    static KERNELS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
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

/// A run of consecutive tiles in one tile row: tile row `row`, tile columns `col ..
/// col + count`, stored from the block's `start`-th position.
struct Segment {
    row: usize,
    col: usize,
    count: usize,
    start: usize,
}

impl Block {
    /// The block's tiles, one segment per tile row it touches.
    fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        let mut start = 0;
        std::iter::from_fn(move || {
            if start == self.count {
                return None;
            }
            let p = self.first + start;
            let (row, col) = (p / self.tiles_w, p % self.tiles_w);
            let count = (self.tiles_w - col).min(self.count - start);
            let segment = Segment {
                row,
                col,
                count,
                start,
            };
            start += count;
            Some(segment)
        })
    }
}

/// What the output transform adds: the bias, the ReLU, and which image it writes.
struct Epilogue<'a> {
    bias: Option<&'a [f32]>,
    relu: bool,
    n: usize,
}

/// `U[k][pos][c] = (G w[k][c] G^T)[pos]`, one output channel per task. (The GEMM of position
/// `pos` reads rows `k` of `U` with stride `positions * c_in`.)
fn transform_kernels(w: &[f32], c_out: usize, c_in: usize, s: &Spec, isa: Isa, u: &mut Vec<f32>) {
    let positions = s.t * s.t;
    u.resize(c_out * positions * c_in, 0.0);
    if u.is_empty() {
        return;
    }
    u.par_chunks_mut(positions * c_in)
        .zip(w.par_chunks(9 * c_in))
        .for_each_init(Vec::new, |scratch, (u, w)| {
            scratch.resize((9 + 3 * s.t) * c_in, 0.0);
            dispatch!(isa, transform_kernel(w, s, c_in, scratch, u));
        });
}

/// The kernels of one output channel (`w`: `c_in` kernels of 3x3) into `u` (`positions x c_in`),
/// as vectors over the input channels: `taps[i][j][c]`, then `rows[a][j][c] = sum_i G[a][i]
/// taps[i][j][c]`, then `u[a][b][c] = sum_j rows[a][j][c] G[b][j]`.
#[inline(always)]
fn transform_kernel(w: &[f32], s: &Spec, c_in: usize, scratch: &mut [f32], u: &mut [f32]) {
    let t = s.t;
    let (taps, rows) = scratch.split_at_mut(9 * c_in);
    for (c, kernel) in w.chunks_exact(9).enumerate() {
        for (tap, &value) in kernel.iter().enumerate() {
            taps[tap * c_in + c] = value;
        }
    }
    for j in 0..3 {
        combine(
            s.g,
            3,
            taps,
            |i| (i * 3 + j) * c_in,
            rows,
            |a| (a * 3 + j) * c_in,
            c_in,
        );
    }
    for a in 0..t {
        combine(
            s.g,
            3,
            rows,
            |j| (a * 3 + j) * c_in,
            u,
            |b| (a * t + b) * c_in,
            c_in,
        );
    }
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
    // One padded input row under a segment of tiles, and its m phases.
    let longest = (block.tiles_w + 1) * s.m;
    let (mut line, mut phases) = (vec![0.0f32; longest], vec![0.0f32; longest]);
    for c in 0..g.in_c {
        let x = &x[c * plane..][..plane];
        // Gather: tiles[(r * t + b) * nb + i] = input value (r, b) of tile i. Along a tile row,
        // value (r, b) of successive tiles is every m-th value of one input row: the row is
        // copied (zero-padded) into `line`, split into its m phases (`phase[b][j] = line[j * m
        // + b]`, one pass), and columns b >= m are phase b - m shifted by one tile.
        for seg in block.segments() {
            let span = (seg.count + 1) * s.m;
            let col0 = (seg.col * s.m) as isize - g.padding[1] as isize;
            // Columns of `line` inside the input.
            let lo = ((-col0).max(0) as usize).min(span);
            let hi = (g.in_w as isize - col0).clamp(lo as isize, span as isize) as usize;
            for r in 0..t {
                let ih = (seg.row * s.m + r) as isize - g.padding[0] as isize;
                if ih < 0 || ih >= g.in_h as isize {
                    for b in 0..t {
                        tiles[(r * t + b) * nb + seg.start..][..seg.count].fill(0.0);
                    }
                    continue;
                }
                let src = &x[ih as usize * g.in_w..][..g.in_w];
                let line = &mut line[..span];
                line[..lo].fill(0.0);
                line[hi..].fill(0.0);
                if lo < hi {
                    let first = (col0 + lo as isize) as usize;
                    line[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
                }
                let phases = &mut phases[..span];
                match s.m {
                    2 => deinterleave::<2>(line, phases),
                    _ => deinterleave::<4>(line, phases),
                }
                let per_phase = seg.count + 1;
                for b in 0..t {
                    let (phase, shift) = (b % s.m, b / s.m);
                    let src = &phases[phase * per_phase + shift..][..seg.count];
                    tiles[(r * t + b) * nb + seg.start..][..seg.count].copy_from_slice(src);
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

/// `dst[b * n + j] = src[j * M + b]` with `n = src.len() / M`: the M phases of `src`, one after
/// the other (a constant stride, so that the compiler vectorises it with shuffles).
#[inline(always)]
fn deinterleave<const M: usize>(src: &[f32], dst: &mut [f32]) {
    let n = src.len() / M;
    let (dst, src) = (&mut dst[..n * M], &src[..n * M]);
    for (j, group) in src.chunks_exact(M).enumerate() {
        for (b, &v) in group.iter().enumerate() {
            dst[b * n + j] = v;
        }
    }
}

/// `dst[j * M + b] = src[b * stride + j]` for every `j * M + b < dst.len()`: the adjoint of
/// [`deinterleave`], into one output row.
#[inline(always)]
fn interleave<const M: usize>(dst: &mut [f32], src: &[f32], stride: usize) {
    let full = dst.len() / M;
    let phases: [&[f32]; M] = std::array::from_fn(|b| &src[b * stride..][..full]);
    for (j, group) in dst.chunks_exact_mut(M).enumerate() {
        for (b, d) in group.iter_mut().enumerate() {
            *d = phases[b][j];
        }
    }
    let tail = dst.len() - full * M;
    for b in 0..tail {
        dst[full * M + b] = src[b * stride + full];
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
        for seg in block.segments() {
            let col0 = seg.col * m;
            let width = (seg.count * m).min(g.out_w - col0);
            for a in 0..m.min(g.out_h - seg.row * m) {
                let offset = plane + (seg.row * m + a) * g.out_w + col0;
                out.check(offset, 1, width, 0);
                // SAFETY: each output pixel belongs to exactly one tile, and each tile to one
                // task; the row lies inside the output (checked).
                let row = unsafe { std::slice::from_raw_parts_mut(out.at(offset), width) };
                let src = &values[a * m * nb + seg.start..];
                match m {
                    2 => interleave::<2>(row, src, nb),
                    _ => interleave::<4>(row, src, nb),
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
}

/// Calls `$f(args)` compiled for the instruction set `$isa`: `$f` is `#[inline(always)]`, so
/// each wrapper in `isa_avx2` and `isa_avx512` holds a copy of it built for those features.
macro_rules! dispatch {
    ($isa:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $isa {
            Isa::Baseline => $f($($arg),*),
            // SAFETY: the features were detected at run time (`Isa::detect`).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { isa_avx2::$f($($arg),*) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { isa_avx512::$f($($arg),*) },
        }
    };
}
use dispatch;

/// The transforms compiled for one set of target features.
macro_rules! isa_module {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $name {
            use super::{Block, ConvGeometry, Epilogue, SharedMut, Spec};

            #[target_feature(enable = $features)]
            pub(super) fn transform_input(
                x: &[f32],
                g: &ConvGeometry,
                s: &Spec,
                block: &Block,
                v: &mut [f32],
                scratch: &mut [f32],
            ) {
                super::transform_input(x, g, s, block, v, scratch);
            }

            #[target_feature(enable = $features)]
            pub(super) fn transform_output(
                products: &[f32],
                g: &ConvGeometry,
                s: &Spec,
                block: &Block,
                epilogue: &Epilogue<'_>,
                scratch: &mut [f32],
                out: SharedMut,
            ) {
                super::transform_output(products, g, s, block, epilogue, scratch, out);
            }

            #[target_feature(enable = $features)]
            pub(super) fn transform_kernel(
                w: &[f32],
                s: &Spec,
                c_in: usize,
                scratch: &mut [f32],
                u: &mut [f32],
            ) {
                super::transform_kernel(w, s, c_in, scratch, u);
            }
        }
    };
}
isa_module!(isa_avx2, "avx2,fma");
isa_module!(isa_avx512, "avx512f,avx2,fma");
