//! Batch normalisation, global average pooling, bilinear resizing and channel copies on the
//! GPU (`norm_kernels::NORM_SOURCE`).

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::context::{Backend, CudaStorage, alloc_any, backend, fail, launch_ops, u64s};
use super::norm_kernels::NORM_THREADS;
use crate::{Result, TensorError};

/// The batch's mean and `1 / sqrt(var + eps)` per channel, and the updated running mean and
/// variance when running statistics were given.
pub(crate) type BatchStatistics = (CudaStorage, CudaStorage, Option<(CudaStorage, CudaStorage)>);

/// One block of [`NORM_THREADS`] per channel or plane: `blocks` of them, or `TooLarge`.
fn per_block(op: &'static str, what: &'static str, blocks: usize) -> Result<LaunchConfig> {
    let grid = u32::try_from(blocks)
        .ok()
        .filter(|&b| b <= i32::MAX as u32)
        .ok_or(TensorError::TooLarge {
            op,
            what,
            value: blocks,
            limit: i32::MAX as u64,
        })?;
    Ok(LaunchConfig {
        grid_dim: (grid, 1, 1),
        block_dim: (NORM_THREADS, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// The batch's mean and `1 / sqrt(var + eps)` per channel of `x` (images, c, plane), and the
/// blended running statistics when `running` is given.
pub(crate) fn batch_norm_statistics(
    x: &CudaStorage,
    [images, c, plane]: [usize; 3],
    running: Option<(&CudaStorage, &CudaStorage)>,
    eps: f32,
    momentum: f32,
) -> Result<BatchStatistics> {
    let op = "batch_norm2d";
    let b = backend(x.ordinal)?;
    let mut mean = b.alloc(op, c)?;
    let mut invstd = b.alloc(op, c)?;
    let mut rm_out = b.alloc(op, c)?;
    let mut rv_out = b.alloc(op, c)?;
    if c > 0 {
        let cfg = per_block(op, "channels", c)?;
        let k = b.kernels()?;
        let (rm, rv) = match running {
            Some((rm, rv)) => (rm.buf.as_ref(), rv.buf.as_ref()),
            // Not read without running statistics; any valid buffer will do.
            None => (x.buf.as_ref(), x.buf.as_ref()),
        };
        let has_running = i32::from(running.is_some());
        let dims = u64s([images, c, plane]);
        let mut launch = b.stream.launch_builder(k.op("fcn_bn_statistics"));
        launch
            .arg(x.buf.as_ref())
            .arg(&mut mean)
            .arg(&mut invstd)
            .arg(rm)
            .arg(rv)
            .arg(&mut rm_out)
            .arg(&mut rv_out)
            .arg(&dims[0])
            .arg(&dims[1])
            .arg(&dims[2])
            .arg(&eps)
            .arg(&momentum)
            .arg(&has_running);
        // SAFETY: the arguments of `fcn_bn_statistics`; `x` holds images * c * plane values,
        // the running buffers (read only with has_running) and outputs c each; one block of
        // NORM_THREADS per channel.
        unsafe { launch.launch(cfg) }.map_err(fail(op, b.ordinal))?;
    }
    let updated = running.map(|_| (b.storage(rm_out, c), b.storage(rv_out, c)));
    Ok((b.storage(mean, c), b.storage(invstd, c), updated))
}

/// Evaluation's per-channel values: the running mean and `1 / sqrt(running var + eps)`.
pub(crate) fn batch_norm_running(
    running_mean: &CudaStorage,
    running_var: &CudaStorage,
    eps: f32,
) -> Result<(CudaStorage, CudaStorage)> {
    let op = "batch_norm2d";
    let b = backend(running_mean.ordinal)?;
    let c = running_mean.len;
    let mut mean = b.alloc(op, c)?;
    let mut invstd = b.alloc(op, c)?;
    launch_ops!(
        op,
        b,
        "fcn_bn_running",
        c,
        [
            running_mean.buf.as_ref(),
            running_var.buf.as_ref(),
            &mut mean,
            &mut invstd,
            &eps
        ]
    );
    Ok((b.storage(mean, c), b.storage(invstd, c)))
}

/// `relu?(x * alpha + beta (+ residual))` from `[mean, invstd, weight, bias]` per channel.
pub(crate) fn batch_norm_apply(
    x: &CudaStorage,
    [mean, invstd, weight, bias]: [&CudaStorage; 4],
    residual: Option<&CudaStorage>,
    relu: bool,
    [_, c, plane]: [usize; 3],
) -> Result<CudaStorage> {
    let op = if relu {
        "batch_norm2d_relu"
    } else {
        "batch_norm2d"
    };
    let b = backend(x.ordinal)?;
    let n = x.len;
    let mut y = b.alloc(op, n)?;
    // Not read without a residual; any valid buffer will do.
    let residual_buf = residual.unwrap_or(x).buf.as_ref();
    let flags = [i32::from(residual.is_some()), i32::from(relu)];
    let dims = u64s([c, plane]);
    launch_ops!(
        op,
        b,
        "fcn_bn_apply",
        n,
        [
            x.buf.as_ref(),
            mean.buf.as_ref(),
            invstd.buf.as_ref(),
            weight.buf.as_ref(),
            bias.buf.as_ref(),
            residual_buf,
            &mut y,
            &dims[0],
            &dims[1],
            &flags[0],
            &flags[1]
        ]
    );
    Ok(b.storage(y, n))
}

/// The input, weight and bias gradients of batch normalisation.
pub(crate) fn batch_norm_backward(
    gy: &CudaStorage,
    x: &CudaStorage,
    [mean, invstd, weight]: [&CudaStorage; 3],
    through_statistics: bool,
    [images, c, plane]: [usize; 3],
) -> Result<(CudaStorage, CudaStorage, CudaStorage)> {
    let op = "batch_norm2d_backward";
    let b = backend(gy.ordinal)?;
    let n = x.len;
    let mut gw = b.alloc(op, c)?;
    let mut gb = b.alloc(op, c)?;
    let mut sums: CudaSlice<f64> = alloc_any(op, &b, 2 * c)?;
    let dims = u64s([images, c, plane, images * plane]);
    if c > 0 {
        let cfg = per_block(op, "channels", c)?;
        let k = b.kernels()?;
        let mut launch = b.stream.launch_builder(k.op("fcn_bn_backward_sums"));
        launch
            .arg(gy.buf.as_ref())
            .arg(x.buf.as_ref())
            .arg(mean.buf.as_ref())
            .arg(invstd.buf.as_ref())
            .arg(&mut gw)
            .arg(&mut gb)
            .arg(&mut sums)
            .arg(&dims[0])
            .arg(&dims[1])
            .arg(&dims[2]);
        // SAFETY: the arguments of `fcn_bn_backward_sums`; `gy` and `x` hold
        // images * c * plane values, the per-channel buffers c (sums 2 c); one block of
        // NORM_THREADS per channel.
        unsafe { launch.launch(cfg) }.map_err(fail(op, b.ordinal))?;
    }
    let mut gx = b.alloc(op, n)?;
    let through = i32::from(through_statistics);
    launch_ops!(
        op,
        b,
        "fcn_bn_backward_input",
        n,
        [
            gy.buf.as_ref(),
            x.buf.as_ref(),
            mean.buf.as_ref(),
            invstd.buf.as_ref(),
            weight.buf.as_ref(),
            &sums,
            &mut gx,
            &dims[1],
            &dims[2],
            &dims[3],
            &through
        ]
    );
    Ok((b.storage(gx, n), b.storage(gw, c), b.storage(gb, c)))
}

/// The mean of each of `planes` planes of `plane` values.
pub(crate) fn plane_means(x: &CudaStorage, planes: usize, plane: usize) -> Result<CudaStorage> {
    let op = "global_avg_pool2d";
    let b = backend(x.ordinal)?;
    let mut y = b.alloc(op, planes)?;
    if planes > 0 {
        let cfg = per_block(op, "planes", planes)?;
        let k = b.kernels()?;
        let plane_len = plane as u64;
        let mut launch = b.stream.launch_builder(k.op("fcn_plane_means"));
        launch.arg(x.buf.as_ref()).arg(&mut y).arg(&plane_len);
        // SAFETY: the arguments of `fcn_plane_means`; `x` holds planes * plane values, `y`
        // one per block.
        unsafe { launch.launch(cfg) }.map_err(fail(op, b.ordinal))?;
    }
    Ok(b.storage(y, planes))
}

/// Each plane's gradient spread evenly over its `plane` values.
pub(crate) fn plane_means_backward(gy: &CudaStorage, plane: usize) -> Result<CudaStorage> {
    let op = "global_avg_pool2d_backward";
    let b = backend(gy.ordinal)?;
    let n = gy.len * plane;
    let mut gx = b.alloc(op, n)?;
    let plane_len = plane as u64;
    launch_ops!(
        op,
        b,
        "fcn_plane_means_backward",
        n,
        [gy.buf.as_ref(), &mut gx, &plane_len]
    );
    Ok(b.storage(gx, n))
}

/// Bilinear resize of `planes` planes.
pub(crate) fn resize_bilinear(
    x: &CudaStorage,
    planes: usize,
    [in_h, in_w]: [usize; 2],
    [out_h, out_w]: [usize; 2],
    align_corners: bool,
) -> Result<CudaStorage> {
    let op = "resize_bilinear";
    let b = backend(x.ordinal)?;
    let n = planes * out_h * out_w;
    let mut y = b.alloc(op, n)?;
    let dims = u64s([in_h, in_w, out_h, out_w]);
    let align = i32::from(align_corners);
    let [d0, d1, d2, d3] = &dims;
    launch_ops!(
        op,
        b,
        "fcn_resize_bilinear",
        n,
        [x.buf.as_ref(), &mut y, d0, d1, d2, d3, &align]
    );
    Ok(b.storage(y, n))
}

/// The gradient of [`resize_bilinear`], gathered per input value.
pub(crate) fn resize_bilinear_backward(
    gy: &CudaStorage,
    planes: usize,
    [in_h, in_w]: [usize; 2],
    [out_h, out_w]: [usize; 2],
    align_corners: bool,
) -> Result<CudaStorage> {
    let op = "resize_bilinear_backward";
    let b = backend(gy.ordinal)?;
    let n = planes * in_h * in_w;
    let mut gx = b.alloc(op, n)?;
    let dims = u64s([in_h, in_w, out_h, out_w]);
    let align = i32::from(align_corners);
    let [d0, d1, d2, d3] = &dims;
    launch_ops!(
        op,
        b,
        "fcn_resize_bilinear_backward",
        n,
        [gy.buf.as_ref(), &mut gx, d0, d1, d2, d3, &align]
    );
    Ok(b.storage(gx, n))
}

/// Copies channels `from .. from + count` of `src` to channels `to ..` of `dst`.
#[allow(clippy::too_many_arguments)]
fn copy_channels(
    op: &'static str,
    b: &Backend,
    src: &CudaSlice<f32>,
    [src_c, from]: [usize; 2],
    dst: &mut CudaSlice<f32>,
    [dst_c, to]: [usize; 2],
    count: usize,
    [images, plane]: [usize; 2],
) -> Result<()> {
    let dims = u64s([src_c, from, dst_c, to, count, plane]);
    let [d0, d1, d2, d3, d4, d5] = &dims;
    launch_ops!(
        op,
        b,
        "fcn_copy_channels",
        images * count * plane,
        [src, dst, d0, d1, d2, d3, d4, d5]
    );
    Ok(())
}

/// The parts (images, channels[i], plane) side by side along the channels.
pub(crate) fn concat_channels(
    parts: &[&CudaStorage],
    channels: &[usize],
    images: usize,
    plane: usize,
) -> Result<CudaStorage> {
    let op = "concat_channels";
    let ordinal = parts.first().map_or(0, |p| p.ordinal);
    let b = backend(ordinal)?;
    let total: usize = channels.iter().sum();
    let n = images * total * plane;
    let mut y = b.alloc(op, n)?;
    let mut to = 0;
    for (part, &count) in parts.iter().zip(channels) {
        copy_channels(
            op,
            &b,
            &part.buf,
            [count, 0],
            &mut y,
            [total, to],
            count,
            [images, plane],
        )?;
        to += count;
    }
    Ok(b.storage(y, n))
}

/// `x` (images, sum of channels, plane) cut into parts of `channels`.
pub(crate) fn split_channels(
    x: &CudaStorage,
    channels: &[usize],
    images: usize,
    plane: usize,
) -> Result<Vec<CudaStorage>> {
    let op = "split_channels";
    let b = backend(x.ordinal)?;
    let total: usize = channels.iter().sum();
    let mut from = 0;
    channels
        .iter()
        .map(|&count| {
            let n = images * count * plane;
            let mut part = b.alloc(op, n)?;
            copy_channels(
                op,
                &b,
                &x.buf,
                [total, from],
                &mut part,
                [count, 0],
                count,
                [images, plane],
            )?;
            from += count;
            Ok(b.storage(part, n))
        })
        .collect()
}
