//! The reference geometry: bilinear kernels, crop offsets for every input size, worked shapes.

use fcn_core::{Arch, Fcn, FcnConfig, Mode, Tape, bilinear_kernel, bilinear_weight, fcn_geometry};
use fcn_tensor::Tensor;

/// FCN_REFERENCE.md section 3, written out independently of the crate.
fn reference_kernel(k: usize) -> Vec<f64> {
    // ceil(K / 2), as the reference writes it.
    let f = k.div_ceil(2) as f64;
    let c = if k % 2 == 1 { f - 1.0 } else { f - 0.5 };
    let mut out = Vec::new();
    for i in 0..k {
        for j in 0..k {
            out.push((1.0 - (i as f64 - c).abs() / f) * (1.0 - (j as f64 - c).abs() / f));
        }
    }
    out
}

#[test]
fn bilinear_kernels_match_the_formula_for_every_size() {
    for k in 2..=64 {
        let ours = bilinear_kernel(k).unwrap();
        let reference = reference_kernel(k);
        for (a, b) in ours.iter().zip(&reference) {
            assert!((f64::from(*a) - b).abs() < 1e-7, "K = {k}");
        }
        if k % 2 == 0 {
            // Kernel 2s sums to s^2 (each output pixel gets total weight 1).
            let s = (k / 2) as f64;
            let sum: f64 = ours.iter().map(|&v| f64::from(v)).sum();
            assert!((sum - s * s).abs() < 1e-3 * s * s, "K = {k}: sum {sum}");
        }
    }
    let k16 = bilinear_kernel(16).unwrap();
    for (j, &v) in k16[..16].iter().enumerate() {
        let expected = 1.0 - (j as f64 - 7.5).abs() / 8.0;
        assert!((f64::from(v) / (1.0 - 7.5 / 8.0) - expected).abs() < 1e-6);
    }
    assert!(bilinear_kernel(0).is_err());
}

#[test]
fn bilinear_weight_fills_only_the_diagonal() {
    let w = bilinear_weight(3, 4).unwrap();
    assert_eq!(w.shape(), &[3, 3, 4, 4]);
    let v = w.data();
    for a in 0..3 {
        for b in 0..3 {
            let plane = &v[(a * 3 + b) * 16..(a * 3 + b + 1) * 16];
            let sum: f32 = plane.iter().sum();
            if a == b {
                assert!((sum - 4.0).abs() < 1e-5);
            } else {
                assert_eq!(sum, 0.0);
            }
        }
    }
}

#[test]
fn every_input_size_up_to_600_crops_inside_its_tensors() {
    for arch in Arch::ALL {
        for size in 1..=600 {
            let out = fcn_geometry(arch, size).unwrap_or_else(|e| panic!("{arch} at {size}: {e}"));
            assert!(out >= size);
        }
        assert!(fcn_geometry(arch, 0).is_err());
    }
}

#[test]
fn worked_shapes_for_500() {
    // FCN_REFERENCE.md section 2: upscore 544 (32s), upscore8 568 (8s); 16s: (34 - 1) 16 + 32.
    assert_eq!(fcn_geometry(Arch::Fcn32s, 500), Ok(544));
    assert_eq!(fcn_geometry(Arch::Fcn16s, 500), Ok(560));
    assert_eq!(fcn_geometry(Arch::Fcn8s, 500), Ok(568));
}

#[test]
fn forward_keeps_the_input_size_and_zero_scores_start_at_zero() {
    for arch in Arch::ALL {
        let model = Fcn::new(FcnConfig::new(arch, 3).with_width_divisor(32), 5).unwrap();
        for (h, w) in [(1, 1), (17, 33), (40, 29)] {
            let mut tape = Tape::inference();
            let x = tape.constant(Tensor::full(&[2, 3, h, w], 0.5));
            let y = model.forward(&mut tape, &x, Mode::Eval).unwrap();
            assert_eq!(y.shape(), &[2, 3, h, w], "{arch}");
            // Score layers start at zero, so the logits do too.
            assert!(y.value().data().iter().all(|&v| v == 0.0));
            assert!(tape.is_empty(), "an inference tape records nothing");
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let model = Fcn::new(FcnConfig::new(Arch::Fcn8s, 3).with_width_divisor(32), 5).unwrap();
    let mut tape = Tape::inference();
    let x = tape.constant(Tensor::zeros(&[1, 4, 8, 8]));
    let err = model.forward(&mut tape, &x, Mode::Eval).unwrap_err();
    assert!(err.to_string().contains("(N, 3, H, W)"), "{err}");
    assert!(Fcn::new(FcnConfig::new(Arch::Fcn8s, 0), 1).is_err());
    assert!(Fcn::new(FcnConfig::new(Arch::Fcn8s, 3).with_width_divisor(0), 1).is_err());
    assert!("fcn4s".parse::<Arch>().is_err());
    assert_eq!("fcn8s-atonce".parse::<Arch>().unwrap(), Arch::Fcn8sAtOnce);
}
