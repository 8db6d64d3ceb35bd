//! Writing result files so that a reader never sees half of one.

use std::path::Path;

use crate::error::Result;

/// Writes `contents` to `path` through a temporary file in the same folder, synced and then
/// renamed over the target: the file is either the old one or the whole new one
/// ([`fcn_data::write_atomically`], with this crate's error type).
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    Ok(fcn_data::write_atomically(path, contents)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new contents").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_folder_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/report.json");
        let err = write_atomically(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("report.json"), "{err}");
    }
}
