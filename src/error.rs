//! The error type of the `fcn` library side.

use std::path::PathBuf;

/// What can go wrong reading label maps and evaluating them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done ("cannot read", "cannot write", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A prediction and its ground truth have different sizes.
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
    /// Files in one directory have no partner (same stem) in the other.
    #[error("{}", unpaired_message(.missing_pred, .missing_gt))]
    Unpaired {
        /// Ground-truth files without a prediction.
        missing_pred: Vec<PathBuf>,
        /// Prediction files without a ground truth.
        missing_gt: Vec<PathBuf>,
    },
    /// Two files in one directory share a stem (`a.png` and `a.PNG`).
    #[error("{first} and {second} have the same stem; pairs are matched by stem")]
    DuplicateStem {
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// A directory holds no PNG file.
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
    /// The class-name file does not have one name per class.
    #[error("{path}: expected {expected} class names (one per line), found {actual}")]
    ClassNames {
        /// The file.
        path: PathBuf,
        /// The number of classes.
        expected: usize,
        /// The number of names in the file.
        actual: usize,
    },
    /// A label file could not be read or decoded (the message names the file).
    #[error(transparent)]
    Data(#[from] fcn_data::Error),
    /// A tensor operation failed (shapes, parameters, device).
    #[error(transparent)]
    Tensor(#[from] fcn_tensor::TensorError),
    /// A `--model` directory holds no weights.
    #[error("{0} holds neither best.safetensors nor final.safetensors")]
    NoModel(PathBuf),
    /// A tensor did not have the shape an output needs.
    #[error("unexpected shape of the {0}")]
    Shape(String),
    /// Training or model evaluation failed.
    #[error(transparent)]
    Train(#[from] fcn_train::TrainError),
    /// Building, running or loading a network failed.
    #[error(transparent)]
    Core(#[from] fcn_core::CoreError),
    /// An invalid metrics setting (zero classes, ...).
    #[error(transparent)]
    Metrics(#[from] fcn_metrics::MetricsError),
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

/// The result type of the `fcn` library side.
pub type Result<T, E = Error> = std::result::Result<T, E>;
