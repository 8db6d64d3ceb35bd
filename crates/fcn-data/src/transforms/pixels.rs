//! Checks and views shared by the transforms: contiguous pixels, output sizes, image and
//! label sizes agreeing.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::sample::Sample;

/// The pixels of `image` as one row-major slice, copying only if the array is not contiguous.
pub(super) fn contiguous<T: Copy, D: ndarray::Dimension>(
    array: &ndarray::Array<T, D>,
) -> Cow<'_, [T]> {
    match array.as_slice() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(array.iter().copied().collect()),
    }
}

/// Output sizes must be positive and at most [`MAX_IMAGE_SIDE`](crate::MAX_IMAGE_SIDE) a side,
/// so a bad scale range cannot ask for gigabytes.
pub(super) fn check_size(what: &'static str, height: usize, width: usize) -> Result<()> {
    let limit = crate::image_io::MAX_IMAGE_SIDE as usize;
    if height == 0 || width == 0 || height > limit || width > limit {
        return Err(Error::SizeOutOfRange {
            what,
            height,
            width,
            min: 1,
            max: limit,
        });
    }
    Ok(())
}

/// `Error::SizeMismatch` unless the label map has the image's height and width.
pub(super) fn check_label_matches(sample: &Sample) -> Result<()> {
    if sample.label.dim() != sample.dim() {
        return Err(Error::SizeMismatch {
            image: sample
                .image_path
                .clone()
                .unwrap_or_else(|| sample.id.clone().into()),
            image_size: sample.dim(),
            label: sample
                .label_path
                .clone()
                .unwrap_or_else(|| sample.id.clone().into()),
            label_size: sample.label.dim(),
        });
    }
    Ok(())
}
