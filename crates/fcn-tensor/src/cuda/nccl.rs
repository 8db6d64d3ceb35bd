//! What the `interop` module (feature `nccl`) needs: the stream, the device count, the NCCL
//! probe and raw access to device buffers.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, CudaView};

use super::context::{CudaStorage, backend, guarded, no_driver, setup_failed, unavailable};
use crate::Result;
use crate::error::Unavailable;

/// The stream every operation on GPU `ordinal` runs on (see `interop::stream`).
pub(crate) fn stream(ordinal: usize) -> Result<Arc<CudaStream>> {
    Ok(Arc::clone(&backend(ordinal)?.stream))
}

/// The number of CUDA devices (see `interop::device_count`).
pub(crate) fn device_count() -> Result<usize> {
    guarded(0, "CUDA driver", || {
        // SAFETY: only tries to open the shared library by its candidate names.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(unavailable(0, no_driver()));
        }
        let count = CudaContext::device_count()
            .map_err(|e| unavailable(0, setup_failed("the CUDA driver cannot list devices", e)))?;
        Ok(usize::try_from(count).unwrap_or(0))
    })
}

/// Whether cudarc finds the NCCL library (see `interop::nccl_available`).
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
        Unavailable::LibraryMissing {
            name: "NCCL",
            file: "libnccl",
            hint: format!(
                ": none of {} loads. NCCL installs libnccl.so.2, which is not among these \
                 names: make a folder with a link `libnccl.so -> /path/to/libnccl.so.2` and put \
                 it on LD_LIBRARY_PATH",
                names.join(", ")
            ),
        },
    ))
}

/// The device memory of a GPU tensor's values (see `interop::cuda_view`).
pub(crate) fn view(s: &CudaStorage) -> CudaView<'_, f32> {
    s.buf.slice(..s.len)
}

/// Storage of the first `len` values of `buf` (the caller checks that it holds them), on the
/// device of `buf`'s context (see `interop::tensor_from_cuda`).
pub(crate) fn storage_from_slice(buf: CudaSlice<f32>, len: usize) -> CudaStorage {
    let ordinal = buf.context().ordinal();
    CudaStorage {
        buf: Arc::new(buf),
        len,
        ordinal,
    }
}
