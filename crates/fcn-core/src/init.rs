//! Seeded weight initialisation.

use fcn_tensor::Tensor;

use crate::error::Result;

/// SplitMix64: a small, fast generator whose output depends only on the seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `[0, bound)`; `bound` must be positive. Multiply-shift: no division, and
    /// unbiased enough for initialisation and test data.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // in (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Mixes a seed with a label (a layer's name), so each layer draws its own stream.
pub fn derive_seed(seed: u64, label: &str) -> u64 {
    // FNV-1a over the label, then one SplitMix step with the seed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    SplitMix64::new(seed ^ h).next_u64()
}

/// How a layer's weights start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros (FCN's score layers).
    Zeros,
    /// He / Kaiming normal for ReLU networks: standard deviation `sqrt(2 / fan_in)`.
    KaimingNormal,
    /// Normal with the given standard deviation.
    Normal(f32),
}

impl Init {
    /// A tensor of `shape` initialised this way; `fan_in` is the number of inputs per output.
    pub fn tensor(self, shape: &[usize], fan_in: usize, seed: u64) -> Result<Tensor> {
        let len: usize = shape.iter().product();
        let std = match self {
            Init::Zeros => return Ok(Tensor::zeros(shape)),
            Init::KaimingNormal => (2.0 / fan_in.max(1) as f64).sqrt(),
            Init::Normal(std) => f64::from(std),
        };
        let mut rng = SplitMix64::new(seed);
        let data = (0..len).map(|_| (rng.next_normal() * std) as f32).collect();
        Ok(Tensor::from_vec(data, shape)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaiming_has_the_right_spread() {
        let t = Init::KaimingNormal.tensor(&[64, 32, 3, 3], 288, 7).unwrap();
        let v = t.data();
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        let var = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / v.len() as f64;
        assert!(mean.abs() < 0.005, "{mean}");
        assert!((var / (2.0 / 288.0) - 1.0).abs() < 0.05, "{var}");
    }

    #[test]
    fn seeds_differ_by_label() {
        assert_ne!(derive_seed(1, "conv1_1"), derive_seed(1, "conv1_2"));
        assert_eq!(derive_seed(1, "fc6"), derive_seed(1, "fc6"));
    }
}
