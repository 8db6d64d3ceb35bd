//! The CUDA backend (the `cuda` feature), on cudarc with run-time loading of the driver,
//! cuBLAS and NVRTC, so building needs no toolkit. Without the feature, `cuda_stub.rs` takes
//! this module's place with the same functions, each an error value.
//!
//! The functions here take and return device buffers ([`CudaStorage`]) of operands that `ops`
//! has checked; `ops` makes them tensors.
//!
//! - One context per GPU ordinal, created at first use and cached (`context`). Before cudarc
//!   touches a library (it panics when one is missing) the library is probed, and its absence
//!   becomes [`TensorError::DeviceUnavailable`](crate::TensorError::DeviceUnavailable).
//! - `ops::matmul` and `ops::matmul_backward`
//!   run on cuBLAS SGEMM (row-major through the column-major swap; `gemm`).
//! - `ops::relu`, `ops::relu_backward`,
//!   `ops::add`, `ops::mul` and
//!   `ops::scale` are CUDA C kernels compiled by NVRTC at first use
//!   (`kernels::SOURCE`), like the rest (`kernels::OPS_SOURCE`), all written in gather form:
//!   one thread per output value, so no atomics and results that do not vary between runs.
//! - `ops::crop`, `ops::crop_backward` and
//!   `ops::argmax_channels` (its labels are downloaded: the
//!   result is a host `Vec<u32>`).
//! - `ops::max_pool2d`: one thread per window, the CPU's scan order
//!   and NaN rule, so values and indices are the CPU's bit for bit. The indices are downloaded
//!   into `MaxPoolOutput::indices` (host memory, as on the CPU; the forward pass therefore
//!   synchronises); `ops::max_pool2d_backward` uploads them
//!   and each input value sums, in output order, the gradients of the windows covering it whose
//!   maximum it was (the CPU's order of additions, so also bit for bit).
//! - `ops::softmax_cross_entropy`: one thread per pixel
//!   writes the gradient and its weighted loss (f64); the losses are summed by fixed-shape block
//!   trees and the block partials in order on the host, so the loss is deterministic. The
//!   reduction's scale and the per-class factors are computed on the host as on the CPU.
//! - `ops::dropout`: the CPU's counter-based hash, ported to 64-bit
//!   integer arithmetic, so a seed gives the same mask on both devices.
//! - Convolution primitives (`conv`): per image an im2col kernel and one cuBLAS SGEMM per
//!   group; SGEMM then col2im as a gather kernel (each input value sums its column entries);
//!   the weight gradient accumulated over the images with `beta = 1`; the bias gradient one
//!   block per channel (f64, fixed tree). `ops::conv2d`,
//!   `ops::conv_transpose2d` and their backward passes are
//!   composed from them in `ops`, once for both devices.
//! - Optimizer updates (`ops::sgd_step`,
//!   `ops::lars_step`, `ops::adam_step`) and
//!   LARS's norms (`ops::sum_squares`), so a training step never
//!   copies weights or gradients through the host (`optim`).
//!
//! - Batch normalisation (`ops::batch_norm2d`, its fused residual add and ReLU, and its
//!   backward pass), global average pooling, bilinear resizing and channel concatenation
//!   (`norm`, kernels in `norm_kernels::NORM_SOURCE`): per-channel and per-plane sums one block
//!   each (double, fixed tree); the resize gradient in gather form (each input value finds the
//!   outputs that read it by binary search over the monotonic source index).
//!
//! All work goes to the context's default stream; downloads synchronise it.
// cudarc's launches, allocations and library probes are `unsafe fn`s: this module is the one
// place of the crate that calls them, each with the invariant it relies on.
#![allow(unsafe_code)]

mod context;
mod conv;
mod crop;
mod elementwise;
mod gemm;
mod kernels;
mod loss;
#[cfg(feature = "nccl")]
mod nccl;
mod norm;
mod norm_kernels;
mod optim;
mod pool;

pub(crate) use context::{CudaStorage, download, synchronize, upload};
pub(crate) use conv::{bias_backward, conv_backward_data, conv_backward_weight, conv_forward};
pub(crate) use crop::{crop, crop_backward};
pub(crate) use elementwise::{add, dropout_mask, mul, relu, relu_backward, scale};
pub(crate) use gemm::{matmul, matmul_backward};
pub(crate) use loss::{argmax_channels, softmax_cross_entropy};
#[cfg(feature = "nccl")]
pub(crate) use nccl::{device_count, nccl_available, storage_from_slice, stream, view};
pub(crate) use norm::{
    batch_norm_apply, batch_norm_backward, batch_norm_running, batch_norm_statistics,
    concat_channels, plane_means, plane_means_backward, resize_bilinear, resize_bilinear_backward,
    split_channels,
};
pub(crate) use optim::{adam_step, lars_step, sgd_step, sum_squares};
pub(crate) use pool::{max_pool2d, max_pool2d_backward};
