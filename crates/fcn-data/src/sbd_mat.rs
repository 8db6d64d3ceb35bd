//! SBD's label files: MATLAB level-5 files holding the class map (`cls/*.mat`, struct
//! `GTcls`) and the instance map (`inst/*.mat`, struct `GTinst`). Read by the SBD adapter and by
//! VOC's `trainaug` entries whose labels come from SBD.

use std::path::Path;

use ndarray::Array2;

use crate::error::Result;
use crate::mat::MatFile;

/// The MAT-file field holding SBD's class map.
pub const SEGMENTATION_FIELD: &str = "GTcls.Segmentation";

/// Reads an SBD `cls/*.mat` file's class map (`GTcls.Segmentation`), rows x columns.
pub fn read_sbd_label(path: &Path) -> Result<Array2<u8>> {
    MatFile::read(path)?.u8_matrix(SEGMENTATION_FIELD)
}

/// Decodes an SBD `cls/*.mat` file held in memory; `path` only names it in errors.
pub fn decode_sbd_label(bytes: &[u8], path: &Path) -> Result<Array2<u8>> {
    MatFile::parse(bytes, path)?.u8_matrix(SEGMENTATION_FIELD)
}

/// The MAT-file field holding SBD's instance map (`inst/*.mat`).
pub const INSTANCE_FIELD: &str = "GTinst.Segmentation";

/// An SBD instance file (`inst/<id>.mat`): the instance map (`GTinst.Segmentation`, 0 =
/// background, k = instance k) and each instance's VOC class (`GTinst.Categories`).
pub fn read_sbd_instances(path: &Path) -> Result<(Array2<u8>, Vec<u8>)> {
    let file = MatFile::read(path)?;
    let instances = file.u8_matrix(INSTANCE_FIELD)?;
    let categories = file.u8_matrix("GTinst.Categories")?;
    Ok((instances, categories.iter().copied().collect()))
}
