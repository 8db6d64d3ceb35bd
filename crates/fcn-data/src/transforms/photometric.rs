//! Photometric jitter: brightness, contrast, saturation.

use fcn_common::SplitMix64;
use ndarray::Array3;

use super::compose::Transform;
use super::pixels::contiguous;
use crate::error::{Error, Result};
use crate::sample::Sample;

/// Random brightness, contrast and saturation, like torchvision's `ColorJitter` (each factor
/// uniform in `[max(0, 1 - s), 1 + s]`; applied in that fixed order, rounding to 8 bits after
/// each). Labels are untouched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhotometricJitter {
    brightness: f32,
    contrast: f32,
    saturation: f32,
}

impl PhotometricJitter {
    /// Strengths in `[0, 1]` (0 disables that part).
    pub fn new(brightness: f32, contrast: f32, saturation: f32) -> Result<Self> {
        for (name, v) in [
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::NotAFraction {
                    what: "photometric jitter",
                    parameter: name,
                    value: f64::from(v),
                });
            }
        }
        Ok(Self {
            brightness,
            contrast,
            saturation,
        })
    }
}

/// ITU-R 601 luma, as torchvision's `rgb_to_grayscale`.
fn luma(p: &[f32]) -> f32 {
    0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
}

fn blend(values: &mut [f32], ratio: f32, other: impl Fn(usize, &[f32]) -> f32) {
    for pixel in values.chunks_exact_mut(3) {
        let base = [pixel[0], pixel[1], pixel[2]];
        for c in 0..3 {
            let v = ratio * base[c] + (1.0 - ratio) * other(c, &base);
            pixel[c] = v.clamp(0.0, 255.0).round();
        }
    }
}

impl Transform for PhotometricJitter {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        let mut factor = |strength: f32| {
            if strength == 0.0 {
                None
            } else {
                let s = f64::from(strength);
                Some(rng.uniform((1.0 - s).max(0.0), 1.0 + s) as f32)
            }
        };
        let (b, c, s) = (
            factor(self.brightness),
            factor(self.contrast),
            factor(self.saturation),
        );
        if b.is_none() && c.is_none() && s.is_none() {
            return Ok(sample);
        }
        let dim = sample.image.dim();
        let mut values: Vec<f32> = contiguous(&sample.image)
            .iter()
            .map(|&v| f32::from(v))
            .collect();
        if let Some(b) = b {
            blend(&mut values, b, |_, _| 0.0);
        }
        if let Some(c) = c {
            let pixels = (values.len() / 3).max(1) as f32;
            let mean = values.chunks_exact(3).map(luma).sum::<f32>() / pixels;
            blend(&mut values, c, |_, _| mean);
        }
        if let Some(s) = s {
            blend(&mut values, s, |_, p| luma(p));
        }
        let bytes = values.iter().map(|&v| v as u8).collect();
        let image = Array3::from_shape_vec(dim, bytes).map_err(|source| Error::Shape {
            what: "jitter",
            source,
        })?;
        Ok(Sample { image, ..sample })
    }
}
