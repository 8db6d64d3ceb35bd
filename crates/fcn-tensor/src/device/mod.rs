//! Where a tensor lives. The enum is here; parsing a device name and waiting for a device are
//! in `parse` and `sync` (they need the error type and the backends, which need the enum).

use std::fmt;

mod parse;
mod sync;

/// A compute device. Dispatch is by value (`match`), never by a type parameter, so layers and
/// models hold a plain [`Tensor`](crate::Tensor) whatever the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Host memory and the CPU kernels.
    #[default]
    Cpu,
    /// The NVIDIA GPU with this ordinal (needs the `cuda` feature).
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}
