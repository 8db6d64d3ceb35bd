//! Cityscapes on the mmseg pseudo frame, against cityscapesScripts (golden/make_street.py).

use fcn_data::cityscapes::{
    Annotation, Cityscapes, LABEL_ID_TO_TRAIN_ID, LABELS, PolygonEncoding, Target,
    instance_ids_to_label_ids, label_ids_to_train_ids, rasterize_polygons,
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

#[test]
fn polygons_fill_exactly_as_pillow() {
    let golden = street_golden();
    let set = &golden["pillow_polygons"];
    let (width, height) = (
        set["width"].as_u64().unwrap() as usize,
        set["height"].as_u64().unwrap() as usize,
    );
    let mut failures = Vec::new();
    let cases = set["cases"].as_array().unwrap();
    for (index, case) in cases.iter().enumerate() {
        let points: Vec<[f64; 2]> = serde_json::from_value(case["points"].clone()).unwrap();
        let mut canvas = ndarray::Array2::<u8>::zeros((height, width));
        fcn_data::cityscapes::fill_polygon_like_pillow(&mut canvas, &points, 1);
        let count = canvas.iter().map(|&v| u64::from(v)).sum::<u64>();
        let sum = checksum(canvas.iter().map(|&v| u64::from(v)));
        if count != case["count"].as_u64().unwrap() || sum != case["checksum"].as_u64().unwrap() {
            failures.push((index, count, case["count"].as_u64().unwrap()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ: {failures:?}",
        failures.len(),
        cases.len()
    );
}

#[test]
fn polygons_json_rasterises_as_json2label_img() {
    let json = data("cityscapes/polygons/test_000000_000000_gtFine_polygons.json");
    let golden_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (encoding, file) in [
        (PolygonEncoding::LabelIds, "cityscapes_polygons_ids.png"),
        (
            PolygonEncoding::TrainIds,
            "cityscapes_polygons_trainIds.png",
        ),
    ] {
        let ours = rasterize_polygons(&json, encoding).unwrap();
        let LabelMap::U8(expected) = read_label_png(&golden_dir.join(file)).unwrap() else {
            panic!("8-bit")
        };
        assert_eq!(ours, expected, "{encoding:?}");
    }
}

#[test]
fn frames_without_label_pngs_use_their_polygons() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let stem = "test_000000_000000";
    std::fs::create_dir_all(root.join("leftImg8bit/train/test")).unwrap();
    std::fs::create_dir_all(root.join("gtFine/train/test")).unwrap();
    image::RgbImage::new(64, 48)
        .save(root.join(format!("leftImg8bit/train/test/{stem}_leftImg8bit.png")))
        .unwrap();
    std::fs::copy(
        data(&format!("cityscapes/polygons/{stem}_gtFine_polygons.json")),
        root.join(format!("gtFine/train/test/{stem}_gtFine_polygons.json")),
    )
    .unwrap();
    let golden_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (target, file) in [
        (Target::TrainIds, "cityscapes_polygons_trainIds.png"),
        (Target::LabelIds, "cityscapes_polygons_ids.png"),
    ] {
        let dataset = Cityscapes::open(root, "train", Annotation::Fine, target).unwrap();
        let sample = dataset.get(0).unwrap();
        assert!(
            sample
                .label_path
                .unwrap()
                .ends_with(format!("{stem}_gtFine_polygons.json"))
        );
        assert_eq!(
            sample.label,
            read_label_png(&golden_dir.join(file)).unwrap()
        );
    }
    let error = Cityscapes::open(root, "train", Annotation::Fine, Target::InstanceIds)
        .unwrap_err()
        .to_string();
    assert!(error.contains("instanceIds.png"), "{error}");
}

#[test]
fn malformed_polygons_name_the_file_and_object() {
    let cases = [
        (
            r#"{"imgHeight": 4, "imgWidth": 4, "objects": [{"label": "spaceship", "polygon": [[0,0],[1,1]]}]}"#,
            "objects[0].label",
        ),
        (
            r#"{"imgHeight": 4, "imgWidth": 4, "objects": [{"label": "road", "polygon": [[0,0]]}]}"#,
            "objects[0].polygon",
        ),
        (
            r#"{"imgHeight": 4, "imgWidth": 4, "objects": [{"label": "road", "polygon": [[0,"a"],[1,1]]}]}"#,
            "objects[0].polygon",
        ),
        (
            r#"{"imgHeight": -4, "imgWidth": 4, "objects": []}"#,
            "imgHeight",
        ),
        (
            r#"{"imgHeight": 4, "imgWidth": 99999999, "objects": []}"#,
            "imgWidth",
        ),
        (r#"{"imgHeight": 4, "imgWidth": 4}"#, "objects"),
    ];
    for (text, field) in cases {
        let message = fcn_data::cityscapes::rasterize_polygons_json(
            text.as_bytes(),
            std::path::Path::new("x_polygons.json"),
            PolygonEncoding::TrainIds,
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("x_polygons.json") && message.contains(field),
            "{message}"
        );
    }
    let truncated = fcn_data::cityscapes::rasterize_polygons_json(
        b"{\"imgHeight\": 4,",
        std::path::Path::new("cut.json"),
        PolygonEncoding::LabelIds,
    );
    assert!(matches!(truncated, Err(fcn_data::Error::Json { .. })));
}

mod never_panics {
    use fcn_data::cityscapes::{
        PolygonEncoding, fill_polygon_like_pillow, rasterize_polygons_json,
    };
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn polygon_filler_with_any_coordinates(
            height in 0usize..20,
            width in 0usize..20,
            points in proptest::collection::vec(
                (prop_oneof![-1e12f64..1e12, -30.0f64..50.0], prop_oneof![-1e12f64..1e12, -30.0f64..50.0]),
                0..12,
            ),
        ) {
            let points: Vec<[f64; 2]> = points.into_iter().map(|(x, y)| [x, y]).collect();
            let mut canvas = ndarray::Array2::<u8>::zeros((height, width));
            fill_polygon_like_pillow(&mut canvas, &points, 7);
            prop_assert!(canvas.iter().all(|&v| v == 0 || v == 7));
        }

        #[test]
        fn polygons_json_with_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = rasterize_polygons_json(&bytes, std::path::Path::new("f.json"), PolygonEncoding::LabelIds);
        }
    }
}
