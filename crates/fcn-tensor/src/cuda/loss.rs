//! Per-pixel class decisions: the channel argmax and the softmax cross-entropy.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::context::{
    CudaStorage, alloc_any, backend, download_any, fail, launch_ops, u64s, upload_any,
};
use super::kernels;
use crate::{Result, TensorError};

/// `ops::argmax_channels`, downloaded.
pub(crate) fn argmax_channels(sx: &CudaStorage, [n, c, hw]: [usize; 3]) -> Result<Vec<u32>> {
    let op = "argmax_channels";
    let b = backend(sx.ordinal)?;
    let len = n * hw;
    let mut out = alloc_any::<u32>(op, &b, len)?;
    let dims = u64s([c, hw]);
    launch_ops!(
        op,
        b,
        "fcn_argmax_channels",
        len,
        [sx.buf.as_ref(), &mut out, &dims[0], &dims[1]]
    );
    download_any(op, &b, &out, len)
}

/// `ops::softmax_cross_entropy` on checked operands:
/// `labels` per pixel (-1 ignored), `weight` and `coef` (`weight * scale`) per class. Returns
/// the summed weighted loss (unscaled; per-pixel losses in f64 summed by fixed-shape block
/// trees, then the block partials in order on the host: deterministic) and the gradient.
pub(crate) fn softmax_cross_entropy(
    sx: &CudaStorage,
    labels: &[i32],
    weight: &[f32],
    coef: &[f32],
    [n, c, hw]: [usize; 3],
) -> Result<(f64, CudaStorage)> {
    let op = "softmax_cross_entropy";
    let b = backend(sx.ordinal)?;
    let len = n * c * hw;
    let pixels = n * hw;
    let mut grad = b.alloc(op, len)?;
    if pixels == 0 || c == 0 {
        let zeros = b
            .stream
            .alloc_zeros::<f32>(len.max(1))
            .map_err(fail(op, b.ordinal))?;
        return Ok((0.0, b.storage(zeros, len)));
    }
    let label = upload_any(op, &b, labels)?;
    let weight = upload_any(op, &b, weight)?;
    let coef = upload_any(op, &b, coef)?;
    let mut loss = alloc_any::<f64>(op, &b, pixels)?;
    let dims = u64s([c, hw]);
    launch_ops!(
        op,
        b,
        "fcn_softmax_cross_entropy",
        pixels,
        [
            sx.buf.as_ref(),
            &label,
            &weight,
            &coef,
            &mut grad,
            &mut loss,
            &dims[0],
            &dims[1]
        ]
    );
    let blocks = pixels.div_ceil(kernels::SUM_CHUNK);
    let mut partials = alloc_any::<f64>(op, &b, blocks)?;
    let k = b.kernels()?;
    let mut launch = b.stream.launch_builder(k.op("fcn_sum_partials"));
    let count = pixels as u64;
    launch.arg(&loss).arg(&mut partials).arg(&count);
    let cfg = LaunchConfig {
        grid_dim: (
            u32::try_from(blocks).map_err(|_| TensorError::TooLarge {
                op,
                what: "pixels to sum",
                value: pixels,
                limit: u64::from(u32::MAX) * kernels::SUM_CHUNK as u64,
            })?,
            1,
            1,
        ),
        block_dim: (kernels::SUM_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: (values, partials, n) as in `fcn_sum_partials`; `loss` holds `pixels` values,
    // `partials` one per block, and the kernel needs exactly SUM_THREADS threads per block.
    unsafe { launch.launch(cfg) }.map_err(fail(op, b.ordinal))?;
    let partials = download_any(op, &b, &partials, blocks)?;
    let total: f64 = partials.iter().sum();
    Ok((total, b.storage(grad, len)))
}
