//! Batch normalisation, bilinear resizing, concatenation and global average pooling against
//! PyTorch, forward and backward: `golden/make_bn_resize.py` wrote the inputs, outputs,
//! gradients and running statistics into `golden/bn_resize.safetensors`.

use fcn_tensor::Tensor;
use fcn_tensor::ops::{self, BatchNorm, Statistics};

use crate::golden::{Golden, load};

const GOLDEN: &[u8] = include_bytes!("golden/bn_resize.safetensors");

fn golden() -> Golden<'static> {
    load(GOLDEN)
}

/// Same shape, and every value within `1e-5` relative: of the value itself, or of the
/// tensor's root mean square where values cancel to near 0 (sums run in another order).
#[track_caller]
fn assert_close(ours: &Tensor, reference: &Tensor, what: &str) {
    const RTOL: f64 = 1e-5;
    assert_eq!(ours.shape(), reference.shape(), "{what}: shape");
    let r = reference.data();
    let rms = (r.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / r.len().max(1) as f64).sqrt();
    for (i, (&a, &b)) in ours.data().iter().zip(r).enumerate() {
        let (a, b) = (f64::from(a), f64::from(b));
        assert!(
            (a - b).abs() <= RTOL * (b.abs() + rms),
            "{what}[{i}]: ours {a}, PyTorch {b} (rms {rms})"
        );
    }
}

#[test]
fn batch_norm_forward_backward_and_running_statistics() {
    let g = golden();
    let cases = g.cases("batch_norm");
    assert_eq!(cases.len(), 16);
    for (case, p) in cases {
        let x = g.tensor(&case, "x");
        let affine = p["affine"].as_bool().unwrap();
        let (weight, bias) = if affine {
            (
                Some(g.tensor(&case, "weight")),
                Some(g.tensor(&case, "bias")),
            )
        } else {
            (None, None)
        };
        let (rm, rv) = (
            g.tensor(&case, "running_mean"),
            g.tensor(&case, "running_var"),
        );
        let statistics = if p["training"].as_bool().unwrap() {
            Statistics::Batch
        } else {
            Statistics::Running
        };
        let params = BatchNorm {
            eps: p["eps"].as_f64().unwrap() as f32,
            momentum: p["momentum"].as_f64().unwrap() as f32,
        };
        let out = ops::batch_norm2d(
            &x,
            weight.as_ref(),
            bias.as_ref(),
            Some((&rm, &rv)),
            statistics,
            &params,
        )
        .unwrap();
        assert_close(&out.output, &g.tensor(&case, "y"), &case);
        assert_close(
            out.running_mean.as_ref().unwrap(),
            &g.tensor(&case, "running_mean_out"),
            &format!("{case} running_mean"),
        );
        assert_close(
            out.running_var.as_ref().unwrap(),
            &g.tensor(&case, "running_var_out"),
            &format!("{case} running_var"),
        );
        let grads =
            ops::batch_norm2d_backward(&g.tensor(&case, "gy"), &x, weight.as_ref(), &out).unwrap();
        assert_close(&grads.input, &g.tensor(&case, "gx"), &format!("{case} gx"));
        if affine {
            assert_close(
                &grads.weight,
                &g.tensor(&case, "gweight"),
                &format!("{case} gweight"),
            );
            assert_close(
                &grads.bias,
                &g.tensor(&case, "gbias"),
                &format!("{case} gbias"),
            );
        }
    }
}

#[test]
fn fused_batch_norm_relu_is_relu_of_batch_norm_plus_residual() {
    let g = golden();
    for (case, p) in g.cases("batch_norm") {
        if !p["affine"].as_bool().unwrap() {
            continue;
        }
        let x = g.tensor(&case, "x");
        let (w, b) = (g.tensor(&case, "weight"), g.tensor(&case, "bias"));
        let (rm, rv) = (
            g.tensor(&case, "running_mean"),
            g.tensor(&case, "running_var"),
        );
        let stats = if p["training"].as_bool().unwrap() {
            Statistics::Batch
        } else {
            Statistics::Running
        };
        let params = BatchNorm::default();
        let residual = g.tensor(&case, "gy");
        let plain =
            ops::batch_norm2d(&x, Some(&w), Some(&b), Some((&rm, &rv)), stats, &params).unwrap();
        let expected = ops::relu(&ops::add(&plain.output, &residual).unwrap()).unwrap();
        let fused = ops::batch_norm2d_relu(
            &x,
            Some(&w),
            Some(&b),
            Some((&rm, &rv)),
            stats,
            &params,
            Some(&residual),
        )
        .unwrap();
        assert_eq!(fused.output, expected, "{case}");
        assert_eq!(fused.running_var, plain.running_var, "{case}");
        let no_residual =
            ops::batch_norm2d_relu(&x, Some(&w), Some(&b), None, stats, &params, None);
        match stats {
            Statistics::Batch => assert_eq!(
                no_residual.unwrap().output,
                ops::relu(&plain.output).unwrap()
            ),
            // Running statistics are required to normalise with them.
            Statistics::Running => assert!(no_residual.is_err()),
        }
    }
}

#[test]
fn bilinear_resize_forward_and_backward() {
    let g = golden();
    let cases = g.cases("interpolate");
    assert_eq!(cases.len(), 14);
    for (case, p) in cases {
        let size = p["size"].as_array().unwrap();
        let size = [
            size[0].as_u64().unwrap() as usize,
            size[1].as_u64().unwrap() as usize,
        ];
        let align = p["align_corners"].as_bool().unwrap();
        let x = g.tensor(&case, "x");
        let y = ops::resize_bilinear(&x, size, align).unwrap();
        assert_close(&y, &g.tensor(&case, "y"), &case);
        let gx = ops::resize_bilinear_backward(&g.tensor(&case, "gy"), x.shape(), align).unwrap();
        assert_close(&gx, &g.tensor(&case, "gx"), &format!("{case} gx"));
    }
}

#[test]
fn concat_and_split_channels() {
    let g = golden();
    for (case, p) in g.cases("cat") {
        let count = p["parts"].as_u64().unwrap() as usize;
        let parts: Vec<Tensor> = (0..count)
            .map(|i| g.tensor(&case, &format!("x{i}")))
            .collect();
        let refs: Vec<&Tensor> = parts.iter().collect();
        let y = ops::concat_channels(&refs).unwrap();
        assert_close(&y, &g.tensor(&case, "y"), &case);
        let channels: Vec<usize> = parts.iter().map(|t| t.shape()[1]).collect();
        let grads = ops::split_channels(&g.tensor(&case, "gy"), &channels).unwrap();
        for (i, gx) in grads.iter().enumerate() {
            assert_close(
                gx,
                &g.tensor(&case, &format!("gx{i}")),
                &format!("{case} gx{i}"),
            );
        }
    }
}

#[test]
fn global_average_pooling_forward_and_backward() {
    let g = golden();
    for (case, _) in g.cases("adaptive_avg_pool2d") {
        let x = g.tensor(&case, "x");
        let y = ops::global_avg_pool2d(&x).unwrap();
        assert_close(&y, &g.tensor(&case, "y"), &case);
        let gx = ops::global_avg_pool2d_backward(&g.tensor(&case, "gy"), x.shape()).unwrap();
        assert_close(&gx, &g.tensor(&case, "gx"), &format!("{case} gx"));
    }
}

#[test]
fn shape_and_parameter_errors_are_values() {
    let x = Tensor::zeros(&[2, 3, 4, 4]);
    let params = BatchNorm::default();
    // A weight of the wrong length.
    let w = Tensor::zeros(&[2]);
    assert!(ops::batch_norm2d(&x, Some(&w), None, None, Statistics::Batch, &params).is_err());
    // One value per channel cannot give batch statistics.
    let one = Tensor::zeros(&[1, 3, 1, 1]);
    assert!(ops::batch_norm2d(&one, None, None, None, Statistics::Batch, &params).is_err());
    // Momentum outside [0, 1].
    let bad = BatchNorm {
        momentum: 1.5,
        ..params
    };
    assert!(ops::batch_norm2d(&x, None, None, None, Statistics::Batch, &bad).is_err());
    assert!(ops::resize_bilinear(&x, [0, 3], false).is_err());
    assert!(ops::concat_channels(&[]).is_err());
    assert!(ops::concat_channels(&[&x, &Tensor::zeros(&[2, 1, 4, 5])]).is_err());
    assert!(ops::split_channels(&x, &[1, 1]).is_err());
    assert!(ops::global_avg_pool2d_backward(&Tensor::zeros(&[2, 3]), x.shape()).is_err());
}
