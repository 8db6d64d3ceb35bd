//! KITTI semantics and road on tiny trees built in the documented formats.

use std::path::Path;

use fcn_data::Dataset;
use fcn_data::LabelMap;
use fcn_data::kitti::{KittiRoad, KittiSemantics, RoadTask, SemanticsTarget};
use ndarray::array;

fn write_png(
    path: &Path,
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(data).unwrap();
    writer.finish().unwrap();
}

fn write_rgb(path: &Path, width: u32, height: u32, data: &[u8]) {
    write_png(
        path,
        width,
        height,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        data,
    );
}

/// Two 3x2 frames: label ids {7 road, 26 car, 10 rail track, 0, 24 person, 33 bicycle} and
/// 16-bit instances `label * 256 + k`.
fn semantics_tree(root: &Path) {
    for frame in ["000001_10", "000000_10"] {
        write_rgb(
            &root.join(format!("training/image_2/{frame}.png")),
            3,
            2,
            &[9; 18],
        );
        write_png(
            &root.join(format!("training/semantic/{frame}.png")),
            3,
            2,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[7, 26, 10, 0, 24, 33],
        );
        let instances: Vec<u8> = [
            7 * 256,
            26 * 256 + 1,
            26 * 256 + 2,
            0,
            24 * 256 + 1,
            33 * 256 + 1,
        ]
        .iter()
        .flat_map(|v: &u16| v.to_be_bytes())
        .collect();
        write_png(
            &root.join(format!("training/instance/{frame}.png")),
            3,
            2,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &instances,
        );
    }
}

#[test]
fn semantics_label_ids_become_train_ids() {
    let dir = tempfile::tempdir().unwrap();
    semantics_tree(dir.path());
    let dataset = KittiSemantics::open(dir.path(), SemanticsTarget::TrainIds, None).unwrap();
    assert_eq!(dataset.len(), 2);
    let sample = dataset.get(0).unwrap();
    assert_eq!(sample.id, "000000_10");
    assert_eq!(
        sample.label,
        LabelMap::U8(array![[0, 13, 255], [255, 11, 18]])
    );
    assert_eq!(dataset.classes().len(), 19);

    let raw = KittiSemantics::open(dir.path(), SemanticsTarget::LabelIds, None).unwrap();
    assert_eq!(
        raw.get(1).unwrap().label,
        LabelMap::U8(array![[7, 26, 10], [0, 24, 33]])
    );
}

#[test]
fn semantics_instances_are_label_times_256_plus_k() {
    let dir = tempfile::tempdir().unwrap();
    semantics_tree(dir.path());
    let dataset = KittiSemantics::open(dir.path(), SemanticsTarget::Instances, None).unwrap();
    let LabelMap::U16(values) = dataset.get(0).unwrap().label else {
        panic!("instances are 16-bit")
    };
    let labels = values.mapv(fcn_data::kitti::instance_label_id);
    let numbers = values.mapv(fcn_data::kitti::instance_number);
    assert_eq!(labels, array![[7u16, 26, 26], [0, 24, 33]]);
    assert_eq!(numbers, array![[0u16, 1, 2], [0, 1, 1]]);
    // Not the Cityscapes x1000 scheme.
    assert_ne!(fcn_data::cityscapes::instance_label_id(26 * 256 + 1), 26);
}

#[test]
fn semantics_split_file_and_wrong_depth() {
    let dir = tempfile::tempdir().unwrap();
    semantics_tree(dir.path());
    let list = dir.path().join("val.txt");
    std::fs::write(&list, "000001_10\n").unwrap();
    let dataset = KittiSemantics::open(dir.path(), SemanticsTarget::TrainIds, Some(&list)).unwrap();
    assert_eq!(dataset.len(), 1);
    assert_eq!(dataset.get(0).unwrap().id, "000001_10");
    // An 8-bit file where 16-bit instances are expected is an error naming it.
    std::fs::copy(
        dir.path().join("training/semantic/000000_10.png"),
        dir.path().join("training/instance/000000_10.png"),
    )
    .unwrap();
    let dataset = KittiSemantics::open(dir.path(), SemanticsTarget::Instances, None).unwrap();
    let message = dataset.get(0).unwrap_err().to_string();
    assert!(
        message.contains("instance/000000_10.png") && message.contains("16-bit"),
        "{message}"
    );
}

#[test]
fn road_ground_truth_colours() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Magenta road, red non-road, black outside.
    let gt = [255, 0, 255, 255, 0, 0, 0, 0, 0, 255, 0, 255];
    for (image, gts) in [
        ("um_000000", &["um_road_000000", "um_lane_000000"][..]),
        ("uu_000003", &["uu_road_000003"][..]),
        ("umm_000001", &[][..]),
    ] {
        write_rgb(
            &root.join(format!("training/image_2/{image}.png")),
            2,
            2,
            &[50; 12],
        );
        for name in gts {
            write_rgb(
                &root.join(format!("training/gt_image_2/{name}.png")),
                2,
                2,
                &gt,
            );
        }
    }
    let road = KittiRoad::open(root, RoadTask::Road).unwrap();
    let ids: Vec<&str> = road.pairs().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["um_000000", "uu_000003"]);
    assert_eq!(
        road.get(1).unwrap().label,
        LabelMap::U8(array![[1, 0], [255, 1]])
    );
    assert_eq!(road.classes().names(), ["non-road", "road"]);
    let lane = KittiRoad::open(root, RoadTask::Lane).unwrap();
    assert_eq!(lane.len(), 1);
    assert!(lane.pairs()[0].label.ends_with("um_lane_000000.png"));
}
