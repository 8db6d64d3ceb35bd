//! SBD (the Semantic Boundaries Dataset, `benchmark_RELEASE/dataset/`) as FCN and mmseg use it,
//! and the 10582-image `trainaug` union of VOC 2012 and SBD.
//!
//! Layout: `img/<id>.jpg`, `cls/<id>.mat` (MATLAB level-5 files holding the struct `GTcls` whose
//! `Segmentation` field is the uint8 class map, 0..20 in the VOC classes), `train.txt` (8498
//! ids) and `val.txt` (2857). The label is read as FCN's `SBDDSegDataLayer` reads it:
//! `scipy.io.loadmat(f)['GTcls'][0]['Segmentation'][0].astype(np.uint8)`. SBD has no void band,
//! but 255 is still the ignore value.
//!
//! The FCN protocol trains on [`SbdSplit::Train`] and validates on
//! [`VocSplit::Seg11Valid`](crate::voc::VocSplit::Seg11Valid).
//!
//! ```
//! # fn main() -> fcn_data::Result<()> {
//! # let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sbd/dataset"));
//! use fcn_data::Dataset;
//! use fcn_data::sbd::{Sbd, SbdSplit};
//!
//! let train = Sbd::open(root, SbdSplit::Train)?;
//! let sample = train.get(0)?;
//! assert_eq!(sample.dim(), sample.label.dim());
//! # Ok(())
//! # }
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::error::Result;
use crate::sample::Sample;
use crate::voc::{
    Entry, LabelSource, check_exists, entry_at, load_entry, read_split, voc_classes, voc_entry,
};

pub use crate::sbd_mat::{
    INSTANCE_FIELD, SEGMENTATION_FIELD, decode_sbd_label, read_sbd_instances, read_sbd_label,
};

/// Which SBD list to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SbdSplit {
    /// `train.txt` (8498 ids): FCN's training set.
    Train,
    /// `val.txt` (2857 ids).
    Val,
    /// Any list file.
    List(PathBuf),
}

/// SBD images with their `cls/*.mat` labels (or, for [`Sbd::trainaug`], a mix of VOC PNG and
/// SBD labels), in list order.
#[derive(Debug, Clone)]
pub struct Sbd {
    entries: Vec<Entry>,
    classes: ClassSet,
}

impl Sbd {
    /// The split `split` of the SBD tree at `root` (the `dataset` folder). Every listed id must
    /// have `img/<id>.jpg` and `cls/<id>.mat`, else `Error::MissingEntry` names the list line.
    pub fn open(root: &Path, split: SbdSplit) -> Result<Self> {
        let list = match split {
            SbdSplit::Train => root.join("train.txt"),
            SbdSplit::Val => root.join("val.txt"),
            SbdSplit::List(path) => path,
        };
        let entries = read_split(&list)?
            .into_iter()
            .map(|(line, id)| {
                let entry = sbd_entry(root, &id);
                check_exists(&entry.image, &list, line, &id)?;
                check_exists(entry.label_path(), &list, line, &id)?;
                Ok(entry)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            entries,
            classes: voc_classes(),
        })
    }

    /// The `trainaug` set (10582 ids with the full datasets): VOC train + SBD train + SBD val,
    /// minus VOC val, the set mmseg's `voc_aug.py` writes.
    ///
    /// mmseg's order comes from a Python `set`, so it is arbitrary; this one is documented and
    /// deterministic, and follows mmseg's training config (VOC `train.txt` with
    /// `SegmentationClass` labels, then `aug.txt` with SBD labels): first VOC `train.txt` in
    /// file order, read from `voc_root` (`JPEGImages`, `SegmentationClass`); then SBD
    /// `train.txt` followed by SBD `val.txt` in file order, skipping ids already taken or in VOC
    /// `val.txt`, read from `sbd_root` (`img`, `cls/*.mat`). An id in both VOC train and SBD
    /// thus keeps VOC's label, with its void band, as in mmseg.
    pub fn trainaug(voc_root: &Path, sbd_root: &Path) -> Result<Self> {
        let voc_sets = voc_root.join("ImageSets").join("Segmentation");
        let voc_train = voc_sets.join("train.txt");
        let voc_val = voc_sets.join("val.txt");
        let excluded: HashSet<String> = read_split(&voc_val)?
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let mut taken = HashSet::new();
        let mut entries = Vec::new();
        let voc_labels = voc_root.join("SegmentationClass");
        for (line, id) in read_split(&voc_train)? {
            if excluded.contains(&id) || !taken.insert(id.clone()) {
                continue;
            }
            let entry = voc_entry(voc_root, &voc_labels, &id);
            check_exists(&entry.image, &voc_train, line, &id)?;
            check_exists(entry.label_path(), &voc_train, line, &id)?;
            entries.push(entry);
        }
        for list in [sbd_root.join("train.txt"), sbd_root.join("val.txt")] {
            for (line, id) in read_split(&list)? {
                if excluded.contains(&id) || !taken.insert(id.clone()) {
                    continue;
                }
                let entry = sbd_entry(sbd_root, &id);
                check_exists(&entry.image, &list, line, &id)?;
                check_exists(entry.label_path(), &list, line, &id)?;
                entries.push(entry);
            }
        }
        Ok(Self {
            entries,
            classes: voc_classes(),
        })
    }

    /// The ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.id.as_str())
    }

    /// The image and label files of sample `index`.
    pub fn paths(&self, index: usize) -> Result<(&Path, &Path)> {
        let entry = entry_at(&self.entries, index)?;
        Ok((&entry.image, entry.label_path()))
    }
}

fn sbd_entry(root: &Path, id: &str) -> Entry {
    Entry {
        id: id.to_string(),
        image: root.join("img").join(format!("{id}.jpg")),
        label: LabelSource::SbdMat(root.join("cls").join(format!("{id}.mat"))),
    }
}

impl Dataset for Sbd {
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
