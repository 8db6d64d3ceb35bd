//! Crop windows of every plane (FCN's crop layers), and their gradient.

use super::check::common_device;
use crate::geometry::check_crop;
use crate::{Device, Result, Tensor, TensorError, cpu, cuda};

/// Rows `offset[0] .. offset[0] + size[0]` and columns `offset[1] .. offset[1] + size[1]` of
/// every plane (FCN's crop layers).
pub fn crop(x: &Tensor, offset: [usize; 2], size: [usize; 2]) -> Result<Tensor> {
    let op = "crop";
    let device = common_device(op, &[x])?;
    let dims @ [n, c, h, w] = x.dims4(op, "input")?;
    check_crop(op, dims, offset, size)?;
    let shape = [n, c, size[0], size[1]];
    match device {
        Device::Cpu => {
            let y = cpu::elementwise::crop(x.data(), n * c, [h, w], offset, size);
            Tensor::from_vec(y, &shape)
        }
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::crop(x.cuda_storage(op)?, n * c, [h, w], offset, size)?,
            &shape,
        )),
    }
}

/// The gradient of [`crop`]: `grad_output` placed back at the offset in a zero tensor of
/// `input_shape`.
pub fn crop_backward(
    grad_output: &Tensor,
    input_shape: &[usize],
    offset: [usize; 2],
) -> Result<Tensor> {
    let op = "crop_backward";
    let device = common_device(op, &[grad_output])?;
    let [n, c, gh, gw] = grad_output.dims4(op, "grad_output")?;
    let dims = <[usize; 4]>::try_from(input_shape).map_err(|_| TensorError::Rank {
        op,
        operand: "input_shape",
        expected: 4,
        shape: input_shape.to_vec(),
    })?;
    // Errors of the window name the forward operation, as they always have.
    check_crop("crop", dims, offset, [gh, gw])?;
    if dims[..2] != [n, c] {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: "batch and channels must match the input".to_owned(),
            shapes: vec![grad_output.shape().to_vec(), input_shape.to_vec()],
        });
    }
    let input = [dims[2], dims[3]];
    match device {
        Device::Cpu => {
            let gx =
                cpu::elementwise::crop_backward(grad_output.data(), n * c, input, offset, [gh, gw]);
            Tensor::from_vec(gx, input_shape)
        }
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::crop_backward(
                grad_output.cuda_storage(op)?,
                n * c,
                input,
                offset,
                [gh, gw],
            )?,
            input_shape,
        )),
    }
}
