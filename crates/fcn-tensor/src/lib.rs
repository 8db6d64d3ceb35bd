//! Tensors and kernels for Fully Convolutional Networks: NCHW `f32` tensors, and every operation
//! an FCN needs with its backward pass.
//!
//! ```
//! use fcn_tensor::{Tensor, ops};
//!
//! # fn main() -> Result<(), fcn_tensor::TensorError> {
//! let x = Tensor::from_vec((0..16).map(|v| v as f32).collect(), &[1, 1, 4, 4])?;
//! let pooled = ops::max_pool2d(&x, &ops::Pool2d::FCN)?;
//! assert_eq!(pooled.output.data(), &[5.0, 7.0, 13.0, 15.0]);
//! let grad = ops::max_pool2d_backward(&Tensor::full(&[1, 1, 2, 2], 1.0), &pooled)?;
//! assert_eq!(grad.data()[5], 1.0);
//! # Ok(())
//! # }
//! ```
//!
//! # What is here
//!
//! [`ops`] has every operation of the FCN family with its backward pass: [`ops::matmul`],
//! [`ops::conv2d`] (stride, padding, dilation, groups), [`ops::conv_transpose2d`] (PyTorch's
//! weight layout `(in, out / groups, kh, kw)`), [`ops::max_pool2d`] (ceil mode, indices kept),
//! [`ops::relu`], [`ops::dropout`] (element- or channel-wise, seeded, inverted scaling),
//! [`ops::add`], [`ops::mul`], [`ops::scale`], [`ops::crop`], [`ops::argmax_channels`] and
//! [`ops::softmax_cross_entropy`] (ignore label, FCN's sum-over-batch or the mean, class
//! weights); for residual networks [`ops::batch_norm2d`] (batch or running statistics,
//! PyTorch's momentum update; [`ops::batch_norm2d_relu`] fuses a residual add and the ReLU),
//! [`ops::resize_bilinear`] (PyTorch's `F.interpolate`, both `align_corners`),
//! [`ops::concat_channels`] / [`ops::split_channels`] and [`ops::global_avg_pool2d`]. Every one
//! is checked against PyTorch (`tests/golden/make_golden.py`, `make_bn_resize.py`) and by finite
//! differences. The optimizer updates are operations too ([`ops::sgd_step`],
//! [`ops::lars_step`], [`ops::adam_step`], and [`ops::sum_squares`] for LARS's norms), so they
//! run where the parameters live.
//!
//! Inside, `ops` validates and composes (transposed convolution, for instance, is built once
//! from the convolution primitives of both devices) and dispatches on the [`Device`]; the
//! kernels are in `cpu` and `cuda`; op parameters and output sizes in `geometry`. Without the
//! `cuda` feature a stub with the same functions takes the `cuda` module's place.
//!
//! The CPU kernels are tiled im2col + GEMM (a few output rows per task, a reused buffer per
//! worker, single-threaded GEMM inside a rayon loop), GEMM + col2im for transposed convolution,
//! and a plain GEMM for 1x1 convolutions; 3x3 stride-1 convolutions can run by Winograd
//! F(2x2, 3x3) or F(4x4, 3x3) instead ([`ops::ConvAlgo`], GEMM by default). Results do not
//! depend on the number of threads.
//! With the `cuda` feature, tensors can live on an NVIDIA GPU ([`Tensor::to_device`]), where
//! every operation runs (cuBLAS SGEMM and NVRTC kernels); without the feature a GPU device is
//! [`TensorError::DeviceUnavailable`]. With the `nccl` feature, the `interop` module gives collective
//! libraries (NCCL) the device memory of GPU tensors and the stream they are computed on.
//!
//! # Errors
//!
//! Functions that take user data return [`TensorError`], which carries the shapes and
//! parameters at fault; nothing a caller passes makes them panic. The exception is documented
//! on the accessors that read host memory ([`Tensor::data`]): calling them on a GPU tensor is a
//! programming error, like indexing a slice out of range.
#![deny(missing_docs)]

mod cpu;
// The one place the backend is chosen: the CUDA backend with the feature, else a stub with the
// same functions whose GPU devices are `DeviceUnavailable` (candle's dummy backend).
#[cfg_attr(not(feature = "cuda"), path = "cuda_stub.rs")]
mod cuda;
mod device;
mod error;
mod geometry;
#[cfg(feature = "nccl")]
pub mod interop;
pub mod ops;
mod tensor;

pub use device::Device;
pub use error::{BackendError, Result, TensorError, Unavailable};
pub use tensor::Tensor;
