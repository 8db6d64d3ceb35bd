//! Cityscapes on the mmseg pseudo frame, against cityscapesScripts (golden/make_street.py).

use fcn_data::cityscapes::{
    Annotation, Cityscapes, LABEL_ID_TO_TRAIN_ID, LABELS, Target, instance_ids_to_label_ids,
    label_ids_to_train_ids,
};
use fcn_data::{Dataset, LabelMap, read_label_png};

use crate::folder::{assert_matches_golden, checksum, data, street_golden};

#[test]
fn label_table_is_cityscapes_scripts_table() {
    let golden = street_golden();
    let rows = golden["cityscapes_labels"].as_array().unwrap();
    assert_eq!(rows.len(), LABELS.len());
    for (label, row) in LABELS.iter().zip(rows) {
        assert_eq!(label.name, row["name"].as_str().unwrap());
        assert_eq!(
            i64::from(label.id),
            row["id"].as_i64().unwrap(),
            "{}",
            label.name
        );
        assert_eq!(i64::from(label.train_id), row["trainId"].as_i64().unwrap());
        assert_eq!(label.category, row["category"].as_str().unwrap());
        assert_eq!(
            u64::from(label.category_id),
            row["categoryId"].as_u64().unwrap()
        );
        assert_eq!(label.has_instances, row["hasInstances"].as_bool().unwrap());
        assert_eq!(label.ignore_in_eval, row["ignoreInEval"].as_bool().unwrap());
        let color: Vec<u8> = serde_json::from_value(row["color"].clone()).unwrap();
        assert_eq!(label.color.to_vec(), color, "{}", label.name);
    }
    let lut: Vec<u8> = serde_json::from_value(golden["cityscapes_lut"].clone()).unwrap();
    assert_eq!(LABEL_ID_TO_TRAIN_ID.to_vec(), lut);
}

#[test]
fn train_ids_from_label_ids_match_the_reference_lut_exactly() {
    let golden = street_golden();
    let dataset = Cityscapes::open(
        &data("cityscapes"),
        "val",
        Annotation::Fine,
        Target::TrainIds,
    )
    .unwrap();
    assert_eq!(dataset.len(), 1);
    let sample = dataset.get(0).unwrap();
    assert_eq!(sample.id, "frankfurt_000000_000294");
    assert_eq!(sample.dim(), (128, 256));
    assert_eq!(dataset.classes().len(), 19);
    let expected = read_label_png(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/cityscapes_trainids_from_labelids.png"),
    )
    .unwrap();
    assert_eq!(sample.label, expected);
    assert_matches_golden(
        &sample.label,
        &golden["cityscapes"]["train_ids_from_lut"],
        "train ids",
    );
    // The image is a PNG, so PIL and we decode the same bytes.
    let image = &golden["cityscapes"]["image"];
    assert_eq!(
        checksum(sample.image.iter().map(|&v| u64::from(v))),
        image["checksum"].as_u64().unwrap()
    );
}

#[test]
fn other_targets_read_their_files() {
    let golden = street_golden();
    let root = data("cityscapes");
    let open = |target| Cityscapes::open(&root, "val", Annotation::Fine, target).unwrap();
    let label_ids = open(Target::LabelIds).get(0).unwrap().label;
    assert_matches_golden(&label_ids, &golden["cityscapes"]["label_ids"], "label ids");
    let shipped = open(Target::ShippedTrainIds).get(0).unwrap().label;
    assert_matches_golden(
        &shipped,
        &golden["cityscapes"]["shipped_train_ids"],
        "shipped",
    );
    // The shipped file was resized on its own: it differs from LUT(labelIds) on edge pixels.
    let LabelMap::U8(ids) = &label_ids else {
        panic!("label ids are 8-bit")
    };
    let LabelMap::U8(shipped) = &shipped else {
        panic!("train ids are 8-bit")
    };
    let differing = label_ids_to_train_ids(ids)
        .iter()
        .zip(shipped)
        .filter(|(a, b)| a != b)
        .count() as u64;
    assert_eq!(
        differing,
        golden["cityscapes"]["shipped_differs_from_lut"]
            .as_u64()
            .unwrap()
    );

    let instance_set = open(Target::InstanceIds);
    assert_eq!(instance_set.classes().len(), 34);
    let instances = instance_set.get(0).unwrap().label;
    assert_matches_golden(
        &instances,
        &golden["cityscapes"]["instance_ids"],
        "instances",
    );
    let LabelMap::U16(instances) = instances else {
        panic!("instance ids are 16-bit")
    };
    assert!(instances.iter().any(|&v| v == 24003));
    assert_eq!(&instance_ids_to_label_ids(&instances), ids);
}

#[test]
fn coarse_annotations_and_missing_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let stem = "frankfurt_000000_000294";
    std::fs::create_dir_all(root.join("leftImg8bit/train_extra/frankfurt")).unwrap();
    std::fs::create_dir_all(root.join("gtCoarse/train_extra/frankfurt")).unwrap();
    let fixture = data("cityscapes");
    std::fs::copy(
        fixture.join(format!("leftImg8bit/val/frankfurt/{stem}_leftImg8bit.png")),
        root.join(format!(
            "leftImg8bit/train_extra/frankfurt/{stem}_leftImg8bit.png"
        )),
    )
    .unwrap();
    let missing = Cityscapes::open(root, "train_extra", Annotation::Coarse, Target::TrainIds)
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains(&format!("{stem}_gtCoarse_labelIds.png")),
        "{missing}"
    );
    std::fs::copy(
        fixture.join(format!("gtFine/val/frankfurt/{stem}_gtFine_labelIds.png")),
        root.join(format!(
            "gtCoarse/train_extra/frankfurt/{stem}_gtCoarse_labelIds.png"
        )),
    )
    .unwrap();
    let coarse =
        Cityscapes::open(root, "train_extra", Annotation::Coarse, Target::TrainIds).unwrap();
    assert_eq!(coarse.len(), 1);
    assert_eq!(coarse.get(0).unwrap().label.dim(), (128, 256));
    let absent = Cityscapes::open(root, "test", Annotation::Fine, Target::TrainIds)
        .unwrap_err()
        .to_string();
    assert!(absent.contains("leftImg8bit/test"), "{absent}");
}
