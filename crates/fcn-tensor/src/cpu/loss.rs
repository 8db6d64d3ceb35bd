//! Pixel-wise softmax cross-entropy with an ignore label: loss and gradient.

use rayon::prelude::*;

use crate::geometry::Reduction;

/// Pixels per parallel task. The task's logits and gradient (C x `PIXELS` values each) stay in
/// the L2 cache between its passes. Fixed, so the loss does not depend on the thread count.
const PIXELS: usize = 4096;

/// Loss and gradient of the logits `x` (N, C, H*W) against `target` (N, H*W). Labels are already
/// validated: each is a class or `ignore`. `weight` has one entry per class.
///
/// One parallel task per image and tile of pixels, fused: the maximum over channels, then
/// `exp(x - max)` once per logit, kept in the task's slices of the gradient, then per pixel the
/// log-sum-exp and the loss, and last the gradient `w_t * scale * (softmax - onehot)` in place.
pub(crate) fn softmax_cross_entropy(
    x: &[f32],
    target: &[i64],
    dims: [usize; 3],
    ignore: i64,
    weight: Option<&[f32]>,
    reduction: Reduction,
) -> (f32, Vec<f32>) {
    let [n, c, hw] = dims;
    let scale = reduction.scale(n, target, ignore, weight);

    let mut grad = vec![0.0f32; x.len()];
    if x.is_empty() {
        return (0.0, grad);
    }
    // Each task gets its own (disjoint) slice of every channel plane of its image.
    let tiles = hw.div_ceil(PIXELS);
    let mut tasks: Vec<Vec<&mut [f32]>> = (0..n * tiles).map(|_| Vec::with_capacity(c)).collect();
    for (plane, g) in grad.chunks_mut(hw).enumerate() {
        let i = plane / c;
        for (j, g) in g.chunks_mut(PIXELS).enumerate() {
            tasks[i * tiles + j].push(g);
        }
    }
    // Partial sums collected in order and added sequentially: the loss does not depend on how
    // the work was split between threads.
    let partials: Vec<f64> = tasks
        .into_par_iter()
        .enumerate()
        .map(|(task, mut grad)| {
            let (i, p0) = (task / tiles, task % tiles * PIXELS);
            let len = grad[0].len();
            let tile = Tile {
                x: &x[i * c * hw..(i + 1) * c * hw],
                hw,
                p0,
                labels: &target[i * hw + p0..i * hw + p0 + len],
                ignore,
                weight,
                scale,
            };
            tile.run(&mut grad)
        })
        .collect();
    let loss: f64 = partials.iter().sum();
    ((loss * scale) as f32, grad)
}

/// One task: an image's logits and a range of its pixels.
struct Tile<'a> {
    /// The image's logits (C, H*W).
    x: &'a [f32],
    hw: usize,
    /// The first pixel.
    p0: usize,
    /// The labels of the tile's pixels.
    labels: &'a [i64],
    ignore: i64,
    weight: Option<&'a [f32]>,
    scale: f64,
}

impl Tile<'_> {
    /// Channel `ch` of the tile's logits.
    fn logits(&self, ch: usize) -> &[f32] {
        &self.x[ch * self.hw + self.p0..][..self.labels.len()]
    }

    /// Writes the gradient of every channel into `grad` (one slice per channel, the tile's
    /// pixels) and returns the tile's summed, weighted, unscaled loss.
    fn run(&self, grad: &mut [&mut [f32]]) -> f64 {
        let len = self.labels.len();
        let mut max = [0.0f32; PIXELS];
        let max = &mut max[..len];
        max.copy_from_slice(self.logits(0));
        for ch in 1..grad.len() {
            for (m, &v) in max.iter_mut().zip(self.logits(ch)) {
                *m = if v > *m { v } else { *m };
            }
        }
        // exp(x - max), once per logit, kept in the gradient; summed per pixel.
        let mut sum = [0.0f32; PIXELS];
        let sum = &mut sum[..len];
        for (ch, g) in grad.iter_mut().enumerate() {
            for (((g, s), &v), &m) in g
                .iter_mut()
                .zip(sum.iter_mut())
                .zip(self.logits(ch))
                .zip(&*max)
            {
                let e = exp_nonpositive(v - m);
                *g = e;
                *s += e;
            }
        }
        // Per pixel: the loss, and what the gradient needs (label -1: ignored).
        let mut label = [-1i32; PIXELS];
        let mut inv_sum = [0.0f32; PIXELS];
        let mut coef = [0.0f32; PIXELS];
        let mut partial = 0.0f64;
        for (k, &t) in self.labels.iter().enumerate() {
            if t != self.ignore {
                let w = self.weight.map_or(1.0, |w| w[t as usize]);
                let log_sum = max[k] + sum[k].ln();
                let picked = self.x[t as usize * self.hw + self.p0 + k];
                partial += f64::from(w) * f64::from(log_sum - picked);
                label[k] = t as i32;
                inv_sum[k] = 1.0 / sum[k];
                coef[k] = (f64::from(w) * self.scale) as f32;
            }
        }
        // The gradient: w_t * scale * (softmax - onehot), 0 for ignored pixels.
        for (ch, g) in grad.iter_mut().enumerate() {
            let ch = ch as i32;
            for (((g, &l), &inv), &coef) in g
                .iter_mut()
                .zip(&label[..len])
                .zip(&inv_sum[..len])
                .zip(&coef[..len])
            {
                let onehot = if l == ch { 1.0 } else { 0.0 };
                let d = (*g * inv - onehot) * coef;
                *g = if l < 0 { 0.0 } else { d };
            }
        }
        partial
    }
}

/// `exp(x)` for `x <= 0` (NaN gives NaN), within about 1 ulp, written so that loops over it
/// vectorise (no calls, no branches), after Cephes' `expf`: range reduction `x = n ln2 + r` with
/// `|r| <= ln2 / 2`, `exp(r) ~ 1 + r + r^2 p(r)` with `p` a degree-4 minimax fit of the
/// relative error (at most 1 ulp over `[-87, 0]`), and `2^n` put in the exponent bits.
/// Values whose exponential is subnormal (below `f32::MIN_POSITIVE`) give 0.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    // ln(f32::MIN_POSITIVE): below it, 0.
    const LO: f32 = -87.336_54;
    // 1.5 * 2^23: adding it rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    // ln 2 in two parts, the first exact in few bits (Cody-Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = if x < LO { LO } else { x };
    let t = xc * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.381_461_3e-3;
    p = p * r + 8.368_71e-3;
    p = p * r + 4.166_839e-2;
    p = p * r + 1.666_652_1e-1;
    p = p * r + 4.999_999_4e-1;
    let e = p * r * r + r + 1.0;
    // 2^n: n + 127 in the exponent field (n >= -126 here; the bits of `t` are 0x4b40_0000 + n).
    let biased = (t.to_bits() as i32)
        .wrapping_sub(0x4b40_0000)
        .wrapping_add(127);
    let two_n = f32::from_bits((biased << 23) as u32);
    if x < LO { 0.0 } else { e * two_n }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward computation in f64, with the library's `exp`.
    fn reference(
        x: &[f32],
        target: &[i64],
        [n, c, hw]: [usize; 3],
        weight: Option<&[f32]>,
        scale: f64,
    ) -> (f64, Vec<f64>) {
        let mut loss = 0.0;
        let mut grad = vec![0.0; x.len()];
        for i in 0..n {
            for p in 0..hw {
                let t = target[i * hw + p];
                if t == 255 {
                    continue;
                }
                let at = |ch: usize| i * c * hw + ch * hw + p;
                let max = (0..c)
                    .map(|ch| f64::from(x[at(ch)]))
                    .fold(f64::MIN, f64::max);
                let sum: f64 = (0..c).map(|ch| (f64::from(x[at(ch)]) - max).exp()).sum();
                let w = weight.map_or(1.0, |w| f64::from(w[t as usize]));
                loss += w * (max + sum.ln() - f64::from(x[at(t as usize)]));
                for ch in 0..c {
                    let softmax = (f64::from(x[at(ch)]) - max).exp() / sum;
                    let onehot = if ch as i64 == t { 1.0 } else { 0.0 };
                    grad[at(ch)] = w * scale * (softmax - onehot);
                }
            }
        }
        (loss * scale, grad)
    }

    #[test]
    fn tiles_and_images_match_the_reference() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (n, c, hw) in [
            (1, 1, 5),
            (2, 3, 1),
            (2, 21, 2 * PIXELS + 37),
            (3, 5, PIXELS),
        ] {
            let x: Vec<f32> = (0..n * c * hw)
                .map(|_| (next() % 20_000) as f32 / 1000.0 - 10.0)
                .collect();
            let target: Vec<i64> = (0..n * hw)
                .map(|_| match next() % (c as u64 + 1) {
                    t if t == c as u64 => 255,
                    t => t as i64,
                })
                .collect();
            let weight: Vec<f32> = (0..c).map(|k| 0.5 + k as f32 / 4.0).collect();
            for (weight, reduction) in [
                (None, Reduction::SumOverBatch),
                (Some(&weight[..]), Reduction::Mean),
            ] {
                let (loss, grad) =
                    softmax_cross_entropy(&x, &target, [n, c, hw], 255, weight, reduction);
                let scale = match reduction {
                    Reduction::SumOverBatch => 1.0 / n as f64,
                    Reduction::Mean => {
                        let total: f64 = target
                            .iter()
                            .filter(|&&t| t != 255)
                            .map(|&t| weight.map_or(1.0, |w| f64::from(w[t as usize])))
                            .sum();
                        if total > 0.0 { 1.0 / total } else { 0.0 }
                    }
                };
                let (want_loss, want_grad) = reference(&x, &target, [n, c, hw], weight, scale);
                assert!(
                    (f64::from(loss) - want_loss).abs() <= 1e-5 * want_loss.abs().max(1.0),
                    "loss {loss} vs {want_loss}"
                );
                for (k, (&g, &want)) in grad.iter().zip(&want_grad).enumerate() {
                    assert!(
                        (f64::from(g) - want).abs() <= 1e-6 + 1e-5 * want.abs(),
                        "grad {k}: {g} vs {want} ({n}x{c}x{hw})"
                    );
                    assert!(want != 0.0 || g == 0.0, "grad {k} must be 0");
                }
            }
        }
    }

    #[test]
    fn exp_matches_the_library() {
        let mut worst = 0.0f64;
        let mut x = 0.0f32;
        while x > -87.0 {
            let ours = f64::from(exp_nonpositive(x));
            let exact = f64::from(x).exp();
            worst = worst.max((ours - exact).abs() / exact);
            x -= 0.000_37;
        }
        assert!(worst < f64::from(f32::EPSILON), "relative error {worst}");
        for x in [-0.0, -1e-30] {
            assert_eq!(exp_nonpositive(x), 1.0);
        }
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-100.0), 0.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
        assert!(exp_nonpositive(-87.3) > 0.0);
    }
}
