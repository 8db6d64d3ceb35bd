//! The transit taxonomy's mapping tables: valid targets, source names exactly as the source
//! datasets spell them, spot checks, and remapping a dataset.

use std::path::Path;

use fcn_data::cityscapes::{
    Annotation, Cityscapes, LABEL_ID_TO_TRAIN_ID, LABELS, Target, train_classes,
};
use fcn_data::taxonomy::{
    LabelRemap, MappingTable, Remapped, SourceDataset, TRANSIT_CLASSES, TRANSIT_IGNORE,
    transit_classes, transit_remap,
};
use fcn_data::{Dataset, Error};

use crate::folder::{data, street_golden};

fn transit_index(name: &str) -> u8 {
    TRANSIT_CLASSES
        .iter()
        .position(|(n, _)| *n == name)
        .unwrap() as u8
}

const VOC21: [&str; 21] = [
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

/// The source dataset's (value, name) pairs, from its own definition.
fn source_names(source: SourceDataset) -> Vec<(u16, String)> {
    let enumerate = |names: Vec<String>| {
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (i as u16, n))
            .collect::<Vec<_>>()
    };
    match source {
        SourceDataset::CityscapesLabelIds | SourceDataset::KittiSemantics => LABELS
            .iter()
            .filter(|l| l.id >= 0)
            .map(|l| (l.id as u16, l.name.to_string()))
            .collect(),
        SourceDataset::CityscapesTrainIds | SourceDataset::Bdd100k => {
            enumerate(train_classes().names().to_vec())
        }
        SourceDataset::KittiRoad => enumerate(vec!["non-road".into(), "road".into()]),
        SourceDataset::Voc21 => enumerate(VOC21.iter().map(|s| s.to_string()).collect()),
        SourceDataset::Coco80 => {
            let names: Vec<String> =
                serde_json::from_value(street_golden()["coco80_names"].clone()).unwrap();
            std::iter::once("background".to_string())
                .chain(names)
                .enumerate()
                .map(|(i, n)| (i as u16, n))
                .collect()
        }
        SourceDataset::Ade20k150 => enumerate(
            fcn_data::ade20k::CLASS_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        SourceDataset::MapillaryV12 => {
            let path = data("mapillary/mapillary-vistas-dataset_public_v1.1_config.json");
            let config: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            enumerate(
                config["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["readable"].as_str().unwrap().to_string())
                    .collect(),
            )
        }
        SourceDataset::RailSem19 => {
            let dataset = fcn_data::folder::railsem19(
                &data("railsem19"),
                fcn_data::folder::RailSem19Split::All,
            )
            .unwrap();
            enumerate(dataset.classes().names().to_vec())
        }
        other => panic!("no source names for {other:?}"),
    }
}

#[test]
fn every_table_maps_only_to_transit_classes_or_ignore() {
    for source in SourceDataset::ALL {
        let remap = transit_remap(source);
        for value in 0..=u16::MAX {
            let target = remap.get(value);
            assert!(
                usize::from(target) < TRANSIT_CLASSES.len() || target == TRANSIT_IGNORE,
                "{source:?}: {value} -> {target}"
            );
        }
        assert_eq!(
            remap.get(255),
            TRANSIT_IGNORE,
            "{source:?}: 255 stays ignore"
        );
    }
}

#[test]
fn table_names_are_the_source_datasets_names() {
    for source in SourceDataset::ALL {
        let table = MappingTable::transit(source);
        let rows: Vec<(u16, String)> = table
            .rows
            .iter()
            .map(|r| (r.source_value, r.source_name.clone()))
            .collect();
        assert_eq!(
            rows,
            source_names(source),
            "{source:?} ({})",
            source.table_file()
        );
    }
}

#[test]
fn spot_checks() {
    let check = |source, value, name: &str| {
        let expected = if name == "ignore" {
            TRANSIT_IGNORE
        } else {
            transit_index(name)
        };
        assert_eq!(
            transit_remap(source).get(value),
            expected,
            "{source:?} {value}"
        );
    };
    use SourceDataset::*;
    check(CityscapesLabelIds, 7, "road");
    check(CityscapesLabelIds, 10, "rail track");
    check(CityscapesLabelIds, 31, "train/tram");
    check(CityscapesLabelIds, 0, "ignore");
    check(KittiSemantics, 26, "car");
    check(CityscapesTrainIds, 18, "bicycle");
    check(Bdd100k, 16, "train/tram");
    check(KittiRoad, 1, "road");
    check(KittiRoad, 0, "ignore");
    check(Voc21, 14, "motorcycle");
    check(Voc21, 19, "train/tram");
    check(Voc21, 0, "ignore");
    check(Coco80, 1, "person");
    check(Coco80, 7, "train/tram");
    check(Coco80, 10, "traffic light");
    check(Coco80, 12, "traffic sign"); // stop sign (category id 13, contiguous 12)
    check(Coco80, 0, "ignore");
    check(Ade20k150, 6, "road");
    check(Ade20k150, 4, "vegetation");
    check(Ade20k150, 136, "traffic light");
    check(Ade20k150, 3, "ignore"); // floor
    check(MapillaryV12, 12, "rail track");
    check(MapillaryV12, 58, "train/tram");
    check(MapillaryV12, 20, "rider");
    check(MapillaryV12, 65, "ignore");
    check(RailSem19, 3, "rail track");
    check(RailSem19, 12, "rail track");
    check(RailSem19, 15, "rail track");
    check(RailSem19, 17, "rail track");
    check(RailSem19, 18, "rail track");
    check(RailSem19, 16, "train/tram");
    check(RailSem19, 11, "person");
    check(RailSem19, 2, "building");
}

#[test]
fn cityscapes_label_id_table_is_train_ids_plus_rail_track() {
    let from_ids = transit_remap(SourceDataset::CityscapesLabelIds);
    let from_train = transit_remap(SourceDataset::CityscapesTrainIds);
    for id in 0..=255u8 {
        let via_train = from_train.get(u16::from(LABEL_ID_TO_TRAIN_ID[usize::from(id)]));
        let expected = if id == 10 { 19 } else { via_train };
        assert_eq!(from_ids.get(u16::from(id)), expected, "label id {id}");
    }
}

#[test]
fn remapped_dataset_is_in_the_transit_taxonomy() {
    let root = data("cityscapes");
    let ids = Cityscapes::open(&root, "val", Annotation::Fine, Target::LabelIds).unwrap();
    let train = Cityscapes::open(&root, "val", Annotation::Fine, Target::TrainIds).unwrap();
    let transit = Remapped::to_transit(ids, SourceDataset::CityscapesLabelIds);
    assert_eq!(transit.len(), 1);
    assert_eq!(transit.classes(), &transit_classes());
    // The fixture frame has no rail track, so transit labels equal its train ids.
    assert_eq!(transit.get(0).unwrap().label, train.get(0).unwrap().label);
}

#[test]
fn user_tables_load_from_a_path_with_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.csv");
    std::fs::write(
        &path,
        "source_value,source_name,transit_class\n4,tramway,rail track\n9,bus,bus\n",
    )
    .unwrap();
    let remap = LabelRemap::from_csv(&path).unwrap();
    assert_eq!((remap.get(4), remap.get(9), remap.get(5)), (19, 15, 255));
    let applied = remap.apply(&fcn_data::LabelMap::U16(ndarray::array![[4u16, 9, 700]]));
    assert_eq!(
        applied,
        fcn_data::LabelMap::U8(ndarray::array![[19u8, 15, 255]])
    );

    std::fs::write(&path, "# feed\n4,tramway,rail track\n9,bus,autobus\n").unwrap();
    let error = LabelRemap::from_csv(&path).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Format { .. }));
    assert!(
        message.contains("feed.csv") && message.contains("line 3") && message.contains("autobus"),
        "{message}"
    );
    let missing = LabelRemap::from_csv(Path::new("/nonexistent/table.csv")).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/table.csv"));
}

#[test]
fn shipped_csv_files_are_the_embedded_tables() {
    for source in SourceDataset::ALL {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("taxonomy")
            .join(source.table_file());
        assert_eq!(
            LabelRemap::from_csv(&path).unwrap(),
            transit_remap(source),
            "{source:?}"
        );
    }
}

mod never_panics {
    use fcn_data::folder::ClassMap;
    use fcn_data::taxonomy::{MappingTable, transit_classes};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn table_and_class_map_parsers_with_any_text(text in "[0-9a-z,#>\\- \n]{0,120}") {
            let _ = MappingTable::parse(&text, std::path::Path::new("t.csv"), &transit_classes());
            let _ = ClassMap::parse(&text, std::path::Path::new("c.txt"));
        }
    }
}
