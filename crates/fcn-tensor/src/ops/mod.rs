//! The operations, each with its backward pass. Shapes, parameters and devices are checked
//! here; the kernels in `cpu` and `cuda` assume valid input. Each operation validates its
//! operands, then dispatches on their [`Device`](crate::Device); composite operations
//! (transposed convolution, dropout, the optimizer steps) are composed here once from device
//! primitives, for both devices.
//!
//! Operands must share a device ([`TensorError::DeviceMismatch`](crate::TensorError::DeviceMismatch)
//! otherwise). With the `cuda` feature every operation runs on a GPU too; without it no GPU
//! tensor can be made ([`TensorError::DeviceUnavailable`](crate::TensorError::DeviceUnavailable)).

mod check;
mod conv;
mod crop;
mod elementwise;
mod loss;
mod matmul;
mod norm;
mod optim;
mod pool;
mod resize;

pub use crate::geometry::{
    Conv2d, ConvTranspose2d, Pool2d, Reduction, conv_output_size, conv_transpose_output_size,
    pool_output_size,
};
pub use conv::{
    ConvAlgo, ConvGrads, conv_algo, conv_transpose2d, conv_transpose2d_backward, conv2d,
    conv2d_backward, conv2d_backward_input, conv2d_backward_parameters, conv2d_backward_with_algo,
    conv2d_relu, conv2d_with_algo, set_conv_algo, winograd_convolutions, with_conv_algo,
};
pub use crop::{crop, crop_backward};
pub use elementwise::{DropoutMode, add, dropout, mul, relu, relu_backward, scale};
pub use loss::{CrossEntropy, argmax_channels, softmax_cross_entropy};
pub use matmul::{matmul, matmul_backward};
pub use norm::{
    BatchNorm, BatchNormGrads, BatchNormOutput, Statistics, batch_norm2d, batch_norm2d_backward,
    batch_norm2d_relu, global_avg_pool2d, global_avg_pool2d_backward,
};
pub use optim::{AdamStep, MomentumStep, adam_step, lars_step, sgd_step, sum_squares};
pub use pool::{MaxPoolOutput, max_pool2d, max_pool2d_backward};
pub use resize::{concat_channels, resize_bilinear, resize_bilinear_backward, split_channels};
