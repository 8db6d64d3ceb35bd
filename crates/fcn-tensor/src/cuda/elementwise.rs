//! Element-wise kernels (ReLU, add, multiply, scale) and the dropout mask.

use cudarc::driver::PushKernelArg;

use super::context::{CudaStorage, backend, elementwise_config, fail, launch_ops};
use crate::{Result, TensorError};

/// `max(x, 0)`.
pub(crate) fn relu(x: &CudaStorage) -> Result<CudaStorage> {
    elementwise(Elementwise::Relu, &[x])
}

/// `gy` where `y > 0`, else 0.
pub(crate) fn relu_backward(gy: &CudaStorage, y: &CudaStorage) -> Result<CudaStorage> {
    elementwise(Elementwise::ReluBackward, &[gy, y])
}

/// `a + b`.
pub(crate) fn add(a: &CudaStorage, b: &CudaStorage) -> Result<CudaStorage> {
    elementwise(Elementwise::Add, &[a, b])
}

/// `a * b`.
pub(crate) fn mul(a: &CudaStorage, b: &CudaStorage) -> Result<CudaStorage> {
    elementwise(Elementwise::Mul, &[a, b])
}

/// `factor * x`.
pub(crate) fn scale(x: &CudaStorage, factor: f32) -> Result<CudaStorage> {
    elementwise(Elementwise::Scale(factor), &[x])
}

/// Which element-wise kernel to run.
#[derive(Debug, Clone, Copy)]
enum Elementwise {
    /// `max(x, 0)`.
    Relu,
    /// `gy` where `y > 0`, else 0 (inputs: gy, y).
    ReluBackward,
    /// `a + b`.
    Add,
    /// `a * b`.
    Mul,
    /// `factor * x`.
    Scale(f32),
}

impl Elementwise {
    fn name(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::ReluBackward => "relu_backward",
            Self::Add => "add",
            Self::Mul => "mul",
            Self::Scale(_) => "scale",
        }
    }
}

/// Runs an element-wise kernel over `inputs` (one, or two of the same shape, on one GPU: the
/// callers in `ops` check both) into a new buffer of their length.
fn elementwise(kind: Elementwise, inputs: &[&CudaStorage]) -> Result<CudaStorage> {
    let op = kind.name();
    let [first, ..] = inputs else {
        return Err(TensorError::InvalidParameter {
            op,
            reason: "no operands".to_owned(),
        });
    };
    let x = *first;
    let b = backend(x.ordinal)?;
    let n = x.len;
    let mut y = b.alloc(op, n)?;
    if n > 0 {
        let k = b.kernels()?;
        let second = match (kind, inputs.get(1)) {
            (Elementwise::ReluBackward | Elementwise::Add | Elementwise::Mul, Some(t)) => Some(*t),
            (Elementwise::ReluBackward | Elementwise::Add | Elementwise::Mul, None) => {
                return Err(TensorError::InvalidParameter {
                    op,
                    reason: "two operands needed".to_owned(),
                });
            }
            _ => None,
        };
        let func = match kind {
            Elementwise::Relu => &k.relu,
            Elementwise::ReluBackward => &k.relu_backward,
            Elementwise::Add => &k.add,
            Elementwise::Mul => &k.mul,
            Elementwise::Scale(_) => &k.scale,
        };
        let mut launch = b.stream.launch_builder(func);
        launch.arg(x.buf.as_ref());
        if let Some(second) = second {
            launch.arg(second.buf.as_ref());
        }
        let factor = match kind {
            Elementwise::Scale(factor) => factor,
            _ => 0.0,
        };
        if let Elementwise::Scale(_) = kind {
            launch.arg(&factor);
        }
        let count = n as u64;
        launch.arg(&mut y);
        launch.arg(&count);
        // SAFETY: the argument list matches the kernel's signature in `kernels::SOURCE`
        // (inputs, [factor], output, n); every buffer holds at least `n` values and the
        // kernels index below `n` only.
        unsafe { launch.launch(elementwise_config(n)) }.map_err(fail(op, x.ordinal))?;
    }
    Ok(b.storage(y, n))
}

/// The dropout mask of `ops::dropout` on the GPU of `like` (and as long): the CPU's
/// counter-based hash, so the same seed gives the same mask on every device.
pub(crate) fn dropout_mask(
    like: &CudaStorage,
    group_len: usize,
    p: f32,
    keep: f32,
    seed: u64,
) -> Result<CudaStorage> {
    let op = "dropout";
    let sx = like;
    let b = backend(sx.ordinal)?;
    let n = sx.len;
    let mut mask = b.alloc(op, n)?;
    let group = group_len.max(1) as u64;
    launch_ops!(
        op,
        b,
        "fcn_dropout_mask",
        n,
        [&mut mask, &seed, &group, &p, &keep]
    );
    Ok(b.storage(mask, n))
}
