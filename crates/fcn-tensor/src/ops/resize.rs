//! Bilinear resizing to any size, and concatenation along the channels with its inverse.

use super::check::common_device;
use crate::{Device, Result, Tensor, TensorError, cpu, cuda};

/// Bilinear resize of every plane of `x` (N, C, H, W) to `size` `[height, width]`: PyTorch's
/// `F.interpolate(x, size=size, mode="bilinear", align_corners=...)` value for value, with its
/// scale `in / out` (or `(in - 1) / (out - 1)` with aligned corners) computed in f32.
pub fn resize_bilinear(x: &Tensor, size: [usize; 2], align_corners: bool) -> Result<Tensor> {
    let op = "resize_bilinear";
    let device = common_device(op, &[x])?;
    let [n, c, h, w] = x.dims4(op, "input")?;
    check_sizes(op, [h, w], size)?;
    let shape = [n, c, size[0], size[1]];
    match device {
        Device::Cpu => Tensor::from_vec(
            cpu::resize::resize_bilinear(x.data(), n * c, [h, w], size, align_corners),
            &shape,
        ),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::resize_bilinear(x.cuda_storage(op)?, n * c, [h, w], size, align_corners)?,
            &shape,
        )),
    }
}

/// The gradient of [`resize_bilinear`] with respect to its input of `input_shape`.
pub fn resize_bilinear_backward(
    grad_output: &Tensor,
    input_shape: &[usize],
    align_corners: bool,
) -> Result<Tensor> {
    let op = "resize_bilinear_backward";
    let device = common_device(op, &[grad_output])?;
    let [n, c, out_h, out_w] = grad_output.dims4(op, "grad_output")?;
    let [in_n, in_c, h, w] =
        <[usize; 4]>::try_from(input_shape).map_err(|_| TensorError::Rank {
            op,
            operand: "input_shape",
            expected: 4,
            shape: input_shape.to_vec(),
        })?;
    if [in_n, in_c] != [n, c] {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: "batch and channels must match the input".to_owned(),
            shapes: vec![grad_output.shape().to_vec(), input_shape.to_vec()],
        });
    }
    check_sizes(op, [h, w], [out_h, out_w])?;
    match device {
        Device::Cpu => Tensor::from_vec(
            cpu::resize::resize_bilinear_backward(
                grad_output.data(),
                n * c,
                [h, w],
                [out_h, out_w],
                align_corners,
            ),
            input_shape,
        ),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::resize_bilinear_backward(
                grad_output.cuda_storage(op)?,
                n * c,
                [h, w],
                [out_h, out_w],
                align_corners,
            )?,
            input_shape,
        )),
    }
}

/// Input and output planes must both be non-empty (there is nothing to interpolate from or to).
fn check_sizes(op: &'static str, input: [usize; 2], output: [usize; 2]) -> Result<()> {
    if input.contains(&0) || output.contains(&0) {
        return Err(TensorError::InvalidParameter {
            op,
            reason: format!("cannot resize {input:?} to {output:?}: sizes must be positive"),
        });
    }
    Ok(())
}

/// The tensors (N, C_i, H, W) side by side along the channels: (N, sum C_i, H, W), as
/// `torch.cat(parts, dim=1)`.
pub fn concat_channels(parts: &[&Tensor]) -> Result<Tensor> {
    let op = "concat_channels";
    let Some(first) = parts.first() else {
        return Err(TensorError::InvalidParameter {
            op,
            reason: "nothing to concatenate".to_owned(),
        });
    };
    let device = common_device(op, parts)?;
    let [n, _, h, w] = first.dims4(op, "input")?;
    let mut channels = Vec::with_capacity(parts.len());
    for part in parts {
        let [pn, pc, ph, pw] = part.dims4(op, "input")?;
        if [pn, ph, pw] != [n, h, w] {
            return Err(TensorError::ShapeMismatch {
                op,
                reason: "batch, height and width must agree".to_owned(),
                shapes: parts.iter().map(|p| p.shape().to_vec()).collect(),
            });
        }
        channels.push(pc);
    }
    let total: usize = channels.iter().sum();
    let shape = [n, total, h, w];
    match device {
        Device::Cpu => {
            let mut y = vec![0.0f32; n * total * h * w];
            let mut to = 0;
            for (part, &pc) in parts.iter().zip(&channels) {
                cpu::resize::copy_channels(part.data(), pc, 0, &mut y, total, to, pc, h * w);
                to += pc;
            }
            Tensor::from_vec(y, &shape)
        }
        Device::Cuda(_) => {
            let storages = parts
                .iter()
                .map(|p| p.cuda_storage(op))
                .collect::<Result<Vec<_>>>()?;
            Ok(Tensor::from_cuda(
                cuda::concat_channels(&storages, &channels, n, h * w)?,
                &shape,
            ))
        }
    }
}

/// Splits `x` (N, C, H, W) along the channels into parts of `channels` (summing to C): the
/// gradient of [`concat_channels`], and `torch.split(x, channels, dim=1)`.
pub fn split_channels(x: &Tensor, channels: &[usize]) -> Result<Vec<Tensor>> {
    let op = "split_channels";
    let device = common_device(op, &[x])?;
    let [n, c, h, w] = x.dims4(op, "input")?;
    if channels.iter().sum::<usize>() != c {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: format!("parts of {channels:?} channels do not add up to {c}"),
            shapes: vec![x.shape().to_vec()],
        });
    }
    match device {
        Device::Cpu => {
            let mut from = 0;
            channels
                .iter()
                .map(|&pc| {
                    let mut y = vec![0.0f32; n * pc * h * w];
                    cpu::resize::copy_channels(x.data(), c, from, &mut y, pc, 0, pc, h * w);
                    from += pc;
                    Tensor::from_vec(y, &[n, pc, h, w])
                })
                .collect()
        }
        Device::Cuda(_) => {
            let parts = cuda::split_channels(x.cuda_storage(op)?, channels, n, h * w)?;
            Ok(parts
                .into_iter()
                .zip(channels)
                .map(|(s, &pc)| Tensor::from_cuda(s, &[n, pc, h, w]))
                .collect())
        }
    }
}
