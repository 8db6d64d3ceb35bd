//! Convolution and transposed convolution with their backward passes, composed once for both
//! devices from four device primitives: the forward convolution (im2col + GEMM), its adjoint
//! (GEMM + col2im, which is also the transposed convolution's forward pass), the weight
//! gradient, and the bias gradient.

use super::check::common_device;
use crate::geometry::{Conv2d, ConvGeometry, ConvTranspose2d};
use crate::{Device, Result, Tensor, TensorError, cpu, cuda};

/// Gradients of a convolution or transposed convolution.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGrads {
    /// d loss / d input.
    pub input: Tensor,
    /// d loss / d weight, shaped like the weight.
    pub weight: Tensor,
    /// d loss / d bias, when the layer has one.
    pub bias: Option<Tensor>,
}

fn check_bias(op: &'static str, bias: Option<&Tensor>, channels: usize) -> Result<()> {
    match bias {
        Some(b) if b.shape() != [channels] => Err(TensorError::ShapeMismatch {
            op,
            reason: format!("bias must have shape [{channels}]"),
            shapes: vec![b.shape().to_vec()],
        }),
        _ => Ok(()),
    }
}

fn check_grad_output(op: &'static str, grad_output: &Tensor, expected: [usize; 4]) -> Result<()> {
    if grad_output.shape() != expected {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: format!("grad_output must have the output's shape {expected:?}"),
            shapes: vec![grad_output.shape().to_vec()],
        });
    }
    Ok(())
}

fn conv2d_geometry(op: &'static str, x: &Tensor, w: &Tensor, p: &Conv2d) -> Result<ConvGeometry> {
    ConvGeometry::conv2d(op, x.dims4(op, "input")?, w.dims4(op, "weight")?, p)
}

fn conv_transpose2d_geometry(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    p: &ConvTranspose2d,
) -> Result<ConvGeometry> {
    ConvGeometry::conv_transpose2d(op, x.dims4(op, "input")?, w.dims4(op, "weight")?, p)
}

/// 2-D convolution of `x` (N, C_in, H, W) with `w` (C_out, C_in / groups, kh, kw) plus an
/// optional bias (C_out).
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: &Conv2d) -> Result<Tensor> {
    conv2d_with("conv2d", x, w, bias, p, false)
}

/// [`conv2d`] followed by a ReLU, in one pass on the CPU (the bias and the ReLU are applied to
/// each tile while it is in cache). A NaN stays NaN, as in PyTorch's ReLU.
pub fn conv2d_relu(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: &Conv2d) -> Result<Tensor> {
    conv2d_with("conv2d_relu", x, w, bias, p, true)
}

fn conv2d_with(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2d,
    with_relu: bool,
) -> Result<Tensor> {
    common_device(op, &[&[x, w][..], bias.as_slice()].concat())?;
    let g = conv2d_geometry(op, x, w, p)?;
    check_bias(op, bias, g.out_c)?;
    forward(op, x, w, bias, &g, with_relu)
}

/// Gradients of [`conv2d`] with respect to the input, the weight and (with `with_bias`) the bias.
pub fn conv2d_backward(
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    p: &Conv2d,
    with_bias: bool,
) -> Result<ConvGrads> {
    let op = "conv2d_backward";
    common_device(op, &[x, w, grad_output])?;
    let g = conv2d_geometry(op, x, w, p)?;
    check_grad_output(op, grad_output, g.output_shape())?;
    let (weight, bias) = conv2d_parameter_grads(op, x, w, grad_output, &g, with_bias)?;
    Ok(ConvGrads {
        input: backward_data(op, grad_output, w, None, &g)?,
        weight,
        bias,
    })
}

/// The weight and (with `with_bias`) bias gradients of [`conv2d`], without the input gradient:
/// for a first layer, whose input needs none (FCN's conv1_1, with its 100-pixel padding, would
/// spend as long on it as on the rest of its backward pass).
pub fn conv2d_backward_parameters(
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    p: &Conv2d,
    with_bias: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let op = "conv2d_backward_parameters";
    common_device(op, &[x, w, grad_output])?;
    let g = conv2d_geometry(op, x, w, p)?;
    check_grad_output(op, grad_output, g.output_shape())?;
    conv2d_parameter_grads(op, x, w, grad_output, &g, with_bias)
}

fn conv2d_parameter_grads(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    g: &ConvGeometry,
    with_bias: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let weight = backward_weight(op, x, grad_output, g, w.shape())?;
    let bias = with_bias
        .then(|| bias_gradient(op, grad_output, [g.n, g.out_c, g.out_h * g.out_w]))
        .transpose()?;
    Ok((weight, bias))
}

/// 2-D transposed convolution of `x` (N, C_in, H, W) with `w` (C_in, C_out / groups, kh, kw)
/// (PyTorch's layout) plus an optional bias (C_out): GEMM, then col2im (the adjoint of the
/// convolution from the output back to `x`).
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvTranspose2d,
) -> Result<Tensor> {
    let op = "conv_transpose2d";
    common_device(op, &[&[x, w][..], bias.as_slice()].concat())?;
    let g = conv_transpose2d_geometry(op, x, w, p)?;
    check_bias(op, bias, g.in_c)?;
    backward_data(op, x, w, bias, &g)
}

/// Gradients of [`conv_transpose2d`] with respect to the input, the weight and the bias: the
/// adjoint convolution's forward pass, its weight gradient with the roles of input and output
/// gradient exchanged, and the bias gradient.
pub fn conv_transpose2d_backward(
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    p: &ConvTranspose2d,
    with_bias: bool,
) -> Result<ConvGrads> {
    let op = "conv_transpose2d_backward";
    common_device(op, &[x, w, grad_output])?;
    let g = conv_transpose2d_geometry(op, x, w, p)?;
    check_grad_output(op, grad_output, g.input_shape())?;
    Ok(ConvGrads {
        input: forward(op, grad_output, w, None, &g, false)?,
        weight: backward_weight(op, grad_output, x, &g, w.shape())?,
        bias: with_bias
            .then(|| bias_gradient(op, grad_output, [g.n, g.in_c, g.in_h * g.in_w]))
            .transpose()?,
    })
}

// The device primitives, on operands checked by the callers above (one device, shapes of `g`).

/// `conv(x, w) + bias` of `g`, with the ReLU applied per tile on the CPU when `with_relu`.
fn forward(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &ConvGeometry,
    with_relu: bool,
) -> Result<Tensor> {
    let shape = g.output_shape();
    match x.device() {
        Device::Cpu => {
            let y =
                cpu::conv::conv_forward(x.data(), w.data(), bias.map(Tensor::data), g, with_relu);
            Tensor::from_vec(y, &shape)
        }
        Device::Cuda(_) => {
            let sb = bias.map(|b| b.cuda_storage(op)).transpose()?;
            let y = cuda::conv_forward(op, x.cuda_storage(op)?, w.cuda_storage(op)?, sb, g)?;
            let y = if with_relu { cuda::relu(&y)? } else { y };
            Ok(Tensor::from_cuda(y, &shape))
        }
    }
}

/// The adjoint of [`forward`] applied to `gy` (shaped like its output), plus a bias per input
/// channel: a convolution's input gradient, or a transposed convolution.
fn backward_data(
    op: &'static str,
    gy: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &ConvGeometry,
) -> Result<Tensor> {
    let shape = g.input_shape();
    match gy.device() {
        Device::Cpu => {
            let mut y = cpu::conv::conv_backward_data(gy.data(), w.data(), g);
            if let Some(b) = bias {
                cpu::conv::add_bias(&mut y, b.data(), g.in_c, g.in_h * g.in_w);
            }
            Tensor::from_vec(y, &shape)
        }
        Device::Cuda(_) => {
            let sb = bias.map(|b| b.cuda_storage(op)).transpose()?;
            let y = cuda::conv_backward_data(op, gy.cuda_storage(op)?, w.cuda_storage(op)?, sb, g)?;
            Ok(Tensor::from_cuda(y, &shape))
        }
    }
}

/// The weight gradient of the convolution of `g` from its input `x` and output gradient `gy`,
/// as a tensor of `w_shape`.
fn backward_weight(
    op: &'static str,
    x: &Tensor,
    gy: &Tensor,
    g: &ConvGeometry,
    w_shape: &[usize],
) -> Result<Tensor> {
    match x.device() {
        Device::Cpu => Tensor::from_vec(
            cpu::conv::conv_backward_weight(x.data(), gy.data(), g),
            w_shape,
        ),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::conv_backward_weight(op, x.cuda_storage(op)?, gy.cuda_storage(op)?, g)?,
            w_shape,
        )),
    }
}

/// Per channel, the sum of `gy` (n, channels, plane) in f64.
fn bias_gradient(
    op: &'static str,
    gy: &Tensor,
    dims @ [n, channels, plane]: [usize; 3],
) -> Result<Tensor> {
    match gy.device() {
        Device::Cpu => Tensor::from_vec(
            cpu::conv::bias_backward(gy.data(), n, channels, plane),
            &[channels],
        ),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::bias_backward(op, gy.cuda_storage(op)?, dims)?,
            &[channels],
        )),
    }
}
