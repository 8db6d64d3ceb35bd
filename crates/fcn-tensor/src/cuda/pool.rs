//! Max pooling with indices (the CPU's scan order and NaN rule), and its gradient.

use cudarc::driver::PushKernelArg;

use super::context::{
    CudaStorage, alloc_any, backend, download_any, fail, launch_ops, u64s, upload_any,
};
use crate::Result;
use crate::geometry::{Pool2d, PoolGeometry};

/// The pooling's sizes as kernel arguments: in_h, in_w, out_h, out_w, kh, kw, sh, sw, ph, pw.
fn pool_args(g: &PoolGeometry, p: &Pool2d) -> [u64; 10] {
    u64s([
        g.in_h,
        g.in_w,
        g.out_h,
        g.out_w,
        p.kernel[0],
        p.kernel[1],
        p.stride[0],
        p.stride[1],
        p.padding[0],
        p.padding[1],
    ])
}

/// `ops::max_pool2d`: the output stays on the GPU, the indices are
/// downloaded (the host `Vec<u32>` of `MaxPoolOutput`).
pub(crate) fn max_pool2d(
    sx: &CudaStorage,
    g: &PoolGeometry,
    p: &Pool2d,
) -> Result<(CudaStorage, Vec<u32>)> {
    let op = "max_pool2d";
    let b = backend(sx.ordinal)?;
    let n = g.planes * g.out_h * g.out_w;
    let mut y = b.alloc(op, n)?;
    let mut idx = alloc_any::<u32>(op, &b, n)?;
    let dims = pool_args(g, p);
    let [d0, d1, d2, d3, d4, d5, d6, d7, d8, d9] = &dims;
    launch_ops!(
        op,
        b,
        "fcn_max_pool2d",
        n,
        [
            sx.buf.as_ref(),
            &mut y,
            &mut idx,
            d0,
            d1,
            d2,
            d3,
            d4,
            d5,
            d6,
            d7,
            d8,
            d9
        ]
    );
    let indices = download_any(op, &b, &idx, n)?;
    Ok((b.storage(y, n), indices))
}

/// `ops::max_pool2d_backward`: the host indices are
/// uploaded, then each input value gathers the gradients routed to it.
pub(crate) fn max_pool2d_backward(
    sg: &CudaStorage,
    indices: &[u32],
    g: &PoolGeometry,
    p: &Pool2d,
) -> Result<CudaStorage> {
    let op = "max_pool2d_backward";
    let b = backend(sg.ordinal)?;
    let n = g.planes * g.in_h * g.in_w;
    if g.out_h * g.out_w == 0 {
        let zeros = b
            .stream
            .alloc_zeros::<f32>(n.max(1))
            .map_err(fail(op, b.ordinal))?;
        return Ok(b.storage(zeros, n));
    }
    let idx = upload_any(op, &b, indices)?;
    let mut gx = b.alloc(op, n)?;
    let dims = pool_args(g, p);
    let [d0, d1, d2, d3, d4, d5, d6, d7, d8, d9] = &dims;
    launch_ops!(
        op,
        b,
        "fcn_max_pool2d_backward",
        n,
        [
            sg.buf.as_ref(),
            &idx,
            &mut gx,
            d0,
            d1,
            d2,
            d3,
            d4,
            d5,
            d6,
            d7,
            d8,
            d9
        ]
    );
    Ok(b.storage(gx, n))
}
