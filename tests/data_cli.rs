//! `fcn data inspect | convert | preview` on the real-format fixtures of fcn-data.

use std::path::Path;
use std::process::{Command, Output};

fn fcn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fcn"))
        .args(args)
        .output()
        .unwrap()
}

fn fixture(dir: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/fcn-data/tests/data")
        .join(dir)
        .display()
        .to_string()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn inspect_counts_pixels_per_class() {
    let root = fixture("cityscapes");
    let out = fcn(&[
        "data",
        "inspect",
        "--format",
        "cityscapes",
        &root,
        "--split",
        "val",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("samples: 1") && t.contains("128 x 256"), "{t}");
    // Every pixel is counted once: the rows sum to 128 * 256.
    let total: u64 = t
        .lines()
        .filter(|l| l.trim_end().ends_with('%'))
        .filter_map(|l| l.split_whitespace().rev().nth(1)?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 128 * 256, "{t}");
}

#[test]
fn convert_writes_one_label_png_per_image_and_preview_overlays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labels");
    let root = fixture("cityscapes");
    let result = fcn(&[
        "data",
        "convert",
        "--format",
        "cityscapes",
        &root,
        "--split",
        "val",
        "--classes",
        "transit",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", text(&result));
    let label = fcn::data::read_label_png(&out.join("frankfurt_000000_000294.png")).unwrap();
    assert_eq!(label.dim(), (128, 256));
    // Transit ids are the Cityscapes train ids or 255.
    let values = label.to_u16();
    assert!(values.iter().all(|&v| v < 19 || v == 255));

    let previews = dir.path().join("preview");
    let result = fcn(&[
        "data",
        "preview",
        "--format",
        "bdd100k",
        &fixture("bdd100k"),
        "--split",
        "val",
        "--out",
        previews.to_str().unwrap(),
        "--count",
        "2",
    ]);
    assert!(result.status.success(), "{}", text(&result));
    assert_eq!(std::fs::read_dir(&previews).unwrap().count(), 2);

    let result = fcn(&["data", "inspect", "--format", "voc", "/no/such/voc"]);
    assert!(!result.status.success());
    assert!(text(&result).contains("/no/such/voc"), "{}", text(&result));
    let result = fcn(&[
        "data",
        "inspect",
        "--format",
        "bdd100k",
        &fixture("bdd100k"),
        "--classes",
        "voc21",
    ]);
    assert!(!result.status.success());
    assert!(text(&result).contains("voc21"), "{}", text(&result));
}
