//! The one error type of `fcn-core`.
//!
//! Policy: shapes, parameters, weight files and user settings are checked and give an
//! [`CoreError`] that names what is wrong; nothing a user supplies makes the crate panic.

use std::path::PathBuf;

/// What can go wrong building, running, training or loading a network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A tensor operation failed (shapes, parameters, device).
    #[error(transparent)]
    Tensor(#[from] fcn_tensor::TensorError),
    /// A setting is invalid (a width divisor of 0, a negative learning rate, ...).
    #[error("invalid {what}: {message}")]
    InvalidArgument {
        /// The setting.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// `backward` was asked for a value that is not a scalar loss of this tape.
    #[error("backward: {0}")]
    Backward(String),
    /// A weights file could not be read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A weights file is not valid safetensors.
    #[error("{path}: not a valid safetensors file")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// A weights file does not fit the model: every missing, unexpected or mis-shaped tensor.
    #[error("{path}: the weights do not fit the model:\n{}", .problems.join("\n"))]
    WeightsMismatch {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// One line per problem: `missing conv1_1.weight (64, 3, 3, 3)`, ...
        problems: Vec<String>,
    },
    /// A tensor in a weights file has a type that cannot become f32.
    #[error("{path}: tensor {name} has dtype {dtype}; expected F32, F16, BF16 or F64")]
    WeightsDtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// Optimizer state does not fit the parameters it is applied to.
    #[error("optimizer state: {0}")]
    OptimizerState(String),
}

/// The result type of `fcn-core`.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::InvalidArgument {
        what,
        message: message.into(),
    }
}
