//! `write_report`: the HTML page of a run directory.

use std::path::Path;

use fcn_metrics::{ConfusionMatrix, Report};
use fcn_train::{TrainConfig, TrainError, files, render_report, write_report};
use ndarray::{Array2, Array3};

const NAMES: [&str; 3] = ["background", "rail", "<b>&"];
const COLORS: [[u8; 3]; 3] = [[0, 0, 0], [200, 0, 0], [0, 200, 0]];

fn step_line(step: u64, loss: f64) -> String {
    format!(
        r#"{{"kind":"step","step":{step},"loss":{loss},"lr":0.001,"images_per_s":12.5,"elapsed_s":{}}}"#,
        step as f64 * 0.5
    )
}

fn eval_line(step: u64, counts: Vec<u64>, baseline: f64) -> String {
    let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    let matrix = ConfusionMatrix::from_counts(3, counts)
        .unwrap()
        .with_ignore_index(Some(255));
    let report = Report::new(&matrix, Some(&names)).unwrap();
    serde_json::json!({
        "kind": "eval",
        "step": step,
        "elapsed_s": step as f64 * 0.5,
        "baseline_mean_iou": baseline,
        "report": report,
        "confusion": matrix,
    })
    .to_string()
}

/// A run directory as the training loop leaves it: config, log, predictions.
fn fake_run(dir: &Path, with_eval: bool, with_predictions: bool) {
    let mut config = TrainConfig::default();
    config.train.iterations = 20;
    config.train.eval_every = 10;
    std::fs::write(dir.join(files::CONFIG), config.to_toml()).unwrap();
    let mut lines: Vec<String> = (1..=20).map(|s| step_line(s, 2.0 / s as f64)).collect();
    if with_eval {
        lines.insert(
            10,
            eval_line(10, vec![50, 5, 5, 10, 20, 0, 10, 0, 10], 0.2345),
        );
        lines.push(eval_line(20, vec![55, 3, 2, 5, 25, 0, 5, 0, 15], 0.2345));
    }
    std::fs::write(dir.join(files::LOG), lines.join("\n") + "\n").unwrap();
    if with_predictions {
        let predictions = dir.join(files::PREDICTIONS);
        std::fs::create_dir_all(&predictions).unwrap();
        for i in 0..2 {
            let image =
                Array3::from_shape_fn((6, 8, 3), |(r, c, k)| (r * 30 + c * 10 + k * 5) as u8);
            let gt = Array2::from_shape_fn(
                (6, 8),
                |(r, c)| if r == 0 { 255 } else { ((c / 3) % 3) as u8 },
            );
            let pred = Array2::from_shape_fn((6, 8), |(r, _)| (r % 3) as u8);
            fcn_data::write_rgb_png(&predictions.join(format!("{i:04}_image.png")), &image)
                .unwrap();
            fcn_data::write_palette_png(&predictions.join(format!("{i:04}_gt.png")), &gt, &COLORS)
                .unwrap();
            fcn_data::write_palette_png(
                &predictions.join(format!("{i:04}_pred.png")),
                &pred,
                &COLORS,
            )
            .unwrap();
        }
    }
}

#[test]
fn report_has_plots_classes_baseline_and_images() {
    let dir = tempfile::tempdir().unwrap();
    fake_run(dir.path(), true, true);
    let path = write_report(dir.path()).unwrap();
    assert_eq!(path, dir.path().join("report.html"));
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for plot in [
        "aria-label=\"Training loss\"",
        "aria-label=\"Validation mean IoU\"",
        "aria-label=\"IoU per class\"",
        "aria-label=\"Confusion matrix\"",
    ] {
        assert!(html.contains(plot), "missing {plot}");
    }
    assert!(html.contains("<polyline"));
    assert!(html.contains("stroke-dasharray"), "baseline is dashed");
    for name in ["background", "rail", "&lt;b&gt;&amp;"] {
        assert!(html.contains(name), "missing class {name}");
    }
    assert!(!html.contains("<b>&"), "class name not escaped");
    assert!(html.contains("23.45%"), "baseline mean IoU");
    // Two predictions x (image, ground truth, prediction).
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 6);
    // Self-contained: nothing fetched.
    let namespaces = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(html.matches("http").count(), namespaces);
    assert!(!html.contains("<script"));
}

#[test]
fn report_of_a_run_without_evaluation_or_predictions() {
    let dir = tempfile::tempdir().unwrap();
    fake_run(dir.path(), false, false);
    let html = render_report(dir.path()).unwrap();
    assert!(html.contains("aria-label=\"Training loss\""));
    assert!(html.contains("No evaluation yet"));
    assert!(!html.contains("Validation predictions"));
    assert!(!html.contains("data:image/png"));
}

#[test]
fn report_of_an_empty_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let html = render_report(dir.path()).unwrap();
    assert!(html.contains("No training log yet"));
}

#[test]
fn malformed_log_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fake_run(dir.path(), true, false);
    let log = dir.path().join(files::LOG);
    let mut text = std::fs::read_to_string(&log).unwrap();
    text = text.replacen("\n", "\n{\"kind\":\"step\",\"step\":\n", 2);
    std::fs::write(&log, text).unwrap();
    let err = write_report(dir.path()).unwrap_err();
    assert!(
        matches!(err, TrainError::LogRecord { line: 2, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("log.jsonl:2:"), "{message}");
    assert!(!dir.path().join(files::REPORT).exists());
}

#[test]
fn prediction_of_the_wrong_size_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    fake_run(dir.path(), true, true);
    let pred = dir.path().join(files::PREDICTIONS).join("0001_pred.png");
    fcn_data::write_palette_png(&pred, &Array2::zeros((2, 2)), &COLORS).unwrap();
    let err = render_report(dir.path()).unwrap_err();
    assert!(err.to_string().contains("0001_pred.png"), "{err}");
}
