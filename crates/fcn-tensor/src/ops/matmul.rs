//! Matrix products.

use super::check::common_device;
use crate::cpu::gemm::{Mat, Threads, gemm};
use crate::{Device, Result, Tensor, TensorError, cuda};

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
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::matmul(a.cuda_storage(op)?, b.cuda_storage(op)?, [m, k, n])?,
            &[m, n],
        )),
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
        Device::Cpu => {
            let gc = Mat::new(grad_output.data(), m, n, n);
            let ga = matmul_into(m, k, gc, Mat::new(b.data(), k, n, n).t());
            let gb = matmul_into(k, n, Mat::new(a.data(), m, k, k).t(), gc);
            Ok((
                Tensor::from_vec(ga, &[m, k])?,
                Tensor::from_vec(gb, &[k, n])?,
            ))
        }
        Device::Cuda(_) => {
            let (ga, gb) = cuda::matmul_backward(
                a.cuda_storage(op)?,
                b.cuda_storage(op)?,
                grad_output.cuda_storage(op)?,
                [m, k, n],
            )?;
            Ok((
                Tensor::from_cuda(ga, &[m, k]),
                Tensor::from_cuda(gb, &[k, n]),
            ))
        }
    }
}
