//! Transforms: Pillow-exact resizing and the two normalisations against golden values made by
//! `tests/golden/make_transforms.py` (Pillow 13, numpy, torch), and seeded random transforms.

use fcn_data::synthetic::SyntheticTransit;
use fcn_data::transforms::{
    Compose, HorizontalFlip, Normalization, PhotometricJitter, RandomCrop, RandomScale, Resize,
    SplitMix64, Transform, resize_bilinear, resize_nearest,
};
use fcn_data::{Dataset, LabelMap, Sample};
use ndarray::{Array2, Array3};
use proptest::prelude::*;
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/transforms.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u8)
        .collect()
}

fn size(v: &Value, key: &str) -> usize {
    v[key].as_u64().unwrap() as usize
}

#[test]
fn bilinear_resize_equals_pillow_bilinear_exactly() {
    let g = golden();
    let mut checked = 0;
    for case in g["resize"].as_array().unwrap() {
        let (h, w) = (size(case, "height"), size(case, "width"));
        let image = Array3::from_shape_vec((h, w, 3), bytes(&case["image"])).unwrap();
        for out in case["outputs"].as_array().unwrap() {
            let (oh, ow) = (size(out, "height"), size(out, "width"));
            let ours = resize_bilinear(&image, oh, ow).unwrap();
            let expected = bytes(&out["bilinear"]);
            let max_diff = ours
                .iter()
                .zip(&expected)
                .map(|(&a, &b)| (i16::from(a) - i16::from(b)).abs())
                .max()
                .unwrap();
            assert_eq!(max_diff, 0, "{h}x{w} -> {oh}x{ow}");
            checked += 1;
        }
    }
    assert_eq!(checked, 17);
}

#[test]
fn nearest_resize_equals_pillow_nearest_exactly() {
    let g = golden();
    for case in g["resize"].as_array().unwrap() {
        let (h, w) = (size(case, "height"), size(case, "width"));
        let label = Array2::from_shape_vec((h, w), bytes(&case["label"])).unwrap();
        for out in case["outputs"].as_array().unwrap() {
            let (oh, ow) = (size(out, "height"), size(out, "width"));
            let ours = resize_nearest(&label, oh, ow).unwrap();
            assert_eq!(
                ours.iter().copied().collect::<Vec<_>>(),
                bytes(&out["nearest"]),
                "{h}x{w} -> {oh}x{ow}"
            );
        }
    }
}

#[test]
fn normalisations_equal_fcn_numpy_and_torch() {
    let g = golden();
    let n = &g["normalize"];
    let image = Array3::from_shape_vec((16, 16, 3), bytes(&n["image"])).unwrap();
    for (norm, key) in [
        (Normalization::Caffe, "caffe"),
        (Normalization::ImageNet, "imagenet"),
    ] {
        let ours = norm.to_chw(&image).unwrap();
        assert_eq!(ours.dim(), (3, 16, 16));
        let expected: Vec<f32> = n[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        for (i, (&a, &b)) in ours.iter().zip(&expected).enumerate() {
            // Bit-identical: the same f32 operations in the same order.
            assert_eq!(a.to_bits(), b.to_bits(), "{key} element {i}: {a} vs {b}");
        }
    }
}

fn scene() -> Sample {
    SyntheticTransit::train(4, 60, 80, 3)
        .unwrap()
        .get(1)
        .unwrap()
}

fn label_values(label: &LabelMap) -> std::collections::BTreeSet<u16> {
    label.to_u16().iter().copied().collect()
}

#[test]
fn geometric_transforms_never_invent_label_values() {
    let sample = scene();
    let mut allowed = label_values(&sample.label);
    allowed.insert(255);
    let pipeline = Compose::new()
        .then(RandomScale::new(0.5, 2.0).unwrap())
        .then(HorizontalFlip::new(0.5).unwrap())
        .then(RandomCrop::new(70, 90).unwrap())
        .then(PhotometricJitter::new(0.4, 0.4, 0.4).unwrap());
    for seed in 0..20 {
        let out = pipeline
            .apply(sample.clone(), &mut SplitMix64::new(seed))
            .unwrap();
        assert_eq!(out.dim(), (70, 90));
        assert_eq!(out.label.dim(), (70, 90));
        assert!(label_values(&out.label).is_subset(&allowed), "seed {seed}");
    }
}

#[test]
fn random_transforms_depend_on_the_generator_only() {
    let sample = scene();
    let pipeline = Compose::new()
        .then(RandomScale::new(0.7, 1.5).unwrap())
        .then(RandomCrop::new(40, 40).unwrap())
        .then(PhotometricJitter::new(0.3, 0.3, 0.3).unwrap());
    let run = |keys: &[u64]| {
        pipeline
            .apply(sample.clone(), &mut SplitMix64::from_keys(keys))
            .unwrap()
    };
    // Two separate runs with the same keys, with another run between them: no state is kept
    // from one call to the next.
    let first = run(&[1, 2, 3]);
    let other = run(&[1, 2, 4]);
    assert_ne!(first.image, other.image);
    assert_eq!(run(&[1, 2, 3]), first);
}

#[test]
fn crop_larger_than_the_sample_pads_with_fill_and_ignore() {
    let sample = scene();
    let crop = RandomCrop::new(64, 100).unwrap().with_fill([1, 2, 3], 255);
    let out = crop.apply(sample.clone(), &mut SplitMix64::new(9)).unwrap();
    // 60x80 padded at the bottom and right: the sample stays at the top-left.
    assert_eq!(out.image.slice(ndarray::s![..60, ..80, ..]), sample.image);
    assert_eq!(out.label.get(63, 99), Some(255));
    assert_eq!(out.label.get(10, 85), Some(255));
    assert_eq!(
        [
            out.image[[62, 5, 0]],
            out.image[[62, 5, 1]],
            out.image[[62, 5, 2]]
        ],
        [1, 2, 3]
    );
}

#[test]
fn resize_for_evaluation_keeps_labels_nearest() {
    let sample = scene();
    let out = Resize::new(30, 40)
        .unwrap()
        .apply(sample.clone(), &mut SplitMix64::new(0))
        .unwrap();
    assert_eq!(out.dim(), (30, 40));
    let LabelMap::U8(original) = &sample.label else {
        panic!()
    };
    let LabelMap::U8(small) = &out.label else {
        panic!()
    };
    // Halving with NEAREST picks the odd rows and columns (centre of each 2x2 block).
    assert_eq!(small[[7, 9]], original[[15, 19]]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any sizes: resizing and the random pipeline never panic, keep the label map the image's
    /// size, and only move label values (plus the ignore fill).
    #[test]
    fn transforms_keep_labels_exact_for_any_size(
        h in 1usize..40, w in 1usize..40, oh in 1usize..60, ow in 1usize..60, seed in any::<u64>()
    ) {
        let image = Array3::from_shape_fn((h, w, 3), |(y, x, c)| (y * 7 + x * 3 + c * 50) as u8);
        let label = Array2::from_shape_fn((h, w), |(y, x)| ((y * w + x) % 19) as u8);
        let values: std::collections::BTreeSet<u8> = label.iter().copied().collect();
        let resized = resize_nearest(&label, oh, ow).unwrap();
        prop_assert!(resized.iter().all(|v| values.contains(v)));
        prop_assert_eq!(resize_bilinear(&image, oh, ow).unwrap().dim(), (oh, ow, 3));
        let sample = Sample {
            image,
            label: LabelMap::U8(label),
            id: "p".into(),
            image_path: None,
            label_path: None,
        };
        let pipeline = Compose::new()
            .then(RandomScale::new(0.5, 2.0).unwrap())
            .then(HorizontalFlip::new(0.5).unwrap())
            .then(RandomCrop::new(oh, ow).unwrap());
        let out = pipeline.apply(sample, &mut SplitMix64::new(seed)).unwrap();
        prop_assert_eq!(out.dim(), (oh, ow));
        prop_assert_eq!(out.label.dim(), (oh, ow));
        let LabelMap::U8(l) = &out.label else { unreachable!() };
        prop_assert!(l.iter().all(|v| *v == 255 || values.contains(v)));
    }
}
