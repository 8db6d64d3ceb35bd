//! CPU kernels over row-major `f32` slices. Shapes are checked by the callers in `ops`.

pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod gemm;
pub(crate) mod loss;
pub(crate) mod norm;
pub(crate) mod optim;
pub(crate) mod pool;
pub(crate) mod resize;
pub(crate) mod winograd;
