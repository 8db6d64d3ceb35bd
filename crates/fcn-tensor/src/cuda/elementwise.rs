//! Element-wise kernels (ReLU, add, multiply, scale) and the dropout mask.

use cudarc::driver::PushKernelArg;

use super::context::{CudaStorage, backend, elementwise_config, fail, launch_ops};
use crate::Result;

/// `max(x, 0)`.
pub(crate) fn relu(x: &CudaStorage) -> Result<CudaStorage> {
    elementwise(x, Elementwise::Relu)
}

/// `gy` where `y > 0`, else 0.
pub(crate) fn relu_backward(gy: &CudaStorage, y: &CudaStorage) -> Result<CudaStorage> {
    elementwise(gy, Elementwise::ReluBackward(y))
}

/// `a + b`.
pub(crate) fn add(a: &CudaStorage, b: &CudaStorage) -> Result<CudaStorage> {
    elementwise(a, Elementwise::Add(b))
}

/// `a * b`.
pub(crate) fn mul(a: &CudaStorage, b: &CudaStorage) -> Result<CudaStorage> {
    elementwise(a, Elementwise::Mul(b))
}

/// `factor * x`.
pub(crate) fn scale(x: &CudaStorage, factor: f32) -> Result<CudaStorage> {
    elementwise(x, Elementwise::Scale(factor))
}

/// Which element-wise kernel of `kernels::SOURCE` to run on a first operand, with the second
/// operand or the factor it takes.
#[derive(Debug, Clone, Copy)]
enum Elementwise<'a> {
    /// `max(x, 0)`.
    Relu,
    /// `gy` where `y > 0`, else 0 (the second operand is `y`).
    ReluBackward(&'a CudaStorage),
    /// `a + b`.
    Add(&'a CudaStorage),
    /// `a * b`.
    Mul(&'a CudaStorage),
    /// `factor * x`.
    Scale(f32),
}

/// Runs an element-wise kernel over `x` (and a second operand of its length on the same GPU:
/// the callers in `ops` check both) into a new buffer of its length.
fn elementwise(x: &CudaStorage, kind: Elementwise<'_>) -> Result<CudaStorage> {
    let op = match kind {
        Elementwise::Relu => "relu",
        Elementwise::ReluBackward(_) => "relu_backward",
        Elementwise::Add(_) => "add",
        Elementwise::Mul(_) => "mul",
        Elementwise::Scale(_) => "scale",
    };
    let b = backend(x.ordinal)?;
    let n = x.len;
    let mut y = b.alloc(op, n)?;
    if n > 0 {
        let k = b.kernels()?;
        let func = match kind {
            Elementwise::Relu => &k.relu,
            Elementwise::ReluBackward(_) => &k.relu_backward,
            Elementwise::Add(_) => &k.add,
            Elementwise::Mul(_) => &k.mul,
            Elementwise::Scale(_) => &k.scale,
        };
        let mut launch = b.stream.launch_builder(func);
        launch.arg(x.buf.as_ref());
        let factor;
        match kind {
            Elementwise::ReluBackward(second)
            | Elementwise::Add(second)
            | Elementwise::Mul(second) => {
                launch.arg(second.buf.as_ref());
            }
            Elementwise::Scale(f) => {
                factor = f;
                launch.arg(&factor);
            }
            Elementwise::Relu => {}
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
