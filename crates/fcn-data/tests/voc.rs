//! PASCAL VOC 2012: a tiny tree made by `tests/golden/make_sbd.py` with PIL (P-mode labels with
//! the VOC palette, mmseg's L-mode `SegmentationClassAug`), read as `np.array(Image.open(p))`.

use std::path::{Path, PathBuf};

use fcn_data::voc::{Voc, VocSplit, voc_classes};
use fcn_data::{Dataset, Error, LabelMap};
use ndarray::Array2;
use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/voc/VOC2012")
}

fn expected() -> Json {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/voc/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn labels(rows: &Json) -> LabelMap {
    let rows: Vec<Vec<u8>> = serde_json::from_value(rows.clone()).unwrap();
    let (h, w) = (rows.len(), rows[0].len());
    LabelMap::U8(Array2::from_shape_vec((h, w), rows.concat()).unwrap())
}

#[test]
fn splits_give_palette_indices_as_pil_reads_them() {
    let expected = expected();
    let train = Voc::open(&root(), VocSplit::Train).unwrap();
    // train.txt's first line is "  2007_000032 \r" followed by a blank line.
    assert_eq!(
        train.ids().collect::<Vec<_>>(),
        ["2007_000032", "2007_000039"]
    );
    let val = Voc::open(&root(), VocSplit::Val).unwrap();
    let trainval = Voc::open(&root(), VocSplit::TrainVal).unwrap();
    assert_eq!((val.len(), trainval.len()), (2, 4));
    let mut saw_void = false;
    for i in 0..trainval.len() {
        let sample = trainval.get(i).unwrap();
        assert_eq!(sample.label, labels(&expected["labels"][&sample.id]));
        saw_void |= sample.label.to_u16().iter().any(|&v| v == 255);
        // The image as PIL decodes the JPEG, to within the decoders' rounding.
        let image: Vec<Vec<Vec<u8>>> =
            serde_json::from_value(expected["images"][&sample.id].clone()).unwrap();
        let (h, w) = (image.len(), image[0].len());
        assert_eq!(sample.image.dim(), (h, w, 3));
        assert_eq!(sample.label.dim(), (h, w));
        let worst = image
            .concat()
            .concat()
            .iter()
            .zip(sample.image.iter())
            .map(|(&a, &b)| a.abs_diff(b))
            .max()
            .unwrap();
        assert!(
            worst <= 3,
            "{}: JPEG differs from PIL by {worst}",
            sample.id
        );
    }
    assert!(saw_void, "255 void is kept");
    assert_eq!(trainval.classes(), &voc_classes());
}

#[test]
fn segmentation_class_aug_grayscale_labels_read_the_same_way() {
    let expected = expected();
    let aug = Voc::open_with_labels(
        &root(),
        VocSplit::Named("aug".into()),
        "SegmentationClassAug",
    )
    .unwrap();
    let ids: Vec<&str> = aug.ids().collect();
    assert_eq!(ids, ["2008_000002", "2008_000003"]);
    for i in 0..aug.len() {
        let sample = aug.get(i).unwrap();
        assert_eq!(sample.label, labels(&expected["aug_labels"][&sample.id]));
    }
    let list = Voc::open_with_labels(
        &root(),
        VocSplit::List(root().join("ImageSets/Segmentation/trainaug.txt")),
        "SegmentationClassAug",
    )
    .unwrap();
    assert_eq!(list.len(), 4);
}

#[test]
fn seg11valid_checks_every_listed_file() {
    // FCN's list starts 2007_000033, 2007_000042 (both in the tiny tree), then 2007_000061.
    let err = Voc::open(&root(), VocSplit::Seg11Valid).unwrap_err();
    match &err {
        Error::MissingEntry {
            line,
            entry,
            missing,
            ..
        } => {
            assert_eq!((*line, entry.as_str()), (3, "2007_000061"));
            assert!(missing.ends_with("JPEGImages/2007_000061.jpg"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("seg11valid"), "{err}");
}

#[test]
fn out_of_range_and_missing_lists_are_errors() {
    let val = Voc::open(&root(), VocSplit::Val).unwrap();
    assert!(matches!(
        val.get(2),
        Err(Error::IndexOutOfRange { index: 2, len: 2 })
    ));
    assert!(val.paths(5).is_err());
    let err = Voc::open(&root(), VocSplit::Named("nope".into())).unwrap_err();
    assert!(err.to_string().contains("nope.txt"), "{err}");
}
