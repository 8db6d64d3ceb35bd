//! `fcn eval` on real-format label PNGs: the shipped sample against score.py, and every way the
//! input can be wrong.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fcn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fcn"))
        .args(args)
        .output()
        .unwrap()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write_png(
    path: &Path,
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if color == png::ColorType::Indexed {
        encoder.set_palette(vec![9u8; 3 * 256]);
    }
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(data).unwrap();
    writer.finish().unwrap();
}

fn gray(path: &Path, width: u32, height: u32, data: &[u8]) {
    write_png(
        path,
        width,
        height,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        data,
    );
}

/// A temporary gt/ and pred/ pair of folders.
struct Dirs {
    root: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("gt")).unwrap();
        std::fs::create_dir(root.path().join("pred")).unwrap();
        Self { root }
    }
    fn gt(&self, name: &str) -> PathBuf {
        self.root.path().join("gt").join(name)
    }
    fn pred(&self, name: &str) -> PathBuf {
        self.root.path().join("pred").join(name)
    }
    fn json(&self) -> PathBuf {
        self.root.path().join("report.json")
    }
    fn eval(&self, num_classes: &str, extra: &[&str]) -> Output {
        let gt = self.root.path().join("gt");
        let pred = self.root.path().join("pred");
        let json = self.json();
        let mut args = vec![
            "eval",
            "--gt",
            gt.to_str().unwrap(),
            "--pred",
            pred.to_str().unwrap(),
            "--num-classes",
            num_classes,
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        fcn(&args)
    }
}

#[test]
fn sample_matches_score_py_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = fcn(&[
        "eval",
        "--gt",
        repo("samples/cityscapes/gt").to_str().unwrap(),
        "--pred",
        repo("samples/cityscapes/pred").to_str().unwrap(),
        "--num-classes",
        "19",
        "--class-names",
        repo("samples/cityscapes/classes.txt").to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("mean IoU") && table.contains("traffic sign"),
        "{table}"
    );

    let ours: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("samples/cityscapes/expected.json")).unwrap(),
    )
    .unwrap();
    for key in [
        "pixel_accuracy",
        "mean_accuracy",
        "mean_iou",
        "fw_iou",
        "num_pixels",
    ] {
        assert_eq!(ours[key], expected[key], "{key}");
    }
    let ours_classes = ours["per_class"].as_array().unwrap();
    assert_eq!(ours_classes.len(), 19);
    assert_eq!(ours_classes[7]["name"], "traffic sign");
    for (c, (a, b)) in ours_classes
        .iter()
        .zip(expected["per_class"].as_array().unwrap())
        .enumerate()
    {
        for key in ["iou", "accuracy", "dice", "gt_pixels", "pred_pixels"] {
            assert_eq!(a[key], b[key], "class {c} {key}");
        }
    }
    // Absent classes are null, not 0 and not NaN.
    assert_eq!(ours_classes[3]["iou"], Value::Null);
}

#[test]
fn palette_sixteen_bit_and_packed_files_pair_up() {
    let d = Dirs::new();
    // Ground truth as 16-bit grayscale, prediction as a 4-bit palette image.
    let gt16: Vec<u8> = [0u16, 1, 2, 255, 1, 1]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    write_png(
        &d.gt("a.png"),
        3,
        2,
        png::ColorType::Grayscale,
        png::BitDepth::Sixteen,
        &gt16,
    );
    write_png(
        &d.pred("a.png"),
        3,
        2,
        png::ColorType::Indexed,
        png::BitDepth::Four,
        &[0x01, 0x20, 0x21, 0x00],
    );
    let out = d.eval("3", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(d.json()).unwrap()).unwrap();
    // gt 0 1 2 | 255 1 1 ; pred 0 1 2 | 2 1 0 -> 4 of 5 counted pixels right.
    assert_eq!(report["num_pixels"], 5);
    assert_eq!(report["pixel_accuracy"], 0.8);
}

#[test]
fn unpaired_files_are_named_and_nothing_is_written() {
    let d = Dirs::new();
    gray(&d.gt("a.png"), 1, 1, &[0]);
    gray(&d.pred("a.png"), 1, 1, &[0]);
    gray(&d.gt("only_gt.png"), 1, 1, &[0]);
    gray(&d.pred("only_pred.png"), 1, 1, &[0]);
    let out = d.eval("2", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("only_gt.png") && err.contains("only_pred.png"),
        "{err}"
    );
    assert!(!d.json().exists(), "no report after a failure");
}

#[test]
fn size_mismatch_names_both_files() {
    let d = Dirs::new();
    gray(&d.gt("x.png"), 2, 2, &[0; 4]);
    gray(&d.pred("x.png"), 2, 1, &[0; 2]);
    let err = stderr(&d.eval("2", &[]));
    assert!(
        err.contains("size mismatch") && err.contains("gt/x.png") && err.contains("pred/x.png"),
        "{err}"
    );
}

#[test]
fn out_of_range_prediction_names_file_value_and_pixel() {
    let d = Dirs::new();
    gray(&d.gt("x.png"), 3, 1, &[0, 1, 1]);
    gray(&d.pred("x.png"), 3, 1, &[0, 1, 7]);
    let out = d.eval("2", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("pred/x.png") && err.contains("predicted class 7 at pixel 2"),
        "{err}"
    );
}

#[test]
fn unknown_ground_truth_fails_unless_lenient() {
    let d = Dirs::new();
    gray(&d.gt("x.png"), 4, 1, &[0, 1, 9, 255]);
    gray(&d.pred("x.png"), 4, 1, &[0, 1, 1, 0]);
    let err = stderr(&d.eval("2", &[]));
    assert!(
        err.contains("gt/x.png") && err.contains("ground-truth value 9 at pixel 2"),
        "{err}"
    );
    let out = d.eval("2", &["--lenient"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(d.json()).unwrap()).unwrap();
    assert_eq!(report["num_pixels"], 2);
    assert_eq!(report["mean_iou"], 1.0);
}

#[test]
fn class_name_count_must_match() {
    let d = Dirs::new();
    gray(&d.gt("x.png"), 1, 1, &[0]);
    gray(&d.pred("x.png"), 1, 1, &[0]);
    let names = d.root.path().join("names.txt");
    std::fs::write(&names, "# two names for three classes\nroad\ncar\n").unwrap();
    let err = stderr(&d.eval("3", &["--class-names", names.to_str().unwrap()]));
    assert!(
        err.contains("names.txt")
            && err.contains("expected 3 class names")
            && err.contains("found 2"),
        "{err}"
    );
}

#[test]
fn every_file_in_the_bad_folder_is_refused_by_name() {
    let bad = repo("tests/data/bad");
    let mut checked = 0;
    for entry in std::fs::read_dir(&bad).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "png") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let d = Dirs::new();
        std::fs::copy(&path, d.gt(&name)).unwrap();
        gray(&d.pred(&name), 8, 6, &[0; 48]);
        let out = d.eval("3", &[]);
        assert!(!out.status.success(), "{name} was accepted");
        let err = stderr(&out);
        assert!(err.contains(&format!("gt/{name}")), "{name}: {err}");
        assert!(!d.json().exists());
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} bad files");
}

#[test]
fn empty_folder_and_missing_folder_are_errors() {
    let d = Dirs::new();
    let err = stderr(&d.eval("2", &[]));
    assert!(
        err.contains("no .png files in") && err.contains("gt"),
        "{err}"
    );
    let out = fcn(&[
        "eval",
        "--gt",
        "/no/such/dir",
        "--pred",
        "/no/such/dir",
        "--num-classes",
        "2",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/no/such/dir"));
}

#[test]
fn help_and_version() {
    let out = fcn(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("eval"));
    let out = fcn(&["--version"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with(&format!("fcn {}", env!("CARGO_PKG_VERSION")))
    );
    let out = fcn(&["eval", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--ignore-index"));
}
