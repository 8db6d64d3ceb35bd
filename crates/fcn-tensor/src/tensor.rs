//! The tensor type: a shape and f32 values on a device.

use std::fmt;
use std::sync::Arc;

use half::{bf16, f16};

use crate::cuda::{self, CudaStorage};
use crate::{Device, Result, TensorError};

/// Where a tensor's values live.
#[derive(Clone)]
pub(crate) enum Storage {
    /// Host memory.
    Cpu(Arc<Vec<f32>>),
    /// Device memory of one GPU (none can exist in a build without the `cuda` feature).
    Cuda(CudaStorage),
}

/// An n-dimensional array of `f32`, row-major (images are NCHW).
///
/// Values are shared (`Arc`), so `clone` is cheap and operations return new tensors. They live
/// on the CPU or, with the `cuda` feature, on a GPU ([`Tensor::to_device`] moves them). The
/// host-side accessors ([`data`](Self::data), [`into_vec`](Self::into_vec),
/// [`to_f16`](Self::to_f16), [`to_bf16`](Self::to_bf16)) are for CPU tensors;
/// [`to_vec`](Self::to_vec) works on any device.
///
/// Equality compares shapes and values for CPU tensors; a GPU tensor equals only a tensor that
/// shares its buffer (download both to compare values).
#[derive(Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    storage: Storage,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Tensor");
        s.field("shape", &self.shape);
        match &self.storage {
            Storage::Cpu(data) => s.field("data", data),
            Storage::Cuda(_) => s.field("device", &self.device()),
        };
        s.finish()
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape
            && match (&self.storage, &other.storage) {
                (Storage::Cpu(a), Storage::Cpu(b)) => a == b,
                (Storage::Cuda(a), Storage::Cuda(b)) => a.same_buffer(b),
                _ => false,
            }
    }
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
            storage: Storage::Cpu(Arc::new(data)),
        })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, 0.0)
    }

    /// A tensor with every value `value`.
    pub fn full(shape: &[usize], value: f32) -> Self {
        Self {
            shape: shape.to_vec(),
            storage: Storage::Cpu(Arc::new(vec![value; shape.iter().product()])),
        }
    }

    /// A tensor over device storage holding `shape.iter().product()` values.
    pub(crate) fn from_cuda(storage: CudaStorage, shape: &[usize]) -> Self {
        Self {
            shape: shape.to_vec(),
            storage: Storage::Cuda(storage),
        }
    }

    /// The device buffer of a GPU tensor; a CPU tensor is a [`TensorError::DeviceMismatch`] of
    /// `op` (the callers in `ops` have checked the device, so this does not happen).
    pub(crate) fn cuda_storage(&self, op: &'static str) -> Result<&CudaStorage> {
        match &self.storage {
            Storage::Cuda(s) => Ok(s),
            Storage::Cpu(_) => Err(TensorError::DeviceMismatch {
                op,
                first: Device::Cuda(0),
                second: Device::Cpu,
            }),
        }
    }

    /// The values of a CPU tensor taken out, leaving an empty tensor (in place: no copy when
    /// this is the only reference); `None` for a GPU tensor.
    pub(crate) fn take_host_values(&mut self) -> Option<Vec<f32>> {
        match &self.storage {
            Storage::Cpu(_) => Some(std::mem::replace(self, Self::zeros(&[0])).into_vec()),
            Storage::Cuda(_) => None,
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
    ///
    /// # Panics
    ///
    /// On a GPU tensor, like [`data`](Self::data).
    pub fn to_f16(&self) -> Vec<f16> {
        self.data().iter().map(|&v| f16::from_f32(v)).collect()
    }

    /// The values rounded to bfloat16 (round to nearest even).
    ///
    /// # Panics
    ///
    /// On a GPU tensor, like [`data`](Self::data).
    pub fn to_bf16(&self) -> Vec<bf16> {
        self.data().iter().map(|&v| bf16::from_f32(v)).collect()
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Cpu(data) => data.len(),
            Storage::Cuda(s) => s.len(),
        }
    }

    /// Whether the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The device the values live on.
    pub fn device(&self) -> Device {
        match &self.storage {
            Storage::Cpu(_) => Device::Cpu,
            Storage::Cuda(s) => Device::Cuda(s.ordinal()),
        }
    }

    /// The tensor on `device`: a cheap clone when it is already there, else an upload or a
    /// download. A CUDA device without the `cuda` feature, without a driver or GPU, or with an
    /// ordinal past the last GPU is [`TensorError::DeviceUnavailable`], never a panic.
    pub fn to_device(&self, device: Device) -> Result<Self> {
        if device == self.device() {
            return Ok(self.clone());
        }
        match (&self.storage, device) {
            (Storage::Cpu(_), Device::Cpu) => Ok(self.clone()),
            (Storage::Cpu(data), Device::Cuda(ordinal)) => {
                Ok(Self::from_cuda(cuda::upload(ordinal, data)?, &self.shape))
            }
            (Storage::Cuda(_), _) => Self::from_vec(self.to_vec()?, &self.shape)?.to_device(device),
        }
    }

    /// A copy of the values, row-major, from any device (a download from a GPU).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        match &self.storage {
            Storage::Cpu(data) => Ok(data.as_ref().clone()),
            Storage::Cuda(s) => cuda::download(s),
        }
    }

    /// The values, row-major, of a CPU tensor.
    ///
    /// # Panics
    ///
    /// On a GPU tensor: host code cannot borrow device memory. Like indexing a slice out of
    /// range, that is a mistake in the calling code, not bad input; check
    /// [`device`](Self::device), or use [`to_vec`](Self::to_vec) or
    /// [`to_device`](Self::to_device)`(Device::Cpu)`.
    pub fn data(&self) -> &[f32] {
        match &self.storage {
            Storage::Cpu(data) => data,
            Storage::Cuda(s) => panic!(
                "Tensor::data on a tensor on cuda:{}: download it first with to_vec or to_device(Device::Cpu)",
                s.ordinal()
            ),
        }
    }

    /// The values, taken out without a copy when this is the only reference.
    ///
    /// # Panics
    ///
    /// On a GPU tensor, like [`data`](Self::data).
    pub fn into_vec(self) -> Vec<f32> {
        match self.storage {
            Storage::Cpu(data) => {
                Arc::try_unwrap(data).unwrap_or_else(|shared| shared.as_ref().clone())
            }
            Storage::Cuda(s) => panic!(
                "Tensor::into_vec on a tensor on cuda:{}: download it first with to_vec or to_device(Device::Cpu)",
                s.ordinal()
            ),
        }
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
            storage: self.storage.clone(),
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
        // With the `cuda` feature and a GPU the upload succeeds; anything else is an error value.
        match t.to_device(Device::Cuda(0)) {
            Ok(gpu) => assert_eq!(gpu.device(), Device::Cuda(0)),
            Err(err) => {
                assert!(
                    matches!(err, TensorError::DeviceUnavailable { .. }),
                    "{err}"
                );
                assert!(err.to_string().contains("cuda:0"), "{err}");
                if let TensorError::DeviceUnavailable {
                    reason: crate::Unavailable::NotBuilt,
                    ..
                } = err
                {
                    assert!(err.to_string().contains("no CUDA backend"), "{err}");
                }
            }
        }
    }

    #[test]
    fn reshape_shares_values() {
        let t = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[2, 3]).unwrap();
        let r = t.reshape(&[3, 2]).unwrap();
        assert_eq!(r.data(), t.data());
        assert!(t.reshape(&[4]).is_err());
    }
}
