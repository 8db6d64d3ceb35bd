//! PASCAL VOC 2012 segmentation, read as FCN's `VOCSegDataLayer` and mmseg's `PascalVOCDataset`
//! read it.
//!
//! Layout, under `VOCdevkit/VOC2012/`: `JPEGImages/<id>.jpg`, `SegmentationClass/<id>.png`
//! (palette PNGs whose **indices** are the classes 0..20, 255 = void) and
//! `ImageSets/Segmentation/<split>.txt` (one id per line). mmseg's converted SBD labels
//! (`SegmentationClassAug/<id>.png`, grayscale) are read by [`Voc::open_with_labels`]; the
//! grayscale and palette forms are interchangeable. FCN's validation list `seg11valid` (736
//! VOC2011 ids) is built in.
//!
//! ```
//! # fn main() -> fcn_data::Result<()> {
//! # let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/voc/VOC2012"));
//! use fcn_data::Dataset;
//! use fcn_data::voc::{Voc, VocSplit};
//!
//! let train = Voc::open(root, VocSplit::Train)?;
//! let sample = train.get(0)?;
//! assert_eq!(sample.id, "2007_000032");
//! assert_eq!(train.classes().names()[15], "person");
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use crate::classes::{ClassSet, voc_colormap};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::image_io::read_rgb;
use crate::label_png::read_label_png;
use crate::sample::{LabelMap, Sample};

/// The 21 VOC classes, index = pixel value.
pub const VOC_CLASS_NAMES: [&str; 21] = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// The label value of VOC's void (object borders, difficult regions), ignored in training and
/// evaluation.
pub const VOC_IGNORE: u8 = 255;

/// FCN's `data/pascal/seg11valid.txt`: the 736 VOC2011 segmentation val ids that are not in
/// SBD train, on which FCN reports its VOC numbers.
pub const SEG11VALID: &str = include_str!("voc_data/seg11valid.txt");

/// The ids of [`SEG11VALID`], in file order.
pub fn seg11valid_ids() -> Vec<&'static str> {
    SEG11VALID
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The 21 VOC classes with the devkit colours, ignore value 255.
pub fn voc_classes() -> ClassSet {
    ClassSet::new(
        VOC_CLASS_NAMES.iter().map(|n| n.to_string()).collect(),
        voc_colormap(VOC_CLASS_NAMES.len()),
    )
    .expect("21 names and 21 colours")
}

/// Which ids a [`Voc`] dataset lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VocSplit {
    /// `ImageSets/Segmentation/train.txt` (1464 ids in VOC 2012).
    Train,
    /// `ImageSets/Segmentation/val.txt` (1449).
    Val,
    /// `ImageSets/Segmentation/trainval.txt` (2913).
    TrainVal,
    /// FCN's `seg11valid` (736 VOC2011 ids; built in, see [`SEG11VALID`]).
    Seg11Valid,
    /// `ImageSets/Segmentation/<name>.txt` (mmseg's `aug`, `trainaug`, ...).
    Named(String),
    /// Any list file.
    List(PathBuf),
}

/// Where a sample's label comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LabelSource {
    /// A label PNG (palette indices or grayscale).
    Png(PathBuf),
    /// An SBD `cls/*.mat` file (`GTcls.Segmentation`).
    SbdMat(PathBuf),
}

impl LabelSource {
    fn path(&self) -> &Path {
        match self {
            LabelSource::Png(p) | LabelSource::SbdMat(p) => p,
        }
    }
}

/// One listed sample: its id, image file and label file (all checked to exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) image: PathBuf,
    pub(crate) label: LabelSource,
}

impl Entry {
    /// The label file.
    pub(crate) fn label_path(&self) -> &Path {
        self.label.path()
    }
}

/// A split list: (1-based line number, id) per non-blank line, each line stripped.
pub(crate) fn parse_split(text: &str, list: &Path) -> Result<Vec<(usize, String)>> {
    let mut ids = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        // An id names files: refuse other list formats (`id  1` from Main/) and paths.
        if id.contains(char::is_whitespace) || id.contains(['/', '\\']) {
            return Err(Error::format(
                list,
                format!("line {}", index + 1),
                "one image id per line (no spaces, no path separators)",
                format!("{id:?}"),
            ));
        }
        ids.push((index + 1, id.to_string()));
    }
    Ok(ids)
}

/// Reads a split list file (see [`parse_split`]).
pub(crate) fn read_split(list: &Path) -> Result<Vec<(usize, String)>> {
    let text = std::fs::read_to_string(list).map_err(|source| Error::read(list, source))?;
    parse_split(&text, list)
}

/// `Error::MissingEntry` unless `file` exists.
pub(crate) fn check_exists(file: &Path, list: &Path, line: usize, id: &str) -> Result<()> {
    if file.is_file() {
        Ok(())
    } else {
        Err(Error::MissingEntry {
            list: list.to_owned(),
            line,
            entry: id.to_string(),
            missing: file.to_owned(),
        })
    }
}

/// Reads one entry: the RGB image and its `u8` label map, checked to be the same size.
pub(crate) fn load_entry(entry: &Entry) -> Result<Sample> {
    let image = read_rgb(&entry.image)?;
    let label = match &entry.label {
        LabelSource::Png(path) => match read_label_png(path)? {
            LabelMap::U8(a) => a,
            LabelMap::U16(_) => {
                return Err(Error::format(
                    path,
                    "bit depth",
                    "an 8-bit label PNG (VOC classes 0..20, 255 void)",
                    "16 bits per sample",
                ));
            }
        },
        LabelSource::SbdMat(path) => crate::sbd_mat::read_sbd_label(path)?,
    };
    let (h, w, _) = image.dim();
    if label.dim() != (h, w) {
        return Err(Error::SizeMismatch {
            image: entry.image.clone(),
            image_size: (h, w),
            label: entry.label.path().to_owned(),
            label_size: label.dim(),
        });
    }
    Ok(Sample {
        image,
        label: LabelMap::U8(label),
        id: entry.id.clone(),
        image_path: Some(entry.image.clone()),
        label_path: Some(entry.label.path().to_owned()),
    })
}

/// The entry at `index`, or `IndexOutOfRange`.
pub(crate) fn entry_at(entries: &[Entry], index: usize) -> Result<&Entry> {
    entries.get(index).ok_or(Error::IndexOutOfRange {
        index,
        len: entries.len(),
    })
}

/// PASCAL VOC 2012 segmentation: one sample per listed id, in list order.
#[derive(Debug, Clone)]
pub struct Voc {
    entries: Vec<Entry>,
    classes: ClassSet,
}

impl Voc {
    /// The split `split` of the VOC tree at `root` (the `VOC2012` folder), labels from
    /// `SegmentationClass`. Every listed id must have `JPEGImages/<id>.jpg` and its label PNG,
    /// else `Error::MissingEntry` names the list line.
    pub fn open(root: &Path, split: VocSplit) -> Result<Self> {
        Self::open_with_labels(root, split, "SegmentationClass")
    }

    /// Like [`open`](Self::open) with labels from `root/<label_dir>/<id>.png`, e.g. mmseg's
    /// `SegmentationClassAug` (grayscale PNGs converted from SBD).
    pub fn open_with_labels(root: &Path, split: VocSplit, label_dir: &str) -> Result<Self> {
        let sets = root.join("ImageSets").join("Segmentation");
        let (list, ids) = match split {
            VocSplit::Seg11Valid => {
                let list = sets.join("seg11valid.txt (built-in FCN list)");
                let ids = parse_split(SEG11VALID, &list)?;
                (list, ids)
            }
            VocSplit::List(path) => {
                let ids = read_split(&path)?;
                (path, ids)
            }
            named => {
                let name = match &named {
                    VocSplit::Train => "train",
                    VocSplit::Val => "val",
                    VocSplit::TrainVal => "trainval",
                    VocSplit::Named(name) => name.as_str(),
                    VocSplit::Seg11Valid | VocSplit::List(_) => "",
                };
                let list = sets.join(format!("{name}.txt"));
                let ids = read_split(&list)?;
                (list, ids)
            }
        };
        let labels = root.join(label_dir);
        let entries = ids
            .into_iter()
            .map(|(line, id)| {
                let entry = voc_entry(root, &labels, &id);
                check_exists(&entry.image, &list, line, &id)?;
                check_exists(entry.label.path(), &list, line, &id)?;
                Ok(entry)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            entries,
            classes: voc_classes(),
        })
    }

    /// The ids, in list order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.id.as_str())
    }

    /// The image and label files of sample `index`.
    pub fn paths(&self, index: usize) -> Result<(&Path, &Path)> {
        let entry = entry_at(&self.entries, index)?;
        Ok((&entry.image, entry.label.path()))
    }
}

/// The VOC files of `id`: `JPEGImages/<id>.jpg` and `<labels>/<id>.png`.
pub(crate) fn voc_entry(root: &Path, labels: &Path, id: &str) -> Entry {
    Entry {
        id: id.to_string(),
        image: root.join("JPEGImages").join(format!("{id}.jpg")),
        label: LabelSource::Png(labels.join(format!("{id}.png"))),
    }
}

impl Dataset for Voc {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        load_entry(entry_at(&self.entries, index)?)
    }

    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seg11valid_is_fcns_736_ids() {
        let ids = seg11valid_ids();
        assert_eq!(ids.len(), 736);
        assert_eq!(ids[0], "2007_000033");
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 736);
    }

    #[test]
    fn voc_classes_match_the_table() {
        let classes = voc_classes();
        assert_eq!(classes.len(), 21);
        assert_eq!(classes.ignore(), Some(255));
        assert_eq!(classes.colors()[7], [128, 128, 128]);
        assert_eq!(classes.colors()[20], [0, 64, 128]);
        assert_eq!(classes.index_of("tvmonitor"), Some(20));
    }

    #[test]
    fn split_lines_are_stripped_and_blanks_skipped() {
        let ids = parse_split(" a \r\n\n\tb\n", Path::new("l.txt")).unwrap();
        assert_eq!(ids, vec![(1, "a".to_string()), (3, "b".to_string())]);
        let err = parse_split("a\n2007_000032  1\n", Path::new("l.txt")).unwrap_err();
        assert!(err.to_string().contains("l.txt: line 2"), "{err}");
        assert!(parse_split("../x\n", Path::new("l.txt")).is_err());
    }
}
