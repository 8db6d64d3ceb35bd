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
//! Policy: functions that take user data return [`TensorError`], which carries the shapes and
//! parameters at fault; nothing a caller passes makes them panic.
#![deny(missing_docs)]

mod cpu;
mod device;
mod error;
pub mod ops;
mod tensor;

pub use device::Device;
pub use error::{Result, TensorError};
pub use tensor::Tensor;
