//! The one error type of `fcn-train`.

use std::path::PathBuf;

/// What can go wrong configuring, training or evaluating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The network or optimizer failed.
    #[error(transparent)]
    Core(#[from] fcn_core::CoreError),
    /// Reading or transforming data failed.
    #[error(transparent)]
    Data(#[from] fcn_data::Error),
    /// Scoring failed.
    #[error(transparent)]
    Metrics(#[from] fcn_metrics::MetricsError),
    /// A file or directory could not be read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is not valid TOML, or has an unknown field or a value of the wrong
    /// type or outside its set (the parser's message lists the allowed values).
    #[error("{}{}{}: invalid configuration", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default(), if field.is_empty() { String::new() } else { format!(", field {field}") })]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// The line (from 1), when the parser knows it.
        line: Option<usize>,
        /// The field's dotted path (`optim.optimizer`), empty when the error is not in one.
        field: String,
        /// The parser's error (with the offending text and the allowed values).
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {field}: {message}")]
    Config {
        /// The field (`optim.lr`, `train.batch_size`, ...).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint is corrupt, truncated or from another run.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A run directory cannot be used (missing, or holding another run when starting fresh).
    #[error("run directory {path}: {message}")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The loss became NaN or infinite.
    #[error("the loss diverged to {loss} at step {step}; lower the learning rate ({lr} now)")]
    Diverged {
        /// The step.
        step: u64,
        /// The loss value.
        loss: f32,
        /// The learning rate at that step.
        lr: f32,
    },
    /// A line of a run's JSONL log is not a valid record.
    #[error("{path}:{line}: malformed log record")]
    LogRecord {
        /// The log file.
        path: PathBuf,
        /// The line number (from 1).
        line: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A saved prediction does not have the size of its image.
    #[error("{path}: {actual:?} (height, width) but the image is {expected:?}")]
    PredictionSize {
        /// The label PNG.
        path: PathBuf,
        /// The image's (height, width).
        expected: (usize, usize),
        /// The label map's (height, width).
        actual: (usize, usize),
    },
    /// A collective operation across ranks failed, timed out or disagreed.
    #[error("distributed training ({backend}), rank {rank} of {ranks}: {message}")]
    Distributed {
        /// The communicator (`mpi`, `nccl`, `single`).
        backend: &'static str,
        /// This process's rank.
        rank: usize,
        /// Ranks in all.
        ranks: usize,
        /// What went wrong.
        message: String,
    },
}

impl TrainError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        TrainError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(field: &'static str, message: impl Into<String>) -> Self {
        TrainError::Config {
            field,
            message: message.into(),
        }
    }
}

/// The result type of `fcn-train`.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
