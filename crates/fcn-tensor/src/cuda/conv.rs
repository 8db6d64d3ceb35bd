//! Convolution primitives for both convolution directions: per image an im2col kernel and one
//! cuBLAS SGEMM per group (forward), SGEMM then col2im as a gather kernel (backward data), SGEMM
//! accumulated over the images with `beta = 1` (backward weight), and one block per channel for
//! the bias gradient (f64, fixed tree). `ops` composes the convolution and the transposed
//! convolution from them.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::context::{Backend, CudaStorage, backend, fail, launch_ops, u64s, zeros};
use super::gemm::gemm_into;
use super::kernels;
use crate::geometry::ConvGeometry;
use crate::{Result, TensorError};

/// `conv(x, w) + bias` (N, out_c, out_h, out_w) of `g`.
pub(crate) fn conv_forward(
    op: &'static str,
    x: &CudaStorage,
    w: &CudaStorage,
    bias: Option<&CudaStorage>,
    g: &ConvGeometry,
) -> Result<CudaStorage> {
    let b = backend(x.ordinal)?;
    let y = forward(op, &b, &x.buf, &w.buf, bias.map(|s| s.buf.as_ref()), g)?;
    Ok(b.storage(y, g.output_shape().iter().product()))
}

/// The adjoint of [`conv_forward`] applied to `gy` (N, out_c, out_h, out_w), plus a bias per
/// input channel: the input gradient of a convolution, or a transposed convolution's output.
pub(crate) fn conv_backward_data(
    op: &'static str,
    gy: &CudaStorage,
    w: &CudaStorage,
    bias: Option<&CudaStorage>,
    g: &ConvGeometry,
) -> Result<CudaStorage> {
    let b = backend(gy.ordinal)?;
    let mut gx = backward_data(op, &b, &gy.buf, &w.buf, g)?;
    let len = g.input_shape().iter().product();
    if let Some(bias) = bias {
        let [c, plane] = u64s([g.in_c, g.in_h * g.in_w]);
        launch_ops!(
            op,
            b,
            "fcn_add_bias",
            len,
            [&mut gx, bias.buf.as_ref(), &c, &plane]
        );
    }
    Ok(b.storage(gx, len))
}

/// The weight gradient (out_c, in_c / groups, kh, kw) of a convolution from its input `x` and
/// its output gradient `gy`.
pub(crate) fn conv_backward_weight(
    op: &'static str,
    x: &CudaStorage,
    gy: &CudaStorage,
    g: &ConvGeometry,
) -> Result<CudaStorage> {
    let b = backend(x.ordinal)?;
    let gw = backward_weight(op, &b, &x.buf, &gy.buf, g)?;
    let [k, ..] = conv_sizes(g);
    Ok(b.storage(gw, g.out_c * k))
}

/// Per channel, the sum of `gy` (n, channels, plane) in f64.
pub(crate) fn bias_backward(
    op: &'static str,
    gy: &CudaStorage,
    dims @ [_, channels, _]: [usize; 3],
) -> Result<CudaStorage> {
    let b = backend(gy.ordinal)?;
    let gb = bias_gradient(op, &b, &gy.buf, dims)?;
    Ok(b.storage(gb, channels))
}

/// The convolution's sizes as kernel arguments: in_h, in_w, out_h, out_w, kh, kw, sh, sw, ph,
/// pw, dh, dw.
fn conv_args(g: &ConvGeometry) -> [u64; 12] {
    u64s([
        g.in_h,
        g.in_w,
        g.out_h,
        g.out_w,
        g.kernel[0],
        g.kernel[1],
        g.stride[0],
        g.stride[1],
        g.padding[0],
        g.padding[1],
        g.dilation[0],
        g.dilation[1],
    ])
}

/// Sizes of a convolution: (rows of a group's column matrix, output plane, input plane,
/// input channels per group, output channels per group).
fn conv_sizes(g: &ConvGeometry) -> [usize; 5] {
    let in_cg = g.in_c / g.groups;
    [
        in_cg * g.kernel[0] * g.kernel[1],
        g.out_h * g.out_w,
        g.in_h * g.in_w,
        in_cg,
        g.out_c / g.groups,
    ]
}

/// Unrolls image `i` of `x` (N, in_c, in_h, in_w) into `cols` (in_c * kh * kw, out plane).
fn im2col(
    op: &'static str,
    b: &Backend,
    x: &CudaSlice<f32>,
    i: usize,
    g: &ConvGeometry,
    cols: &mut CudaSlice<f32>,
) -> Result<()> {
    let [k, p, in_plane, ..] = conv_sizes(g);
    let image = g.in_c * in_plane;
    let xi = x.slice(i * image..(i + 1) * image);
    let [d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11] = &conv_args(g);
    let rows = g.groups * k;
    launch_ops!(
        op,
        b,
        "fcn_im2col",
        rows * p,
        [&xi, cols, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11]
    );
    Ok(())
}

/// `conv(x, w) + bias` of device buffers: per image, im2col then one SGEMM per group.
fn forward(
    op: &'static str,
    b: &Backend,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    bias: Option<&CudaSlice<f32>>,
    g: &ConvGeometry,
) -> Result<CudaSlice<f32>> {
    let [k, p, _, _, out_cg] = conv_sizes(g);
    let len = g.n * g.out_c * p;
    let mut y = zeros(op, b, len)?;
    if len == 0 {
        return Ok(y);
    }
    let mut cols = zeros(op, b, g.groups * k * p)?;
    for i in 0..g.n {
        im2col(op, b, x, i, g, &mut cols)?;
        for grp in 0..g.groups {
            let wg = w.slice(grp * out_cg * k..(grp + 1) * out_cg * k);
            let cg = cols.slice(grp * k * p..(grp + 1) * k * p);
            let at = (i * g.out_c + grp * out_cg) * p;
            let mut yg = y.slice_mut(at..at + out_cg * p);
            gemm_into(op, b, [out_cg, p, k], &wg, false, &cg, false, &mut yg, 0.0)?;
        }
    }
    if let Some(bias) = bias {
        let [c, plane] = u64s([g.out_c, p]);
        launch_ops!(op, b, "fcn_add_bias", len, [&mut y, bias, &c, &plane]);
    }
    Ok(y)
}

/// The input gradient of a convolution from `gy`: per image and group `w^T gy` into the
/// column matrix, then col2im as a gather.
fn backward_data(
    op: &'static str,
    b: &Backend,
    gy: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    g: &ConvGeometry,
) -> Result<CudaSlice<f32>> {
    let [k, p, in_plane, _, out_cg] = conv_sizes(g);
    let image = g.in_c * in_plane;
    let len = g.n * image;
    let mut gx = zeros(op, b, len)?;
    if len == 0 {
        return Ok(gx);
    }
    let mut cols = zeros(op, b, g.groups * k * p)?;
    let [d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11] = &conv_args(g);
    for i in 0..g.n {
        for grp in 0..g.groups {
            let wg = w.slice(grp * out_cg * k..(grp + 1) * out_cg * k);
            let at = (i * g.out_c + grp * out_cg) * p;
            let gyg = gy.slice(at..at + out_cg * p);
            let mut cg = cols.slice_mut(grp * k * p..(grp + 1) * k * p);
            gemm_into(op, b, [k, p, out_cg], &wg, true, &gyg, false, &mut cg, 0.0)?;
        }
        let mut gxi = gx.slice_mut(i * image..(i + 1) * image);
        launch_ops!(
            op,
            b,
            "fcn_col2im",
            image,
            [
                &cols, &mut gxi, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11
            ]
        );
    }
    Ok(gx)
}

/// The weight gradient of a convolution: per image and group `gy cols^T`, accumulated over
/// the images by SGEMM's `beta = 1` in image order.
fn backward_weight(
    op: &'static str,
    b: &Backend,
    x: &CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    g: &ConvGeometry,
) -> Result<CudaSlice<f32>> {
    let [k, p, _, _, out_cg] = conv_sizes(g);
    let mut gw = zeros(op, b, g.out_c * k)?;
    if g.out_c * k == 0 {
        return Ok(gw);
    }
    let mut cols = zeros(op, b, g.groups * k * p)?;
    for i in 0..g.n {
        im2col(op, b, x, i, g, &mut cols)?;
        for grp in 0..g.groups {
            let at = (i * g.out_c + grp * out_cg) * p;
            let gyg = gy.slice(at..at + out_cg * p);
            let cg = cols.slice(grp * k * p..(grp + 1) * k * p);
            let mut gwg = gw.slice_mut(grp * out_cg * k..(grp + 1) * out_cg * k);
            gemm_into(op, b, [out_cg, k, p], &gyg, false, &cg, true, &mut gwg, 1.0)?;
        }
    }
    Ok(gw)
}

/// The bias gradient: per channel, the sum of `gy` (n, channels, plane) in f64, one block per
/// channel in a fixed order.
fn bias_gradient(
    op: &'static str,
    b: &Backend,
    gy: &CudaSlice<f32>,
    [n, channels, plane]: [usize; 3],
) -> Result<CudaSlice<f32>> {
    let mut gb = zeros(op, b, channels)?;
    if channels == 0 {
        return Ok(gb);
    }
    let blocks = u32::try_from(channels).map_err(|_| TensorError::TooLarge {
        op,
        what: "channels",
        value: channels,
        limit: u64::from(u32::MAX),
    })?;
    let k = b.kernels()?;
    let mut launch = b.stream.launch_builder(k.op("fcn_bias_backward"));
    let dims = u64s([n, channels, plane]);
    launch
        .arg(gy)
        .arg(&mut gb)
        .arg(&dims[0])
        .arg(&dims[1])
        .arg(&dims[2]);
    let cfg = LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (kernels::SUM_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: (gy, gb, images, channels, plane) as in `fcn_bias_backward`; `gy` holds
    // n * channels * plane values, `gb` one per block, and the kernel needs SUM_THREADS threads.
    unsafe { launch.launch(cfg) }.map_err(fail(op, b.ordinal))?;
    Ok(gb)
}
