//! The `cuda` module of a build without the `cuda` feature (candle's dummy backend): the same
//! types and functions as the real one, so `tensor` and `ops` dispatch on [`Device`] without
//! `cfg` arms. No GPU buffer can exist ([`CudaStorage`] has no values), so the functions over
//! buffers cannot be reached; those that would create one are
//! [`TensorError::DeviceUnavailable`] naming the missing feature.

use crate::geometry::{ConvGeometry, Pool2d, PoolGeometry};
use crate::{Device, Result, TensorError};

/// GPU buffers: none in this build.
#[derive(Debug, Clone)]
pub(crate) enum CudaStorage {}

impl CudaStorage {
    pub(crate) fn len(&self) -> usize {
        match *self {}
    }

    pub(crate) fn ordinal(&self) -> usize {
        match *self {}
    }

    pub(crate) fn same_buffer(&self, _other: &Self) -> bool {
        match *self {}
    }
}

/// Why GPU `ordinal` cannot be used in this build.
fn not_built(ordinal: usize) -> TensorError {
    TensorError::DeviceUnavailable {
        device: Device::Cuda(ordinal),
        reason: crate::error::Unavailable::NotBuilt,
    }
}

pub(crate) fn upload(ordinal: usize, _data: &[f32]) -> Result<CudaStorage> {
    Err(not_built(ordinal))
}

pub(crate) fn synchronize(ordinal: usize) -> Result<()> {
    Err(not_built(ordinal))
}

pub(crate) fn download(s: &CudaStorage) -> Result<Vec<f32>> {
    match *s {}
}

pub(crate) fn relu(x: &CudaStorage) -> Result<CudaStorage> {
    match *x {}
}

pub(crate) fn relu_backward(gy: &CudaStorage, _y: &CudaStorage) -> Result<CudaStorage> {
    match *gy {}
}

pub(crate) fn add(a: &CudaStorage, _b: &CudaStorage) -> Result<CudaStorage> {
    match *a {}
}

pub(crate) fn mul(a: &CudaStorage, _b: &CudaStorage) -> Result<CudaStorage> {
    match *a {}
}

pub(crate) fn scale(x: &CudaStorage, _factor: f32) -> Result<CudaStorage> {
    match *x {}
}

pub(crate) fn dropout_mask(
    like: &CudaStorage,
    _group_len: usize,
    _p: f32,
    _keep: f32,
    _seed: u64,
) -> Result<CudaStorage> {
    match *like {}
}

pub(crate) fn crop(
    x: &CudaStorage,
    _planes: usize,
    _input: [usize; 2],
    _offset: [usize; 2],
    _size: [usize; 2],
) -> Result<CudaStorage> {
    match *x {}
}

pub(crate) fn crop_backward(
    gy: &CudaStorage,
    _planes: usize,
    _input: [usize; 2],
    _offset: [usize; 2],
    _size: [usize; 2],
) -> Result<CudaStorage> {
    match *gy {}
}

pub(crate) fn argmax_channels(x: &CudaStorage, _dims: [usize; 3]) -> Result<Vec<u32>> {
    match *x {}
}

pub(crate) fn softmax_cross_entropy(
    logits: &CudaStorage,
    _labels: &[i32],
    _weight: &[f32],
    _coef: &[f32],
    _dims: [usize; 3],
) -> Result<(f64, CudaStorage)> {
    match *logits {}
}

pub(crate) fn max_pool2d(
    x: &CudaStorage,
    _g: &PoolGeometry,
    _p: &Pool2d,
) -> Result<(CudaStorage, Vec<u32>)> {
    match *x {}
}

pub(crate) fn max_pool2d_backward(
    gy: &CudaStorage,
    _indices: &[u32],
    _g: &PoolGeometry,
    _p: &Pool2d,
) -> Result<CudaStorage> {
    match *gy {}
}

pub(crate) fn matmul(a: &CudaStorage, _b: &CudaStorage, _dims: [usize; 3]) -> Result<CudaStorage> {
    match *a {}
}

pub(crate) fn matmul_backward(
    a: &CudaStorage,
    _b: &CudaStorage,
    _grad_output: &CudaStorage,
    _dims: [usize; 3],
) -> Result<(CudaStorage, CudaStorage)> {
    match *a {}
}

pub(crate) fn conv_forward(
    _op: &'static str,
    x: &CudaStorage,
    _w: &CudaStorage,
    _bias: Option<&CudaStorage>,
    _g: &ConvGeometry,
) -> Result<CudaStorage> {
    match *x {}
}

pub(crate) fn conv_backward_data(
    _op: &'static str,
    gy: &CudaStorage,
    _w: &CudaStorage,
    _bias: Option<&CudaStorage>,
    _g: &ConvGeometry,
) -> Result<CudaStorage> {
    match *gy {}
}

pub(crate) fn conv_backward_weight(
    _op: &'static str,
    x: &CudaStorage,
    _gy: &CudaStorage,
    _g: &ConvGeometry,
) -> Result<CudaStorage> {
    match *x {}
}

pub(crate) fn bias_backward(
    _op: &'static str,
    gy: &CudaStorage,
    _dims: [usize; 3],
) -> Result<CudaStorage> {
    match *gy {}
}

pub(crate) fn sgd_step(
    w: &CudaStorage,
    _buf: &CudaStorage,
    _g: &CudaStorage,
    _coefficients: [f32; 3],
) -> Result<(CudaStorage, CudaStorage)> {
    match *w {}
}

pub(crate) fn lars_step(
    w: &CudaStorage,
    _v: &CudaStorage,
    _g: &CudaStorage,
    _coefficients: [f32; 3],
) -> Result<(CudaStorage, CudaStorage)> {
    match *w {}
}

pub(crate) fn adam_step(
    [w, ..]: [&CudaStorage; 4],
    _coefficients: [f32; 4],
    _rates: [f64; 3],
) -> Result<(CudaStorage, CudaStorage, CudaStorage)> {
    match *w {}
}

pub(crate) fn sum_squares(x: &CudaStorage) -> Result<f64> {
    match *x {}
}

/// The batch's mean and `1 / sqrt(var + eps)` per channel, and the updated running mean and
/// variance when running statistics were given.
pub(crate) type BatchStatistics = (CudaStorage, CudaStorage, Option<(CudaStorage, CudaStorage)>);

pub(crate) fn batch_norm_statistics(
    x: &CudaStorage,
    _dims: [usize; 3],
    _running: Option<(&CudaStorage, &CudaStorage)>,
    _eps: f32,
    _momentum: f32,
) -> Result<BatchStatistics> {
    match *x {}
}

pub(crate) fn batch_norm_running(
    running_mean: &CudaStorage,
    _running_var: &CudaStorage,
    _eps: f32,
) -> Result<(CudaStorage, CudaStorage)> {
    match *running_mean {}
}

pub(crate) fn batch_norm_apply(
    x: &CudaStorage,
    _channel_values: [&CudaStorage; 4],
    _residual: Option<&CudaStorage>,
    _relu: bool,
    _dims: [usize; 3],
) -> Result<CudaStorage> {
    match *x {}
}

pub(crate) fn batch_norm_backward(
    gy: &CudaStorage,
    _x: &CudaStorage,
    _channel_values: [&CudaStorage; 3],
    _through_statistics: bool,
    _dims: [usize; 3],
) -> Result<(CudaStorage, CudaStorage, CudaStorage)> {
    match *gy {}
}

pub(crate) fn plane_means(x: &CudaStorage, _planes: usize, _plane: usize) -> Result<CudaStorage> {
    match *x {}
}

pub(crate) fn plane_means_backward(gy: &CudaStorage, _plane: usize) -> Result<CudaStorage> {
    match *gy {}
}

pub(crate) fn resize_bilinear(
    x: &CudaStorage,
    _planes: usize,
    _input: [usize; 2],
    _output: [usize; 2],
    _align_corners: bool,
) -> Result<CudaStorage> {
    match *x {}
}

pub(crate) fn resize_bilinear_backward(
    gy: &CudaStorage,
    _planes: usize,
    _input: [usize; 2],
    _output: [usize; 2],
    _align_corners: bool,
) -> Result<CudaStorage> {
    match *gy {}
}

pub(crate) fn concat_channels(
    parts: &[&CudaStorage],
    _channels: &[usize],
    _images: usize,
    _plane: usize,
) -> Result<CudaStorage> {
    match *parts[0] {}
}

pub(crate) fn split_channels(
    x: &CudaStorage,
    _channels: &[usize],
    _images: usize,
    _plane: usize,
) -> Result<Vec<CudaStorage>> {
    match *x {}
}
