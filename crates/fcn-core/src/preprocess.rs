//! The input normalisation a set of weights expects: [`Preprocess`] (one copy, in
//! `fcn-common`, shared with `fcn-data`'s loader) applied to images as tensors.

use fcn_tensor::Tensor;

use crate::error::{Result, invalid};

pub use fcn_common::{CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, Preprocess};

/// [`Preprocess`] on whole images, as tensors.
pub trait PreprocessExt {
    /// Interleaved RGB bytes (height x width x 3) to a (1, 3, height, width) tensor.
    fn apply(self, rgb: &[u8], height: usize, width: usize) -> Result<Tensor>;
}

impl PreprocessExt for Preprocess {
    fn apply(self, rgb: &[u8], height: usize, width: usize) -> Result<Tensor> {
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
        self.normalize_into(rgb, (height, width), &mut out, width)
            .map_err(|e| invalid("image", e.to_string()))?;
        Ok(Tensor::from_vec(out, &[1, 3, height, width])?)
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
