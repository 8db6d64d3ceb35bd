//! A GPU's context: the per-ordinal backend (stream, cuBLAS, compiled kernels) created at first
//! use, device buffers and their transfers, and the launch helpers the kernels share.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig};

use super::{kernels, norm_kernels};
use crate::error::Unavailable;
use crate::{BackendError, Device, Result, TensorError};

/// The values of a tensor on one GPU. The buffer holds at least one element (CUDA cannot
/// allocate zero bytes); `len` is the tensor's length.
#[derive(Debug, Clone)]
pub(crate) struct CudaStorage {
    pub(super) buf: Arc<CudaSlice<f32>>,
    pub(super) len: usize,
    pub(super) ordinal: usize,
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
pub(super) struct Backend {
    pub(super) ordinal: usize,
    pub(super) stream: Arc<CudaStream>,
    blas: OnceLock<std::result::Result<CudaBlas, TensorError>>,
    kernels: OnceLock<std::result::Result<Kernels, TensorError>>,
}

/// The element-wise kernels, compiled once per GPU.
pub(super) struct Kernels {
    pub(super) relu: CudaFunction,
    pub(super) relu_backward: CudaFunction,
    pub(super) add: CudaFunction,
    pub(super) mul: CudaFunction,
    pub(super) scale: CudaFunction,
    /// The kernels of `kernels::OPS_SOURCE` and `norm_kernels::NORM_SOURCE`, by name.
    ops: HashMap<&'static str, CudaFunction>,
}

impl Kernels {
    /// The kernel `name` of `kernels::OPS_KERNELS` or `norm_kernels::NORM_KERNELS`.
    pub(super) fn op(&self, name: &'static str) -> &CudaFunction {
        // Every name of OPS_KERNELS and NORM_KERNELS is loaded by `compile`; callers pass only
        // those.
        &self.ops[name]
    }
}

type Cache = Mutex<HashMap<usize, std::result::Result<Arc<Backend>, TensorError>>>;

pub(super) fn unavailable(ordinal: usize, reason: Unavailable) -> TensorError {
    TensorError::DeviceUnavailable {
        device: Device::Cuda(ordinal),
        reason,
    }
}

/// The CUDA driver library is missing.
pub(super) fn no_driver() -> Unavailable {
    Unavailable::LibraryMissing {
        name: "CUDA driver",
        file: "libcuda",
        hint: ": no NVIDIA driver on this machine".to_owned(),
    }
}

/// A step of the set-up failed with `error`.
pub(super) fn setup_failed(step: &'static str, error: impl std::fmt::Display) -> Unavailable {
    Unavailable::SetupFailed {
        step,
        message: error.to_string(),
    }
}

/// Maps a cudarc error of `op` on GPU `ordinal` into the crate's error, keeping it as the source.
pub(super) fn fail<E: std::error::Error + Send + Sync + 'static>(
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
pub(super) fn guarded<T>(
    ordinal: usize,
    what: &'static str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Err(unavailable(ordinal, setup_failed(what, message)))
    })
}

/// The backend of GPU `ordinal`, created on first use; a failure is cached too.
pub(super) fn backend(ordinal: usize) -> Result<Arc<Backend>> {
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
        return Err(unavailable(ordinal, no_driver()));
    }
    let count = CudaContext::device_count().map_err(|e| {
        unavailable(
            ordinal,
            setup_failed("the CUDA driver cannot list devices", e),
        )
    })?;
    let count = usize::try_from(count).unwrap_or(0);
    if ordinal >= count {
        return Err(unavailable(
            ordinal,
            Unavailable::NoSuchDevice { ordinal, count },
        ));
    }
    let ctx = CudaContext::new(ordinal)
        .map_err(|e| unavailable(ordinal, setup_failed("cannot create a context", e)))?;
    Ok(Arc::new(Backend {
        ordinal,
        stream: ctx.default_stream(),
        blas: OnceLock::new(),
        kernels: OnceLock::new(),
    }))
}

impl Backend {
    pub(super) fn blas(&self) -> Result<&CudaBlas> {
        self.blas
            .get_or_init(|| {
                guarded(self.ordinal, "cuBLAS", || {
                    // SAFETY: only tries to open the shared library by its candidate names.
                    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
                        return Err(unavailable(
                            self.ordinal,
                            Unavailable::LibraryMissing {
                                name: "cuBLAS",
                                file: "libcublas",
                                hint: String::new(),
                            },
                        ));
                    }
                    CudaBlas::new(Arc::clone(&self.stream))
                        .map_err(fail("cublas init", self.ordinal))
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub(super) fn kernels(&self) -> Result<&Kernels> {
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
                Unavailable::LibraryMissing {
                    name: "NVRTC",
                    file: "libnvrtc",
                    hint: String::new(),
                },
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
        let mut ops = kernels::OPS_KERNELS
            .iter()
            .map(|&name| {
                ops_module
                    .load_function(name)
                    .map(|f| (name, f))
                    .map_err(fail(op, self.ordinal))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        // The normalisation and resizing kernels: their own source, the same name table.
        let ptx = cudarc::nvrtc::compile_ptx(norm_kernels::NORM_SOURCE)
            .map_err(fail(op, self.ordinal))?;
        let norm_module = self
            .stream
            .context()
            .load_module(ptx)
            .map_err(fail(op, self.ordinal))?;
        for &name in norm_kernels::NORM_KERNELS {
            let f = norm_module
                .load_function(name)
                .map_err(fail(op, self.ordinal))?;
            ops.insert(name, f);
        }
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
    pub(super) fn alloc(&self, op: &'static str, len: usize) -> Result<CudaSlice<f32>> {
        // SAFETY: every caller writes all `len` values before the buffer is read.
        unsafe { self.stream.alloc::<f32>(len.max(1)) }.map_err(fail(op, self.ordinal))
    }

    pub(super) fn storage(&self, buf: CudaSlice<f32>, len: usize) -> CudaStorage {
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

/// Threads per block and the most blocks of the grid-stride element-wise kernels.
pub(super) const BLOCK: u32 = 256;
pub(super) const MAX_BLOCKS: u32 = 65_535;

pub(super) fn elementwise_config(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, MAX_BLOCKS as usize) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// A buffer of `len` (at least one) values of any kernel type, contents unset.
pub(super) fn alloc_any<T: cudarc::driver::DeviceRepr>(
    op: &'static str,
    b: &Backend,
    len: usize,
) -> Result<CudaSlice<T>> {
    // SAFETY: every caller has a kernel write all `len` values before they are read.
    unsafe { b.stream.alloc::<T>(len.max(1)) }.map_err(fail(op, b.ordinal))
}

/// Host values to the GPU of `b` (at least one element is allocated).
pub(super) fn upload_any<T: cudarc::driver::DeviceRepr + Default + Clone>(
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
pub(super) fn download_any<T: cudarc::driver::DeviceRepr + Default + Clone>(
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
            unsafe { launch.launch($crate::cuda::context::elementwise_config(n)) }
                .map_err($crate::cuda::context::fail($op, $b.ordinal))?;
        }
    }};
}

pub(super) use launch_ops;

/// Sizes as kernel arguments (`unsigned long long`).
pub(super) fn u64s<const N: usize>(v: [usize; N]) -> [u64; N] {
    v.map(|v| v as u64)
}

/// A zero-filled buffer of `len` (at least one) values.
pub(super) fn zeros(op: &'static str, b: &Backend, len: usize) -> Result<CudaSlice<f32>> {
    b.stream
        .alloc_zeros::<f32>(len.max(1))
        .map_err(fail(op, b.ordinal))
}
