//! Finding and pairing dataset files: recursive suffix scans (as mmengine lists folders),
//! image/label pairs and the check that their sizes agree. Shared by the folder adapter and
//! the Cityscapes, ADE20K and KITTI readers.

use std::path::{Path, PathBuf};

use ndarray::Array3;

use crate::error::{Error, Result};
use crate::image_io::read_rgb;
use crate::label_png::read_label_png;
use crate::sample::LabelMap;

/// Deepest folder nesting a scan follows (guards against symbolic-link cycles).
const MAX_SCAN_DEPTH: usize = 64;

/// Files under `dir` (recursively, following links) whose names end with `suffix`, as paths
/// relative to `dir` with `/` separators, sorted by their bytes. Hidden files are skipped and
/// hidden folders are entered, as mmengine's `list_dir_or_file` does.
pub(crate) fn scan_suffix(dir: &Path, suffix: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    scan_into(dir, "", suffix, 0, &mut found)?;
    found.sort_unstable();
    Ok(found)
}

fn scan_into(
    dir: &Path,
    prefix: &str,
    suffix: &str,
    depth: usize,
    found: &mut Vec<String>,
) -> Result<()> {
    if depth > MAX_SCAN_DEPTH {
        return Err(Error::format(
            dir,
            "folder depth",
            format!("at most {MAX_SCAN_DEPTH} nested folders"),
            "more (a link cycle?)",
        ));
    }
    let entries = std::fs::read_dir(dir).map_err(|source| Error::read(dir, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::read(dir, source))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(Error::format(&path, "file name", "UTF-8", "other bytes"));
        };
        // `metadata` follows links, as Python's `is_file` / `isdir` do; like them, a broken
        // link is neither and is skipped.
        let metadata = match std::fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Error::read(&path, source)),
        };
        let relative = format!("{prefix}{name}");
        if metadata.is_file() {
            if !name.starts_with('.') && relative.ends_with(suffix) {
                found.push(relative);
            }
        } else if metadata.is_dir() {
            scan_into(&path, &format!("{relative}/"), suffix, depth + 1, found)?;
        }
    }
    Ok(())
}

/// Reads an RGB image and its label map and checks that their sizes agree.
pub(crate) fn read_pair(image_path: &Path, label_path: &Path) -> Result<(Array3<u8>, LabelMap)> {
    let image = read_rgb(image_path)?;
    let label = read_label_png(label_path)?;
    check_sizes(&image, image_path, &label, label_path)?;
    Ok((image, label))
}

/// `Error::SizeMismatch` unless the image and the label map have the same height and width.
pub(crate) fn check_sizes(
    image: &Array3<u8>,
    image_path: &Path,
    label: &LabelMap,
    label_path: &Path,
) -> Result<()> {
    let (h, w, _) = image.dim();
    if (h, w) != label.dim() {
        return Err(Error::SizeMismatch {
            image: image_path.to_owned(),
            image_size: (h, w),
            label: label_path.to_owned(),
            label_size: label.dim(),
        });
    }
    Ok(())
}

/// An `Io` "not found" error for a label file that an image should have.
pub(crate) fn missing_label(image: &Path, label: &Path) -> Error {
    Error::Io {
        action: "cannot find the label file",
        path: label.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the label of {}", image.display()),
        ),
    }
}

/// Pairs every `images_dir/**/*<image_suffix>` with `labels_dir/<same relative
/// path><label_suffix>` (mmseg's scan); a missing label is an error naming it.
pub(crate) fn pair_by_scan(
    images_dir: &Path,
    labels_dir: &Path,
    image_suffix: &str,
    label_suffix: &str,
) -> Result<Vec<FilePair>> {
    let mut pairs = Vec::new();
    for relative in scan_suffix(images_dir, image_suffix)? {
        let id = relative[..relative.len() - image_suffix.len()].to_string();
        let image = images_dir.join(&relative);
        let label = labels_dir.join(format!("{id}{label_suffix}"));
        if !label.is_file() {
            return Err(missing_label(&image, &label));
        }
        pairs.push(FilePair { id, image, label });
    }
    Ok(pairs)
}

/// An image file and its label file, with the sample's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePair {
    /// The sample id: the list entry, or the image's relative path without its suffix.
    pub id: String,
    /// The image file.
    pub image: PathBuf,
    /// The label file.
    pub label: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_sorts_by_path_bytes_and_skips_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        for name in ["a/b.jpg", "a-c.jpg", "B.jpg", ".hidden.jpg", "x.png"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("broken.jpg")).unwrap();
        // Python sorts "a-c.jpg" before "a/b.jpg" ('-' < '/'); a component-wise sort would not.
        assert_eq!(
            scan_suffix(dir.path(), ".jpg").unwrap(),
            ["B.jpg", "a-c.jpg", "a/b.jpg"]
        );
    }
}
