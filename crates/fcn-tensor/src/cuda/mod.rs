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
//!   [`ops::scale`](crate::ops::scale) are CUDA C kernels compiled by NVRTC at first use.
//! - Every other operation (convolution and transposed convolution with their backward passes,
//!   max pooling, crop, channel argmax, softmax cross-entropy, dropout) has no CUDA kernel yet
//!   and returns [`TensorError::Unsupported`] for GPU operands.
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
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};

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
        Ok(Kernels {
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
