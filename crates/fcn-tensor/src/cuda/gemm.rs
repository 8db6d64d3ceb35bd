//! Matrix products on cuBLAS (row-major through the column-major swap).

use cudarc::cublas::Gemm;
use cudarc::cublas::GemmConfig;
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};

use super::context::{Backend, CudaStorage, backend, fail};
use crate::{Result, TensorError};

/// `op(A) * op(B)` of row-major matrices into a new row-major (m, n) buffer, on cuBLAS
/// (column-major) as `C^T = op(B)^T op(A)^T`. `A` is stored (m, k), or (k, m) when
/// `a_transposed`; `B` is stored (k, n), or (n, k) when `b_transposed`.
#[allow(clippy::too_many_arguments)]
fn gemm_row_major(
    op: &'static str,
    b: &Backend,
    [m, n, k]: [usize; 3],
    a: &CudaSlice<f32>,
    a_transposed: bool,
    bm: &CudaSlice<f32>,
    b_transposed: bool,
) -> Result<CudaStorage> {
    if m == 0 || n == 0 || k == 0 {
        // No product to run: an empty result, or zeros when only the inner dimension is 0.
        let c = b
            .stream
            .alloc_zeros::<f32>((m * n).max(1))
            .map_err(fail(op, b.ordinal))?;
        return Ok(b.storage(c, m * n));
    }
    let mut c = b.alloc(op, m * n)?;
    gemm_into(
        op,
        b,
        [m, n, k],
        a,
        a_transposed,
        bm,
        b_transposed,
        &mut c,
        0.0,
    )?;
    Ok(b.storage(c, m * n))
}

/// `a (m, k) * b (k, n)` on the GPU of both (shapes checked by `ops::matmul`).
pub(crate) fn matmul(
    a: &CudaStorage,
    b: &CudaStorage,
    [m, k, n]: [usize; 3],
) -> Result<CudaStorage> {
    let op = "matmul";
    let be = backend(a.ordinal)?;
    gemm_row_major(op, &be, [m, n, k], &a.buf, false, &b.buf, false)
}

/// `(grad_output b^T, a^T grad_output)` on the GPU (shapes checked by `ops::matmul_backward`).
pub(crate) fn matmul_backward(
    sa: &CudaStorage,
    sb: &CudaStorage,
    sg: &CudaStorage,
    [m, k, n]: [usize; 3],
) -> Result<(CudaStorage, CudaStorage)> {
    let op = "matmul_backward";
    let be = backend(sa.ordinal)?;
    // ga (m, k) = gc (m, n) * b^T, b stored (k, n).
    let ga = gemm_row_major(op, &be, [m, k, n], &sg.buf, false, &sb.buf, true)?;
    // gb (k, n) = a^T * gc, a stored (m, k).
    let gb = gemm_row_major(op, &be, [k, n, m], &sa.buf, true, &sg.buf, false)?;
    Ok((ga, gb))
}

/// `C (m, n) = op(A) op(B) + beta C` of row-major matrices (slices or views), on cuBLAS as in
/// [`gemm_row_major`]. Nothing runs when a dimension is 0 (`C` is left as it is).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_into<A: DevicePtr<f32>, B: DevicePtr<f32>, C: DevicePtrMut<f32>>(
    op: &'static str,
    b: &Backend,
    [m, n, k]: [usize; 3],
    a: &A,
    a_transposed: bool,
    bm: &B,
    b_transposed: bool,
    c: &mut C,
    beta: f32,
) -> Result<()> {
    if m == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    let int = |v: usize| {
        i32::try_from(v).map_err(|_| TensorError::TooLarge {
            op,
            what: "a cuBLAS matrix dimension",
            value: v,
            limit: i32::MAX as u64,
        })
    };
    let trans = |t: bool| {
        if t {
            cublasOperation_t::CUBLAS_OP_T
        } else {
            cublasOperation_t::CUBLAS_OP_N
        }
    };
    let cfg = GemmConfig {
        transa: trans(b_transposed),
        transb: trans(a_transposed),
        m: int(n)?,
        n: int(m)?,
        k: int(k)?,
        alpha: 1.0f32,
        lda: int(if b_transposed { k } else { n })?,
        ldb: int(if a_transposed { m } else { k })?,
        beta,
        ldc: int(n)?,
    };
    let blas = b.blas()?;
    // SAFETY: with the leading dimensions above, cuBLAS reads n*k values of `bm`, m*k of `a`
    // and reads and writes m*n of `c`: the callers pass views of exactly those lengths.
    unsafe { blas.gemm(cfg, bm, a, c) }.map_err(fail(op, b.ordinal))
}
