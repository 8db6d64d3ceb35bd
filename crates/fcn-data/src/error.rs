//! The one error type of `fcn-data`.
//!
//! Policy: bad files and bad user input always give an `Error` naming the file (and the field,
//! line or pixel where it helps) and what was expected; they never panic. Indexing a dataset out
//! of range is an error too, since indices often come from user configuration.

use std::path::PathBuf;

/// What can go wrong reading, decoding or transforming a dataset.
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
    /// A PNG file could not be decoded or encoded.
    #[error("cannot decode PNG {path}")]
    Png {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: png::DecodingError,
    },
    /// A PNG could not be encoded.
    #[error("cannot encode PNG {path}")]
    PngEncode {
        /// The file.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: png::EncodingError,
    },
    /// A PNG is not a single-channel label map.
    #[error(
        "{path}: expected a label PNG (8- or 16-bit grayscale, or palette indices), found {color} at {bits} bits per sample"
    )]
    NotALabelPng {
        /// The file.
        path: PathBuf,
        /// Its colour type.
        color: &'static str,
        /// Its bits per sample.
        bits: u8,
    },
    /// An image (JPEG, PNG) could not be decoded as RGB.
    #[error("cannot decode image {path}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// A JSON file could not be parsed.
    #[error("cannot parse JSON {path}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A file parsed but a field holds something other than what the format says.
    #[error("{path}: {field}: expected {expected}, found {found}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Where in the file: a field name, a line ("line 12"), a record.
        field: String,
        /// What the format requires.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// A split or list file names a sample whose file does not exist.
    #[error("{list}, line {line}: {entry:?} has no file {missing}")]
    MissingEntry {
        /// The split or list file.
        list: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The entry as written.
        entry: String,
        /// The file it should have.
        missing: PathBuf,
    },
    /// An image and its label map have different sizes.
    #[error(
        "size mismatch: image {image} is {image_size:?} (h, w) but its label map {label} is {label_size:?}"
    )]
    SizeMismatch {
        /// The image file.
        image: PathBuf,
        /// Its (height, width).
        image_size: (usize, usize),
        /// The label file.
        label: PathBuf,
        /// Its (height, width).
        label_size: (usize, usize),
    },
    /// A dataset was indexed past its end.
    #[error("sample {index} requested from a dataset of {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The dataset's length.
        len: usize,
    },
    /// A parameter given by the caller is invalid (a crop of size 0, an empty class list, ...).
    #[error("invalid {what}: {message}")]
    InvalidArgument {
        /// The parameter.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A dataset spec that is neither `synthetic` nor `FORMAT:ROOT[:SPLIT]`.
    #[error("invalid dataset {spec:?}: expected synthetic or FORMAT:ROOT[:SPLIT] (formats: {})", .formats.join(", "))]
    BadDataSpec {
        /// The spec as given.
        spec: String,
        /// The format names.
        formats: &'static [&'static str],
    },
    /// A split the dataset format does not have.
    #[error("invalid split {split:?} for {format}; expected {expected}")]
    UnknownSplit {
        /// The format.
        format: &'static str,
        /// The split given.
        split: String,
        /// The splits the format has.
        expected: &'static str,
    },
    /// A format that reads a folder was given none.
    #[error("invalid dataset: {format} needs a ROOT folder")]
    MissingRoot {
        /// The format.
        format: &'static str,
    },
    /// A label space the dataset format cannot be read in.
    #[error("invalid classes: {classes} is available for {available}, not {format}")]
    ClassesUnavailable {
        /// The label space asked for (`voc21`, `transit`).
        classes: &'static str,
        /// The format.
        format: &'static str,
        /// Where it is available.
        available: &'static str,
    },
    /// A shared helper failed: an unknown name for a closed set of choices (listing the
    /// allowed ones), or an image that does not fit the normalisation buffer.
    #[error(transparent)]
    Common(#[from] fcn_common::Error),
    /// Reading or transforming one sample in a [`Loader`](crate::loader::Loader) failed.
    #[error("cannot load sample {index} (epoch {epoch})")]
    Sample {
        /// The sample's index in the dataset.
        index: usize,
        /// The loader's epoch.
        epoch: u64,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// A loader worker panicked while building a batch (a bug in a dataset or transform).
    #[error("a loader worker stopped unexpectedly: batch {batch} panicked: {panic}")]
    WorkerPanicked {
        /// The batch's number in its epoch.
        batch: usize,
        /// The panic's message.
        panic: String,
    },
    /// Every loader worker stopped before a batch of the epoch arrived (one panicked).
    #[error("a loader worker stopped unexpectedly: batch {batch} of {total} never arrived")]
    BatchLost {
        /// The batch's number in its epoch.
        batch: usize,
        /// Batches in the epoch.
        total: usize,
    },
    /// An image size outside what a generator or transform accepts.
    #[error("invalid {what}: each side must be in {min}..={max}, got {height}x{width}")]
    SizeOutOfRange {
        /// What was being sized ("resize", "random crop", "synthetic scene size").
        what: &'static str,
        /// The height asked for.
        height: usize,
        /// The width asked for.
        width: usize,
        /// The smallest side accepted.
        min: usize,
        /// The largest side accepted.
        max: usize,
    },
    /// A probability or strength outside `[0, 1]`.
    #[error("invalid {what}: {parameter} must be in [0, 1], got {value}")]
    NotAFraction {
        /// The transform ("horizontal flip", "photometric jitter").
        what: &'static str,
        /// The parameter ("probability", "brightness", ...).
        parameter: &'static str,
        /// The value given.
        value: f64,
    },
    /// A shard index that is not below the shard count (or no shards).
    #[error("invalid shard: need index < count and count > 0, got shard {index} of {count}")]
    ShardOutOfRange {
        /// This process's shard (rank).
        index: usize,
        /// Shards in all (world size).
        count: usize,
    },
    /// Datasets with different class counts cannot be concatenated.
    #[error(
        "invalid concatenation: dataset {part} has {classes} classes but dataset 0 has {expected}"
    )]
    ClassCountMismatch {
        /// The dataset's position in the list.
        part: usize,
        /// Its class count.
        classes: usize,
        /// The first dataset's class count.
        expected: usize,
    },
    /// An image that should be RGB has another channel count.
    #[error("invalid {what}: {channels} channels, expected 3 (RGB)")]
    NotRgb {
        /// What the image is ("ADE20K segmentation image", "road ground truth").
        what: &'static str,
        /// Its channel count.
        channels: usize,
    },
    /// Values that do not fill the array shape they were built for (a bug, reported rather
    /// than panicking).
    #[error("invalid {what}: cannot shape the values")]
    Shape {
        /// What was being built.
        what: &'static str,
        /// ndarray's error.
        #[source]
        source: ndarray::ShapeError,
    },
}

impl Error {
    /// An `Io` error for reading `path`.
    pub fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action: "cannot read",
            path: path.into(),
            source,
        }
    }

    /// A `Format` error.
    pub fn format(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::Format {
            path: path.into(),
            field: field.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// An `InvalidArgument` error.
    pub fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what,
            message: message.into(),
        }
    }
}

/// The result type of `fcn-data`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
