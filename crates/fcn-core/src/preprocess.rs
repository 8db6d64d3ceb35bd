//! The input normalisation a set of weights expects.

use std::fmt;
use std::str::FromStr;

use fcn_tensor::Tensor;

use crate::error::{CoreError, Result, invalid};

/// The Caffe VGG16 mean, in **BGR** order, on the 0..255 scale (FCN_REFERENCE.md section 1).
pub const CAFFE_MEAN_BGR: [f64; 3] = [104.006_987_93, 116.668_767_62, 122.678_914_34];
/// torchvision's ImageNet mean, RGB, on the 0..1 scale.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// torchvision's ImageNet standard deviation, RGB.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How RGB bytes become network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Preprocess {
    /// The reference (Caffe) weights: RGB -> BGR, 0..255, minus [`CAFFE_MEAN_BGR`].
    #[default]
    Caffe,
    /// torchvision-trained weights: RGB / 255, minus [`IMAGENET_MEAN`], over [`IMAGENET_STD`].
    #[serde(rename = "imagenet")]
    #[cfg_attr(feature = "clap", value(name = "imagenet"))]
    ImageNet,
}

impl Preprocess {
    /// The name used on the command line and in weight files.
    pub fn name(self) -> &'static str {
        match self {
            Preprocess::Caffe => "caffe",
            Preprocess::ImageNet => "imagenet",
        }
    }

    /// Per input channel (in network order), the RGB channel it reads and the value of every
    /// byte, computed as FCN's numpy code and torchvision do (and as `fcn-data`'s loader does,
    /// so training and prediction see identical input): Caffe `f32(f64(v) - mean)`, ImageNet
    /// `(v / 255 - mean) / std` in `f32`.
    fn tables(self) -> [(usize, [f32; 256]); 3] {
        let mut tables = [(0usize, [0f32; 256]); 3];
        for (channel, (source, table)) in tables.iter_mut().enumerate() {
            match self {
                Preprocess::Caffe => {
                    // Network channel 0 is blue (RGB index 2).
                    *source = 2 - channel;
                    for (v, t) in table.iter_mut().enumerate() {
                        *t = (v as f64 - CAFFE_MEAN_BGR[channel]) as f32;
                    }
                }
                Preprocess::ImageNet => {
                    *source = channel;
                    for (v, t) in table.iter_mut().enumerate() {
                        *t = (v as f32 / 255.0 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel];
                    }
                }
            }
        }
        tables
    }

    /// Interleaved RGB bytes (height x width x 3) to a (1, 3, height, width) tensor.
    pub fn apply(self, rgb: &[u8], height: usize, width: usize) -> Result<Tensor> {
        let plane = height * width;
        if rgb.len() != plane * 3 || plane == 0 {
            return Err(invalid(
                "image",
                format!(
                    "{} bytes for a {height} x {width} RGB image (expected {})",
                    rgb.len(),
                    plane * 3
                ),
            ));
        }
        let mut out = vec![0.0f32; 3 * plane];
        for (c, (source, table)) in self.tables().iter().enumerate() {
            let dst = &mut out[c * plane..(c + 1) * plane];
            for (d, px) in dst.iter_mut().zip(rgb.chunks_exact(3)) {
                *d = table[usize::from(px[*source])];
            }
        }
        Ok(Tensor::from_vec(out, &[1, 3, height, width])?)
    }
}

impl fmt::Display for Preprocess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preprocess {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "caffe" => Ok(Preprocess::Caffe),
            "imagenet" => Ok(Preprocess::ImageNet),
            other => Err(invalid(
                "preprocessing",
                format!("{other:?}; expected caffe or imagenet"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caffe_swaps_to_bgr_and_subtracts_the_mean() {
        let t = Preprocess::Caffe.apply(&[10, 20, 30], 1, 1).unwrap();
        let v = t.data();
        assert_eq!(v[0], (30.0 - 104.006_987_93f64) as f32);
        assert_eq!(v[1], (20.0 - 116.668_767_62f64) as f32);
        assert_eq!(v[2], (10.0 - 122.678_914_34f64) as f32);
    }

    #[test]
    fn imagenet_matches_torchvision() {
        let t = Preprocess::ImageNet.apply(&[255, 0, 128], 1, 1).unwrap();
        let v = t.data();
        assert!((v[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!((v[1] - (0.0 - 0.456) / 0.224).abs() < 1e-5);
        assert!((v[2] - (128.0 / 255.0 - 0.406) / 0.225).abs() < 1e-5);
        assert!(Preprocess::ImageNet.apply(&[1, 2], 1, 1).is_err());
    }
}
