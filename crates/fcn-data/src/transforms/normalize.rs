//! Normalisation: how an RGB `u8` image becomes the network's `f32` CHW input. One copy for
//! the whole workspace, [`fcn_common::Preprocess`]: the loader and fcn-core's prediction use
//! the same tables.

pub use fcn_common::{CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD};

/// How an RGB `u8` image becomes the network's `f32` CHW input: [`fcn_common::Preprocess`]
/// under the loader's name. `Caffe` reorders to BGR and subtracts [`CAFFE_MEAN_BGR`] on the
/// 0..255 scale (`f32(f64(v) - mean)`, like FCN's numpy code); `ImageNet` computes
/// `(v / 255 - mean) / std` in `f32` with [`IMAGENET_MEAN`] and [`IMAGENET_STD`]. `to_chw` and
/// `write_chw` take `ndarray` images.
pub type Normalization = fcn_common::Preprocess;

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn normalising_needs_three_channels_and_room() {
        let two = Array3::<u8>::zeros((2, 2, 2));
        assert!(Normalization::Caffe.to_chw(&two).is_err());
        let image = Array3::<u8>::zeros((4, 4, 3));
        let mut small = vec![0f32; 3 * 3 * 4];
        assert!(
            Normalization::ImageNet
                .write_chw(&image, &mut small, 4)
                .is_err()
        );
        assert!(
            Normalization::ImageNet
                .write_chw(&image, &mut small, 0)
                .is_err()
        );
    }
}
