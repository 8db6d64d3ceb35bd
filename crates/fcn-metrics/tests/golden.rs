//! Golden values made by `golden/make_golden.py` from FCN's `score.py`, torchmetrics and numpy.
//! Values of `score.py` and numpy must match to the last bit (numpy-style pairwise sums);
//! torchmetrics computes its ratios in float32, so its values match to 1e-6 relative.

use std::fmt::Debug;

use fcn_metrics::{ConfusionMatrix, Label, OutOfRange, PerImageIou};
use serde_json::Value;

/// torchmetrics divides in float32.
const FLOAT32_TOLERANCE: f64 = 1e-6;

const GOLDEN: &str = include_str!("golden/golden.json");

fn cases() -> Vec<Value> {
    let golden: Value = serde_json::from_str(GOLDEN).expect("golden.json parses");
    golden["cases"].as_array().expect("cases").clone()
}

fn floats(v: &Value) -> Vec<Option<f64>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(Value::as_f64)
        .collect()
}

fn labels<L: TryFrom<i64>>(v: &Value) -> Vec<L>
where
    L::Error: Debug,
{
    v.as_array()
        .expect("label array")
        .iter()
        .map(|x| L::try_from(x.as_i64().expect("integer label")).expect("label fits its dtype"))
        .collect()
}

fn assert_close(ours: Option<f64>, reference: Option<f64>, tol: f64, what: &str) {
    match (ours, reference) {
        (Some(a), Some(b)) => assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{what}: ours {a}, reference {b}"
        ),
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}

struct Outcome {
    matrix: ConfusionMatrix,
    per_image: PerImageIou,
}

fn run_case<L: Label + TryFrom<i64>>(case: &Value) -> Outcome
where
    L::Error: Debug,
{
    let n = case["num_classes"].as_u64().expect("num_classes") as usize;
    let ignore = case["ignore_index"].as_u64().map(|v| v as u32);
    let policy = if case["lenient"].as_bool() == Some(true) {
        OutOfRange::Skip
    } else {
        OutOfRange::Error
    };
    let images: Vec<(Vec<L>, Vec<L>)> = case["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|im| (labels(&im["pred"]), labels(&im["target"])))
        .collect();

    let empty = ConfusionMatrix::new(n)
        .expect("valid class count")
        .with_ignore_index(ignore)
        .with_out_of_range(policy);
    let mut matrix = empty.clone();
    let mut per_image = PerImageIou::like(&empty);
    for (pred, target) in &images {
        matrix
            .update(pred, target)
            .expect("golden labels are valid");
        per_image
            .update(pred, target)
            .expect("golden labels are valid");
    }

    // The batch paths give the same numbers, bit for bit.
    let batch: Vec<(&[L], &[L])> = images.iter().map(|(p, t)| (&p[..], &t[..])).collect();
    let mut batched = empty.clone();
    batched
        .update_batch(&batch)
        .expect("golden labels are valid");
    assert_eq!(batched, matrix);
    let mut per_image_batched = PerImageIou::like(&empty);
    per_image_batched
        .update_batch(&batch)
        .expect("golden labels are valid");
    assert_eq!(per_image_batched, per_image);

    Outcome { matrix, per_image }
}

fn outcome(case: &Value) -> Outcome {
    match case["dtype"].as_str().expect("dtype") {
        "uint8" => run_case::<u8>(case),
        "uint16" => run_case::<u16>(case),
        "uint32" => run_case::<u32>(case),
        "int32" => run_case::<i32>(case),
        "int64" => run_case::<i64>(case),
        other => panic!("unexpected dtype {other}"),
    }
}

#[test]
fn counts_and_per_class_scores_match_numpy_exactly() {
    for case in cases() {
        let name = case["name"].as_str().expect("name");
        let Outcome { matrix, .. } = outcome(&case);
        let expected = &case["expected"];
        let counts: Vec<u64> = expected["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .map(|v| v.as_u64().expect("count"))
            .collect();
        assert_eq!(matrix.counts(), &counts[..], "{name}: counts");
        let scores = matrix.scores();
        let per_class = |f: fn(&fcn_metrics::ClassScores) -> Option<f64>| -> Vec<Option<f64>> {
            scores.per_class.iter().map(f).collect()
        };
        assert_eq!(
            per_class(|c| c.iou),
            floats(&expected["iou"]),
            "{name}: iou"
        );
        assert_eq!(
            per_class(|c| c.dice),
            floats(&expected["dice"]),
            "{name}: dice"
        );
        assert_eq!(
            per_class(|c| c.precision),
            floats(&expected["precision"]),
            "{name}: precision"
        );
        assert_eq!(
            per_class(|c| c.accuracy),
            floats(&expected["accuracy"]),
            "{name}: accuracy"
        );
        assert_eq!(
            matrix.per_class_iou(),
            floats(&expected["iou"]),
            "{name}: per_class_iou"
        );
    }
}

#[test]
fn dataset_scores_equal_score_py_to_the_last_bit() {
    let mut checked = 0;
    for case in cases() {
        let name = case["name"].as_str().expect("name");
        let reference = &case["expected"]["score_py"];
        if reference.is_null() {
            continue;
        }
        let Outcome { matrix, .. } = outcome(&case);
        let scores = matrix.scores();
        assert_eq!(
            scores.pixel_accuracy,
            reference["pixel_accuracy"].as_f64(),
            "{name}: pixel acc"
        );
        assert_eq!(
            scores.mean_accuracy,
            reference["mean_accuracy"].as_f64(),
            "{name}: mean acc"
        );
        assert_eq!(
            scores.mean_iou,
            reference["mean_iou"].as_f64(),
            "{name}: mean IU"
        );
        assert_eq!(
            scores.fw_iou,
            reference["fw_iou"].as_f64(),
            "{name}: fwavacc"
        );
        assert_eq!(matrix.mean_iou(), scores.mean_iou);
        assert_eq!(
            matrix.per_class_iou(),
            floats(&reference["iou"]),
            "{name}: iu"
        );
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} cases had score.py values");
}

#[test]
fn torchmetrics_averages_agree() {
    let mut checked = 0;
    for case in cases() {
        let name = case["name"].as_str().expect("name");
        let reference = &case["expected"]["torchmetrics"];
        if reference.is_null() {
            continue;
        }
        let Outcome { matrix, .. } = outcome(&case);
        assert_close(
            matrix.mean_iou(),
            reference["macro"].as_f64(),
            FLOAT32_TOLERANCE,
            &format!("{name}: macro"),
        );
        assert_close(
            matrix.fw_iou(),
            reference["weighted"].as_f64(),
            FLOAT32_TOLERANCE,
            &format!("{name}: weighted"),
        );
        assert_close(
            matrix.micro_iou(),
            reference["micro"].as_f64(),
            FLOAT32_TOLERANCE,
            &format!("{name}: micro"),
        );
        for (zero_division, key) in [(0.0, "none_zero_division_0"), (1.0, "none_zero_division_1")] {
            let ours = matrix.per_class_iou_or(zero_division);
            let theirs = floats(&reference[key]);
            assert_eq!(ours.len(), theirs.len());
            for (c, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert_close(
                    Some(*a),
                    *b,
                    FLOAT32_TOLERANCE,
                    &format!("{name}: {key}[{c}]"),
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} cases had torchmetrics values");
}

#[test]
fn per_image_averages_match_numpy_and_torchmetrics() {
    let mut torchmetrics_checked = 0;
    for case in cases() {
        let name = case["name"].as_str().expect("name");
        let Outcome { per_image, .. } = outcome(&case);
        let mut references = vec![(&case["expected"]["per_image"], 1e-12)];
        if !case["expected"]["per_image_torchmetrics"].is_null() {
            references.push((
                &case["expected"]["per_image_torchmetrics"],
                FLOAT32_TOLERANCE,
            ));
            torchmetrics_checked += 1;
        }
        for (reference, tol) in references {
            assert_close(
                per_image.mean_of_image_means(),
                reference["mean_of_image_means"].as_f64(),
                tol,
                &format!("{name}: mean of image means"),
            );
            assert_close(
                per_image.mean_over_image_classes(),
                reference["mean_over_image_classes"].as_f64(),
                tol,
                &format!("{name}: mean over (image, class)"),
            );
            for (c, (a, b)) in per_image
                .per_class()
                .iter()
                .zip(floats(&reference["per_class"]))
                .enumerate()
            {
                assert_close(*a, b, tol, &format!("{name}: per-image class {c}"));
            }
        }
        if let Some(scored) = case["expected"]["per_image"]["scored_images"].as_u64() {
            assert_eq!(
                per_image.num_scored_images(),
                scored,
                "{name}: scored images"
            );
        }
    }
    assert_eq!(torchmetrics_checked, 2);
}

#[test]
fn per_image_mean_differs_from_dataset_mean() {
    // The reason both exist: on the torchmetrics cases the numbers differ.
    for case in cases()
        .iter()
        .filter(|c| !c["expected"]["per_image_torchmetrics"].is_null())
    {
        let Outcome { matrix, per_image } = outcome(case);
        let dataset = matrix.mean_iou().expect("defined");
        let per_image = per_image.mean_of_image_means().expect("defined");
        assert!(
            (dataset - per_image).abs() > 1e-6,
            "{dataset} vs {per_image}"
        );
    }
}
