//! Op geometry: the parameters of the shaped operations (convolution, transposed convolution,
//! pooling, loss reduction), their output sizes, and the checked sizes the kernels of both
//! devices run on. Pure arithmetic on shapes: no tensors, no devices.

use crate::{Result, TensorError};

/// Parameters of a 2-D max pooling: `[height, width]` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2d {
    /// Window size.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Implicit `-inf` padding on each side (at most half the window).
    pub padding: [usize; 2],
    /// Round the output size up (Caffe and FCN), not down (PyTorch's default).
    pub ceil_mode: bool,
}

impl Pool2d {
    /// The FCN pooling: 2x2 windows, stride 2, no padding, ceil mode.
    pub const FCN: Self = Self {
        kernel: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
        ceil_mode: true,
    };
}

/// Sizes of a pooling: input and output planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolGeometry {
    pub planes: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
}

/// Output length of a pooling along one axis, PyTorch's formula (`pooling_output_shape`):
/// `floor((in + 2p - k + (ceil ? s - 1 : 0)) / s) + 1`, less one in ceil mode when the last
/// window would start past the input and its left padding. `None` when that is not positive.
pub fn pool_output_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    ceil_mode: bool,
) -> Option<usize> {
    if kernel == 0 || stride == 0 {
        return None;
    }
    let [input, kernel, stride, padding] =
        [input, kernel, stride, padding].map(|v| i64::try_from(v).ok());
    let (input, kernel, stride, padding) = (input?, kernel?, stride?, padding?);
    let round_up = if ceil_mode { stride - 1 } else { 0 };
    let span = input
        .checked_add(padding.checked_mul(2)?)?
        .checked_sub(kernel)?;
    let mut out = span.checked_add(round_up)?.div_euclid(stride) + 1;
    if ceil_mode && (out - 1) * stride >= input + padding {
        out -= 1;
    }
    usize::try_from(out).ok().filter(|&o| o > 0)
}

impl PoolGeometry {
    /// The geometry of `max_pool2d` over an input of `dims` (N, C, H, W), after checking `p`.
    pub(crate) fn new(op: &'static str, dims: [usize; 4], p: &Pool2d) -> Result<Self> {
        let [n, c, h, w] = dims;
        let invalid = |reason: String| TensorError::InvalidParameter { op, reason };
        if p.kernel.contains(&0) || p.stride.contains(&0) {
            return Err(invalid(format!(
                "kernel {:?} and stride {:?} must be positive",
                p.kernel, p.stride
            )));
        }
        if p.padding[0] * 2 > p.kernel[0] || p.padding[1] * 2 > p.kernel[1] {
            return Err(invalid(format!(
                "padding {:?} exceeds half the kernel {:?}",
                p.padding, p.kernel
            )));
        }
        let out = |axis: usize, size: usize| {
            pool_output_size(
                size,
                p.kernel[axis],
                p.stride[axis],
                p.padding[axis],
                p.ceil_mode,
            )
            .ok_or_else(|| TensorError::ShapeMismatch {
                op,
                reason: format!("kernel {:?} does not fit the padded input", p.kernel),
                shapes: vec![dims.to_vec()],
            })
        };
        Ok(Self {
            planes: n * c,
            in_h: h,
            in_w: w,
            out_h: out(0, h)?,
            out_w: out(1, w)?,
        })
    }
}

/// Parameters of a 2-D convolution: `[height, width]` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2d {
    /// Step between output positions.
    pub stride: [usize; 2],
    /// Zero padding on each side.
    pub padding: [usize; 2],
    /// Spacing between kernel taps.
    pub dilation: [usize; 2],
    /// Channel groups: input and output channels are split into this many independent parts.
    pub groups: usize,
}

impl Default for Conv2d {
    fn default() -> Self {
        Self {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl Conv2d {
    /// Stride 1 with `padding` on every side (VGG's 3x3 layers use 1, FCN's first layer 100).
    pub fn padded(padding: usize) -> Self {
        Self {
            padding: [padding, padding],
            ..Self::default()
        }
    }
}

/// Output length of a convolution along one axis: `(in + 2p - d (k - 1) - 1) / s + 1`, or
/// `None` when the dilated kernel does not fit the padded input.
pub fn conv_output_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Option<usize> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let span = dilation.checked_mul(kernel - 1)?.checked_add(1)?;
    let padded = input.checked_add(padding.checked_mul(2)?)?;
    padded.checked_sub(span).map(|room| room / stride + 1)
}

/// Parameters of a 2-D transposed convolution ("deconvolution"): `[height, width]` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2d {
    /// Upsampling factor.
    pub stride: [usize; 2],
    /// Rows and columns removed from each side of the full output.
    pub padding: [usize; 2],
    /// Extra rows and columns at the bottom and right (less than the stride).
    pub output_padding: [usize; 2],
    /// Spacing between kernel taps.
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
}

impl ConvTranspose2d {
    /// FCN's upsampling layers: stride `s`, no padding (kernel `2 s`, cropped afterwards).
    pub fn upsample(stride: usize) -> Self {
        Self {
            stride: [stride, stride],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

/// Output length of a transposed convolution along one axis:
/// `(in - 1) s - 2 p + d (k - 1) + output_padding + 1`, or `None` if that is not positive.
pub fn conv_transpose_output_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    dilation: usize,
) -> Option<usize> {
    if input == 0 || kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    (input - 1)
        .checked_mul(stride)?
        .checked_add(dilation.checked_mul(kernel - 1)?)?
        .checked_add(output_padding)?
        .checked_add(1)?
        .checked_sub(padding.checked_mul(2)?)
        .filter(|&v| v > 0)
}

/// The sizes of a convolution from `x` (N, in_c, in_h, in_w) to `y` (N, out_c, out_h, out_w)
/// with weights (out_c, in_c / groups, kh, kw). A transposed convolution runs on the geometry of
/// its adjoint convolution (from its output back to its input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeometry {
    pub n: usize,
    pub groups: usize,
    pub in_c: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

fn check_positive(op: &'static str, what: &str, v: [usize; 2]) -> Result<()> {
    if v.contains(&0) {
        return Err(TensorError::InvalidParameter {
            op,
            reason: format!("{what} {v:?} must be positive"),
        });
    }
    Ok(())
}

impl ConvGeometry {
    /// The geometry of `conv2d(x, w)` with `x` of `x_dims` and `w` of `w_dims`, after checking
    /// every shape and parameter.
    pub(crate) fn conv2d(
        op: &'static str,
        x_dims: [usize; 4],
        w_dims: [usize; 4],
        p: &Conv2d,
    ) -> Result<Self> {
        let [n, in_c, in_h, in_w] = x_dims;
        let [out_c, w_in, kh, kw] = w_dims;
        check_positive(op, "stride", p.stride)?;
        check_positive(op, "dilation", p.dilation)?;
        check_positive(op, "kernel", [kh, kw])?;
        if p.groups == 0 || in_c % p.groups != 0 || out_c % p.groups != 0 || w_in * p.groups != in_c
        {
            return Err(TensorError::ShapeMismatch {
                op,
                reason: format!(
                    "with {} groups, input channels ({in_c}) and output channels ({out_c}) must divide evenly and the weight must have {} input channels",
                    p.groups,
                    in_c / p.groups.max(1)
                ),
                shapes: vec![x_dims.to_vec(), w_dims.to_vec()],
            });
        }
        let size = |axis: usize, input: usize, kernel: usize| {
            conv_output_size(
                input,
                kernel,
                p.stride[axis],
                p.padding[axis],
                p.dilation[axis],
            )
            .ok_or_else(|| TensorError::ShapeMismatch {
                op,
                reason: format!(
                    "the kernel {kh}x{kw} (dilation {:?}) does not fit the padded input",
                    p.dilation
                ),
                shapes: vec![x_dims.to_vec(), w_dims.to_vec()],
            })
        };
        Ok(Self {
            n,
            groups: p.groups,
            in_c,
            in_h,
            in_w,
            out_c,
            out_h: size(0, in_h, kh)?,
            out_w: size(1, in_w, kw)?,
            kernel: [kh, kw],
            stride: p.stride,
            padding: p.padding,
            dilation: p.dilation,
        })
    }

    /// The geometry of the convolution that `conv_transpose2d(x, w)` is the adjoint of: from
    /// the transposed convolution's output back to its input.
    pub(crate) fn conv_transpose2d(
        op: &'static str,
        x_dims: [usize; 4],
        w_dims: [usize; 4],
        p: &ConvTranspose2d,
    ) -> Result<Self> {
        let [n, in_c, in_h, in_w] = x_dims;
        let [w_in, w_out, kh, kw] = w_dims;
        check_positive(op, "stride", p.stride)?;
        check_positive(op, "dilation", p.dilation)?;
        check_positive(op, "kernel", [kh, kw])?;
        if p.groups == 0 || w_in != in_c || in_c % p.groups != 0 {
            return Err(TensorError::ShapeMismatch {
                op,
                reason: format!(
                    "the weight must be (C_in = {in_c}, C_out / groups, kh, kw) and C_in divisible by {} groups",
                    p.groups
                ),
                shapes: vec![x_dims.to_vec(), w_dims.to_vec()],
            });
        }
        if p.output_padding[0] >= p.stride[0] || p.output_padding[1] >= p.stride[1] {
            return Err(TensorError::InvalidParameter {
                op,
                reason: format!(
                    "output_padding {:?} must be smaller than the stride {:?}",
                    p.output_padding, p.stride
                ),
            });
        }
        let size = |axis: usize, input: usize, kernel: usize| {
            conv_transpose_output_size(
                input,
                kernel,
                p.stride[axis],
                p.padding[axis],
                p.output_padding[axis],
                p.dilation[axis],
            )
            .ok_or_else(|| TensorError::ShapeMismatch {
                op,
                reason: format!("padding {:?} removes the whole output", p.padding),
                shapes: vec![x_dims.to_vec(), w_dims.to_vec()],
            })
        };
        Ok(Self {
            n,
            groups: p.groups,
            in_c: w_out * p.groups,
            in_h: size(0, in_h, kh)?,
            in_w: size(1, in_w, kw)?,
            out_c: in_c,
            out_h: in_h,
            out_w: in_w,
            kernel: [kh, kw],
            stride: p.stride,
            padding: p.padding,
            dilation: p.dilation,
        })
    }

    /// The input's shape (N, in_c, in_h, in_w).
    pub(crate) fn input_shape(&self) -> [usize; 4] {
        [self.n, self.in_c, self.in_h, self.in_w]
    }

    /// The output's shape (N, out_c, out_h, out_w).
    pub(crate) fn output_shape(&self) -> [usize; 4] {
        [self.n, self.out_c, self.out_h, self.out_w]
    }
}

/// Checks that a `size` window at `offset` fits the planes of an input of `x_dims` (NCHW).
pub(crate) fn check_crop(
    op: &'static str,
    x_dims: [usize; 4],
    offset: [usize; 2],
    size: [usize; 2],
) -> Result<()> {
    let [_, _, h, w] = x_dims;
    let fits = |axis: usize, limit: usize| {
        offset[axis]
            .checked_add(size[axis])
            .is_some_and(|end| end <= limit)
    };
    if !fits(0, h) || !fits(1, w) {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: format!("a {size:?} window at offset {offset:?} does not fit a {h}x{w} input"),
            shapes: vec![x_dims.to_vec()],
        });
    }
    Ok(())
}

/// How the pixel losses of `softmax_cross_entropy` are
/// combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// Sum over non-ignored pixels divided by the batch size: the FCN reference ("unnormalised",
    /// paired with learning rates around 1e-10).
    SumOverBatch,
    /// Mean over non-ignored pixels (weighted mean with class weights), PyTorch's `mean`. With
    /// every pixel ignored the loss is 0, not PyTorch's NaN.
    Mean,
}

impl Reduction {
    /// The factor applied to the summed pixel losses (and their gradients): `1 / N` for
    /// [`SumOverBatch`](Self::SumOverBatch), `1 / (sum of the class weights of non-ignored
    /// pixels)` for [`Mean`](Self::Mean), 0 when every pixel is ignored (PyTorch gives NaN).
    pub(crate) fn scale(
        self,
        batch: usize,
        target: &[i64],
        ignore: i64,
        weight: Option<&[f32]>,
    ) -> f64 {
        match self {
            Self::SumOverBatch => 1.0 / batch as f64,
            Self::Mean => {
                let total: f64 = target
                    .iter()
                    .filter(|&&t| t != ignore)
                    .map(|&t| f64::from(weight.map_or(1.0, |w| w[t as usize])))
                    .sum();
                if total > 0.0 { 1.0 / total } else { 0.0 }
            }
        }
    }
}
