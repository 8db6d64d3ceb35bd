//! The one error type of this crate.

use std::sync::Arc;

/// What can go wrong building tensors or running operations on them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TensorError {
    /// The number of values does not match the shape.
    #[error("shape {shape:?} holds {expected} values, got {actual}")]
    DataLength {
        /// The shape asked for.
        shape: Vec<usize>,
        /// Its number of elements.
        expected: usize,
        /// The number of values given.
        actual: usize,
    },
    /// An operand has the wrong number of dimensions.
    #[error("{op}: {operand} must have {expected} dimensions, got shape {shape:?}")]
    Rank {
        /// The operation.
        op: &'static str,
        /// Which operand.
        operand: &'static str,
        /// Dimensions required.
        expected: usize,
        /// The shape given.
        shape: Vec<usize>,
    },
    /// Operand shapes do not fit together.
    #[error("{op}: {reason} (shapes {shapes:?})")]
    ShapeMismatch {
        /// The operation.
        op: &'static str,
        /// What does not fit.
        reason: String,
        /// The shapes of the operands, in argument order.
        shapes: Vec<Vec<usize>>,
    },
    /// A parameter is out of its range (zero stride, dropout probability 1, ...).
    #[error("{op}: invalid parameter: {reason}")]
    InvalidParameter {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A size exceeds what a device library or a kernel launch can address (cuBLAS's 32-bit
    /// dimensions, the grid of a reduction).
    #[error("{op}: {what} of {value} exceeds the device limit of {limit}")]
    TooLarge {
        /// The operation.
        op: &'static str,
        /// What is counted (a matrix dimension, channels, values to sum).
        what: &'static str,
        /// The size asked for.
        value: usize,
        /// The largest the device accepts.
        limit: u64,
    },
    /// A class label is neither a class nor the ignore value.
    #[error(
        "{op}: label {value} at position {index} is not a class in [0, {num_classes}) nor the ignore value {ignore_index}"
    )]
    LabelOutOfRange {
        /// The operation.
        op: &'static str,
        /// The offending label.
        value: i64,
        /// Its flat position.
        index: usize,
        /// The number of classes (channels).
        num_classes: usize,
        /// The ignore value.
        ignore_index: i64,
    },
    /// Operands live on different devices.
    #[error("{op}: operands are on different devices ({first} and {second})")]
    DeviceMismatch {
        /// The operation.
        op: &'static str,
        /// The first operand's device.
        first: crate::Device,
        /// The other operand's device.
        second: crate::Device,
    },
    /// The device cannot be used (CUDA without the `cuda` feature, no driver, no GPU).
    #[error("device {device} is not available: {reason}")]
    DeviceUnavailable {
        /// The device asked for.
        device: crate::Device,
        /// Why not.
        reason: Unavailable,
    },
    /// A device name that is none of `cpu`, `cuda`, `cuda:N`.
    #[error("unknown device {text:?}: expected {expected}")]
    ParseDevice {
        /// The text given.
        text: String,
        /// The accepted forms.
        expected: &'static str,
    },
    /// The operation has no kernel on this device yet (see the `cuda` module's list).
    #[error("{op} is not supported on {device} yet; move the operands to the CPU first")]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// The device of its operands.
        device: crate::Device,
    },
    /// A device library call failed (CUDA driver, cuBLAS, NVRTC): out of device memory, a
    /// launch failure, a lost device.
    #[error("{op} on {device} failed")]
    Backend {
        /// The operation.
        op: &'static str,
        /// The device.
        device: crate::Device,
        /// The library's error.
        #[source]
        source: BackendError,
    },
}

/// Why a device cannot be used ([`TensorError::DeviceUnavailable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// This build of fcn-tensor has no CUDA backend.
    #[error("this build of fcn-tensor has no CUDA backend (enable the `cuda` feature)")]
    NotBuilt,
    /// A CUDA library could not be loaded.
    #[error("the {name} library ({file}) was not found{hint}")]
    LibraryMissing {
        /// The library (CUDA driver, cuBLAS, NVRTC, NCCL).
        name: &'static str,
        /// Its file name stem (libcuda, ...).
        file: &'static str,
        /// What to do about it, empty or starting with a separator.
        hint: String,
    },
    /// The ordinal is past the last GPU.
    #[error("{count} CUDA device(s) found, ordinal {ordinal} is past the last")]
    NoSuchDevice {
        /// The ordinal asked for.
        ordinal: usize,
        /// The GPUs found.
        count: usize,
    },
    /// The driver refused a step of the set-up (listing devices, creating a context), or a
    /// library panicked while it was being loaded.
    #[error("{step}: {message}")]
    SetupFailed {
        /// What was being done.
        step: &'static str,
        /// The library's message.
        message: String,
    },
}

/// A device library's error, shared so that [`TensorError`] stays `Clone`. Two are equal when
/// they are the same error value.
#[derive(Debug, Clone)]
pub struct BackendError(Arc<dyn std::error::Error + Send + Sync>);

impl BackendError {
    /// Wraps a library error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The result type of this crate.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;
