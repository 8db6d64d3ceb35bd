//! Invariants that hold for every input, checked on random ones (proptest).

use fcn_metrics::{ConfusionMatrix, PerImageIou};
use proptest::prelude::*;

/// Class count and a pair of label maps; targets include the ignore value 255.
fn labelled(max_len: usize) -> impl Strategy<Value = (usize, Vec<u8>, Vec<u8>)> {
    (1usize..40).prop_flat_map(move |n| {
        let pixel = (0..n as u8, prop_oneof![9 => 0..n as u8, 1 => Just(255u8)]);
        (Just(n), prop::collection::vec(pixel, 0..max_len)).prop_map(|(n, pixels)| {
            let (pred, target) = pixels.into_iter().unzip();
            (n, pred, target)
        })
    })
}

/// Long runs of one value, as real label maps have, so the run-detection path is exercised.
fn runs(max_runs: usize) -> impl Strategy<Value = (usize, Vec<u8>, Vec<u8>)> {
    (1usize..30).prop_flat_map(move |n| {
        let run = (
            0..n as u8,
            prop_oneof![9 => 0..n as u8, 1 => Just(255u8)],
            1usize..100,
        );
        (Just(n), prop::collection::vec(run, 0..max_runs)).prop_map(|(n, runs)| {
            let mut pred = Vec::new();
            let mut target = Vec::new();
            for (p, t, len) in runs {
                pred.extend(std::iter::repeat_n(p, len));
                target.extend(std::iter::repeat_n(t, len));
            }
            (n, pred, target)
        })
    })
}

/// The definition, written as plainly as possible.
fn naive_counts(n: usize, pred: &[u8], target: &[u8]) -> Vec<u64> {
    let mut counts = vec![0u64; n * n];
    for (&p, &t) in pred.iter().zip(target) {
        if (t as usize) < n {
            counts[t as usize * n + p as usize] += 1;
        }
    }
    counts
}

fn matrix(n: usize, pred: &[u8], target: &[u8]) -> ConfusionMatrix {
    let mut m = ConfusionMatrix::new(n).unwrap();
    m.update(pred, target).unwrap();
    m
}

proptest! {
    #[test]
    fn counts_equal_the_definition((n, pred, target) in labelled(3000)) {
        let m = matrix(n, &pred, &target);
        prop_assert_eq!(m.counts(), &naive_counts(n, &pred, &target)[..]);
    }

    #[test]
    fn counts_equal_the_definition_on_runs((n, pred, target) in runs(80)) {
        let m = matrix(n, &pred, &target);
        prop_assert_eq!(m.counts(), &naive_counts(n, &pred, &target)[..]);
    }

    #[test]
    fn wide_label_types_count_the_same((n, pred, target) in runs(40)) {
        let m = matrix(n, &pred, &target);
        let widen = |v: &[u8]| -> Vec<i64> { v.iter().map(|&x| if x == 255 { -1 } else { i64::from(x) }).collect() };
        let mut signed = ConfusionMatrix::new(n).unwrap();
        signed.update(&widen(&pred), &widen(&target)).unwrap();
        prop_assert_eq!(&signed, &m);
        let mut wide = ConfusionMatrix::new(n).unwrap();
        let as_u32 = |v: &[u8]| -> Vec<u32> { v.iter().map(|&x| u32::from(x)).collect() };
        wide.update(&as_u32(&pred), &as_u32(&target)).unwrap();
        prop_assert_eq!(&wide, &m);
    }

    #[test]
    fn total_is_the_number_of_counted_pixels((n, pred, target) in labelled(2000)) {
        let m = matrix(n, &pred, &target);
        prop_assert_eq!(m.total(), target.iter().filter(|&&t| t != 255).count() as u64);
        let gt: u64 = (0..n).map(|c| m.gt_pixels(c)).sum();
        let predicted: u64 = (0..n).map(|c| m.pred_pixels(c)).sum();
        prop_assert_eq!(gt, m.total());
        prop_assert_eq!(predicted, m.total());
    }

    #[test]
    fn scores_lie_in_the_unit_interval((n, pred, target) in labelled(2000)) {
        let s = matrix(n, &pred, &target).scores();
        let unit = |v: Option<f64>| v.is_none_or(|v| (0.0..=1.0).contains(&v));
        prop_assert!(unit(s.mean_iou) && unit(s.pixel_accuracy) && unit(s.mean_accuracy));
        // f.w. IoU is a sum of rounded terms: it may pass 1 by an ulp or two.
        prop_assert!(s.fw_iou.is_none_or(|v| (0.0..=1.0 + 1e-12).contains(&v)) && unit(s.mean_dice));
        for c in &s.per_class {
            prop_assert!(unit(c.iou) && unit(c.dice) && unit(c.precision) && unit(c.accuracy));
            // IoU never exceeds Dice: J = D / (2 - D).
            if let (Some(j), Some(d)) = (c.iou, c.dice) {
                prop_assert!((j - d / (2.0 - d)).abs() < 1e-12);
            }
        }
        prop_assert_eq!(s.mean_iou.is_some(), s.num_pixels > 0);
    }

    #[test]
    fn relabelling_classes_permutes_scores((n, pred, target) in labelled(2000), seed in any::<u64>()) {
        // A permutation of the classes from the seed (Fisher-Yates with a tiny LCG).
        let mut perm: Vec<u8> = (0..n as u8).collect();
        let mut state = seed | 1;
        for i in (1..n).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (state >> 33) as usize % (i + 1));
        }
        let relabel = |v: &[u8]| -> Vec<u8> { v.iter().map(|&x| if x == 255 { 255 } else { perm[x as usize] }).collect() };
        let a = matrix(n, &pred, &target);
        let b = matrix(n, &relabel(&pred), &relabel(&target));
        let (ia, ib) = (a.per_class_iou(), b.per_class_iou());
        for c in 0..n {
            prop_assert_eq!(ia[c], ib[perm[c] as usize]);
        }
        let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-12,
            (x, y) => x == y,
        };
        prop_assert!(close(a.mean_iou(), b.mean_iou()));
        prop_assert!(close(a.fw_iou(), b.fw_iou()));
        prop_assert!(close(a.mean_accuracy(), b.mean_accuracy()));
        prop_assert_eq!(a.pixel_accuracy(), b.pixel_accuracy());
    }

    #[test]
    fn merging_shards_equals_one_pass((n, pred, target) in runs(60), cut in any::<prop::sample::Index>()) {
        let at = cut.index(pred.len() + 1);
        let whole = matrix(n, &pred, &target);
        let mut first = matrix(n, &pred[..at], &target[..at]);
        first.merge(&matrix(n, &pred[at..], &target[at..])).unwrap();
        prop_assert_eq!(&first, &whole);
        first.reset();
        prop_assert_eq!(first.total(), 0);
    }

    #[test]
    fn batch_equals_image_by_image((n, pred, target) in labelled(3000), parts in 1usize..12) {
        let size = pred.len().div_ceil(parts).max(1);
        let batch: Vec<(&[u8], &[u8])> = pred.chunks(size).zip(target.chunks(size)).collect();
        let mut batched = ConfusionMatrix::new(n).unwrap();
        batched.update_batch(&batch).unwrap();
        let mut serial = ConfusionMatrix::new(n).unwrap();
        let mut per_image = PerImageIou::new(n).unwrap();
        let mut per_image_batched = PerImageIou::new(n).unwrap();
        for (p, t) in &batch {
            serial.update(p, t).unwrap();
            per_image.update(p, t).unwrap();
        }
        per_image_batched.update_batch(&batch).unwrap();
        prop_assert_eq!(batched, serial);
        prop_assert_eq!(per_image_batched, per_image);
    }

    #[test]
    fn per_image_merge_equals_one_accumulator((n, pred, target) in labelled(2000), parts in 2usize..8) {
        let size = pred.len().div_ceil(parts).max(1);
        let mut all = PerImageIou::new(n).unwrap();
        let mut left = PerImageIou::new(n).unwrap();
        let mut right = PerImageIou::new(n).unwrap();
        for (i, (p, t)) in pred.chunks(size).zip(target.chunks(size)).enumerate() {
            all.update(p, t).unwrap();
            if i % 2 == 0 { left.update(p, t).unwrap() } else { right.update(p, t).unwrap() }
        }
        left.merge(&right).unwrap();
        prop_assert_eq!(left.num_images(), all.num_images());
        let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-12,
            (x, y) => x == y,
        };
        prop_assert!(close(left.mean_of_image_means(), all.mean_of_image_means()));
        prop_assert!(close(left.mean_over_image_classes(), all.mean_over_image_classes()));
    }
}

#[test]
fn many_classes_take_the_direct_path_and_count_correctly() {
    // 200 classes: the laned local histogram would not fit in L1, so the direct loop runs.
    let n = 200;
    let pred: Vec<u16> = (0..5000u16).map(|i| (i * 7) % 200).collect();
    let mut target: Vec<u16> = (0..5000u16).map(|i| (i / 40) % 200).collect();
    target[123] = 255;
    let mut m = ConfusionMatrix::new(n).unwrap();
    m.update(&pred, &target).unwrap();
    let mut expected = vec![0u64; n * n];
    for (&p, &t) in pred.iter().zip(&target) {
        if t != 255 {
            expected[t as usize * n + p as usize] += 1;
        }
    }
    assert_eq!(m.counts(), &expected[..]);
}

#[cfg(feature = "serde")]
#[test]
fn matrix_round_trips_through_json_and_bad_json_is_refused() {
    let m = matrix(3, &[0, 1, 2, 2], &[0, 1, 1, 255]).with_ignore_index(Some(7));
    let json = serde_json::to_string(&m).unwrap();
    let back: ConfusionMatrix = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
    let bad = r#"{"num_classes":3,"ignore_index":255,"counts":[1,2]}"#;
    let err = serde_json::from_str::<ConfusionMatrix>(bad).unwrap_err();
    assert!(err.to_string().contains("needs 9 counts"), "{err}");
}
