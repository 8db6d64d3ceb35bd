//! Convolution and transposed convolution with their backward passes, composed once for both
//! devices from four device primitives: the forward convolution (im2col + GEMM), its adjoint
//! (GEMM + col2im, which is also the transposed convolution's forward pass), the weight
//! gradient, and the bias gradient. On the CPU, 3x3 stride-1 convolutions can run by Winograd
//! instead ([`ConvAlgo`]).

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::check::common_device;
use crate::cpu::winograd::{self, Tile};
use crate::geometry::{Conv2d, ConvGeometry, ConvTranspose2d};
use crate::{Device, Result, Tensor, TensorError, cpu, cuda};

/// How the CPU computes the forward pass and the input gradient of a 3x3, stride-1,
/// dilation-1, ungrouped convolution. Other convolutions, transposed convolutions, weight
/// gradients and GPU tensors always take the GEMM path.
///
/// Accuracy against an f64 direct convolution (`tests/winograd.rs`: random shapes up to 40
/// channels and VGG-like ones up to 512, inputs and weights scaled from 1e-3 to 1e3, centred
/// or all positive): the largest error relative to the largest output is about 1e-6 for GEMM
/// and F(2x2) (tested bound 1e-5), up to 2e-5 for F(4x4) at 512 channels (tested bound 1e-4:
/// its transforms' coefficients, up to 8 and 1/24, amplify rounding).
///
/// The Winograd paths transform the weights on every call and keep per-thread buffers between
/// calls (the transformed weights, 4x the weights with F(4x4), and one block of transformed
/// tiles per worker thread, about 10 MB at 512 channels). Results do not depend on the number
/// of threads.
///
/// Named `gemm`, `winograd2`, `winograd4` and `auto` in configuration files (serde) and on
/// the command line (`clap::ValueEnum`, with the `clap` feature).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ConvAlgo {
    /// im2col + GEMM: the default, and the reference the others are tested against.
    #[default]
    Gemm,
    /// Winograd F(2x2, 3x3): 2.25x fewer multiplications, about GEMM's accuracy.
    Winograd2,
    /// Winograd F(4x4, 3x3): 4x fewer multiplications, a few times GEMM's rounding error.
    Winograd4,
    /// Chosen per layer shape from a fixed table measured on a Zen 4 ([`ConvAlgo::choice`]).
    Auto,
}

/// The process-wide [`ConvAlgo`], as its index in [`ConvAlgo::ALL`].
static CONV_ALGO: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// This thread's override of [`CONV_ALGO`], set by [`with_conv_algo`].
    static THREAD_CONV_ALGO: Cell<Option<ConvAlgo>> = const { Cell::new(None) };
}

/// Convolutions (forward passes and input gradients) computed by Winograd in this process.
static WINOGRAD_CONVOLUTIONS: AtomicU64 = AtomicU64::new(0);

/// Sets the algorithm of [`conv2d`], [`conv2d_relu`] and [`conv2d_backward`] for the whole
/// process ([`ConvAlgo::Gemm`] until set). Results then differ from the GEMM path's by
/// rounding; [`conv2d_with_algo`] chooses per call instead, [`with_conv_algo`] per thread.
pub fn set_conv_algo(algo: ConvAlgo) {
    let index = ConvAlgo::ALL.iter().position(|&a| a == algo).unwrap_or(0);
    CONV_ALGO.store(index as u8, Ordering::Relaxed);
}

/// The algorithm in effect on this thread: the one of an enclosing [`with_conv_algo`], else
/// the process-wide one set by [`set_conv_algo`].
pub fn conv_algo() -> ConvAlgo {
    THREAD_CONV_ALGO.get().unwrap_or_else(|| {
        ConvAlgo::ALL[usize::from(CONV_ALGO.load(Ordering::Relaxed)) % ConvAlgo::ALL.len()]
    })
}

/// Runs `f` with `algo` as this thread's [`conv_algo`], then restores the previous one (also
/// when `f` panics). Unlike [`set_conv_algo`] it leaves other threads alone, so tests running
/// in parallel can compare algorithms; convolutions that `f` starts on other threads (its own
/// `std::thread`s; rayon's workers inside one convolution do not matter) use the process-wide
/// algorithm.
pub fn with_conv_algo<R>(algo: ConvAlgo, f: impl FnOnce() -> R) -> R {
    /// Puts the previous override back when dropped.
    struct Restore(Option<ConvAlgo>);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_CONV_ALGO.set(self.0);
        }
    }
    let _restore = Restore(THREAD_CONV_ALGO.replace(Some(algo)));
    f()
}

/// How many convolutions (forward passes and input gradients) this process has computed by
/// Winograd so far: a check, for tests and benchmarks, that an algorithm took effect.
pub fn winograd_convolutions() -> u64 {
    WINOGRAD_CONVOLUTIONS.load(Ordering::Relaxed)
}

impl ConvAlgo {
    /// Every algorithm, in the order of [`ConvAlgo::NAMES`].
    pub const ALL: [ConvAlgo; 4] = [
        ConvAlgo::Gemm,
        ConvAlgo::Winograd2,
        ConvAlgo::Winograd4,
        ConvAlgo::Auto,
    ];
    /// The names of the algorithms, as in configuration files and on the command line.
    pub const NAMES: &'static [&'static str] = &["gemm", "winograd2", "winograd4", "auto"];

    /// The name: `gemm`, `winograd2`, `winograd4` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gemm => "gemm",
            Self::Winograd2 => "winograd2",
            Self::Winograd4 => "winograd4",
            Self::Auto => "auto",
        }
    }

    /// The algorithm [`ConvAlgo::Auto`] picks for a 3x3 stride-1 convolution from
    /// `in_channels` to `out_channels` on a `height x width` input: a fixed table, measured on a
    /// Zen 4 (AMD EPYC, AVX-512), one thread, forward and backward-data alike. F(4x4) was the
    /// fastest from 32 channels on planes from 32x32 (measured 1.2x at 32 channels on 82x82,
    /// 1.3x at 64 on 41x41, 2x at 256 and 512 channels); the GEMM path with 8 or 16 channels
    /// (the transforms cost more than the multiplications they save) and on small planes
    /// (64 channels on 21x21: a tie, F(4x4) computes 24x24).
    pub fn choice(in_channels: usize, out_channels: usize, height: usize, width: usize) -> Self {
        if in_channels.min(out_channels) >= 32 && height.min(width) >= 32 {
            Self::Winograd4
        } else {
            Self::Gemm
        }
    }

    /// The Winograd tile this algorithm uses for the forward pass of `g`, if any.
    fn forward_tile(self, g: &ConvGeometry) -> Option<Tile> {
        if !winograd::applies(g) {
            return None;
        }
        match self {
            Self::Gemm => None,
            Self::Winograd2 => Some(Tile::F2),
            Self::Winograd4 => Some(Tile::F4),
            Self::Auto => Self::choice(g.in_c, g.out_c, g.in_h, g.in_w).forward_tile(g),
        }
    }

    /// The Winograd tile this algorithm uses for the input gradient of `g`, if any.
    fn backward_data_tile(self, g: &ConvGeometry) -> Option<Tile> {
        if !winograd::applies_to_backward_data(g) {
            return None;
        }
        // The input gradient is a convolution from out_c to in_c channels.
        match self {
            Self::Auto => Self::choice(g.out_c, g.in_c, g.out_h, g.out_w).backward_data_tile(g),
            algo => algo.forward_tile(g),
        }
    }
}

impl fmt::Display for ConvAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
    conv2d_with("conv2d", x, w, bias, p, false, conv_algo())
}

/// [`conv2d`] followed by a ReLU, in one pass on the CPU (the bias and the ReLU are applied to
/// each tile while it is in cache). A NaN stays NaN, as in PyTorch's ReLU.
pub fn conv2d_relu(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: &Conv2d) -> Result<Tensor> {
    conv2d_with("conv2d_relu", x, w, bias, p, true, conv_algo())
}

/// [`conv2d`] (or [`conv2d_relu`] with `with_relu`) by `algo` rather than the process-wide
/// [`conv_algo`].
pub fn conv2d_with_algo(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2d,
    with_relu: bool,
    algo: ConvAlgo,
) -> Result<Tensor> {
    conv2d_with("conv2d_with_algo", x, w, bias, p, with_relu, algo)
}

fn conv2d_with(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2d,
    with_relu: bool,
    algo: ConvAlgo,
) -> Result<Tensor> {
    common_device(op, &[&[x, w][..], bias.as_slice()].concat())?;
    let g = conv2d_geometry(op, x, w, p)?;
    check_bias(op, bias, g.out_c)?;
    forward(op, x, w, bias, &g, with_relu, algo)
}

/// Gradients of [`conv2d`] with respect to the input, the weight and (with `with_bias`) the bias.
pub fn conv2d_backward(
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    p: &Conv2d,
    with_bias: bool,
) -> Result<ConvGrads> {
    conv2d_backward_with(
        "conv2d_backward",
        x,
        w,
        grad_output,
        p,
        with_bias,
        conv_algo(),
    )
}

/// [`conv2d_backward`] with the input gradient computed by `algo` rather than the process-wide
/// [`conv_algo`] (the weight and bias gradients always take the GEMM path).
pub fn conv2d_backward_with_algo(
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    p: &Conv2d,
    with_bias: bool,
    algo: ConvAlgo,
) -> Result<ConvGrads> {
    let op = "conv2d_backward_with_algo";
    conv2d_backward_with(op, x, w, grad_output, p, with_bias, algo)
}

/// The input gradient of [`conv2d`] alone, for an input of `input_shape` (N, C_in, H, W), by
/// `algo` (the one pass whose cost the algorithm changes, for benchmarks and layers whose
/// weights are frozen).
pub fn conv2d_backward_input(
    w: &Tensor,
    grad_output: &Tensor,
    input_shape: [usize; 4],
    p: &Conv2d,
    algo: ConvAlgo,
) -> Result<Tensor> {
    let op = "conv2d_backward_input";
    common_device(op, &[w, grad_output])?;
    let g = ConvGeometry::conv2d(op, input_shape, w.dims4(op, "weight")?, p)?;
    check_grad_output(op, grad_output, g.output_shape())?;
    backward_data(op, grad_output, w, None, &g, algo)
}

fn conv2d_backward_with(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    p: &Conv2d,
    with_bias: bool,
    algo: ConvAlgo,
) -> Result<ConvGrads> {
    common_device(op, &[x, w, grad_output])?;
    let g = conv2d_geometry(op, x, w, p)?;
    check_grad_output(op, grad_output, g.output_shape())?;
    let (weight, bias) = conv2d_parameter_grads(op, x, w, grad_output, &g, with_bias)?;
    Ok(ConvGrads {
        input: backward_data(op, grad_output, w, None, &g, algo)?,
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
    backward_data(op, x, w, bias, &g, ConvAlgo::Gemm)
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
        input: forward(op, grad_output, w, None, &g, false, ConvAlgo::Gemm)?,
        weight: backward_weight(op, grad_output, x, &g, w.shape())?,
        bias: with_bias
            .then(|| bias_gradient(op, grad_output, [g.n, g.in_c, g.in_h * g.in_w]))
            .transpose()?,
    })
}

// The device primitives, on operands checked by the callers above (one device, shapes of `g`).

/// `conv(x, w) + bias` of `g`, with the ReLU applied per tile on the CPU when `with_relu`; by
/// `algo` on the CPU.
fn forward(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &ConvGeometry,
    with_relu: bool,
    algo: ConvAlgo,
) -> Result<Tensor> {
    let shape = g.output_shape();
    match x.device() {
        Device::Cpu => {
            let bias = bias.map(Tensor::data);
            let y = match algo.forward_tile(g) {
                Some(tile) => {
                    WINOGRAD_CONVOLUTIONS.fetch_add(1, Ordering::Relaxed);
                    winograd::forward(x.data(), w.data(), bias, g, with_relu, tile)
                }
                None => cpu::conv::conv_forward(x.data(), w.data(), bias, g, with_relu),
            };
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
/// channel: a convolution's input gradient, or a transposed convolution; by `algo` on the CPU.
fn backward_data(
    op: &'static str,
    gy: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &ConvGeometry,
    algo: ConvAlgo,
) -> Result<Tensor> {
    let shape = g.input_shape();
    match gy.device() {
        Device::Cpu => {
            let mut y = match algo.backward_data_tile(g) {
                Some(tile) => {
                    WINOGRAD_CONVOLUTIONS.fetch_add(1, Ordering::Relaxed);
                    winograd::backward_data(gy.data(), w.data(), g, tile)
                }
                None => cpu::conv::conv_backward_data(gy.data(), w.data(), g),
            };
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
