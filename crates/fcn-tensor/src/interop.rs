//! Raw access to the device memory of GPU tensors, for collective libraries that read and write
//! it directly (NCCL, in `fcn-train`'s data-parallel training). Feature `nccl`.
//!
//! Everything fcn-tensor runs on a GPU goes to one stream per device ([`stream`]); work queued
//! there by a caller (an all-reduce) is ordered with the tensor operations before and after it.
//! Tensors stay immutable values: a collective reads a tensor through [`cuda_view`] and writes
//! its result into a new buffer, which [`tensor_from_cuda`] makes a tensor.
//!
//! CUDA and NCCL are loaded at run time, like the rest of the CUDA backend: a missing library
//! is an error value ([`nccl_available`], [`device_count`], [`stream`]), never a panic, as long
//! as these are asked first.

use std::sync::Arc;

/// The cudarc this crate is built with (its `driver` and `nccl` modules), so that callers use
/// the same types.
pub use cudarc;
use cudarc::driver::{CudaSlice, CudaStream, CudaView};

use crate::{Result, Tensor, TensorError, cuda};

/// The stream every operation on GPU `ordinal` runs on, creating the device's context at first
/// use. No driver, no GPU or an ordinal past the last is
/// [`TensorError::DeviceUnavailable`].
pub fn stream(ordinal: usize) -> Result<Arc<CudaStream>> {
    cuda::stream(ordinal)
}

/// The number of CUDA devices; no driver library is
/// [`TensorError::DeviceUnavailable`].
pub fn device_count() -> Result<usize> {
    cuda::device_count()
}

/// Whether the NCCL library can be loaded. Call it before any function of
/// [`cudarc::nccl`], which panic when the library is missing; its absence is
/// [`TensorError::DeviceUnavailable`] for GPU `ordinal`,
/// naming libnccl and the file names looked for.
pub fn nccl_available(ordinal: usize) -> Result<()> {
    cuda::nccl_available(ordinal)
}

/// The values of a GPU tensor in device memory (exactly [`Tensor::len`] of them); `None` for a
/// CPU tensor. Reading them on another stream than [`stream`] needs the caller's own ordering.
pub fn cuda_view(t: &Tensor) -> Option<CudaView<'_, f32>> {
    t.cuda_storage("cuda_view").ok().map(cuda::view)
}

/// A GPU tensor of `shape` over `buf` (its first `shape.iter().product()` values; at least one
/// element, as CUDA allocates no empty buffers), on the device of `buf`'s context. A buffer
/// shorter than that is [`TensorError::DataLength`].
pub fn tensor_from_cuda(buf: CudaSlice<f32>, shape: &[usize]) -> Result<Tensor> {
    let len: usize = shape.iter().product();
    if buf.len() < len.max(1) {
        return Err(TensorError::DataLength {
            shape: shape.to_vec(),
            expected: len.max(1),
            actual: buf.len(),
        });
    }
    Ok(Tensor::from_cuda(cuda::storage_from_slice(buf, len), shape))
}
