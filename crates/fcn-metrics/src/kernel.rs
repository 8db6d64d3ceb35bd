//! The counting loops behind [`ConfusionMatrix::update`](crate::ConfusionMatrix::update).
//!
//! Label maps are spatially coherent: long runs of pixels land in the same cell. So a block of 32
//! pixels that is one cell is counted with a single add. Elsewhere, incrementing one counter per
//! pixel would stall on store-to-load forwarding (each increment waiting for the last), so the
//! loop spreads consecutive pixels over four private copies of the histogram and adds them up at
//! the end. Ignored and skipped pixels go to an extra "discard" row, which keeps the loop free of
//! data-dependent branches. `docs/benchmarks.md` has the measurements behind each step.

use crate::Label;

/// Private copies of the histogram the hot loop spreads pixels over.
const LANES: usize = 4;
/// Largest local histogram (all lanes, bytes) for the laned loop; beyond it the copies no longer
/// fit in L1 and a direct count into the matrix is as fast.
const LANED_BYTES_MAX: usize = 64 * 1024;
/// Pixels per flush of the `u32` local counts: no cell can pass `u32::MAX` in between.
const FLUSH_PIXELS: usize = 1 << 31;
const _: () = assert!(FLUSH_PIXELS.is_multiple_of(RUN_BLOCK) && RUN_BLOCK.is_multiple_of(LANES));
/// Pixels per block tested for a single (target, prediction) value: runs of one cell are the
/// common case in label maps, and a uniform block costs one add instead of one per pixel.
const RUN_BLOCK: usize = 32;
/// Pixels per block of the validation scan, which exits at the first bad block.
const SCAN_BLOCK: usize = 4096;

/// Index of the first prediction outside `[0, n)`, if any.
pub(crate) fn first_bad_prediction<P: Label>(pred: &[P], n: u64) -> Option<usize> {
    first_in_block(pred, |block| P::any_outside(block, n))
}

/// Index of the first target that is neither a class in `[0, n)`, the ignore value, nor negative.
pub(crate) fn first_bad_target<T: Label>(target: &[T], n: u64, ignore: u64) -> Option<usize> {
    first_in_block(target, |block| T::any_unknown(block, n, ignore))
}

/// Scans whole blocks with a branch-free test (which vectorises), then finds the pixel in the
/// first block that fails, by testing single pixels.
fn first_in_block<L: Label>(values: &[L], any_bad: impl Fn(&[L]) -> bool) -> Option<usize> {
    let (b, block) = values
        .chunks(SCAN_BLOCK)
        .enumerate()
        .find(|(_, block)| any_bad(block))?;
    let i = (0..block.len()).find(|&i| any_bad(&block[i..=i]))?;
    Some(b * SCAN_BLOCK + i)
}

/// Adds the pixel pairs to the row-major `n x n` counts (rows ground truth, columns prediction).
///
/// Every prediction must already be in `[0, n)`. A target is counted when it is in `[0, n)` and
/// not `ignore`; every other target (ignore value, negative, out of range) is skipped.
pub(crate) fn accumulate<P: Label, T: Label>(
    counts: &mut [u64],
    n: usize,
    ignore: u64,
    pred: &[P],
    target: &[T],
) {
    debug_assert_eq!(pred.len(), target.len());
    debug_assert_eq!(counts.len(), n * n);
    let stride = (n + 1) * n; // one histogram, discard row included
    if stride * LANES * std::mem::size_of::<u32>() <= LANED_BYTES_MAX {
        let mut local = vec![0u32; LANES * stride];
        for (p, t) in pred.chunks(FLUSH_PIXELS).zip(target.chunks(FLUSH_PIXELS)) {
            accumulate_laned(&mut local, n, ignore, p, t);
            for (i, count) in counts.iter_mut().enumerate() {
                for copy in 0..LANES {
                    *count += u64::from(local[copy * stride + i]);
                }
            }
            local.fill(0);
        }
    } else {
        accumulate_direct(counts, n, ignore, pred, target);
    }
}

/// Flat index of the cell for one pixel; the discard row (row `n`) when the target is not counted.
#[inline(always)]
fn cell<P: Label, T: Label>(p: P, t: T, n: u64, ignore: u64) -> usize {
    let t = t.to_i64() as u64; // negative values wrap to huge ones: never a class
    let row = if t < n && t != ignore { t } else { n };
    (row * n + p.to_i64() as u64) as usize
}

fn accumulate_laned<P: Label, T: Label>(
    local: &mut [u32],
    n: usize,
    ignore: u64,
    pred: &[P],
    target: &[T],
) {
    let stride = (n + 1) * n;
    let n64 = n as u64;
    let (l0, rest) = local.split_at_mut(stride);
    let (l1, rest) = rest.split_at_mut(stride);
    let (l2, l3) = rest.split_at_mut(stride);
    let mut p_blocks = pred.chunks_exact(RUN_BLOCK);
    let mut t_blocks = target.chunks_exact(RUN_BLOCK);
    for (p, t) in (&mut p_blocks).zip(&mut t_blocks) {
        // A block where both maps hold one value is one cell: a single add.
        if is_uniform(p, t) {
            l0[cell(p[0], t[0], n64, ignore)] += RUN_BLOCK as u32;
            continue;
        }
        for (p, t) in p.chunks_exact(LANES).zip(t.chunks_exact(LANES)) {
            l0[cell(p[0], t[0], n64, ignore)] += 1;
            l1[cell(p[1], t[1], n64, ignore)] += 1;
            l2[cell(p[2], t[2], n64, ignore)] += 1;
            l3[cell(p[3], t[3], n64, ignore)] += 1;
        }
    }
    for (&p, &t) in p_blocks.remainder().iter().zip(t_blocks.remainder()) {
        l0[cell(p, t, n64, ignore)] += 1;
    }
}

fn accumulate_direct<P: Label, T: Label>(
    counts: &mut [u64],
    n: usize,
    ignore: u64,
    pred: &[P],
    target: &[T],
) {
    let n64 = n as u64;
    let mut count = |p: P, t: T, k: u64| {
        let t = t.to_i64() as u64;
        if t < n64 && t != ignore {
            counts[(t * n64 + p.to_i64() as u64) as usize] += k;
        }
    };
    let mut p_blocks = pred.chunks_exact(RUN_BLOCK);
    let mut t_blocks = target.chunks_exact(RUN_BLOCK);
    for (p, t) in (&mut p_blocks).zip(&mut t_blocks) {
        if is_uniform(p, t) {
            count(p[0], t[0], RUN_BLOCK as u64);
        } else {
            for (&p, &t) in p.iter().zip(t) {
                count(p, t, 1);
            }
        }
    }
    for (&p, &t) in p_blocks.remainder().iter().zip(t_blocks.remainder()) {
        count(p, t, 1);
    }
}

/// Whether both blocks hold a single value each (a branch-free, vectorised compare).
#[inline(always)]
fn is_uniform<P: Label, T: Label>(p: &[P], t: &[T]) -> bool {
    let (p0, t0) = (p[0], t[0]);
    p.iter().fold(true, |all, &v| all & (v == p0)) & t.iter().fold(true, |all, &v| all & (v == t0))
}
