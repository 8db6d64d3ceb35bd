//! Optimizer updates on the GPU: weights, gradients and state never leave device memory. Each
//! step writes new buffers for the weight and its state (the old values stay valid tensors).

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::context::{CudaStorage, alloc_any, backend, download_any, fail, launch_ops};
use super::kernels;
use crate::{Result, TensorError};

/// Which momentum update of `kernels::OPS_SOURCE` to run.
#[derive(Debug, Clone, Copy)]
enum Momentum {
    /// `fcn_sgd_step`.
    Sgd,
    /// `fcn_lars_step`.
    Lars,
}

fn momentum_step(
    kind: Momentum,
    w: &CudaStorage,
    state: &CudaStorage,
    g: &CudaStorage,
    [momentum, decay, rate]: [f32; 3],
) -> Result<(CudaStorage, CudaStorage)> {
    let (op, kernel) = match kind {
        Momentum::Sgd => ("sgd_step", "fcn_sgd_step"),
        Momentum::Lars => ("lars_step", "fcn_lars_step"),
    };
    let b = backend(w.ordinal)?;
    let n = w.len;
    let mut w_out = b.alloc(op, n)?;
    let mut state_out = b.alloc(op, n)?;
    launch_ops!(
        op,
        b,
        kernel,
        n,
        [
            w.buf.as_ref(),
            state.buf.as_ref(),
            g.buf.as_ref(),
            &mut w_out,
            &mut state_out,
            &momentum,
            &decay,
            &rate
        ]
    );
    Ok((b.storage(w_out, n), b.storage(state_out, n)))
}

/// SGD with momentum (`cpu::optim::sgd_step`): the new weight and momentum buffer.
pub(crate) fn sgd_step(
    w: &CudaStorage,
    buf: &CudaStorage,
    g: &CudaStorage,
    coefficients: [f32; 3],
) -> Result<(CudaStorage, CudaStorage)> {
    momentum_step(Momentum::Sgd, w, buf, g, coefficients)
}

/// LARS's momentum in velocity units (`cpu::optim::lars_step`): the new weight and velocity.
pub(crate) fn lars_step(
    w: &CudaStorage,
    v: &CudaStorage,
    g: &CudaStorage,
    coefficients: [f32; 3],
) -> Result<(CudaStorage, CudaStorage)> {
    momentum_step(Momentum::Lars, w, v, g, coefficients)
}

/// One Adam step (`cpu::optim::adam_step`): `[beta1, beta2, eps, decay]` and
/// `[rate, c1, c2]`; the new weight and moments.
pub(crate) fn adam_step(
    [w, m, v, g]: [&CudaStorage; 4],
    [beta1, beta2, eps, decay]: [f32; 4],
    [rate, c1, c2]: [f64; 3],
) -> Result<(CudaStorage, CudaStorage, CudaStorage)> {
    let op = "adam_step";
    let b = backend(w.ordinal)?;
    let n = w.len;
    let mut w_out = b.alloc(op, n)?;
    let mut m_out = b.alloc(op, n)?;
    let mut v_out = b.alloc(op, n)?;
    launch_ops!(
        op,
        b,
        "fcn_adam_step",
        n,
        [
            w.buf.as_ref(),
            m.buf.as_ref(),
            v.buf.as_ref(),
            g.buf.as_ref(),
            &mut w_out,
            &mut m_out,
            &mut v_out,
            &beta1,
            &beta2,
            &eps,
            &decay,
            &rate,
            &c1,
            &c2
        ]
    );
    Ok((
        b.storage(w_out, n),
        b.storage(m_out, n),
        b.storage(v_out, n),
    ))
}

/// The sum of the squares of `x` in f64: fixed-shape block trees on the GPU, then the block
/// partials in order on the host (one f64 per 4096 values comes back, never the values).
pub(crate) fn sum_squares(x: &CudaStorage) -> Result<f64> {
    let op = "sum_squares";
    let b = backend(x.ordinal)?;
    let n = x.len;
    if n == 0 {
        return Ok(0.0);
    }
    let blocks = n.div_ceil(kernels::SUM_CHUNK);
    let mut partials = alloc_any::<f64>(op, &b, blocks)?;
    let k = b.kernels()?;
    let mut launch = b.stream.launch_builder(k.op("fcn_sum_squares_partials"));
    let count = n as u64;
    launch.arg(x.buf.as_ref()).arg(&mut partials).arg(&count);
    let cfg = LaunchConfig {
        grid_dim: (
            u32::try_from(blocks).map_err(|_| TensorError::TooLarge {
                op,
                what: "values to sum",
                value: n,
                limit: u64::from(u32::MAX) * kernels::SUM_CHUNK as u64,
            })?,
            1,
            1,
        ),
        block_dim: (kernels::SUM_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: (x, partials, n) as in `fcn_sum_squares_partials`; `x` holds `n` values,
    // `partials` one per block, and the kernel needs exactly SUM_THREADS threads per block.
    unsafe { launch.launch(cfg) }.map_err(fail(op, b.ordinal))?;
    Ok(download_any(op, &b, &partials, blocks)?.iter().sum())
}
