//! The training curves: loss per step, validation mean IoU against the majority baseline.

use super::run_log::Log;
use super::svg_chart::{Chart, Series, line_chart, smooth, thin};

pub(super) fn loss_chart(log: &Log, x_max: f64) -> String {
    let raw: Vec<(f64, f64)> = log
        .steps
        .iter()
        .filter(|s| s.loss.is_finite())
        .map(|s| (s.step as f64, s.loss))
        .collect();
    let smoothed = thin(smooth(&raw), 2000);
    let y_max = raw.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let y_min = raw.iter().map(|p| p.1).fold(0.0f64, f64::min);
    line_chart(
        &Chart {
            title: "Training loss",
            x_label: "step",
            y_label: "loss",
            x_range: (0.0, x_max),
            y_range: (y_min, y_max),
        },
        &[
            Series {
                label: "per step".into(),
                points: thin(raw, 2000),
                color: "#4c78a8",
                width: 1.0,
                dashed: false,
                markers: false,
                opacity: 0.35,
            },
            Series {
                label: "smoothed".into(),
                points: smoothed,
                color: "#1f4e8c",
                width: 2.2,
                dashed: false,
                markers: false,
                opacity: 1.0,
            },
        ],
    )
}

pub(super) fn iou_chart(log: &Log, x_max: f64) -> String {
    let miou: Vec<(f64, f64)> = log
        .evals
        .iter()
        .filter_map(|e| Some((e.step as f64, 100.0 * e.report.mean_iou?)))
        .collect();
    let baseline: Vec<(f64, f64)> = log
        .evals
        .iter()
        .filter_map(|e| Some((e.step as f64, 100.0 * e.baseline_mean_iou?)))
        .collect();
    // A constant baseline spans the whole axis.
    let baseline = match baseline.as_slice() {
        [] => baseline,
        [first, ..] if baseline.iter().all(|p| (p.1 - first.1).abs() < 1e-9) => {
            vec![(0.0, first.1), (x_max, first.1)]
        }
        _ => baseline,
    };
    let y_max = miou
        .iter()
        .chain(&baseline)
        .map(|p| p.1)
        .fold(10.0f64, f64::max);
    line_chart(
        &Chart {
            title: "Validation mean IoU",
            x_label: "step",
            y_label: "mean IoU (%)",
            x_range: (0.0, x_max),
            y_range: (0.0, (y_max * 1.1).min(100.0)),
        },
        &[
            Series {
                label: "mean IoU".into(),
                points: miou,
                color: "#e45756",
                width: 2.2,
                dashed: false,
                markers: true,
                opacity: 1.0,
            },
            Series {
                label: "majority-class baseline".into(),
                points: baseline,
                color: "#555555",
                width: 1.6,
                dashed: true,
                markers: false,
                opacity: 1.0,
            },
        ],
    )
}
