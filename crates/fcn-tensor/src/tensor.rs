//! The tensor type: a shape and f32 values on a device.

use std::sync::Arc;

use half::{bf16, f16};

use crate::{Device, Result, TensorError};

/// An n-dimensional array of `f32`, row-major (images are NCHW).
///
/// Values are shared (`Arc`), so `clone` is cheap and operations return new tensors. Only the
/// CPU device holds data so far; the CUDA storage arrives with the `cuda` feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Arc<Vec<f32>>,
}

impl Tensor {
    /// A tensor over `data` (row-major) with `shape`.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Self> {
        let expected = shape.iter().product();
        if data.len() != expected {
            return Err(TensorError::DataLength {
                shape: shape.to_vec(),
                expected,
                actual: data.len(),
            });
        }
        Ok(Self {
            shape: shape.to_vec(),
            data: Arc::new(data),
        })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self {
            shape: shape.to_vec(),
            data: Arc::new(vec![0.0; shape.iter().product()]),
        }
    }

    /// A tensor with every value `value`.
    pub fn full(shape: &[usize], value: f32) -> Self {
        Self {
            shape: shape.to_vec(),
            data: Arc::new(vec![value; shape.iter().product()]),
        }
    }

    /// A tensor from half-precision storage (weights on disk), widened to `f32`.
    pub fn from_f16(data: &[f16], shape: &[usize]) -> Result<Self> {
        Self::from_vec(data.iter().map(|v| v.to_f32()).collect(), shape)
    }

    /// A tensor from bfloat16 storage, widened to `f32`.
    pub fn from_bf16(data: &[bf16], shape: &[usize]) -> Result<Self> {
        Self::from_vec(data.iter().map(|v| v.to_f32()).collect(), shape)
    }

    /// The values rounded to half precision (round to nearest even).
    pub fn to_f16(&self) -> Vec<f16> {
        self.data.iter().map(|&v| f16::from_f32(v)).collect()
    }

    /// The values rounded to bfloat16 (round to nearest even).
    pub fn to_bf16(&self) -> Vec<bf16> {
        self.data.iter().map(|&v| bf16::from_f32(v)).collect()
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The device the values live on.
    pub fn device(&self) -> Device {
        Device::Cpu
    }

    /// The tensor on `device`. Only the CPU backend exists so far: asking for a CUDA device is
    /// an error that says so, never a panic.
    pub fn to_device(&self, device: Device) -> Result<Self> {
        match device {
            Device::Cpu => Ok(self.clone()),
            Device::Cuda(_) => Err(TensorError::DeviceUnavailable {
                device,
                reason: "this build of fcn-tensor has no CUDA backend yet (CPU only)".to_owned(),
            }),
        }
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values, taken out without a copy when this is the only reference.
    pub fn into_vec(self) -> Vec<f32> {
        Arc::try_unwrap(self.data).unwrap_or_else(|shared| shared.as_ref().clone())
    }

    /// The same values under another shape with as many elements.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if expected != self.len() {
            return Err(TensorError::ShapeMismatch {
                op: "reshape",
                reason: format!("{} values cannot take a shape of {expected}", self.len()),
                shapes: vec![self.shape.clone(), shape.to_vec()],
            });
        }
        Ok(Self {
            shape: shape.to_vec(),
            data: Arc::clone(&self.data),
        })
    }

    /// The four dimensions of an NCHW tensor, or an error naming `op` and `operand`.
    pub(crate) fn dims4(&self, op: &'static str, operand: &'static str) -> Result<[usize; 4]> {
        <[usize; 4]>::try_from(self.shape.as_slice()).map_err(|_| TensorError::Rank {
            op,
            operand,
            expected: 4,
            shape: self.shape.clone(),
        })
    }

    /// The two dimensions of a matrix, or an error naming `op` and `operand`.
    pub(crate) fn dims2(&self, op: &'static str, operand: &'static str) -> Result<[usize; 2]> {
        <[usize; 2]>::try_from(self.shape.as_slice()).map_err(|_| TensorError::Rank {
            op,
            operand,
            expected: 2,
            shape: self.shape.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_must_match_shape() {
        let err = Tensor::from_vec(vec![0.0; 5], &[2, 3]).unwrap_err();
        assert_eq!(
            err,
            TensorError::DataLength {
                shape: vec![2, 3],
                expected: 6,
                actual: 5
            }
        );
    }

    #[test]
    fn half_precision_round_trips_representable_values() {
        let t = Tensor::from_vec(vec![0.5, -2.0, 1024.0, 0.099_975_586], &[4]).unwrap();
        assert_eq!(Tensor::from_f16(&t.to_f16(), &[4]).unwrap(), t);
        let b = Tensor::from_vec(vec![0.5, -2.0, 3.0], &[3]).unwrap();
        assert_eq!(Tensor::from_bf16(&b.to_bf16(), &[3]).unwrap(), b);
        // Rounding to nearest: 1/3 in f16 is 0.33325195.
        let third = Tensor::from_vec(vec![1.0 / 3.0], &[1]).unwrap();
        assert_eq!(third.to_f16()[0].to_f32(), 0.333_251_95);
    }

    #[test]
    fn cuda_is_an_error_not_a_panic() {
        let t = Tensor::zeros(&[2]);
        assert_eq!(t.to_device(Device::Cpu).unwrap(), t);
        let err = t.to_device(Device::Cuda(0)).unwrap_err();
        assert!(
            err.to_string().contains("cuda:0") && err.to_string().contains("no CUDA backend"),
            "{err}"
        );
    }

    #[test]
    fn reshape_shares_values() {
        let t = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[2, 3]).unwrap();
        let r = t.reshape(&[3, 2]).unwrap();
        assert_eq!(r.data(), t.data());
        assert!(t.reshape(&[4]).is_err());
    }
}
