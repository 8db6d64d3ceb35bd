//! Waiting for a device.

use super::Device;
use crate::{Result, cuda};

impl Device {
    /// Waits until every operation queued on the device has finished (GPU work is asynchronous;
    /// CPU operations finish before they return). For timing, and before reading a clock.
    pub fn synchronize(self) -> Result<()> {
        match self {
            Self::Cpu => Ok(()),
            Self::Cuda(ordinal) => cuda::synchronize(ordinal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_synchronises_trivially() {
        assert!(Device::Cpu.synchronize().is_ok());
        // Without the `cuda` feature (or a GPU) a CUDA device is an error value, not a panic.
        if let Err(err) = Device::Cuda(0).synchronize() {
            assert!(
                matches!(err, crate::TensorError::DeviceUnavailable { .. }),
                "{err}"
            );
        }
    }
}
