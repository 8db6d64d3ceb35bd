//! The operations, each with its backward pass. Shapes, parameters and devices are checked
//! here; the kernels in `cpu` (and `cuda`) assume valid input.
//!
//! Operands must share a device ([`TensorError::DeviceMismatch`] otherwise). On a GPU (the
//! `cuda` feature), [`matmul`], [`matmul_backward`], [`relu`], [`relu_backward`], [`add`],
//! [`mul`], [`scale`], [`crop`], [`crop_backward`], [`argmax_channels`], [`max_pool2d`],
//! [`max_pool2d_backward`], [`softmax_cross_entropy`], [`dropout`], [`conv2d`],
//! [`conv2d_backward`], [`conv_transpose2d`] and [`conv_transpose2d_backward`] run there: every
//! operation has a CUDA kernel. Without the feature, GPU operands are
//! [`TensorError::Unsupported`].

use crate::cpu;
use crate::cpu::conv::ConvGeometry;
use crate::cpu::gemm::{Mat, Threads, gemm};
#[cfg(feature = "cuda")]
use crate::cuda;
use crate::{Device, Result, Tensor, TensorError};

/// The device of all `operands`, or the mismatch between the first and the first that differs.
fn common_device(op: &'static str, operands: &[&Tensor]) -> Result<Device> {
    let Some((head, rest)) = operands.split_first() else {
        return Ok(Device::Cpu);
    };
    let first = head.device();
    match rest.iter().map(|t| t.device()).find(|&d| d != first) {
        Some(second) => Err(TensorError::DeviceMismatch { op, first, second }),
        None => Ok(first),
    }
}

/// The error of a GPU operand in a build without the `cuda` feature (no such tensor can exist).
#[cfg(not(feature = "cuda"))]
fn no_backend<T>(op: &'static str, device: Device) -> Result<T> {
    Err(TensorError::Unsupported { op, device })
}

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

fn pool_geometry(x: &Tensor, p: &Pool2d) -> Result<PoolGeometry> {
    let op = "max_pool2d";
    let [n, c, h, w] = x.dims4(op, "input")?;
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
            shapes: vec![x.shape().to_vec()],
        })
    };
    Ok(PoolGeometry {
        planes: n * c,
        in_h: h,
        in_w: w,
        out_h: out(0, h)?,
        out_w: out(1, w)?,
    })
}

/// 2-D max pooling of an NCHW tensor, keeping the indices for the backward pass.
pub fn max_pool2d(x: &Tensor, p: &Pool2d) -> Result<MaxPoolOutput> {
    let device = common_device("max_pool2d", &[x])?;
    let g = pool_geometry(x, p)?;
    let [n, c, h, w] = x.dims4("max_pool2d", "input")?;
    let shape = [n, c, g.out_h, g.out_w];
    let (output, indices) = match device {
        Device::Cpu => {
            let (y, indices) = cpu::pool::max_pool2d(x.data(), &g, p);
            (Tensor::from_vec(y, &shape)?, indices)
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::max_pool2d(x, &g, p, &shape)?,
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => return no_backend("max_pool2d", device),
    };
    Ok(MaxPoolOutput {
        output,
        indices,
        input_shape: [n, c, h, w],
        pool: *p,
    })
}

/// The gradient of [`max_pool2d`] with respect to its input.
pub fn max_pool2d_backward(grad_output: &Tensor, pooled: &MaxPoolOutput) -> Result<Tensor> {
    let device = common_device("max_pool2d_backward", &[grad_output, &pooled.output])?;
    same_shape("max_pool2d_backward", grad_output, &pooled.output)?;
    let [n, c, h, w] = pooled.input_shape;
    let [.., out_h, out_w] = pooled.output.dims4("max_pool2d_backward", "output")?;
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
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::max_pool2d_backward(
            grad_output,
            &pooled.indices,
            &g,
            &pooled.pool,
            &pooled.input_shape,
        ),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend("max_pool2d_backward", device),
    }
}

fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() == b.shape() {
        Ok(())
    } else {
        Err(TensorError::ShapeMismatch {
            op,
            reason: "operands must have the same shape".to_owned(),
            shapes: vec![a.shape().to_vec(), b.shape().to_vec()],
        })
    }
}

/// `max(x, 0)` element-wise.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    match x.device() {
        Device::Cpu => Tensor::from_vec(cpu::elementwise::relu(x.data()), x.shape()),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::elementwise(cuda::Elementwise::Relu, &[x]),
        #[cfg(not(feature = "cuda"))]
        device @ Device::Cuda(_) => no_backend("relu", device),
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
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::elementwise(cuda::Elementwise::ReluBackward, &[grad_output, y]),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend(op, device),
    }
}

/// `a + b`, same shapes.
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let device = common_device("add", &[a, b])?;
    same_shape("add", a, b)?;
    match device {
        Device::Cpu => Tensor::from_vec(cpu::elementwise::add(a.data(), b.data()), a.shape()),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::elementwise(cuda::Elementwise::Add, &[a, b]),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend("add", device),
    }
}

/// `a * b` element-wise, same shapes.
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let device = common_device("mul", &[a, b])?;
    same_shape("mul", a, b)?;
    match device {
        Device::Cpu => Tensor::from_vec(cpu::elementwise::mul(a.data(), b.data()), a.shape()),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::elementwise(cuda::Elementwise::Mul, &[a, b]),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend("mul", device),
    }
}

/// `factor * x` (its gradient is `factor * grad_output`).
pub fn scale(x: &Tensor, factor: f32) -> Result<Tensor> {
    match x.device() {
        Device::Cpu => Tensor::from_vec(cpu::elementwise::scale(x.data(), factor), x.shape()),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::elementwise(cuda::Elementwise::Scale(factor), &[x]),
        #[cfg(not(feature = "cuda"))]
        device @ Device::Cuda(_) => no_backend("scale", device),
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
    let device = common_device("dropout", &[x])?;
    if !(0.0..1.0).contains(&p) {
        return Err(TensorError::InvalidParameter {
            op: "dropout",
            reason: format!("probability {p} is outside [0, 1)"),
        });
    }
    let (groups, group_len) = match mode {
        DropoutMode::Element => (x.len(), 1),
        DropoutMode::Channel => {
            let [n, c, h, w] = x.dims4("dropout", "input")?;
            (n * c, h * w)
        }
    };
    let mask = match device {
        Device::Cpu => Tensor::from_vec(
            cpu::elementwise::dropout_mask(groups, group_len, p, seed),
            x.shape(),
        )?,
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::dropout_mask(x, group_len, p, 1.0 / (1.0 - p), seed)?,
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => return no_backend("dropout", device),
    };
    Ok((mul(x, &mask)?, mask))
}

fn crop_check(x_shape: [usize; 4], offset: [usize; 2], size: [usize; 2]) -> Result<()> {
    let [_, _, h, w] = x_shape;
    let fits = |axis: usize, limit: usize| {
        offset[axis]
            .checked_add(size[axis])
            .is_some_and(|end| end <= limit)
    };
    if !fits(0, h) || !fits(1, w) {
        return Err(TensorError::ShapeMismatch {
            op: "crop",
            reason: format!("a {size:?} window at offset {offset:?} does not fit a {h}x{w} input"),
            shapes: vec![x_shape.to_vec()],
        });
    }
    Ok(())
}

/// Rows `offset[0] .. offset[0] + size[0]` and columns `offset[1] .. offset[1] + size[1]` of
/// every plane (FCN's crop layers).
pub fn crop(x: &Tensor, offset: [usize; 2], size: [usize; 2]) -> Result<Tensor> {
    let device = common_device("crop", &[x])?;
    let dims @ [n, c, h, w] = x.dims4("crop", "input")?;
    crop_check(dims, offset, size)?;
    let shape = [n, c, size[0], size[1]];
    match device {
        Device::Cpu => {
            let y = cpu::elementwise::crop(x.data(), n * c, [h, w], offset, size);
            Tensor::from_vec(y, &shape)
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::crop(x, n * c, [h, w], offset, size, &shape),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend("crop", device),
    }
}

/// The gradient of [`crop`]: `grad_output` placed back at the offset in a zero tensor of
/// `input_shape`.
pub fn crop_backward(
    grad_output: &Tensor,
    input_shape: &[usize],
    offset: [usize; 2],
) -> Result<Tensor> {
    let device = common_device("crop_backward", &[grad_output])?;
    let [n, c, gh, gw] = grad_output.dims4("crop_backward", "grad_output")?;
    let dims = <[usize; 4]>::try_from(input_shape).map_err(|_| TensorError::Rank {
        op: "crop_backward",
        operand: "input_shape",
        expected: 4,
        shape: input_shape.to_vec(),
    })?;
    crop_check(dims, offset, [gh, gw])?;
    if dims[..2] != [n, c] {
        return Err(TensorError::ShapeMismatch {
            op: "crop_backward",
            reason: "batch and channels must match the input".to_owned(),
            shapes: vec![grad_output.shape().to_vec(), input_shape.to_vec()],
        });
    }
    match device {
        Device::Cpu => {
            let gx = cpu::elementwise::crop_backward(
                grad_output.data(),
                n * c,
                [dims[2], dims[3]],
                offset,
                [gh, gw],
            );
            Tensor::from_vec(gx, input_shape)
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::crop_backward(
            grad_output,
            n * c,
            [dims[2], dims[3]],
            offset,
            [gh, gw],
            input_shape,
        ),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend("crop_backward", device),
    }
}

/// Per pixel of an NCHW tensor, the index of the largest channel (the first on ties): the
/// predicted label map, shape (N, H, W) flattened.
pub fn argmax_channels(x: &Tensor) -> Result<Vec<u32>> {
    let device = common_device("argmax_channels", &[x])?;
    let [n, c, h, w] = x.dims4("argmax_channels", "input")?;
    if c == 0 {
        return Err(TensorError::InvalidParameter {
            op: "argmax_channels",
            reason: "the input has no channels".to_owned(),
        });
    }
    match device {
        Device::Cpu => Ok(cpu::elementwise::argmax_channels(x.data(), n, c, h * w)),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::argmax_channels(x, [n, c, h * w]),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend("argmax_channels", device),
    }
}

/// How the pixel losses of [`softmax_cross_entropy`] are combined.
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

/// Loss and logits gradient of a pixel-wise softmax cross-entropy.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossEntropy {
    /// The reduced loss.
    pub loss: f32,
    /// d loss / d logits, same shape as the logits.
    pub grad: Tensor,
}

/// Softmax cross-entropy of logits (N, C, H, W) against labels (N*H*W values, row-major), with
/// pixels labelled `ignore_index` skipped and optional per-class weights. Any other label
/// outside `[0, C)` is an error naming it.
pub fn softmax_cross_entropy(
    logits: &Tensor,
    target: &[i64],
    ignore_index: i64,
    weight: Option<&[f32]>,
    reduction: Reduction,
) -> Result<CrossEntropy> {
    let op = "softmax_cross_entropy";
    let device = common_device(op, &[logits])?;
    let [n, c, h, w] = logits.dims4(op, "logits")?;
    if target.len() != n * h * w {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: format!("{} labels for {} pixels", target.len(), n * h * w),
            shapes: vec![logits.shape().to_vec(), vec![target.len()]],
        });
    }
    if let Some(weight) = weight.filter(|weight| weight.len() != c) {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: format!("{} class weights for {c} classes", weight.len()),
            shapes: vec![logits.shape().to_vec(), vec![weight.len()]],
        });
    }
    if let Some(index) = target
        .iter()
        .position(|&t| t != ignore_index && !(0..c as i64).contains(&t))
    {
        return Err(TensorError::LabelOutOfRange {
            op,
            value: target[index],
            index,
            num_classes: c,
            ignore_index,
        });
    }
    #[cfg(feature = "cuda")]
    if let Device::Cuda(_) = device {
        return cuda_softmax_cross_entropy(logits, target, ignore_index, weight, reduction);
    }
    #[cfg(not(feature = "cuda"))]
    if let Device::Cuda(_) = device {
        return no_backend(op, device);
    }
    let (loss, grad) = cpu::loss::softmax_cross_entropy(
        logits.data(),
        target,
        [n, c, h * w],
        ignore_index,
        weight,
        reduction,
    );
    Ok(CrossEntropy {
        loss,
        grad: Tensor::from_vec(grad, logits.shape())?,
    })
}

/// [`softmax_cross_entropy`] of checked GPU logits: the labels (-1 for ignored), the class
/// weights and the per-class gradient factors `weight * scale` are prepared here as on the CPU
/// (same f64 scale), the kernels compute the gradient and the summed loss.
#[cfg(feature = "cuda")]
fn cuda_softmax_cross_entropy(
    logits: &Tensor,
    target: &[i64],
    ignore_index: i64,
    weight: Option<&[f32]>,
    reduction: Reduction,
) -> Result<CrossEntropy> {
    let [n, c, h, w] = logits.dims4("softmax_cross_entropy", "logits")?;
    let class_weight = |t: i64| weight.map_or(1.0, |w| w[t as usize]);
    let scale = reduction.scale(n, target, ignore_index, weight);
    let labels: Vec<i32> = target
        .iter()
        .map(|&t| if t == ignore_index { -1 } else { t as i32 })
        .collect();
    let weights: Vec<f32> = (0..c as i64).map(class_weight).collect();
    let coef: Vec<f32> = weights
        .iter()
        .map(|&w| (f64::from(w) * scale) as f32)
        .collect();
    let (loss, grad) =
        cuda::softmax_cross_entropy(logits, &labels, &weights, &coef, [n, c, h * w])?;
    Ok(CrossEntropy {
        loss: (loss * scale) as f32,
        grad,
    })
}

/// `a (M x K) * b (K x N)`, the GEMM spread over the thread pool.
fn matmul_into(m: usize, n: usize, a: Mat<'_>, b: Mat<'_>) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    gemm(&mut c, n, a, b, false, Threads::Pool);
    c
}

/// The product of two matrices (M, K) and (K, N).
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "matmul";
    let device = common_device(op, &[a, b])?;
    let [m, k] = a.dims2(op, "a")?;
    let [k2, n] = b.dims2(op, "b")?;
    if k != k2 {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: format!("inner dimensions {k} and {k2} differ"),
            shapes: vec![a.shape().to_vec(), b.shape().to_vec()],
        });
    }
    match device {
        Device::Cpu => {
            let c = matmul_into(
                m,
                n,
                Mat::new(a.data(), m, k, k),
                Mat::new(b.data(), k, n, n),
            );
            Tensor::from_vec(c, &[m, n])
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::matmul(a, b, [m, k, n]),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend(op, device),
    }
}

/// Gradients of [`matmul`]: `(grad_output b^T, a^T grad_output)`.
pub fn matmul_backward(a: &Tensor, b: &Tensor, grad_output: &Tensor) -> Result<(Tensor, Tensor)> {
    let op = "matmul_backward";
    let device = common_device(op, &[a, b, grad_output])?;
    let [m, k] = a.dims2(op, "a")?;
    let [_, n] = b.dims2(op, "b")?;
    if b.shape() != [k, n] || grad_output.shape() != [m, n] {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: "expected a (M, K), b (K, N), grad_output (M, N)".to_owned(),
            shapes: vec![
                a.shape().to_vec(),
                b.shape().to_vec(),
                grad_output.shape().to_vec(),
            ],
        });
    }
    match device {
        Device::Cpu => {}
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => return cuda::matmul_backward(a, b, grad_output, [m, k, n]),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => return no_backend(op, device),
    }
    let gc = Mat::new(grad_output.data(), m, n, n);
    let ga = matmul_into(m, k, gc, Mat::new(b.data(), k, n, n).t());
    let gb = matmul_into(k, n, Mat::new(a.data(), m, k, k).t(), gc);
    Ok((
        Tensor::from_vec(ga, &[m, k])?,
        Tensor::from_vec(gb, &[k, n])?,
    ))
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

fn invalid(op: &'static str, reason: String) -> TensorError {
    TensorError::InvalidParameter { op, reason }
}

fn check_positive(op: &'static str, what: &str, v: [usize; 2]) -> Result<()> {
    if v.contains(&0) {
        return Err(invalid(op, format!("{what} {v:?} must be positive")));
    }
    Ok(())
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

/// The geometry of `conv2d(x, w)` after checking every shape and parameter.
fn conv2d_geometry(op: &'static str, x: &Tensor, w: &Tensor, p: &Conv2d) -> Result<ConvGeometry> {
    let [n, in_c, in_h, in_w] = x.dims4(op, "input")?;
    let [out_c, w_in, kh, kw] = w.dims4(op, "weight")?;
    check_positive(op, "stride", p.stride)?;
    check_positive(op, "dilation", p.dilation)?;
    check_positive(op, "kernel", [kh, kw])?;
    if p.groups == 0 || in_c % p.groups != 0 || out_c % p.groups != 0 || w_in * p.groups != in_c {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: format!(
                "with {} groups, input channels ({in_c}) and output channels ({out_c}) must divide evenly and the weight must have {} input channels",
                p.groups,
                in_c / p.groups.max(1)
            ),
            shapes: vec![x.shape().to_vec(), w.shape().to_vec()],
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
            shapes: vec![x.shape().to_vec(), w.shape().to_vec()],
        })
    };
    Ok(ConvGeometry {
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
    let device = common_device(op, &[&[x, w][..], bias.as_slice()].concat())?;
    let g = conv2d_geometry(op, x, w, p)?;
    check_bias(op, bias, g.out_c)?;
    match device {
        Device::Cpu => {
            let y =
                cpu::conv::conv_forward(x.data(), w.data(), bias.map(Tensor::data), &g, with_relu);
            Tensor::from_vec(y, &[g.n, g.out_c, g.out_h, g.out_w])
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => {
            let y = cuda::conv2d(x, w, bias, &g)?;
            if with_relu { relu(&y) } else { Ok(y) }
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend(op, device),
    }
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
    let device = common_device(op, &[x, w, grad_output])?;
    let g = conv2d_geometry(op, x, w, p)?;
    check_grad_output(op, grad_output, [g.n, g.out_c, g.out_h, g.out_w])?;
    match device {
        Device::Cpu => {}
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => {
            let (input, weight, bias) = cuda::conv2d_backward(x, w, grad_output, &g, with_bias)?;
            return Ok(ConvGrads {
                input,
                weight,
                bias,
            });
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => return no_backend(op, device),
    }
    let gy = grad_output.data();
    let (weight, bias) = conv2d_parameter_grads_cpu(x, w, gy, &g, with_bias)?;
    Ok(ConvGrads {
        input: Tensor::from_vec(cpu::conv::conv_backward_data(gy, w.data(), &g), x.shape())?,
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
    let device = common_device(op, &[x, w, grad_output])?;
    let g = conv2d_geometry(op, x, w, p)?;
    check_grad_output(op, grad_output, [g.n, g.out_c, g.out_h, g.out_w])?;
    match device {
        Device::Cpu => conv2d_parameter_grads_cpu(x, w, grad_output.data(), &g, with_bias),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => {
            // The CUDA backend has no parameters-only kernel yet: its input gradient is dropped.
            let (_, weight, bias) = cuda::conv2d_backward(x, w, grad_output, &g, with_bias)?;
            Ok((weight, bias))
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_backend(op, device),
    }
}

fn conv2d_parameter_grads_cpu(
    x: &Tensor,
    w: &Tensor,
    gy: &[f32],
    g: &ConvGeometry,
    with_bias: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let weight = Tensor::from_vec(cpu::conv::conv_backward_weight(x.data(), gy, g), w.shape())?;
    let bias = with_bias
        .then(|| {
            Tensor::from_vec(
                cpu::conv::bias_backward(gy, g.n, g.out_c, g.out_h * g.out_w),
                &[g.out_c],
            )
        })
        .transpose()?;
    Ok((weight, bias))
}

/// The geometry of the convolution that a transposed convolution is the adjoint of: from the
/// transposed convolution's output back to its input.
fn conv_transpose2d_geometry(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    p: &ConvTranspose2d,
) -> Result<ConvGeometry> {
    let [n, in_c, in_h, in_w] = x.dims4(op, "input")?;
    let [w_in, w_out, kh, kw] = w.dims4(op, "weight")?;
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
            shapes: vec![x.shape().to_vec(), w.shape().to_vec()],
        });
    }
    if p.output_padding[0] >= p.stride[0] || p.output_padding[1] >= p.stride[1] {
        return Err(invalid(
            op,
            format!(
                "output_padding {:?} must be smaller than the stride {:?}",
                p.output_padding, p.stride
            ),
        ));
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
            shapes: vec![x.shape().to_vec(), w.shape().to_vec()],
        })
    };
    Ok(ConvGeometry {
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

/// 2-D transposed convolution of `x` (N, C_in, H, W) with `w` (C_in, C_out / groups, kh, kw)
/// (PyTorch's layout) plus an optional bias (C_out): GEMM, then col2im.
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvTranspose2d,
) -> Result<Tensor> {
    let op = "conv_transpose2d";
    let device = common_device(op, &[&[x, w][..], bias.as_slice()].concat())?;
    let g = conv_transpose2d_geometry(op, x, w, p)?;
    check_bias(op, bias, g.in_c)?;
    match device {
        Device::Cpu => {}
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => return cuda::conv_transpose2d(x, w, bias, &g),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => return no_backend(op, device),
    }
    let mut y = cpu::conv::conv_backward_data(x.data(), w.data(), &g);
    if let Some(b) = bias {
        let plane = g.in_h * g.in_w;
        for (i, v) in y.iter_mut().enumerate() {
            *v += b.data()[i / plane % g.in_c];
        }
    }
    Tensor::from_vec(y, &[g.n, g.in_c, g.in_h, g.in_w])
}

/// Gradients of [`conv_transpose2d`] with respect to the input, the weight and the bias.
pub fn conv_transpose2d_backward(
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    p: &ConvTranspose2d,
    with_bias: bool,
) -> Result<ConvGrads> {
    let op = "conv_transpose2d_backward";
    let device = common_device(op, &[x, w, grad_output])?;
    let g = conv_transpose2d_geometry(op, x, w, p)?;
    check_grad_output(op, grad_output, [g.n, g.in_c, g.in_h, g.in_w])?;
    match device {
        Device::Cpu => {}
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => {
            let (input, weight, bias) =
                cuda::conv_transpose2d_backward(x, w, grad_output, &g, with_bias)?;
            return Ok(ConvGrads {
                input,
                weight,
                bias,
            });
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => return no_backend(op, device),
    }
    let gy = grad_output.data();
    Ok(ConvGrads {
        input: Tensor::from_vec(
            cpu::conv::conv_forward(gy, w.data(), None, &g, false),
            x.shape(),
        )?,
        weight: Tensor::from_vec(cpu::conv::conv_backward_weight(gy, x.data(), &g), w.shape())?,
        bias: with_bias
            .then(|| {
                Tensor::from_vec(
                    cpu::conv::bias_backward(gy, g.n, g.in_c, g.in_h * g.in_w),
                    &[g.in_c],
                )
            })
            .transpose()?,
    })
}
