//! The bilinear upsampling kernel that initialises FCN's transposed convolutions
//! (FCN_REFERENCE.md section 3, `surgery.upsample_filt` in the Caffe release).

use fcn_tensor::Tensor;

use crate::error::{Result, invalid};

/// The K x K bilinear kernel, row-major: `w(i, j) = (1 - |i - c| / f) (1 - |j - c| / f)` with
/// `f = ceil(K / 2)` and `c = f - 1` for odd K, `f - 0.5` for even K.
pub fn bilinear_kernel(size: usize) -> Result<Vec<f32>> {
    if size == 0 {
        return Err(invalid("bilinear kernel size", "must be positive"));
    }
    let f = size.div_ceil(2) as f64;
    let c = if size % 2 == 1 { f - 1.0 } else { f - 0.5 };
    let profile: Vec<f64> = (0..size).map(|i| 1.0 - (i as f64 - c).abs() / f).collect();
    Ok(profile
        .iter()
        .flat_map(|&a| profile.iter().map(move |&b| (a * b) as f32))
        .collect())
}

/// A transposed-convolution weight (channels, channels, K, K) with the bilinear kernel on the
/// diagonal (`W[c, c]`) and zeros elsewhere, so each class is upsampled on its own.
pub fn bilinear_weight(channels: usize, size: usize) -> Result<Tensor> {
    if channels == 0 {
        return Err(invalid("bilinear weight", "needs at least one channel"));
    }
    let kernel = bilinear_kernel(size)?;
    let plane = size * size;
    let mut w = vec![0.0f32; channels * channels * plane];
    for c in 0..channels {
        let start = (c * channels + c) * plane;
        w[start..start + plane].copy_from_slice(&kernel);
    }
    Ok(Tensor::from_vec(w, &[channels, channels, size, size])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k4_profile_is_the_reference() {
        let k = bilinear_kernel(4).unwrap();
        let row: Vec<f32> = (0..4).map(|j| k[j * 4] / 0.25).collect();
        assert_eq!(row, [0.25, 0.75, 0.75, 0.25]);
    }
}
