//! Where a tensor lives.

use std::fmt;

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

impl Device {
    /// Waits until every operation queued on the device has finished (GPU work is asynchronous;
    /// CPU operations finish before they return). For timing, and before reading a clock.
    pub fn synchronize(self) -> crate::Result<()> {
        match self {
            Self::Cpu => Ok(()),
            #[cfg(feature = "cuda")]
            Self::Cuda(ordinal) => crate::cuda::synchronize(ordinal),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda(_) => Err(crate::TensorError::DeviceUnavailable {
                device: self,
                reason: "this build of fcn-tensor has no CUDA backend (enable the `cuda` feature)"
                    .to_owned(),
            }),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl std::str::FromStr for Device {
    type Err = String;

    /// Parses `cpu`, `cuda` (ordinal 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("unknown device {s:?}: expected cpu, cuda or cuda:N")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (text, device) in [("cpu", Device::Cpu), ("cuda:3", Device::Cuda(3))] {
            assert_eq!(text.parse::<Device>().unwrap(), device);
            assert_eq!(device.to_string(), text);
        }
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert!("gpu".parse::<Device>().unwrap_err().contains("cuda:N"));
    }

    #[test]
    fn cpu_synchronises_trivially() {
        assert!(Device::Cpu.synchronize().is_ok());
        #[cfg(not(feature = "cuda"))]
        assert!(Device::Cuda(0).synchronize().is_err());
    }
}
