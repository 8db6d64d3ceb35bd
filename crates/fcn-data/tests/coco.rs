//! COCO: RLE, polygons and semantic masks against pycocotools (golden files made by
//! `tests/golden/make_coco.py`), the dataset adapters, and malformed files.

use std::path::{Path, PathBuf};

use fcn_data::coco::{
    Coco, CocoClasses, CocoInstances, CocoStuff, Rle, Segmentation, StuffLabels, bbox_iou,
};
use fcn_data::{Dataset, Error, LabelMap};
use ndarray::Array2;
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/coco")
        .join(name)
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(data(name)).unwrap()).unwrap()
}

fn golden() -> Value {
    json("golden.json")
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn polygons(value: &Value) -> Vec<Vec<f64>> {
    value.as_array().unwrap().iter().map(numbers).collect()
}

fn size(entry: &Value) -> (usize, usize) {
    (
        entry["h"].as_u64().unwrap() as usize,
        entry["w"].as_u64().unwrap() as usize,
    )
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap()
}

fn bbox(value: &Value) -> [f64; 4] {
    numbers(value).try_into().unwrap()
}

/// A mask written as rows of '0'/'1' joined by '/'.
fn unpack(packed: &str, h: usize, w: usize) -> Array2<u8> {
    let pixels: Vec<u8> = packed
        .split('/')
        .flat_map(|row| row.bytes().map(|b| b - b'0'))
        .collect();
    Array2::from_shape_vec((h, w), pixels).unwrap()
}

/// A mask written as rows of '0'/'1'.
fn mask_from_rows(rows: &[Value]) -> Array2<u8> {
    let h = rows.len();
    let packed: Vec<&str> = rows.iter().map(text).collect();
    unpack(&packed.join("/"), h, packed[0].len())
}

#[test]
fn shared_rle_vectors_match_pycocotools() {
    let vectors = json("rle_test_vectors.json");
    let mut checked = 0;
    for vector in vectors["vectors"].as_array().unwrap() {
        let kind = text(&vector["kind"]);
        let counts: Vec<u32> = numbers(&vector["counts"])
            .iter()
            .map(|&c| c as u32)
            .collect();
        let string = text(&vector["string"]);
        if kind.starts_with("polygon") {
            let (h, w) = size(vector);
            let parts = polygons(&vector["polygons"]);
            for (part, expected) in parts
                .iter()
                .zip(vector["per_polygon_strings"].as_array().unwrap())
            {
                assert_eq!(
                    Rle::from_polygon(part, h, w).unwrap().to_compressed(),
                    text(expected)
                );
            }
            let rle = Segmentation::Polygons(parts).to_rle(h, w).unwrap();
            assert_eq!(rle.counts, counts, "{vector}");
            assert_eq!(rle.to_compressed(), string);
            assert_eq!(u64::from(rle.area()), vector["area"].as_u64().unwrap());
            assert_eq!(rle.to_bbox(), bbox(&vector["toBbox"]));
            if let Some(rows) = vector["mask_rows"].as_array() {
                assert_eq!(rle.decode().unwrap(), mask_from_rows(rows));
            }
        } else {
            let sizes = numbers(&vector["size"]);
            let (h, w) = (sizes[0] as usize, sizes[1] as usize);
            let rle = Rle::new(h, w, counts.clone());
            assert_eq!(rle.to_compressed(), string, "{vector}");
            assert_eq!(Rle::from_compressed(string, h, w).counts, counts);
            if let Some(rows) = vector["mask_rows"].as_array() {
                let mask = mask_from_rows(rows);
                assert_eq!(Rle::encode(mask.view()), rle);
                assert_eq!(rle.decode().unwrap(), mask);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 18);
}

#[test]
fn random_polygons_match_pycocotools() {
    let golden = golden();
    let vectors = golden["polygons"].as_array().unwrap();
    assert!(vectors.len() >= 200);
    for vector in vectors {
        let (h, w) = size(vector);
        let parts = polygons(&vector["polygons"]);
        for (part, expected) in parts.iter().zip(vector["per_polygon"].as_array().unwrap()) {
            let rle = Rle::from_polygon(part, h, w).unwrap();
            assert_eq!(
                rle.to_compressed(),
                text(expected),
                "polygon {part:?} on {h}x{w}"
            );
            // Canonical: re-encoding the decoded mask gives the same runs.
            assert_eq!(Rle::encode(rle.decode().unwrap().view()), rle);
        }
        let merged = Segmentation::Polygons(parts).to_rle(h, w).unwrap();
        assert_eq!(merged.to_compressed(), text(&vector["merged"]), "{vector}");
        assert_eq!(u64::from(merged.area()), vector["area"].as_u64().unwrap());
        assert_eq!(merged.to_bbox(), bbox(&vector["bbox"]));
    }
}

#[test]
fn polygon_lists_pycocotools_refuses_are_errors() {
    let golden = golden();
    for vector in golden["polygon_errors"].as_array().unwrap() {
        assert!(vector["error"].is_string(), "pycocotools accepted {vector}");
        let segmentation = Segmentation::Polygons(polygons(&vector["polygons"]));
        assert!(segmentation.to_rle(6, 7).is_err(), "{vector}");
    }
}

#[test]
fn boxes_match_pycocotools() {
    let golden = golden();
    for vector in golden["bboxes"].as_array().unwrap() {
        let (h, w) = size(vector);
        let rle = Rle::from_bbox(bbox(&vector["bbox"]), h, w).unwrap();
        assert_eq!(rle.to_compressed(), text(&vector["string"]), "{vector}");
    }
}

#[test]
fn masks_encode_and_decode_as_pycocotools() {
    let golden = golden();
    for vector in golden["masks"].as_array().unwrap() {
        let (h, w) = size(vector);
        let mask = unpack(text(&vector["mask"]), h, w);
        let string = text(&vector["string"]);
        let rle = Rle::encode(mask.view());
        assert_eq!(rle.to_compressed(), string);
        let parsed = Rle::from_compressed(string, h, w);
        assert_eq!(parsed, rle);
        assert_eq!(parsed.decode().unwrap(), mask);
        let column_major: Vec<u8> = mask.t().iter().copied().collect();
        assert_eq!(parsed.decode_column_major().unwrap(), column_major);
        assert_eq!(u64::from(rle.area()), vector["area"].as_u64().unwrap());
        assert_eq!(rle.to_bbox(), bbox(&vector["bbox"]));
    }
}

#[test]
fn merges_match_pycocotools() {
    let golden = golden();
    for vector in golden["merges"].as_array().unwrap() {
        let (h, w) = size(vector);
        let rles: Vec<Rle> = vector["strings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| Rle::from_compressed(text(s), h, w))
            .collect();
        assert_eq!(
            Rle::union(&rles).unwrap().to_compressed(),
            text(&vector["union"])
        );
        assert_eq!(
            Rle::intersection(&rles).unwrap().to_compressed(),
            text(&vector["intersection"])
        );
    }
}

#[test]
fn counts_encode_as_pycocotools() {
    let golden = golden();
    for vector in golden["counts"].as_array().unwrap() {
        let counts: Vec<u32> = numbers(&vector["counts"])
            .iter()
            .map(|&c| c as u32)
            .collect();
        let string = text(&vector["string"]);
        assert_eq!(Rle::new(1, 1, counts.clone()).to_compressed(), string);
        assert_eq!(Rle::from_compressed(string, 1, 1).counts, counts);
    }
}

#[test]
fn arbitrary_strings_read_as_pycocotools_reads_them() {
    let golden = golden();
    for vector in golden["garbage_strings"].as_array().unwrap() {
        let (h, w) = size(vector);
        let rle = Rle::from_compressed(text(&vector["string"]), h, w);
        assert_eq!(
            u64::from(rle.area()),
            vector["area"].as_u64().unwrap(),
            "{vector}"
        );
        assert_eq!(rle.to_bbox(), bbox(&vector["bbox"]), "{vector}");
        match vector["decoded"].as_str() {
            Some(expected) => {
                let mask = rle.decode().unwrap();
                assert_eq!(Rle::encode(mask.view()).to_compressed(), expected);
            }
            None => assert!(rle.decode().is_err(), "{vector}"),
        }
    }
}

#[test]
fn iou_matches_pycocotools() {
    let golden = golden();
    for vector in golden["iou"].as_array().unwrap() {
        let (h, w) = size(vector);
        let rles = |key: &str| -> Vec<Rle> {
            vector[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| Rle::from_compressed(text(s), h, w))
                .collect()
        };
        let (detections, truths) = (rles("dt"), rles("gt"));
        for (d, detection) in detections.iter().enumerate() {
            for (g, truth) in truths.iter().enumerate() {
                let crowd = vector["iscrowd"][g].as_u64().unwrap() == 1;
                let expected = vector["iou"][d][g].as_f64().unwrap();
                assert_eq!(Rle::iou(detection, truth, crowd), expected, "{vector}");
                let expected_box = vector["bbox_iou"][d][g].as_f64().unwrap();
                let got = bbox_iou(detection.to_bbox(), truth.to_bbox(), crowd);
                assert_eq!(got, expected_box, "{vector}");
            }
        }
    }
}

/// A label map from one RLE string per value (pixels of other values stay 0).
fn label_from_strings(strings: &Value, h: usize, w: usize) -> Array2<u8> {
    let mut label = Array2::<u8>::zeros((h, w));
    for (value, string) in strings.as_object().unwrap() {
        let value: u8 = value.parse().unwrap();
        let mask = Rle::from_compressed(text(string), h, w).decode().unwrap();
        label.zip_mut_with(&mask, |l, &m| {
            if m == 1 {
                *l = value;
            }
        });
    }
    label
}

#[test]
fn fixture_annotations_decode_as_pycocotools() {
    let instances = CocoInstances::read(data("coco_25k_annotations.json")).unwrap();
    assert_eq!(instances.images.len(), 4);
    assert_eq!(instances.annotations.len(), 45);
    assert_eq!(instances.categories.len(), 80);
    let golden = golden();
    for entry in golden["semantic"].as_array().unwrap() {
        let position = instances
            .image_position(entry["image_id"].as_u64().unwrap())
            .unwrap();
        for annotation in instances.annotations_of(position) {
            let id = annotation.id.to_string();
            let rle = instances.annotation_rle(annotation).unwrap();
            assert_eq!(rle.to_compressed(), text(&entry["annotation_strings"][&id]));
            let mask = instances.annotation_mask(annotation).unwrap();
            let area = mask.iter().map(|&v| u64::from(v)).sum::<u64>();
            assert_eq!(area, entry["annotation_areas"][&id].as_u64().unwrap());
        }
    }
}

#[test]
fn semantic_masks_follow_torchvision() {
    let golden = golden();
    for (classes, key) in [
        (CocoClasses::AllCategories, "all"),
        (CocoClasses::Voc21, "voc21"),
    ] {
        let coco = Coco::new(data("images"), data("coco_25k_annotations.json"), classes).unwrap();
        assert_eq!(coco.len(), 4);
        let entries = golden["semantic"].as_array().unwrap();
        let mut overlaps = 0;
        for (index, entry) in entries.iter().enumerate() {
            let info = coco.image_info(index).unwrap();
            assert_eq!(
                info.id,
                entry["image_id"].as_u64().unwrap(),
                "ordered by image id"
            );
            let (h, w) = size(entry);
            let expected = label_from_strings(&entry[key], h, w);
            let mask = coco.semantic_mask(index).unwrap();
            assert_eq!(mask, expected, "{key} mask of image {}", info.id);
            overlaps += mask.iter().filter(|&&v| v == 255).count();
        }
        assert!(overlaps > 0, "the fixture has overlapping instances");
    }
    // DATASETS.md: 548 overlap pixels in 000000017627 with the VOC rule.
    let coco = Coco::new(
        data("images"),
        data("coco_25k_annotations.json"),
        CocoClasses::Voc21,
    )
    .unwrap();
    let index = (0..coco.len())
        .find(|&i| coco.image_info(i).unwrap().id == 17627)
        .unwrap();
    let mask = coco.semantic_mask(index).unwrap();
    assert_eq!(mask.iter().filter(|&&v| v == 255).count(), 548);
}

#[test]
fn class_sets_of_the_two_label_spaces() {
    let all = Coco::new(
        data("images"),
        data("coco_25k_annotations.json"),
        CocoClasses::AllCategories,
    )
    .unwrap();
    let classes = all.classes();
    assert_eq!(classes.len(), 81);
    assert_eq!(classes.names()[0], "background");
    assert_eq!(classes.names()[1], "person");
    assert_eq!(classes.names()[80], "toothbrush");
    assert_eq!(classes.ignore(), Some(255));
    let voc = Coco::new(
        data("images"),
        data("coco_25k_annotations.json"),
        CocoClasses::Voc21,
    )
    .unwrap();
    assert_eq!(voc.classes().len(), 21);
    assert_eq!(voc.classes().index_of("tvmonitor"), Some(20));
}

#[test]
fn dataset_reads_images_and_checks_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let instances = CocoInstances::read(data("coco_25k_annotations.json")).unwrap();
    for image in &instances.images {
        let blank = image::RgbImage::new(image.width as u32, image.height as u32);
        blank.save(dir.path().join(&image.file_name)).unwrap();
    }
    let coco = Coco::new(
        dir.path(),
        data("coco_25k_annotations.json"),
        CocoClasses::Voc21,
    )
    .unwrap();
    let sample = coco.get(0).unwrap();
    assert_eq!(sample.id, "000000017627");
    assert_eq!(sample.dim(), (480, 640));
    assert_eq!(sample.label, LabelMap::U8(coco.semantic_mask(0).unwrap()));
    assert!(matches!(
        coco.get(4),
        Err(Error::IndexOutOfRange { index: 4, len: 4 })
    ));

    // An image whose size differs from its `images` entry.
    image::RgbImage::new(10, 10)
        .save(dir.path().join("000000017627.jpg"))
        .unwrap();
    assert!(matches!(coco.get(0), Err(Error::SizeMismatch { .. })));
}

#[test]
fn torchvision_training_filter_keeps_images_with_enough_area() {
    let golden = golden();
    for (classes, key) in [
        (CocoClasses::AllCategories, "all"),
        (CocoClasses::Voc21, "voc21"),
    ] {
        let coco = Coco::new(data("images"), data("coco_25k_annotations.json"), classes)
            .unwrap()
            .keep_annotated_images();
        let kept: Vec<u64> = (0..coco.len())
            .map(|i| coco.image_info(i).unwrap().id)
            .collect();
        let expected: Vec<u64> = numbers(&golden["kept_for_training"][key])
            .iter()
            .map(|&id| id as u64)
            .collect();
        assert_eq!(kept, expected, "{key}");
    }
}

/// Writes `json` to a temporary file and reads it as instances.
fn read_json(json: &str) -> (tempfile::TempDir, PathBuf, fcn_data::Result<CocoInstances>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("instances_bad.json");
    std::fs::write(&path, json).unwrap();
    let result = CocoInstances::read(&path);
    (dir, path, result)
}

const IMAGE: &str = r#"{"id": 7, "file_name": "a.jpg", "height": 2, "width": 3}"#;
const CATEGORY: &str = r#"{"id": 1, "name": "person", "supercategory": "person"}"#;

fn instances_with(annotation: &str) -> String {
    format!(r#"{{"images": [{IMAGE}], "categories": [{CATEGORY}], "annotations": [{annotation}]}}"#)
}

fn assert_format_error(json: &str, field_part: &str) {
    let (_dir, path, result) = read_json(json);
    match result {
        Err(Error::Format { path: p, field, .. }) => {
            assert_eq!(p, path);
            assert!(
                field.contains(field_part),
                "field {field:?} lacks {field_part:?}"
            );
        }
        other => panic!("expected a format error for {json}, got {other:?}"),
    }
}

#[test]
fn malformed_json_names_the_file() {
    let (_dir, path, result) = read_json(r#"{"images": [{"id": 1,}"#);
    match result {
        Err(Error::Json { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected a JSON error, got {other:?}"),
    }
    let (_dir, _, result) = read_json(r#"{"images": [{"id": 1}]}"#);
    assert!(matches!(result, Err(Error::Json { .. })), "missing fields");
}

#[test]
fn bad_annotations_name_the_file_and_the_annotation() {
    let ann = |segmentation: &str, image: u64| {
        instances_with(&format!(
            r#"{{"id": 42, "image_id": {image}, "category_id": 1, "iscrowd": 1, "area": 3, "segmentation": {segmentation}}}"#
        ))
    };
    // RLE whose counts overrun h * w (2x3 = 6).
    assert_format_error(&ann(r#"{"counts": [2, 3, 4], "size": [2, 3]}"#, 7), "id 42");
    assert_format_error(&ann(r#"{"counts": "7", "size": [2, 3]}"#, 7), "id 42");
    // RLE of another size than its image.
    assert_format_error(&ann(r#"{"counts": [6], "size": [3, 2]}"#, 7), "id 42");
    // Not a segmentation.
    assert_format_error(&ann(r#""polygon""#, 7), "id 42");
    assert_format_error(&ann(r#"[[1, 2, "x", 4, 5, 6]]"#, 7), "id 42");
    assert_format_error(&ann(r#"{"counts": [-1, 7], "size": [2, 3]}"#, 7), "id 42");
    assert_format_error(&ann(r#"{"counts": [6]}"#, 7), "id 42");
    // An image id that is not in `images`.
    assert_format_error(&ann(r#"[[0, 0, 2, 0, 2, 2]]"#, 8), "id 42");
    // A category that is not in `categories`.
    assert_format_error(
        &ann(r#"[[0, 0, 2, 0, 2, 2]]"#, 7).replace("\"category_id\": 1", "\"category_id\": 5"),
        "id 42",
    );
}

#[test]
fn polygons_pycocotools_refuses_fail_when_painted() {
    let json = instances_with(
        r#"{"id": 9, "image_id": 7, "category_id": 1, "segmentation": [[0, 0, 2, 2]]}"#,
    );
    let (_dir, path, result) = read_json(&json);
    let coco = Coco::from_instances("images", result.unwrap(), CocoClasses::AllCategories).unwrap();
    match coco.semantic_mask(0) {
        Err(Error::Format { path: p, field, .. }) => {
            assert_eq!(p, path);
            assert!(field.contains("id 9"));
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn valid_rle_annotations_are_painted() {
    let json = instances_with(
        r#"{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 1, "segmentation": {"counts": [1, 2, 3], "size": [2, 3]}},
           {"id": 2, "image_id": 7, "category_id": 1, "segmentation": {"counts": "42", "size": [2, 3]}}"#,
    );
    let (_dir, _, result) = read_json(&json);
    let coco = Coco::from_instances("images", result.unwrap(), CocoClasses::AllCategories).unwrap();
    // Counts [1,2,3] cover column-major pixels 1,2 = (1,0), (0,1); "42" is [4,2]: pixels 4,5 =
    // (0,2), (1,2).
    assert_eq!(
        coco.semantic_mask(0).unwrap(),
        ndarray::array![[0u8, 1, 1], [1, 0, 1]]
    );
}

/// Writes an 8-bit grayscale PNG.
fn write_gray_png(path: &Path, pixels: &[u8], width: u32, height: u32) {
    image::GrayImage::from_raw(width, height, pixels.to_vec())
        .unwrap()
        .save(path)
        .unwrap();
}

#[test]
fn coco_stuff_source_maps_become_train_ids() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    let labels = dir.path().join("labels");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&labels).unwrap();
    for stem in ["000000000002", "000000000001"] {
        image::RgbImage::new(3, 2)
            .save(images.join(format!("{stem}.jpg")))
            .unwrap();
    }
    // Source values: category id - 1; 12 (stop sign) -> 11, 91 -> 80, 181 -> 170, 255 stays.
    write_gray_png(
        &labels.join("000000000001.png"),
        &[0, 12, 91, 181, 255, 11],
        3,
        2,
    );
    write_gray_png(&labels.join("000000000002.png"), &[1; 6], 3, 2);
    write_gray_png(
        &labels.join("000000000001_labelTrainIds.png"),
        &[5; 6],
        3,
        2,
    );

    let stuff = CocoStuff::new(&images, &labels, StuffLabels::Source).unwrap();
    assert_eq!(stuff.len(), 2);
    assert_eq!(stuff.classes().len(), 171);
    let sample = stuff.get(0).unwrap();
    assert_eq!(sample.id, "000000000001");
    assert_eq!(
        sample.label,
        LabelMap::U8(ndarray::array![[0, 11, 80], [170, 255, 11]])
    );

    let converted = CocoStuff::new(&images, &labels, StuffLabels::TrainIds).unwrap();
    assert_eq!(
        converted.get(0).unwrap().label,
        LabelMap::U8(Array2::from_elem((2, 3), 5))
    );
    // The second image has no converted map: an I/O error naming the file.
    match converted.get(1) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("000000000002_labelTrainIds.png")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// Regression: serde_json's default float parser can be one ulp off Python's, which moves
/// `(int)(5 * x + .5)` at exact boundaries; `float_roundtrip` makes it correctly rounded.
#[test]
fn polygon_coordinates_parse_correctly_rounded() {
    let json = instances_with(
        r#"{"id": 3, "image_id": 7, "category_id": 1, "segmentation": [[0.18181818181818182, 0, 2, 0, 2, 2]]}"#,
    );
    let (_dir, _, result) = read_json(&json);
    let instances = result.unwrap();
    match &instances.annotations[0].segmentation {
        Segmentation::Polygons(parts) => assert_eq!(parts[0][0], 2.0 / 11.0),
        other => panic!("expected polygons, got {other:?}"),
    }
}
