//! Device names: `cpu`, `cuda` (ordinal 0) or `cuda:N`.

use super::Device;
use crate::TensorError;

/// The accepted device names, for error messages.
const EXPECTED: &str = "cpu, cuda or cuda:N";

impl std::str::FromStr for Device {
    type Err = TensorError;

    /// Parses `cpu`, `cuda` (ordinal 0) or `cuda:N`; anything else is
    /// [`TensorError::ParseDevice`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| TensorError::ParseDevice {
                    text: s.to_owned(),
                    expected: EXPECTED,
                }),
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
        let err = "gpu".parse::<Device>().unwrap_err();
        assert_eq!(
            err,
            TensorError::ParseDevice {
                text: "gpu".to_owned(),
                expected: EXPECTED
            }
        );
        assert!(err.to_string().contains("cuda:N"), "{err}");
        assert!(err.to_string().contains("\"gpu\""), "{err}");
    }
}
