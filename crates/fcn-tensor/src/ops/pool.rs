//! Max pooling with indices, and its gradient.

use super::check::{common_device, same_shape};
use crate::geometry::{Pool2d, PoolGeometry};
use crate::{Device, Result, Tensor, cpu, cuda};

/// The result of [`max_pool2d`]: the pooled tensor and where each maximum came from.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxPoolOutput {
    /// The pooled tensor (N, C, out_h, out_w).
    pub output: Tensor,
    /// For each output value, the flat index `h * W + w` of its input value within its plane
    /// (PyTorch's `return_indices`).
    pub indices: Vec<u32>,
    input_shape: [usize; 4],
    /// The pooling's parameters (the GPU backward pass finds the windows over each input).
    pool: Pool2d,
}

/// 2-D max pooling of an NCHW tensor, keeping the indices for the backward pass.
pub fn max_pool2d(x: &Tensor, p: &Pool2d) -> Result<MaxPoolOutput> {
    let op = "max_pool2d";
    let device = common_device(op, &[x])?;
    let dims @ [n, c, ..] = x.dims4(op, "input")?;
    let g = PoolGeometry::new(op, dims, p)?;
    let shape = [n, c, g.out_h, g.out_w];
    let (output, indices) = match device {
        Device::Cpu => {
            let (y, indices) = cpu::pool::max_pool2d(x.data(), &g, p);
            (Tensor::from_vec(y, &shape)?, indices)
        }
        Device::Cuda(_) => {
            let (y, indices) = cuda::max_pool2d(x.cuda_storage(op)?, &g, p)?;
            (Tensor::from_cuda(y, &shape), indices)
        }
    };
    Ok(MaxPoolOutput {
        output,
        indices,
        input_shape: dims,
        pool: *p,
    })
}

/// The gradient of [`max_pool2d`] with respect to its input.
pub fn max_pool2d_backward(grad_output: &Tensor, pooled: &MaxPoolOutput) -> Result<Tensor> {
    let op = "max_pool2d_backward";
    let device = common_device(op, &[grad_output, &pooled.output])?;
    same_shape(op, grad_output, &pooled.output)?;
    let [n, c, h, w] = pooled.input_shape;
    let [.., out_h, out_w] = pooled.output.dims4(op, "output")?;
    let g = PoolGeometry {
        planes: n * c,
        in_h: h,
        in_w: w,
        out_h,
        out_w,
    };
    match device {
        Device::Cpu => {
            let gx = cpu::pool::max_pool2d_backward(grad_output.data(), &pooled.indices, &g);
            Tensor::from_vec(gx, &pooled.input_shape)
        }
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::max_pool2d_backward(
                grad_output.cuda_storage(op)?,
                &pooled.indices,
                &g,
                &pooled.pool,
            )?,
            &pooled.input_shape,
        )),
    }
}
