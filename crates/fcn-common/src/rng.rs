//! The seeded random generator of the workspace.

/// SplitMix64's increment (the golden ratio in 64 bits).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function: a bijective mix of 64 bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small, fast, seedable generator (SplitMix64, Steele et al. 2014). Its stream depends only
/// on the seed, so runs are reproducible on every machine and thread count. Weight
/// initialisation, data order, augmentation and synthetic scenes all draw from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator whose seed is a hash of several keys, e.g. `[seed, epoch, index]`: streams
    /// for different key lists are unrelated.
    pub fn from_keys(keys: &[u64]) -> Self {
        let mut state: u64 = 0x243f_6a88_85a3_08d3; // pi: any fixed start
        for &key in keys {
            state = mix64(state.wrapping_add(GOLDEN_GAMMA) ^ key);
        }
        Self { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// A uniform value in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        // Multiplying by 2^-53 is exact, so this equals dividing by 2^53.
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform value in `[low, high)` (`low` when the range is empty).
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// A uniform integer in `0..bound` (0 when `bound` is 0). Multiply-high mapping: no
    /// division, and the bias is below `bound / 2^64`.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// [`below`](Self::below) for an index into a collection of `len` items.
    pub fn below_usize(&mut self, len: usize) -> usize {
        // usize is at most 64 bits on every supported target, so both casts are lossless.
        self.below(len as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// A standard normal value (Box-Muller, one of the pair).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // in (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below_usize(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference SplitMix64 (Vigna's `splitmix64.c`), seeded with 1234567: pins the stream,
    /// so every seeded result of the workspace stays what it was.
    #[test]
    fn stream_matches_the_reference() {
        let mut r = SplitMix64::new(1_234_567);
        let expected = [
            6_457_827_717_110_365_317u64,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
            4_593_380_528_125_082_431,
            16_408_922_859_458_223_821,
        ];
        for e in expected {
            assert_eq!(r.next_u64(), e);
        }
    }

    /// fcn-core's former generator divided by 2^53 and mapped `below` on u64; fcn-data's
    /// multiplied by 2^-53 and mapped on usize. Both give the same numbers.
    #[test]
    fn former_variants_agree() {
        let mut r = SplitMix64::new(99);
        let mut s = r.clone();
        for bound in 0..2000u64 {
            let bits = s.next_u64();
            assert_eq!(
                r.clone().next_f64(),
                (bits >> 11) as f64 / (1u64 << 53) as f64
            );
            assert_eq!(r.clone().below_usize(bound as usize) as u64, r.below(bound));
        }
    }

    #[test]
    fn streams_depend_on_keys_only() {
        let a: Vec<u64> = (0..4)
            .map(|_| SplitMix64::from_keys(&[1, 2, 3]).next_u64())
            .collect();
        assert!(a.windows(2).all(|p| p[0] == p[1]));
        let mut x = SplitMix64::from_keys(&[1, 2, 3]);
        let mut y = SplitMix64::from_keys(&[1, 2, 4]);
        assert_ne!(x.next_u64(), y.next_u64());
        let mut r = SplitMix64::new(5);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert_eq!(r.below(0), 0);
    }
}
