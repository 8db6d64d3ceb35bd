//! Malformed inputs (`tests/data/bad/`, made by `tests/golden/make_bad.py`): each must fail with
//! an error whose message names the file.

use std::path::{Path, PathBuf};

use fcn_data::mat::MatFile;
use fcn_data::sbd::read_sbd_label;
use fcn_data::voc::{Voc, VocSplit};
use fcn_data::{Dataset, Error, read_label_png};

fn bad(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bad")
        .join(rel)
}

fn assert_names(err: &Error, file: &str) {
    let msg = err.to_string();
    assert!(msg.contains(file), "{file} not in: {msg}");
}

#[test]
fn truncated_png() {
    let err = read_label_png(&bad("truncated.png")).unwrap_err();
    assert!(matches!(err, Error::Png { .. }), "{err:?}");
    assert_names(&err, "truncated.png");
}

#[test]
fn rgb_png_is_not_a_label_map() {
    let err = read_label_png(&bad("rgb_label.png")).unwrap_err();
    assert!(matches!(err, Error::NotALabelPng { .. }), "{err:?}");
    assert_names(&err, "rgb_label.png");
}

#[test]
fn split_naming_a_missing_label() {
    let err = Voc::open(&bad("VOC2012"), VocSplit::Train).unwrap_err();
    assert!(
        matches!(&err, Error::MissingEntry { line: 3, entry, .. } if entry == "b"),
        "{err:?}"
    );
    assert_names(&err, "train.txt");
    assert_names(&err, "SegmentationClass/b.png");
}

#[test]
fn dataset_get_names_the_bad_label() {
    let truncated = Voc::open(&bad("VOC2012"), VocSplit::TrainVal).unwrap();
    let err = truncated.get(0).unwrap_err();
    assert_names(&err, "SegmentationClass/a.png");
    let mismatched = Voc::open(&bad("VOC2012"), VocSplit::Val).unwrap();
    let err = mismatched.get(0).unwrap_err();
    assert!(matches!(err, Error::SizeMismatch { .. }), "{err:?}");
    assert_names(&err, "c.png");
    assert_names(&err, "c.jpg");
}

#[test]
fn truncated_and_corrupt_mat_files() {
    for name in ["truncated.mat", "corrupt_zlib.mat"] {
        let err = MatFile::read(&bad(name)).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err:?}");
        assert_names(&err, name);
        assert_names(&err, "variable 1");
    }
    // Every prefix of a good one-variable file fails cleanly, naming the file, except the bare
    // 128-byte header, which is a valid file with no variables.
    let good = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sbd/golden/uncompressed.mat"),
    )
    .unwrap();
    let header_only = MatFile::parse(&good[..128], Path::new("cut.mat")).unwrap();
    assert!(header_only.variables().is_empty());
    for len in (0..good.len()).filter(|&len| len != 128) {
        let err = MatFile::parse(&good[..len], Path::new("cut.mat")).unwrap_err();
        assert_names(&err, "cut.mat");
    }
}

#[test]
fn mat_files_without_the_sbd_field() {
    let err = read_sbd_label(&bad("no_gtcls.mat")).unwrap_err();
    assert_names(&err, "no_gtcls.mat");
    assert_names(&err, "GTinst");
    let err = read_sbd_label(&bad("seg_out_of_range.mat")).unwrap_err();
    assert_names(&err, "seg_out_of_range.mat");
    assert_names(&err, "GTcls.Segmentation");
}
