//! ADE20K SceneParsing and full-format decoding on the fixtures, against mmseg's
//! reduce_zero_label and CSAILVision's loadAde20K (golden/make_street.py).

use fcn_data::Dataset;
use fcn_data::ade20k::{self, Ade20k, Ade20kFull, CLASS_NAMES, Split, object_info_150};

use crate::folder::{assert_matches_golden, data, street_golden};

#[test]
fn scene_parsing_reduce_zero_label_matches_mmseg() {
    let golden = street_golden();
    let root = data("ade20k/ADEChallengeData2016");
    let reduced = Ade20k::open(&root, Split::Training, true).unwrap();
    assert_eq!(reduced.len(), 1);
    let sample = reduced.get(0).unwrap();
    assert_eq!(sample.id, "ADE_train_00000001");
    assert_eq!(sample.dim(), (512, 683));
    assert_matches_golden(&sample.label, &golden["ade20k"]["reduced"], "reduced");
    assert_eq!(reduced.classes().len(), 150);
    assert_eq!(reduced.classes().colors()[0], [120, 120, 120]);

    let raw = Ade20k::open(&root, Split::Training, false).unwrap();
    assert_matches_golden(&raw.get(0).unwrap().label, &golden["ade20k"]["raw"], "raw");
    assert_eq!(raw.classes().len(), 151);
    assert_eq!(raw.classes().ignore(), None);
    assert!(!raw.classes().evaluated()[0]);

    let missing = Ade20k::open(&root, Split::Validation, true)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("images/validation"), "{missing}");
}

#[test]
fn names_agree_with_object_info_150() {
    let rows = object_info_150();
    assert_eq!(rows.len(), 150);
    for (index, (row, name)) in rows.iter().zip(CLASS_NAMES).enumerate() {
        assert_eq!(usize::from(row.index), index + 1);
        // The csv writes spaces and synonym commas as ';': mmseg's name is one of the
        // synonyms (the first, except "television receiver").
        let short = name.replace(' ', ";");
        assert!(
            format!(";{};", row.raw_name).contains(&format!(";{short};")),
            "{index}: {name} vs {}",
            row.raw_name
        );
        if name != "television receiver" {
            assert!(
                format!("{};", row.raw_name).starts_with(&format!("{short};")),
                "{name}"
            );
        }
    }
    assert_eq!(rows[0].train, 11664);
    assert!(rows[0].stuff);
    let bad = ade20k::parse_object_info(
        "Idx,Ratio,Train,Val,Stuff,Name\n1,0.1,2,3,1,wall\n2,x,2,3,0,b\n",
        std::path::Path::new("info.csv"),
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("info.csv") && bad.contains("line 3"), "{bad}");
}

#[test]
fn full_format_seg_png_decodes_as_load_ade20k() {
    let golden = street_golden();
    let path = data("ade20k/full/ADE_train_00016964_seg.png");
    let seg = ade20k::read_full_segmentation(&path).unwrap();
    let classes = fcn_data::LabelMap::U16(seg.classes.clone());
    assert_matches_golden(&classes, &golden["ade20k_full"]["classes"], "classes");
    let instances = fcn_data::LabelMap::U16(seg.instances);
    assert_matches_golden(&instances, &golden["ade20k_full"]["instances"], "instances");
    // The classes present are the JSON's whole-object name_ndx values (plus 0, unlabeled).
    let mut present: Vec<u64> = seg.classes.iter().map(|&v| u64::from(v)).collect();
    present.sort_unstable();
    present.dedup();
    let mut from_json: Vec<u64> =
        serde_json::from_value(golden["ade20k_full"]["json_name_ndx"].clone()).unwrap();
    from_json.insert(0, 0);
    assert_eq!(present, from_json);
    assert!(present.contains(&312) && present.contains(&2131));
}

#[test]
fn full_format_dataset_pairs_jpg_with_seg_png() {
    let dir = tempfile::tempdir().unwrap();
    let seg = data("ade20k/full/ADE_train_00016964_seg.png");
    std::fs::create_dir_all(dir.path().join("urban/street")).unwrap();
    std::fs::copy(&seg, dir.path().join("urban/street/ADE_x_seg.png")).unwrap();
    let (h, w) = ade20k::read_full_segmentation(&seg).unwrap().classes.dim();
    image::RgbImage::new(w as u32, h as u32)
        .save(dir.path().join("urban/street/ADE_x.jpg"))
        .unwrap();
    std::fs::write(dir.path().join("urban/street/no_seg.jpg"), b"").unwrap();
    let dataset = Ade20kFull::open(dir.path(), 3688).unwrap();
    assert_eq!(dataset.len(), 1);
    let sample = dataset.get(0).unwrap();
    assert_eq!(sample.id, "ADE_x");
    assert_eq!(sample.label.get(0, 0).map(|v| v < 3689), Some(true));
    assert!(matches!(sample.label, fcn_data::LabelMap::U16(_)));
    assert!(Ade20kFull::open(dir.path(), 0).is_err());
}
