//! Element-wise operations: ReLU, add, multiply, scale, and dropout.

use super::check::{common_device, same_shape};
use crate::{Device, Result, Tensor, TensorError, cpu, cuda};

/// `max(x, 0)` element-wise.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    let op = "relu";
    match x.device() {
        Device::Cpu => Tensor::from_vec(cpu::elementwise::relu(x.data()), x.shape()),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::relu(x.cuda_storage(op)?)?,
            x.shape(),
        )),
    }
}

/// The gradient of [`relu`], from its output `y`: `grad_output` where `y > 0`, else 0.
pub fn relu_backward(grad_output: &Tensor, y: &Tensor) -> Result<Tensor> {
    let op = "relu_backward";
    let device = common_device(op, &[grad_output, y])?;
    same_shape(op, grad_output, y)?;
    match device {
        Device::Cpu => Tensor::from_vec(
            cpu::elementwise::relu_backward(grad_output.data(), y.data()),
            y.shape(),
        ),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::relu_backward(grad_output.cuda_storage(op)?, y.cuda_storage(op)?)?,
            y.shape(),
        )),
    }
}

/// `a + b`, same shapes.
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "add";
    let device = common_device(op, &[a, b])?;
    same_shape(op, a, b)?;
    match device {
        Device::Cpu => Tensor::from_vec(cpu::elementwise::add(a.data(), b.data()), a.shape()),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::add(a.cuda_storage(op)?, b.cuda_storage(op)?)?,
            a.shape(),
        )),
    }
}

/// `a * b` element-wise, same shapes.
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "mul";
    let device = common_device(op, &[a, b])?;
    same_shape(op, a, b)?;
    match device {
        Device::Cpu => Tensor::from_vec(cpu::elementwise::mul(a.data(), b.data()), a.shape()),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::mul(a.cuda_storage(op)?, b.cuda_storage(op)?)?,
            a.shape(),
        )),
    }
}

/// `factor * x` (its gradient is `factor * grad_output`).
pub fn scale(x: &Tensor, factor: f32) -> Result<Tensor> {
    let op = "scale";
    match x.device() {
        Device::Cpu => Tensor::from_vec(cpu::elementwise::scale(x.data(), factor), x.shape()),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::scale(x.cuda_storage(op)?, factor)?,
            x.shape(),
        )),
    }
}

/// Which values dropout removes together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropoutMode {
    /// Single values (Caffe's dropout, the FCN reference).
    Element,
    /// Whole (n, c) planes (PyTorch's `Dropout2d`, pytorch-fcn).
    Channel,
}

/// Training-time dropout with inverted scaling: returns the output and the mask (0 or
/// `1 / (1 - p)`); the backward pass is `grad_output * mask` ([`mul`]). The same seed gives the
/// same mask whatever the number of threads.
pub fn dropout(x: &Tensor, p: f32, mode: DropoutMode, seed: u64) -> Result<(Tensor, Tensor)> {
    let op = "dropout";
    let device = common_device(op, &[x])?;
    if !(0.0..1.0).contains(&p) {
        return Err(TensorError::InvalidParameter {
            op,
            reason: format!("probability {p} is outside [0, 1)"),
        });
    }
    let (groups, group_len) = match mode {
        DropoutMode::Element => (x.len(), 1),
        DropoutMode::Channel => {
            let [n, c, h, w] = x.dims4(op, "input")?;
            (n * c, h * w)
        }
    };
    let mask = match device {
        Device::Cpu => Tensor::from_vec(
            cpu::elementwise::dropout_mask(groups, group_len, p, seed),
            x.shape(),
        )?,
        Device::Cuda(_) => Tensor::from_cuda(
            cuda::dropout_mask(x.cuda_storage(op)?, group_len, p, 1.0 / (1.0 - p), seed)?,
            x.shape(),
        ),
    };
    Ok((mul(x, &mask)?, mask))
}
