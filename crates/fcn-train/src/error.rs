//! The one error type of `fcn-train`.

use std::path::PathBuf;

/// What can go wrong configuring, training or evaluating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The network or optimizer failed.
    #[error(transparent)]
    Core(#[from] fcn_core::CoreError),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] fcn_core::tensor::TensorError),
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
    #[error("checkpoint {path}: {problem}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: CheckpointProblem,
    },
    /// A run directory to start a fresh run in already holds files.
    #[error(
        "run directory {0}: is not empty; use --resume to continue the run in it, or choose a new directory"
    )]
    RunDirNotEmpty(PathBuf),
    /// A run directory to resume holds no checkpoint.
    #[error("run directory {0}: has no checkpoint.safetensors to resume from")]
    NoCheckpoint(PathBuf),
    /// A run directory to report on is not a directory.
    #[error("run directory {0}: is not a directory")]
    NotADirectory(PathBuf),
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
    /// A log record could not be encoded as JSON.
    #[error("{path}: cannot encode a log record")]
    LogEncode {
        /// The log (or `eval.json`) being written.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A run's saved configuration is not UTF-8 text.
    #[error("{path}: invalid configuration: not UTF-8")]
    ConfigNotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A thread of a split batch panicked.
    #[error("part {part} of a split batch (train.batch_split) panicked: {message}")]
    ThreadPanicked {
        /// The part (from 0).
        part: usize,
        /// The panic's message.
        message: String,
    },
    /// The threads of a split batch could not be started.
    #[error("cannot start the threads of a split batch (train.batch_split)")]
    ThreadPool(#[source] rayon::ThreadPoolBuildError),
    /// A predicted label map does not fill its image.
    #[error("{actual} predicted labels do not fill a {} x {} (height x width) image", .expected.0, .expected.1)]
    PredictionLength {
        /// The image's (height, width).
        expected: (usize, usize),
        /// The number of labels.
        actual: usize,
    },
    /// A `--model` directory holds no weights.
    #[error("{0} holds neither best.safetensors nor final.safetensors")]
    NoModel(PathBuf),
    /// A predicted label map and its ground truth have different sizes.
    #[error(
        "size mismatch: ground truth {gt} is {gt_size:?} (w, h) but prediction {pred} is {pred_size:?}"
    )]
    SizeMismatch {
        /// The ground-truth file.
        gt: PathBuf,
        /// Its (width, height).
        gt_size: (u32, u32),
        /// The prediction file.
        pred: PathBuf,
        /// Its (width, height).
        pred_size: (u32, u32),
    },
    /// Files in one folder have no partner (same stem) in the other.
    #[error("{}", unpaired_message(.missing_pred, .missing_gt))]
    Unpaired {
        /// Ground-truth files without a prediction.
        missing_pred: Vec<PathBuf>,
        /// Prediction files without a ground truth.
        missing_gt: Vec<PathBuf>,
    },
    /// Two files in one folder share a stem (`a.png` and `a.PNG`).
    #[error("{first} and {second} have the same stem; pairs are matched by stem")]
    DuplicateStem {
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// A folder holds no PNG file.
    #[error("no .png files in {0}")]
    NoImages(PathBuf),
    /// A label map breaks the metric's rules (a value out of range, ...).
    #[error("{path}: {problem}")]
    Labels {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it (shown in the message, so not a separate source).
        problem: fcn_metrics::MetricsError,
    },
    /// A class-name file does not have one name per class.
    #[error("{path}: expected {expected} class names (one per line), found {actual}")]
    ClassNames {
        /// The file.
        path: PathBuf,
        /// The number of classes.
        expected: usize,
        /// The number of names in the file.
        actual: usize,
    },
    /// A distributed backend that this build does not include.
    #[error(
        "--distributed {feature}: this fcn was built without the {feature} feature; run \
         `bash scripts/install-mpi.sh`, then build with `cargo build --release --features {feature}`"
    )]
    BackendNotBuilt {
        /// The Cargo feature (and backend) missing: `mpi` or `nccl`.
        feature: &'static str,
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

/// What is wrong with a checkpoint file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointProblem {
    /// The file is not a readable safetensors file.
    #[error("corrupt or truncated ({0})")]
    Unreadable(fcn_core::CoreError),
    /// The file is not a checkpoint of this format (its `format` metadata, if any).
    #[error("not a checkpoint of this format (format = {0:?})")]
    Format(Option<String>),
    /// A metadata field is missing.
    #[error("metadata lacks {0}")]
    MissingField(&'static str),
    /// A metadata field that must be a number is not one.
    #[error("metadata {0} is not a number")]
    NotANumber(&'static str),
    /// A metadata field does not fit this machine's `usize`.
    #[error("{0} is too large")]
    TooLarge(&'static str),
    /// The checksum metadata is not hexadecimal.
    #[error("metadata checksum is not hexadecimal")]
    ChecksumNotHex,
    /// The tensors do not match the checksum written with them.
    #[error("checksum mismatch: the file is corrupt")]
    ChecksumMismatch {
        /// The checksum in the metadata.
        written: u64,
        /// The checksum of the tensors read.
        computed: u64,
    },
    /// The best mean IoU metadata is not the hexadecimal bits of an `f64`.
    #[error("metadata best_miou is malformed")]
    BestMiou,
    /// A tensor that belongs to neither the model nor the optimizer.
    #[error("unexpected tensor {0}")]
    UnexpectedTensor(String),
}

fn unpaired_message(missing_pred: &[PathBuf], missing_gt: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let list = |files: &[PathBuf]| {
        let mut names: Vec<String> = files
            .iter()
            .take(SHOWN)
            .map(|p| p.display().to_string())
            .collect();
        if files.len() > SHOWN {
            names.push(format!("and {} more", files.len() - SHOWN));
        }
        names.join(", ")
    };
    let mut parts = Vec::new();
    if !missing_pred.is_empty() {
        parts.push(format!(
            "{} ground-truth file(s) have no prediction with the same stem: {}",
            missing_pred.len(),
            list(missing_pred)
        ));
    }
    if !missing_gt.is_empty() {
        parts.push(format!(
            "{} prediction file(s) have no ground truth with the same stem: {}",
            missing_gt.len(),
            list(missing_gt)
        ));
    }
    parts.join("; ")
}

/// The result type of `fcn-train`.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
