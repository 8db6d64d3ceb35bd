//! Crop windows of every plane, and their gradient.

use cudarc::driver::PushKernelArg;

use super::context::{CudaStorage, backend, launch_ops, u64s};
use crate::Result;

/// `ops::crop` of a checked (planes, in_h, in_w) input.
pub(crate) fn crop(
    sx: &CudaStorage,
    planes: usize,
    [in_h, in_w]: [usize; 2],
    offset: [usize; 2],
    [h, w]: [usize; 2],
) -> Result<CudaStorage> {
    let op = "crop";
    let b = backend(sx.ordinal)?;
    let n = planes * h * w;
    let mut y = b.alloc(op, n)?;
    let dims = u64s([in_h, in_w, offset[0], offset[1], h, w]);
    let [d0, d1, d2, d3, d4, d5] = &dims;
    launch_ops!(
        op,
        b,
        "fcn_crop",
        n,
        [sx.buf.as_ref(), &mut y, d0, d1, d2, d3, d4, d5]
    );
    Ok(b.storage(y, n))
}

/// `ops::crop_backward` of a checked gradient.
pub(crate) fn crop_backward(
    sg: &CudaStorage,
    planes: usize,
    [in_h, in_w]: [usize; 2],
    offset: [usize; 2],
    [h, w]: [usize; 2],
) -> Result<CudaStorage> {
    let op = "crop_backward";
    let b = backend(sg.ordinal)?;
    let n = planes * in_h * in_w;
    let mut gx = b.alloc(op, n)?;
    let dims = u64s([in_h, in_w, offset[0], offset[1], h, w]);
    let [d0, d1, d2, d3, d4, d5] = &dims;
    launch_ops!(
        op,
        b,
        "fcn_crop_backward",
        n,
        [sg.buf.as_ref(), &mut gx, d0, d1, d2, d3, d4, d5]
    );
    Ok(b.storage(gx, n))
}
