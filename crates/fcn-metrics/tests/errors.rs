//! Bad input gives an error that names it, and leaves the matrix as it was.

use fcn_metrics::{ConfusionMatrix, MetricsError, OutOfRange, PerImageIou, Report};

#[test]
fn prediction_out_of_range_names_value_and_position() {
    let mut m = ConfusionMatrix::new(3).unwrap();
    m.update(&[0u8, 1], &[0u8, 1]).unwrap();
    let before = m.clone();
    let err = m.update(&[0u8, 2, 3, 9], &[0u8, 0, 0, 0]).unwrap_err();
    assert_eq!(
        err,
        MetricsError::PredictionOutOfRange {
            value: 3,
            index: 2,
            num_classes: 3
        }
    );
    assert!(
        err.to_string().contains("predicted class 3 at pixel 2"),
        "{err}"
    );
    assert_eq!(m, before, "a failed update must not count anything");
}

#[test]
fn prediction_out_of_range_is_an_error_even_where_the_target_is_ignored() {
    let mut m = ConfusionMatrix::new(3)
        .unwrap()
        .with_out_of_range(OutOfRange::Skip);
    let err = m.update(&[255u8], &[255u8]).unwrap_err();
    assert!(matches!(
        err,
        MetricsError::PredictionOutOfRange {
            value: 255,
            index: 0,
            ..
        }
    ));
}

#[test]
fn negative_prediction_is_an_error() {
    let mut m = ConfusionMatrix::new(3).unwrap();
    let err = m.update(&[0i64, -1], &[0i64, 0]).unwrap_err();
    assert!(matches!(
        err,
        MetricsError::PredictionOutOfRange {
            value: -1,
            index: 1,
            ..
        }
    ));
}

#[test]
fn unknown_target_fails_by_default_and_is_skipped_when_lenient() {
    let pred = [0u16, 1, 1, 0];
    let target = [0u16, 1, 7, 255];
    let mut strict = ConfusionMatrix::new(2).unwrap();
    let err = strict.update(&pred, &target).unwrap_err();
    assert_eq!(
        err,
        MetricsError::TargetOutOfRange {
            value: 7,
            index: 2,
            num_classes: 2,
            ignore_index: Some(255)
        }
    );
    assert!(err.to_string().contains("lenient"), "{err}");
    assert_eq!(strict.total(), 0);

    let mut lenient = ConfusionMatrix::new(2)
        .unwrap()
        .with_out_of_range(OutOfRange::Skip);
    lenient.update(&pred, &target).unwrap();
    assert_eq!(lenient.counts(), &[1, 0, 0, 1]);
}

#[test]
fn without_ignore_value_255_is_out_of_range() {
    let mut m = ConfusionMatrix::new(2).unwrap().with_ignore_index(None);
    let err = m.update(&[0u8], &[255u8]).unwrap_err();
    assert!(matches!(
        err,
        MetricsError::TargetOutOfRange {
            ignore_index: None,
            ..
        }
    ));
    assert!(err.to_string().contains("no ignore value"), "{err}");
}

#[test]
fn error_found_late_in_a_long_slice_is_located() {
    let n = 10_000;
    let mut target = vec![1u8; n];
    target[9_876] = 42;
    let mut m = ConfusionMatrix::new(4).unwrap();
    let err = m.update(&vec![0u8; n], &target).unwrap_err();
    assert!(matches!(
        err,
        MetricsError::TargetOutOfRange {
            value: 42,
            index: 9_876,
            ..
        }
    ));
}

#[test]
fn length_mismatch() {
    let mut m = ConfusionMatrix::new(2).unwrap();
    let err = m.update(&[0u8, 1], &[0u8]).unwrap_err();
    assert_eq!(
        err,
        MetricsError::LengthMismatch {
            pred_len: 2,
            target_len: 1
        }
    );
}

#[test]
fn batch_error_names_the_first_bad_image_and_adds_nothing() {
    let good = [0u8; 100];
    let bad = {
        let mut v = [0u8; 100];
        v[50] = 9;
        v
    };
    let batch: Vec<(&[u8], &[u8])> = (0..40)
        .map(|i| {
            if i == 17 || i == 33 {
                (&bad[..], &good[..])
            } else {
                (&good[..], &good[..])
            }
        })
        .collect();
    let mut m = ConfusionMatrix::new(2).unwrap();
    let err = m.update_batch(&batch).unwrap_err();
    match &err {
        MetricsError::Image { image, source } => {
            assert_eq!(*image, 17);
            assert!(matches!(
                **source,
                MetricsError::PredictionOutOfRange { index: 50, .. }
            ));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(m.total(), 0);
    let mut per_image = PerImageIou::new(2).unwrap();
    assert!(matches!(
        per_image.update_batch(&batch),
        Err(MetricsError::Image { image: 17, .. })
    ));
    assert_eq!(per_image.num_images(), 0);
}

#[test]
fn settings_are_checked() {
    assert_eq!(
        ConfusionMatrix::new(0).unwrap_err(),
        MetricsError::NoClasses
    );
    assert!(matches!(
        ConfusionMatrix::new(fcn_metrics::MAX_CLASSES + 1),
        Err(MetricsError::TooManyClasses { .. })
    ));
    assert_eq!(
        ConfusionMatrix::from_counts(2, vec![1, 2, 3]).unwrap_err(),
        MetricsError::CountsLength {
            expected: 4,
            actual: 3
        }
    );
    let mut a = ConfusionMatrix::new(3).unwrap();
    let b = ConfusionMatrix::new(4).unwrap();
    assert!(matches!(
        a.merge(&b),
        Err(MetricsError::MergeMismatch { .. })
    ));
    let c = ConfusionMatrix::new(3).unwrap().with_ignore_index(Some(0));
    assert!(matches!(
        a.merge(&c),
        Err(MetricsError::MergeMismatch { .. })
    ));
    let names = vec!["a".to_owned()];
    assert_eq!(
        Report::new(&a, Some(&names)).unwrap_err(),
        MetricsError::ClassNames {
            expected: 3,
            actual: 1
        }
    );
}

#[test]
fn empty_matrix_has_no_scores_rather_than_nan() {
    let mut m = ConfusionMatrix::new(3).unwrap();
    m.update(&[0u8, 1], &[255u8, 255]).unwrap();
    let s = m.scores();
    assert_eq!(s.num_pixels, 0);
    assert_eq!(
        (s.pixel_accuracy, s.mean_iou, s.fw_iou, s.mean_accuracy),
        (None, None, None, None)
    );
    assert_eq!(m.micro_iou(), None);
    assert!(m.per_class_iou().iter().all(Option::is_none));
    assert_eq!(m.per_class_iou_or(0.0), vec![0.0; 3]);
}

#[test]
fn ignored_class_inside_the_range_has_no_scores_in_the_report() {
    // Regression: class 1 is the ignore value; the report showed IoU 0 for it while every mean
    // left it out.
    let mut m = ConfusionMatrix::new(3).unwrap().with_ignore_index(Some(1));
    m.update(&[0u8, 1, 2, 1], &[0u8, 0, 2, 1]).unwrap();
    let report = Report::new(&m, None).unwrap();
    assert_eq!(report.per_class[1].iou, None);
    assert_eq!(report.per_class[1].dice, None);
    assert_eq!(report.mean_iou, Some(0.75));
}

#[test]
fn per_image_refuses_a_matrix_with_other_settings() {
    let mut per_image = PerImageIou::new(2).unwrap();
    let other = ConfusionMatrix::new(3).unwrap();
    assert!(matches!(
        per_image.add_image(&other),
        Err(MetricsError::MergeMismatch { .. })
    ));
    let no_ignore = ConfusionMatrix::new(2).unwrap().with_ignore_index(None);
    assert!(per_image.add_image(&no_ignore).is_err());
    assert_eq!(per_image.num_images(), 0);
}

#[test]
fn counts_that_would_overflow_are_refused() {
    assert_eq!(
        ConfusionMatrix::from_counts(2, vec![u64::MAX, 1, 0, 0]).unwrap_err(),
        MetricsError::CountOverflow
    );
    let mut big = ConfusionMatrix::from_counts(1, vec![u64::MAX - 1]).unwrap();
    let two = ConfusionMatrix::from_counts(1, vec![2]).unwrap();
    assert_eq!(big.merge(&two).unwrap_err(), MetricsError::CountOverflow);
    assert_eq!(big.total(), u64::MAX - 1, "a refused merge changes nothing");
}

#[test]
fn batch_error_message_includes_the_cause() {
    let mut m = ConfusionMatrix::new(2).unwrap();
    let err = m.update_batch(&[(&[5u8][..], &[0u8][..])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "in image 0 of the batch: predicted class 5 at pixel 0 is outside [0, 2)"
    );
}
