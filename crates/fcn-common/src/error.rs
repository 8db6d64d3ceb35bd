//! The error type of `fcn-common`.

/// What can go wrong in the shared helpers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name that is not one of a closed set of choices.
    #[error("unknown {what} {value:?}; expected one of: {}", .allowed.join(", "))]
    UnknownChoice {
        /// What was being chosen ("preprocessing", "dataset format", ...).
        what: &'static str,
        /// The name given.
        value: String,
        /// The names allowed.
        allowed: &'static [&'static str],
    },
    /// An RGB buffer that does not hold `height x width` pixels, or does not fit the output.
    #[error(
        "{bytes} bytes for a {height} x {width} RGB image (expected {}), written into {out_height} x {out_width}",
        .height * .width * 3
    )]
    ImageSize {
        /// Bytes of interleaved RGB given.
        bytes: usize,
        /// The image's height.
        height: usize,
        /// The image's width.
        width: usize,
        /// Rows of the output planes.
        out_height: usize,
        /// Columns of the output planes.
        out_width: usize,
    },
}

/// The result type of `fcn-common`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
