//! The CUDA backend (the `cuda` feature), on cudarc with run-time loading of the driver,
//! cuBLAS and NVRTC, so building needs no toolkit.
//!
//! - One context per GPU ordinal, created at first use and cached. Before cudarc touches a
//!   library (it panics when one is missing) the library is probed, and its absence becomes
//!   [`TensorError::DeviceUnavailable`].
//! - [`ops::matmul`](crate::ops::matmul) and [`ops::matmul_backward`](crate::ops::matmul_backward)
//!   run on cuBLAS SGEMM (row-major through the column-major swap).
//! - [`ops::relu`](crate::ops::relu), [`ops::relu_backward`](crate::ops::relu_backward),
//!   [`ops::add`](crate::ops::add), [`ops::mul`](crate::ops::mul) and
//!   [`ops::scale`](crate::ops::scale) are CUDA C kernels compiled by NVRTC at first use
//!   (`kernels::SOURCE`), like the rest (`kernels::OPS_SOURCE`), all written in gather form:
//!   one thread per output value, so no atomics and results that do not vary between runs.
//! - [`ops::crop`](crate::ops::crop), [`ops::crop_backward`](crate::ops::crop_backward) and
//!   [`ops::argmax_channels`](crate::ops::argmax_channels) (its labels are downloaded: the
//!   result is a host `Vec<u32>`).
//! - [`ops::max_pool2d`](crate::ops::max_pool2d): one thread per window, the CPU's scan order
//!   and NaN rule, so values and indices are the CPU's bit for bit. The indices are downloaded
//!   into `MaxPoolOutput::indices` (host memory, as on the CPU; the forward pass therefore
//!   synchronises); [`ops::max_pool2d_backward`](crate::ops::max_pool2d_backward) uploads them
//!   and each input value sums, in output order, the gradients of the windows covering it whose
//!   maximum it was (the CPU's order of additions, so also bit for bit).
//! - [`ops::softmax_cross_entropy`](crate::ops::softmax_cross_entropy): one thread per pixel
//!   writes the gradient and its weighted loss (f64); the losses are summed by fixed-shape block
//!   trees and the block partials in order on the host, so the loss is deterministic. The
//!   reduction's scale and the per-class factors are computed on the host as on the CPU.
//! - [`ops::dropout`](crate::ops::dropout): the CPU's counter-based hash, ported to 64-bit
//!   integer arithmetic, so a seed gives the same mask on both devices.
//! - [`ops::conv2d`](crate::ops::conv2d), [`ops::conv_transpose2d`](crate::ops::conv_transpose2d)
//!   and their backward passes: per image an im2col kernel, one cuBLAS SGEMM per group, and
//!   col2im as a gather kernel (each input value sums its column entries); the weight gradient
//!   accumulates over the images with `beta = 1`, the bias gradient is one block per channel
//!   (f64, fixed tree). Transposed convolution reuses the three passes through the adjoint
//!   convolution's geometry, as on the CPU.
//!
//! All work goes to the context's default stream; downloads synchronise it.
// cudarc's launches, allocations and library probes are `unsafe fn`s: this module is the one
// place of the crate that calls them, each with the invariant it relies on.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DevicePtrMut, LaunchConfig,
    PushKernelArg,
};

use crate::cpu::conv::ConvGeometry;
use crate::{BackendError, Device, Result, Tensor, TensorError};

mod kernels;

/// The values of a tensor on one GPU. The buffer holds at least one element (CUDA cannot
/// allocate zero bytes); `len` is the tensor's length.
#[derive(Debug, Clone)]
pub(crate) struct CudaStorage {
    buf: Arc<CudaSlice<f32>>,
    len: usize,
    ordinal: usize,
}

impl CudaStorage {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn ordinal(&self) -> usize {
        self.ordinal
    }

    pub(crate) fn same_buffer(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }
}

/// A GPU's context, stream and lazily created libraries.
struct Backend {
    ordinal: usize,
    stream: Arc<CudaStream>,
    blas: OnceLock<std::result::Result<CudaBlas, TensorError>>,
    kernels: OnceLock<std::result::Result<Kernels, TensorError>>,
}

/// The element-wise kernels, compiled once per GPU.
struct Kernels {
    relu: CudaFunction,
    relu_backward: CudaFunction,
    add: CudaFunction,
    mul: CudaFunction,
    scale: CudaFunction,
    /// The kernels of `kernels::OPS_SOURCE`, by name.
    ops: HashMap<&'static str, CudaFunction>,
}

impl Kernels {
    /// The kernel `name` of `kernels::OPS_KERNELS`.
    fn op(&self, name: &'static str) -> &CudaFunction {
        // Every name of OPS_KERNELS is loaded by `compile`; callers pass only those.
        &self.ops[name]
    }
}

type Cache = Mutex<HashMap<usize, std::result::Result<Arc<Backend>, TensorError>>>;

fn unavailable(ordinal: usize, reason: impl Into<String>) -> TensorError {
    TensorError::DeviceUnavailable {
        device: Device::Cuda(ordinal),
        reason: reason.into(),
    }
}

/// Maps a cudarc error of `op` on GPU `ordinal` into the crate's error, keeping it as the source.
fn fail<E: std::error::Error + Send + Sync + 'static>(
    op: &'static str,
    ordinal: usize,
) -> impl FnOnce(E) -> TensorError {
    move |e| TensorError::Backend {
        op,
        device: Device::Cuda(ordinal),
        source: BackendError::new(e),
    }
}

/// Runs `f`, turning a panic inside cudarc (a library or symbol it could not load) into
/// `DeviceUnavailable`.
fn guarded<T>(ordinal: usize, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Err(unavailable(ordinal, format!("{what}: {message}")))
    })
}

/// The backend of GPU `ordinal`, created on first use; a failure is cached too.
fn backend(ordinal: usize) -> Result<Arc<Backend>> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(ordinal)
        .or_insert_with(|| guarded(ordinal, "CUDA driver", || create(ordinal)))
        .clone()
}

fn create(ordinal: usize) -> Result<Arc<Backend>> {
    // SAFETY: only tries to open the shared library by its candidate names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(unavailable(
            ordinal,
            "the CUDA driver library (libcuda) was not found: no NVIDIA driver on this machine",
        ));
    }
    let count = CudaContext::device_count()
        .map_err(|e| unavailable(ordinal, format!("the CUDA driver cannot list devices: {e}")))?;
    let count = usize::try_from(count).unwrap_or(0);
    if ordinal >= count {
        return Err(unavailable(
            ordinal,
            format!("{count} CUDA device(s) found, ordinal {ordinal} is past the last"),
        ));
    }
    let ctx = CudaContext::new(ordinal)
        .map_err(|e| unavailable(ordinal, format!("cannot create a context: {e}")))?;
    Ok(Arc::new(Backend {
        ordinal,
        stream: ctx.default_stream(),
        blas: OnceLock::new(),
        kernels: OnceLock::new(),
    }))
}

impl Backend {
    fn blas(&self) -> Result<&CudaBlas> {
        self.blas
            .get_or_init(|| {
                guarded(self.ordinal, "cuBLAS", || {
                    // SAFETY: only tries to open the shared library by its candidate names.
                    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
                        return Err(unavailable(
                            self.ordinal,
                            "the cuBLAS library (libcublas) was not found",
                        ));
                    }
                    CudaBlas::new(Arc::clone(&self.stream))
                        .map_err(fail("cublas init", self.ordinal))
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn kernels(&self) -> Result<&Kernels> {
        self.kernels
            .get_or_init(|| guarded(self.ordinal, "NVRTC", || self.compile()))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn compile(&self) -> Result<Kernels> {
        // SAFETY: only tries to open the shared library by its candidate names.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(unavailable(
                self.ordinal,
                "the NVRTC library (libnvrtc) was not found",
            ));
        }
        let op = "compile kernels";
        let ptx = cudarc::nvrtc::compile_ptx(kernels::SOURCE).map_err(fail(op, self.ordinal))?;
        let module = self
            .stream
            .context()
            .load_module(ptx)
            .map_err(fail(op, self.ordinal))?;
        let load = |name: &str| module.load_function(name).map_err(fail(op, self.ordinal));
        let ptx =
            cudarc::nvrtc::compile_ptx(kernels::OPS_SOURCE).map_err(fail(op, self.ordinal))?;
        let ops_module = self
            .stream
            .context()
            .load_module(ptx)
            .map_err(fail(op, self.ordinal))?;
        let ops = kernels::OPS_KERNELS
            .iter()
            .map(|&name| {
                ops_module
                    .load_function(name)
                    .map(|f| (name, f))
                    .map_err(fail(op, self.ordinal))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        Ok(Kernels {
            ops,
            relu: load("fcn_relu")?,
            relu_backward: load("fcn_relu_backward")?,
            add: load("fcn_add")?,
            mul: load("fcn_mul")?,
            scale: load("fcn_scale")?,
        })
    }

    /// A buffer for `len` values (at least one element), contents unset.
    fn alloc(&self, op: &'static str, len: usize) -> Result<CudaSlice<f32>> {
        // SAFETY: every caller writes all `len` values before the buffer is read.
        unsafe { self.stream.alloc::<f32>(len.max(1)) }.map_err(fail(op, self.ordinal))
    }

    fn storage(&self, buf: CudaSlice<f32>, len: usize) -> CudaStorage {
        CudaStorage {
            buf: Arc::new(buf),
            len,
            ordinal: self.ordinal,
        }
    }
}

/// Copies host values to GPU `ordinal`.
pub(crate) fn upload(ordinal: usize, data: &[f32]) -> Result<CudaStorage> {
    let b = backend(ordinal)?;
    let op = "to_device";
    let buf = if data.is_empty() {
        b.stream.alloc_zeros::<f32>(1).map_err(fail(op, ordinal))?
    } else {
        b.stream.clone_htod(data).map_err(fail(op, ordinal))?
    };
    Ok(b.storage(buf, data.len()))
}

/// Waits until all work queued on GPU `ordinal` has finished.
pub(crate) fn synchronize(ordinal: usize) -> Result<()> {
    let b = backend(ordinal)?;
    b.stream.synchronize().map_err(fail("synchronize", ordinal))
}

/// Copies a GPU tensor's values to the host, waiting for the work that writes them.
pub(crate) fn download(s: &CudaStorage) -> Result<Vec<f32>> {
    let b = backend(s.ordinal)?;
    let op = "to_vec";
    if s.len == 0 {
        return Ok(Vec::new());
    }
    let values = b
        .stream
        .clone_dtoh(&s.buf.slice(..s.len))
        .map_err(fail(op, s.ordinal))?;
    b.stream.synchronize().map_err(fail(op, s.ordinal))?;
    Ok(values)
}

/// The CUDA storage of an operand that `ops` has checked is on a GPU.
fn cuda_storage<'t>(op: &'static str, t: &'t Tensor) -> Result<&'t CudaStorage> {
    match t.storage() {
        crate::tensor::Storage::Cuda(s) => Ok(s),
        crate::tensor::Storage::Cpu(_) => Err(TensorError::DeviceMismatch {
            op,
            first: Device::Cuda(0),
            second: Device::Cpu,
        }),
    }
}

/// Threads per block and the most blocks of the grid-stride element-wise kernels.
const BLOCK: u32 = 256;
const MAX_BLOCKS: u32 = 65_535;

fn elementwise_config(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, MAX_BLOCKS as usize) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Which element-wise kernel to run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Elementwise {
    /// `max(x, 0)`.
    Relu,
    /// `gy` where `y > 0`, else 0 (inputs: gy, y).
    ReluBackward,
    /// `a + b`.
    Add,
    /// `a * b`.
    Mul,
    /// `factor * x`.
    Scale(f32),
}

impl Elementwise {
    fn name(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::ReluBackward => "relu_backward",
            Self::Add => "add",
            Self::Mul => "mul",
            Self::Scale(_) => "scale",
        }
    }
}

/// Runs an element-wise kernel over `inputs` (one, or two of the same shape, on one GPU: the
/// callers in `ops` check both) into a new tensor of their shape.
pub(crate) fn elementwise(kind: Elementwise, inputs: &[&Tensor]) -> Result<Tensor> {
    let op = kind.name();
    let [first, ..] = inputs else {
        return Err(TensorError::InvalidParameter {
            op,
            reason: "no operands".to_owned(),
        });
    };
    let x = cuda_storage(op, first)?;
    let b = backend(x.ordinal)?;
    let n = x.len;
    let mut y = b.alloc(op, n)?;
    if n > 0 {
        let k = b.kernels()?;
        let second = match (kind, inputs.get(1)) {
            (Elementwise::ReluBackward | Elementwise::Add | Elementwise::Mul, Some(t)) => {
                Some(cuda_storage(op, t)?)
            }
            (Elementwise::ReluBackward | Elementwise::Add | Elementwise::Mul, None) => {
                return Err(TensorError::InvalidParameter {
                    op,
                    reason: "two operands needed".to_owned(),
                });
            }
            _ => None,
        };
        let func = match kind {
            Elementwise::Relu => &k.relu,
            Elementwise::ReluBackward => &k.relu_backward,
            Elementwise::Add => &k.add,
            Elementwise::Mul => &k.mul,
            Elementwise::Scale(_) => &k.scale,
        };
        let mut launch = b.stream.launch_builder(func);
        launch.arg(x.buf.as_ref());
        if let Some(second) = second {
            launch.arg(second.buf.as_ref());
        }
        let factor = match kind {
            Elementwise::Scale(factor) => factor,
            _ => 0.0,
        };
        if let Elementwise::Scale(_) = kind {
            launch.arg(&factor);
        }
        let count = n as u64;
        launch.arg(&mut y);
        launch.arg(&count);
        // SAFETY: the argument list matches the kernel's signature in `kernels::SOURCE`
        // (inputs, [factor], output, n); every buffer holds at least `n` values and the
        // kernels index below `n` only.
        unsafe { launch.launch(elementwise_config(n)) }.map_err(fail(op, x.ordinal))?;
    }
    Ok(Tensor::from_cuda(b.storage(y, n), first.shape()))
}

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
    let int = |v: usize| {
        i32::try_from(v).map_err(|_| TensorError::InvalidParameter {
            op,
            reason: format!("dimension {v} exceeds cuBLAS's 32-bit sizes"),
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
        beta: 0.0f32,
        ldc: int(n)?,
    };
    let blas = b.blas()?;
    let mut c = b.alloc(op, m * n)?;
    // SAFETY: with the leading dimensions above, cuBLAS reads n*k values of `bm`, m*k of `a`
    // and writes m*n of `c`, which is what the buffers hold (checked by the callers' shapes).
    unsafe { blas.gemm(cfg, bm, a, &mut c) }.map_err(fail(op, b.ordinal))?;
    Ok(b.storage(c, m * n))
}

/// `a (m, k) * b (k, n)` on the GPU of both (shapes checked by `ops::matmul`).
pub(crate) fn matmul(a: &Tensor, b: &Tensor, [m, k, n]: [usize; 3]) -> Result<Tensor> {
    let op = "matmul";
    let (sa, sb) = (cuda_storage(op, a)?, cuda_storage(op, b)?);
    let be = backend(sa.ordinal)?;
    let c = gemm_row_major(op, &be, [m, n, k], &sa.buf, false, &sb.buf, false)?;
    Ok(Tensor::from_cuda(c, &[m, n]))
}

/// `(grad_output b^T, a^T grad_output)` on the GPU (shapes checked by `ops::matmul_backward`).
pub(crate) fn matmul_backward(
    a: &Tensor,
    b: &Tensor,
    grad_output: &Tensor,
    [m, k, n]: [usize; 3],
) -> Result<(Tensor, Tensor)> {
    let op = "matmul_backward";
    let (sa, sb, sg) = (
        cuda_storage(op, a)?,
        cuda_storage(op, b)?,
        cuda_storage(op, grad_output)?,
    );
    let be = backend(sa.ordinal)?;
    // ga (m, k) = gc (m, n) * b^T, b stored (k, n).
    let ga = gemm_row_major(op, &be, [m, k, n], &sg.buf, false, &sb.buf, true)?;
    // gb (k, n) = a^T * gc, a stored (m, k).
    let gb = gemm_row_major(op, &be, [k, n, m], &sa.buf, true, &sg.buf, false)?;
    Ok((
        Tensor::from_cuda(ga, &[m, k]),
        Tensor::from_cuda(gb, &[k, n]),
    ))
}

/// A buffer of `len` (at least one) values of any kernel type, contents unset.
fn alloc_any<T: cudarc::driver::DeviceRepr>(
    op: &'static str,
    b: &Backend,
    len: usize,
) -> Result<CudaSlice<T>> {
    // SAFETY: every caller has a kernel write all `len` values before they are read.
    unsafe { b.stream.alloc::<T>(len.max(1)) }.map_err(fail(op, b.ordinal))
}

/// Host values to the GPU of `b` (at least one element is allocated).
fn upload_any<T: cudarc::driver::DeviceRepr + Default + Clone>(
    op: &'static str,
    b: &Backend,
    data: &[T],
) -> Result<CudaSlice<T>> {
    if data.is_empty() {
        b.stream
            .clone_htod(&[T::default()])
            .map_err(fail(op, b.ordinal))
    } else {
        b.stream.clone_htod(data).map_err(fail(op, b.ordinal))
    }
}

/// The first `len` values of `buf` on the host, after the work that writes them.
fn download_any<T: cudarc::driver::DeviceRepr + Default + Clone>(
    op: &'static str,
    b: &Backend,
    buf: &CudaSlice<T>,
    len: usize,
) -> Result<Vec<T>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let values = b
        .stream
        .clone_dtoh(&buf.slice(..len))
        .map_err(fail(op, b.ordinal))?;
    b.stream.synchronize().map_err(fail(op, b.ordinal))?;
    Ok(values)
}

/// Launches one of the `kernels::OPS_SOURCE` kernels over `n` outputs (nothing when `n` is 0)
/// with the given arguments and a trailing `n`, returning early on an error.
macro_rules! launch_ops {
    ($op:expr, $b:expr, $name:expr, $n:expr, [$($arg:expr),* $(,)?]) => {{
        let n: usize = $n;
        if n > 0 {
            let k = $b.kernels()?;
            let mut launch = $b.stream.launch_builder(k.op($name));
            $(launch.arg($arg);)*
            let count = n as u64;
            launch.arg(&count);
            // SAFETY: each caller passes the arguments of `$name`'s signature in
            // `kernels::OPS_SOURCE`, with buffers sized for the `n` outputs and the inputs they
            // index; the kernels index below those sizes only.
            unsafe { launch.launch(elementwise_config(n)) }.map_err(fail($op, $b.ordinal))?;
        }
    }};
}

fn u64s<const N: usize>(v: [usize; N]) -> [u64; N] {
    v.map(|v| v as u64)
}

/// [`ops::crop`](crate::ops::crop) of a checked (planes, in_h, in_w) input.
pub(crate) fn crop(
    x: &Tensor,
    planes: usize,
    [in_h, in_w]: [usize; 2],
    offset: [usize; 2],
    [h, w]: [usize; 2],
    shape: &[usize],
) -> Result<Tensor> {
    let op = "crop";
    let sx = cuda_storage(op, x)?;
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
    Ok(Tensor::from_cuda(b.storage(y, n), shape))
}

/// [`ops::crop_backward`](crate::ops::crop_backward) of a checked gradient.
pub(crate) fn crop_backward(
    gy: &Tensor,
    planes: usize,
    [in_h, in_w]: [usize; 2],
    offset: [usize; 2],
    [h, w]: [usize; 2],
    shape: &[usize],
) -> Result<Tensor> {
    let op = "crop_backward";
    let sg = cuda_storage(op, gy)?;
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
    Ok(Tensor::from_cuda(b.storage(gx, n), shape))
}

/// [`ops::argmax_channels`](crate::ops::argmax_channels), downloaded.
pub(crate) fn argmax_channels(x: &Tensor, [n, c, hw]: [usize; 3]) -> Result<Vec<u32>> {
    let op = "argmax_channels";
    let sx = cuda_storage(op, x)?;
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

/// The pooling's sizes as kernel arguments: in_h, in_w, out_h, out_w, kh, kw, sh, sw, ph, pw.
fn pool_args(g: &crate::ops::PoolGeometry, p: &crate::ops::Pool2d) -> [u64; 10] {
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

/// [`ops::max_pool2d`](crate::ops::max_pool2d): the output stays on the GPU, the indices are
/// downloaded (the host `Vec<u32>` of `MaxPoolOutput`).
pub(crate) fn max_pool2d(
    x: &Tensor,
    g: &crate::ops::PoolGeometry,
    p: &crate::ops::Pool2d,
    shape: &[usize],
) -> Result<(Tensor, Vec<u32>)> {
    let op = "max_pool2d";
    let sx = cuda_storage(op, x)?;
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
    Ok((Tensor::from_cuda(b.storage(y, n), shape), indices))
}

/// [`ops::max_pool2d_backward`](crate::ops::max_pool2d_backward): the host indices are
/// uploaded, then each input value gathers the gradients routed to it.
pub(crate) fn max_pool2d_backward(
    gy: &Tensor,
    indices: &[u32],
    g: &crate::ops::PoolGeometry,
    p: &crate::ops::Pool2d,
    shape: &[usize],
) -> Result<Tensor> {
    let op = "max_pool2d_backward";
    let sg = cuda_storage(op, gy)?;
    let b = backend(sg.ordinal)?;
    let n = g.planes * g.in_h * g.in_w;
    if g.out_h * g.out_w == 0 {
        let zeros = b
            .stream
            .alloc_zeros::<f32>(n.max(1))
            .map_err(fail(op, b.ordinal))?;
        return Ok(Tensor::from_cuda(b.storage(zeros, n), shape));
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
    Ok(Tensor::from_cuda(b.storage(gx, n), shape))
}

/// [`ops::softmax_cross_entropy`](crate::ops::softmax_cross_entropy) on checked operands:
/// `labels` per pixel (-1 ignored), `weight` and `coef` (`weight * scale`) per class. Returns
/// the summed weighted loss (unscaled; per-pixel losses in f64 summed by fixed-shape block
/// trees, then the block partials in order on the host: deterministic) and the gradient.
pub(crate) fn softmax_cross_entropy(
    logits: &Tensor,
    labels: &[i32],
    weight: &[f32],
    coef: &[f32],
    [n, c, hw]: [usize; 3],
) -> Result<(f64, Tensor)> {
    let op = "softmax_cross_entropy";
    let sx = cuda_storage(op, logits)?;
    let b = backend(sx.ordinal)?;
    let len = n * c * hw;
    let pixels = n * hw;
    let mut grad = b.alloc(op, len)?;
    if pixels == 0 || c == 0 {
        let zeros = b
            .stream
            .alloc_zeros::<f32>(len.max(1))
            .map_err(fail(op, b.ordinal))?;
        return Ok((
            0.0,
            Tensor::from_cuda(b.storage(zeros, len), logits.shape()),
        ));
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
            u32::try_from(blocks).map_err(|_| TensorError::InvalidParameter {
                op,
                reason: format!("{pixels} pixels exceed the reduction's grid"),
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
    Ok((
        total,
        Tensor::from_cuda(b.storage(grad, len), logits.shape()),
    ))
}

/// The dropout mask of [`ops::dropout`](crate::ops::dropout) on the GPU of `like`: the CPU's
/// counter-based hash, so the same seed gives the same mask on every device.
pub(crate) fn dropout_mask(
    like: &Tensor,
    group_len: usize,
    p: f32,
    keep: f32,
    seed: u64,
) -> Result<Tensor> {
    let op = "dropout";
    let sx = cuda_storage(op, like)?;
    let b = backend(sx.ordinal)?;
    let n = sx.len;
    let mut mask = b.alloc(op, n)?;
    let group = group_len.max(1) as u64;
    launch_ops!(
        op,
        b,
        "fcn_dropout_mask",
        n,
        [&mut mask, &seed, &group, &p, &keep]
    );
    Ok(Tensor::from_cuda(b.storage(mask, n), like.shape()))
}

/// `C (m, n) = op(A) op(B) + beta C` of row-major matrices (slices or views), on cuBLAS as in
/// [`gemm_row_major`]. Nothing runs when a dimension is 0 (`C` is left as it is).
#[allow(clippy::too_many_arguments)]
fn gemm_into<A: DevicePtr<f32>, B: DevicePtr<f32>, C: DevicePtrMut<f32>>(
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
        i32::try_from(v).map_err(|_| TensorError::InvalidParameter {
            op,
            reason: format!("dimension {v} exceeds cuBLAS's 32-bit sizes"),
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

/// A zero-filled buffer of `len` (at least one) values.
fn zeros(op: &'static str, b: &Backend, len: usize) -> Result<CudaSlice<f32>> {
    b.stream
        .alloc_zeros::<f32>(len.max(1))
        .map_err(fail(op, b.ordinal))
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
fn conv_forward(
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
fn conv_backward_data(
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
fn conv_backward_weight(
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
fn bias_backward(
    op: &'static str,
    b: &Backend,
    gy: &CudaSlice<f32>,
    [n, channels, plane]: [usize; 3],
) -> Result<CudaSlice<f32>> {
    let mut gb = zeros(op, b, channels)?;
    if channels == 0 {
        return Ok(gb);
    }
    let blocks = u32::try_from(channels).map_err(|_| TensorError::InvalidParameter {
        op,
        reason: format!("{channels} channels exceed the grid"),
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

/// [`ops::conv2d`](crate::ops::conv2d) on checked operands.
pub(crate) fn conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &ConvGeometry,
) -> Result<Tensor> {
    let op = "conv2d";
    let (sx, sw) = (cuda_storage(op, x)?, cuda_storage(op, w)?);
    let sb = bias.map(|t| cuda_storage(op, t)).transpose()?;
    let b = backend(sx.ordinal)?;
    let y = conv_forward(op, &b, &sx.buf, &sw.buf, sb.map(|s| s.buf.as_ref()), g)?;
    let shape = [g.n, g.out_c, g.out_h, g.out_w];
    Ok(Tensor::from_cuda(
        b.storage(y, shape.iter().product()),
        &shape,
    ))
}

/// The input, weight and (with `with_bias`) bias gradients of a GPU convolution or transposed
/// convolution, as tensors of the given shapes.
type Grads = (Tensor, Tensor, Option<Tensor>);

/// [`ops::conv2d_backward`](crate::ops::conv2d_backward) on checked operands.
pub(crate) fn conv2d_backward(
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    g: &ConvGeometry,
    with_bias: bool,
) -> Result<Grads> {
    let op = "conv2d_backward";
    let (sx, sw, sg) = (
        cuda_storage(op, x)?,
        cuda_storage(op, w)?,
        cuda_storage(op, grad_output)?,
    );
    let b = backend(sx.ordinal)?;
    let gx = conv_backward_data(op, &b, &sg.buf, &sw.buf, g)?;
    let gw = conv_backward_weight(op, &b, &sx.buf, &sg.buf, g)?;
    let gb = with_bias
        .then(|| bias_backward(op, &b, &sg.buf, [g.n, g.out_c, g.out_h * g.out_w]))
        .transpose()?;
    Ok((
        Tensor::from_cuda(b.storage(gx, x.len()), x.shape()),
        Tensor::from_cuda(b.storage(gw, w.len()), w.shape()),
        gb.map(|gb| Tensor::from_cuda(b.storage(gb, g.out_c), &[g.out_c])),
    ))
}

/// [`ops::conv_transpose2d`](crate::ops::conv_transpose2d) on checked operands; `g` is the
/// geometry of the adjoint convolution (from the output back to `x`).
pub(crate) fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &ConvGeometry,
) -> Result<Tensor> {
    let op = "conv_transpose2d";
    let (sx, sw) = (cuda_storage(op, x)?, cuda_storage(op, w)?);
    let sb = bias.map(|t| cuda_storage(op, t)).transpose()?;
    let b = backend(sx.ordinal)?;
    let mut y = conv_backward_data(op, &b, &sx.buf, &sw.buf, g)?;
    let shape = [g.n, g.in_c, g.in_h, g.in_w];
    let len = shape.iter().product();
    if let Some(sb) = sb {
        let [c, plane] = u64s([g.in_c, g.in_h * g.in_w]);
        launch_ops!(
            op,
            b,
            "fcn_add_bias",
            len,
            [&mut y, sb.buf.as_ref(), &c, &plane]
        );
    }
    Ok(Tensor::from_cuda(b.storage(y, len), &shape))
}

/// [`ops::conv_transpose2d_backward`](crate::ops::conv_transpose2d_backward) on checked
/// operands (`g` as in [`conv_transpose2d`]).
pub(crate) fn conv_transpose2d_backward(
    x: &Tensor,
    w: &Tensor,
    grad_output: &Tensor,
    g: &ConvGeometry,
    with_bias: bool,
) -> Result<Grads> {
    let op = "conv_transpose2d_backward";
    let (sx, sw, sg) = (
        cuda_storage(op, x)?,
        cuda_storage(op, w)?,
        cuda_storage(op, grad_output)?,
    );
    let b = backend(sx.ordinal)?;
    let gx = conv_forward(op, &b, &sg.buf, &sw.buf, None, g)?;
    let gw = conv_backward_weight(op, &b, &sg.buf, &sx.buf, g)?;
    let gb = with_bias
        .then(|| bias_backward(op, &b, &sg.buf, [g.n, g.in_c, g.in_h * g.in_w]))
        .transpose()?;
    Ok((
        Tensor::from_cuda(b.storage(gx, x.len()), x.shape()),
        Tensor::from_cuda(b.storage(gw, w.len()), w.shape()),
        gb.map(|gb| Tensor::from_cuda(b.storage(gb, g.in_c), &[g.in_c])),
    ))
}

/// The stream every operation on GPU `ordinal` runs on (see [`crate::interop::stream`]).
#[cfg(feature = "nccl")]
pub(crate) fn stream(ordinal: usize) -> Result<Arc<CudaStream>> {
    Ok(Arc::clone(&backend(ordinal)?.stream))
}

/// The number of CUDA devices (see [`crate::interop::device_count`]).
#[cfg(feature = "nccl")]
pub(crate) fn device_count() -> Result<usize> {
    guarded(0, "CUDA driver", || {
        // SAFETY: only tries to open the shared library by its candidate names.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(unavailable(
                0,
                "the CUDA driver library (libcuda) was not found: no NVIDIA driver on this machine",
            ));
        }
        let count = CudaContext::device_count()
            .map_err(|e| unavailable(0, format!("the CUDA driver cannot list devices: {e}")))?;
        Ok(usize::try_from(count).unwrap_or(0))
    })
}

/// Whether cudarc finds the NCCL library (see [`crate::interop::nccl_available`]).
#[cfg(feature = "nccl")]
pub(crate) fn nccl_available(ordinal: usize) -> Result<()> {
    // SAFETY: only tries to open the shared library by its candidate names.
    if unsafe { cudarc::nccl::sys::is_culib_present() } {
        return Ok(());
    }
    let mut names = cudarc::get_lib_name_candidates("nccl");
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    Err(unavailable(
        ordinal,
        format!(
            "the NCCL library (libnccl) was not found: none of {} loads. NCCL installs \
             libnccl.so.2, which is not among these names: make a folder with a link \
             `libnccl.so -> /path/to/libnccl.so.2` and put it on LD_LIBRARY_PATH",
            names.join(", ")
        ),
    ))
}

/// The device memory of a GPU tensor (see [`crate::interop::cuda_view`]).
#[cfg(feature = "nccl")]
pub(crate) fn view(t: &Tensor) -> Option<cudarc::driver::CudaView<'_, f32>> {
    match t.storage() {
        crate::tensor::Storage::Cuda(s) => Some(s.buf.slice(..s.len)),
        crate::tensor::Storage::Cpu(_) => None,
    }
}

/// A GPU tensor over `buf` (see [`crate::interop::tensor_from_cuda`]).
#[cfg(feature = "nccl")]
pub(crate) fn tensor_from_slice(buf: CudaSlice<f32>, shape: &[usize]) -> Result<Tensor> {
    let len: usize = shape.iter().product();
    if buf.len() < len.max(1) {
        return Err(TensorError::DataLength {
            shape: shape.to_vec(),
            expected: len.max(1),
            actual: buf.len(),
        });
    }
    let ordinal = buf.context().ordinal();
    Ok(Tensor::from_cuda(
        CudaStorage {
            buf: Arc::new(buf),
            len,
            ordinal,
        },
        shape,
    ))
}
