//! The generic folder adapter and its presets (Mapillary Vistas, BDD100K, RailSem19), on the
//! fixtures, against golden values from `golden/make_street.py` (PIL `np.array(Image.open)`).

use std::path::{Path, PathBuf};

use fcn_data::folder::{
    self, ClassMap, FolderConfig, FolderDataset, MapillaryVersion, RailSem19Split,
};
use fcn_data::{Dataset, Error, LabelMap};

/// `crates/fcn-data/tests/data/<rest>`.
pub(crate) fn data(rest: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rest)
}

/// The golden values of `golden/street.json`.
pub(crate) fn street_golden() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/street.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The golden script's position-sensitive checksum: sum of value * ((index % 65521) + 1).
pub(crate) fn checksum(values: impl Iterator<Item = u64>) -> u64 {
    values
        .enumerate()
        .map(|(i, v)| v * ((i as u64 % 65521) + 1))
        .sum()
}

/// Checks a label map against a golden `{shape, histogram, checksum}` record.
pub(crate) fn assert_matches_golden(label: &LabelMap, golden: &serde_json::Value, what: &str) {
    let values = label.to_u16();
    let shape: Vec<usize> = serde_json::from_value(golden["shape"].clone()).unwrap();
    assert_eq!(values.shape(), &shape[..], "{what}: shape");
    let mut histogram = std::collections::BTreeMap::new();
    for &v in &values {
        *histogram.entry(v.to_string()).or_insert(0u64) += 1;
    }
    let expected: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(golden["histogram"].clone()).unwrap();
    assert_eq!(histogram, expected, "{what}: histogram");
    assert_eq!(
        checksum(values.iter().map(|&v| u64::from(v))),
        golden["checksum"].as_u64().unwrap(),
        "{what}: checksum"
    );
}

fn pseudo_dataset(split: Option<&str>) -> FolderConfig {
    let root = data("folder");
    let config = FolderConfig::new(root.join("imgs"), root.join("gts"), "_img.jpg", "_gt.png");
    match split {
        Some(name) => config.with_split_file(root.join(format!("splits/{name}.txt"))),
        None => config,
    }
}

fn four_classes() -> ClassMap {
    ClassMap::parse("0,a\n1,b\n2,c\n3,d\n", Path::new("inline")).unwrap()
}

#[test]
fn scan_pairs_in_path_order_and_reads_palette_indices() {
    let golden = street_golden();
    let dataset = FolderDataset::open(&pseudo_dataset(None), four_classes()).unwrap();
    let ids: Vec<&str> = dataset.pairs().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["00000", "00001", "00002", "00003", "00004"]);
    for index in 0..dataset.len() {
        let sample = dataset.get(index).unwrap();
        assert_eq!(sample.dim(), (128, 256));
        let key = format!("folder/gts/{}_gt.png", sample.id);
        assert_matches_golden(&sample.label, &golden["folder_labels"][&key], &key);
    }
}

#[test]
fn split_file_keeps_its_order_and_names_missing_entries() {
    let train = FolderDataset::open(&pseudo_dataset(Some("train")), four_classes()).unwrap();
    let ids: Vec<&str> = train.pairs().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["00000", "00001", "00002", "00003"]);
    let val = FolderDataset::open(&pseudo_dataset(Some("val")), four_classes()).unwrap();
    assert_eq!(val.len(), 1);
    assert_eq!(val.pairs()[0].id, "00004");

    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "00003\n\n  00001  \n00009\n").unwrap();
    let config = pseudo_dataset(None).with_split_file(&list);
    match FolderDataset::open(&config, four_classes()).unwrap_err() {
        Error::MissingEntry {
            list: named,
            line,
            entry,
            ..
        } => assert_eq!((named, line, entry.as_str()), (list.clone(), 4, "00009")),
        other => panic!("{other:?}"),
    }
    std::fs::write(&list, "00003\n\n  00001  \n").unwrap();
    let dataset = FolderDataset::open(&config, four_classes()).unwrap();
    let ids: Vec<&str> = dataset.pairs().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["00003", "00001"]);
}

#[test]
fn class_map_file_remaps_and_ignores_unlisted_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("classes.txt");
    std::fs::write(
        &file,
        "0,background,0,0,0\n1,thing\n0 -> background\n3 -> thing\n",
    )
    .unwrap();
    let map = ClassMap::read(&file).unwrap();
    let dataset = FolderDataset::open(&pseudo_dataset(None), map).unwrap();
    // 00003 holds {0, 3}: 3 -> 1; 00000 holds {0, 2}: 2 is unlisted -> 255.
    let labels = |i: usize| {
        let mut values: Vec<u16> = dataset.get(i).unwrap().label.to_u16().into_iter().collect();
        values.sort_unstable();
        values.dedup();
        values
    };
    assert_eq!(labels(3), [0, 1]);
    assert_eq!(labels(0), [0, 255]);
    assert_eq!(dataset.classes().names(), ["background", "thing"]);
}

#[test]
fn missing_label_and_bad_index_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("img")).unwrap();
    std::fs::create_dir_all(dir.path().join("lbl")).unwrap();
    std::fs::write(dir.path().join("img/a.jpg"), b"").unwrap();
    let config = FolderConfig::new(
        dir.path().join("img"),
        dir.path().join("lbl"),
        ".jpg",
        ".png",
    );
    let message = FolderDataset::open(&config, four_classes())
        .unwrap_err()
        .to_string();
    assert!(message.contains("lbl/a.png"), "{message}");
    let dataset = FolderDataset::open(&pseudo_dataset(Some("val")), four_classes()).unwrap();
    assert!(matches!(
        dataset.get(1),
        Err(Error::IndexOutOfRange { index: 1, len: 1 })
    ));
}

#[test]
fn bdd100k_reads_train_id_masks() {
    let golden = street_golden();
    let root = data("bdd100k");
    for (split, count) in [("train", 3), ("val", 3)] {
        let dataset = folder::bdd100k(&root, split).unwrap();
        assert_eq!(dataset.len(), count);
        assert_eq!(dataset.classes().len(), 19);
        assert_eq!(dataset.classes().names()[0], "road");
        for index in 0..dataset.len() {
            let sample = dataset.get(index).unwrap();
            let key = format!("bdd100k/labels/sem_seg/masks/{split}/{}.png", sample.id);
            assert_matches_golden(&sample.label, &golden["bdd100k_labels"][&key], &key);
        }
    }
}

#[test]
fn mapillary_reads_p_mode_indices_and_config_classes() {
    let golden = street_golden();
    let root = data("mapillary");
    let config = root.join("mapillary-vistas-dataset_public_v1.1_config.json");
    for version in [MapillaryVersion::V1_2, MapillaryVersion::V2_0] {
        let dataset =
            folder::mapillary_vistas_with_config(&root, "training", version, &config, false)
                .unwrap();
        assert_eq!(dataset.len(), 1);
        let sample = dataset.get(0).unwrap();
        let key = format!(
            "mapillary/training/{}/labels/__CRyFzoDOXn6unQ6a3DnQ.png",
            version.name()
        );
        assert_matches_golden(&sample.label, &golden["mapillary_labels"][&key], &key);
    }
    let dataset = folder::mapillary_vistas_with_config(
        &root,
        "training",
        MapillaryVersion::V1_2,
        &config,
        false,
    )
    .unwrap();
    let classes = dataset.classes();
    assert_eq!(classes.len(), 66);
    assert_eq!(classes.names()[17], "Building");
    assert_eq!(classes.names()[65], "Unlabeled");
    assert!(!classes.evaluated()[65] && classes.evaluated()[64]);
    assert_eq!(classes.colors()[17], [70, 70, 70]);

    // 'Unlabeled' to ignore: 65 classes, value 65 -> 255, others unchanged.
    let dataset = folder::mapillary_vistas_with_config(
        &root,
        "training",
        MapillaryVersion::V1_2,
        &config,
        true,
    )
    .unwrap();
    assert_eq!(dataset.classes().len(), 65);
    let remap = dataset.class_map().remap.as_ref().unwrap();
    assert_eq!((remap.get(65), remap.get(64), remap.get(0)), (255, 64, 0));
    assert_eq!(
        dataset.get(0).unwrap().label.to_u16()[[50, 50]],
        17,
        "building stays"
    );

    let missing = folder::mapillary_vistas(&root, "training", MapillaryVersion::V1_2, false)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("config_v1.2.json"), "{missing}");
}

#[test]
fn mapillary_bad_config_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config_v1.2.json");
    std::fs::write(
        &config,
        r#"{"labels": [{"readable": "Bird", "color": [1, 2]}]}"#,
    )
    .unwrap();
    let message = folder::mapillary_vistas(dir.path(), "training", MapillaryVersion::V1_2, false)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("config_v1.2.json") && message.contains("labels[0].color"),
        "{message}"
    );
    std::fs::write(&config, "{\"labels\": [").unwrap();
    let error = folder::mapillary_vistas(dir.path(), "training", MapillaryVersion::V1_2, false)
        .unwrap_err();
    assert!(matches!(error, Error::Json { .. }), "{error:?}");
}

#[test]
fn railsem19_tree_and_split_rule() {
    let golden = street_golden();
    let root = data("railsem19");
    let all = folder::railsem19(&root, RailSem19Split::All).unwrap();
    let ids: Vec<&str> = all.pairs().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["rs00000", "rs07499", "rs07500"]);
    assert_eq!(all.classes().len(), 19);
    assert_eq!(all.classes().names()[12], "rail-track");
    assert_eq!(all.classes().colors()[3], [192, 0, 128]);
    assert_eq!(all.classes().ignore(), Some(255));
    for index in 0..all.len() {
        let sample = all.get(index).unwrap();
        assert_eq!(sample.dim(), (4, 6));
        assert_matches_golden(
            &sample.label,
            &golden["railsem19_labels"][&sample.id],
            &sample.id,
        );
    }
    let train = folder::railsem19(&root, RailSem19Split::Train).unwrap();
    let val = folder::railsem19(&root, RailSem19Split::Val).unwrap();
    let ids = |d: &FolderDataset| d.pairs().iter().map(|p| p.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&train), ["rs00000", "rs07499"]);
    assert_eq!(ids(&val), ["rs07500"]);
}

/// The guide's (docs/new-transit-feed.md) configuration-only RailSem19 setup.
#[test]
fn railsem19_by_configuration() {
    use fcn_data::taxonomy::{LabelRemap, Remapped, SourceDataset, transit_classes};

    let root = data("railsem19");
    let config = FolderConfig::new(
        root.join("jpgs/rs19_val"),
        root.join("uint8/rs19_val"),
        ".jpg",
        ".png",
    )
    .with_split_file(root.join("splits/train.txt"));
    let dataset =
        FolderDataset::open(&config, ClassMap::read(&root.join("classes.txt")).unwrap()).unwrap();
    let preset = folder::railsem19(&root, RailSem19Split::All).unwrap();
    assert_eq!(dataset.classes(), preset.classes());
    let ids: Vec<&str> = dataset.pairs().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["rs07499", "rs00000"], "list order kept");

    let table = Path::new(env!("CARGO_MANIFEST_DIR")).join("taxonomy/railsem19.csv");
    let transit = Remapped::new(
        dataset,
        LabelRemap::from_csv(&table).unwrap(),
        transit_classes(),
    );
    let shipped = Remapped::to_transit(preset, SourceDataset::RailSem19);
    let raw = folder::railsem19(&root, RailSem19Split::All).unwrap();
    // rs07499 is the second frame of the preset's sorted list.
    let sample = transit.get(0).unwrap();
    assert_eq!(sample.label, shipped.get(1).unwrap().label);
    let raw_label = raw.get(1).unwrap().label;
    for (&before, &after) in raw_label.to_u16().iter().zip(sample.label.to_u16().iter()) {
        let expected = match before {
            3 | 12 | 15 | 17 | 18 => 19,
            16 => 16,
            11 => 11,
            2 => 2,
            255 => 255,
            _ => after,
        };
        assert_eq!(after, expected, "RailSem19 {before}");
        assert!(after < 20 || after == 255);
    }
}
