//! Finite-difference gradient checks: every backward pass against central differences of its
//! forward pass, independently of the PyTorch golden values.
//!
//! For an op `y = f(x, ...)` the scalar is `L = sum(y * r)` for a fixed random `r` (or the loss
//! itself), so the analytic gradient is the backward pass fed `r`. On a random subset of
//! coordinates, `dL/dx_i` is compared with `(L(x + e_i) - L(x - e_i)) / (2 e)`, `L` summed in f64
//! from the f32 outputs. The tolerance is relative to the coordinate's value plus the gradient's
//! mean magnitude, so a gradient that is uniformly a little off (a wrong scale, a flipped kernel,
//! swapped axes) fails: `the_checker_rejects_wrong_gradients` makes sure of that.

use crate::common::Rng;
use fcn_tensor::Tensor;
use fcn_tensor::ops::{self, Conv2d, ConvTranspose2d, DropoutMode, Pool2d, Reduction};

/// Step of the central differences (inputs are of magnitude ~1).
const EPS: f32 = 1e-2;
/// Coordinates checked per tensor (all of them when the tensor is smaller).
const SAMPLES: usize = 20;
/// Relative tolerance. Linear ops agree to ~1e-5 (f32 rounding magnified by 1 / (2 EPS)); the
/// softmax's O(EPS^2) truncation error stays below 1e-4.
const RTOL: f64 = 2e-3;

/// `sum(y * r)` in f64.
fn dot(y: &Tensor, r: &Tensor) -> f64 {
    assert_eq!(y.shape(), r.shape());
    y.data()
        .iter()
        .zip(r.data())
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

/// `x` with `x[i] += delta`.
fn nudge(x: &Tensor, i: usize, delta: f32) -> Tensor {
    let mut data = x.data().to_vec();
    data[i] += delta;
    Tensor::from_vec(data, x.shape()).unwrap()
}

/// Compares `analytic` (dL/dx, shaped like `x`) with central differences of `loss` at `x` on a
/// random subset of coordinates; returns the worst violation as an error message.
fn compare(
    what: &str,
    x: &Tensor,
    analytic: &Tensor,
    loss: &dyn Fn(&Tensor) -> f64,
    rng: &mut Rng,
) -> Result<(), String> {
    if analytic.shape() != x.shape() {
        return Err(format!(
            "{what}: gradient shape {:?}, input shape {:?}",
            analytic.shape(),
            x.shape()
        ));
    }
    let g = analytic.data();
    let scale = g.iter().map(|v| f64::from(v.abs())).sum::<f64>() / g.len().max(1) as f64;
    let coords: Vec<usize> = if x.len() <= SAMPLES {
        (0..x.len()).collect()
    } else {
        (0..SAMPLES).map(|_| rng.below(x.len())).collect()
    };
    let mut nonzero = false;
    for i in coords {
        let (up, down) = (x.data()[i] + EPS, x.data()[i] - EPS);
        // The step actually taken, after rounding to f32.
        let step = f64::from(up) - f64::from(down);
        let numeric = (loss(&nudge(x, i, EPS)) - loss(&nudge(x, i, -EPS))) / step;
        let a = f64::from(g[i]);
        nonzero |= numeric.abs() > 1e-6;
        let tol = RTOL * (numeric.abs() + scale) + 1e-6;
        if (a - numeric).abs() > tol || !a.is_finite() {
            return Err(format!(
                "{what}[{i}]: analytic {a}, numeric {numeric} (tolerance {tol:.2e})"
            ));
        }
    }
    if !nonzero && !x.is_empty() {
        return Err(format!("{what}: every sampled numeric derivative is 0"));
    }
    Ok(())
}

#[track_caller]
fn check(what: &str, x: &Tensor, analytic: &Tensor, loss: &dyn Fn(&Tensor) -> f64, rng: &mut Rng) {
    if let Err(e) = compare(what, x, analytic, loss, rng) {
        panic!("{e}");
    }
}

#[test]
fn matmul_gradients() {
    let mut rng = Rng::new(1);
    for (m, k, n) in [(5, 7, 3), (1, 4, 1), (9, 1, 6), (70, 3, 2)] {
        let (a, b) = (rng.tensor(&[m, k]), rng.tensor(&[k, n]));
        let r = rng.tensor(&[m, n]);
        let (ga, gb) = ops::matmul_backward(&a, &b, &r).unwrap();
        let what = format!("matmul {m}x{k}x{n}");
        check(
            &format!("{what} a"),
            &a,
            &ga,
            &|a| dot(&ops::matmul(a, &b).unwrap(), &r),
            &mut rng,
        );
        check(
            &format!("{what} b"),
            &b,
            &gb,
            &|b| dot(&ops::matmul(&a, b).unwrap(), &r),
            &mut rng,
        );
    }
}

/// Checks every gradient of `conv2d(x (shape x), w (shape w), bias) ` with parameters `p`.
fn conv2d_case(what: &str, x_shape: [usize; 4], w_shape: [usize; 4], p: Conv2d, rng: &mut Rng) {
    let (x, w, b) = (
        rng.tensor(&x_shape),
        rng.tensor(&w_shape),
        rng.tensor(&[w_shape[0]]),
    );
    let y = ops::conv2d(&x, &w, Some(&b), &p).unwrap();
    let r = rng.tensor(y.shape());
    let grads = ops::conv2d_backward(&x, &w, &r, &p, true).unwrap();
    let loss =
        |x: &Tensor, w: &Tensor, b: &Tensor| dot(&ops::conv2d(x, w, Some(b), &p).unwrap(), &r);
    check(
        &format!("conv2d {what} input"),
        &x,
        &grads.input,
        &|x| loss(x, &w, &b),
        rng,
    );
    check(
        &format!("conv2d {what} weight"),
        &w,
        &grads.weight,
        &|w| loss(&x, w, &b),
        rng,
    );
    let gb = grads.bias.unwrap();
    check(
        &format!("conv2d {what} bias"),
        &b,
        &gb,
        &|b| loss(&x, &w, b),
        rng,
    );
    // Without the bias flag there is no bias gradient, and the others are unchanged.
    let no_bias = ops::conv2d_backward(&x, &w, &r, &p, false).unwrap();
    assert!(no_bias.bias.is_none());
    assert_eq!(no_bias.input, grads.input);
    assert_eq!(no_bias.weight, grads.weight);
}

#[test]
fn conv2d_gradients() {
    let mut rng = Rng::new(2);
    let p = |stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2], groups| Conv2d {
        stride,
        padding,
        dilation,
        groups,
    };
    conv2d_case(
        "3x3 pad 1",
        [2, 3, 7, 6],
        [4, 3, 3, 3],
        Conv2d::padded(1),
        &mut rng,
    );
    conv2d_case(
        "1x1",
        [1, 5, 3, 4],
        [2, 5, 1, 1],
        Conv2d::default(),
        &mut rng,
    );
    conv2d_case(
        "stride 2",
        [2, 2, 9, 8],
        [3, 2, 3, 2],
        p([2, 2], [1, 1], [1, 1], 1),
        &mut rng,
    );
    conv2d_case(
        "dilation 2",
        [1, 3, 9, 7],
        [2, 3, 3, 3],
        p([1, 1], [2, 2], [2, 2], 1),
        &mut rng,
    );
    conv2d_case(
        "groups 2",
        [2, 4, 6, 5],
        [6, 2, 3, 3],
        p([1, 1], [1, 1], [1, 1], 2),
        &mut rng,
    );
    conv2d_case(
        "depthwise",
        [1, 3, 5, 5],
        [3, 1, 3, 3],
        p([1, 1], [1, 1], [1, 1], 3),
        &mut rng,
    );
    // Every parameter different along the two axes, so a swapped axis shows.
    conv2d_case(
        "mixed axes",
        [2, 4, 9, 11],
        [6, 2, 3, 2],
        p([2, 1], [1, 0], [1, 2], 2),
        &mut rng,
    );
    // FCN's first layer: padding larger than the input.
    conv2d_case(
        "pad 5 on 2x3",
        [1, 2, 2, 3],
        [2, 2, 3, 3],
        Conv2d::padded(5),
        &mut rng,
    );
}

/// Checks every gradient of `conv_transpose2d` with parameters `p`.
fn conv_t_case(
    what: &str,
    x_shape: [usize; 4],
    w_shape: [usize; 4],
    p: ConvTranspose2d,
    rng: &mut Rng,
) {
    let (x, w, b) = (
        rng.tensor(&x_shape),
        rng.tensor(&w_shape),
        rng.tensor(&[w_shape[1] * p.groups]),
    );
    let y = ops::conv_transpose2d(&x, &w, Some(&b), &p).unwrap();
    let r = rng.tensor(y.shape());
    let grads = ops::conv_transpose2d_backward(&x, &w, &r, &p, true).unwrap();
    let loss = |x: &Tensor, w: &Tensor, b: &Tensor| {
        dot(&ops::conv_transpose2d(x, w, Some(b), &p).unwrap(), &r)
    };
    let what = format!("conv_transpose2d {what}");
    check(
        &format!("{what} input"),
        &x,
        &grads.input,
        &|x| loss(x, &w, &b),
        rng,
    );
    check(
        &format!("{what} weight"),
        &w,
        &grads.weight,
        &|w| loss(&x, w, &b),
        rng,
    );
    let gb = grads.bias.unwrap();
    check(&format!("{what} bias"), &b, &gb, &|b| loss(&x, &w, b), rng);
}

#[test]
fn conv_transpose2d_gradients() {
    let mut rng = Rng::new(3);
    let p = |stride: [usize; 2],
             padding: [usize; 2],
             output_padding: [usize; 2],
             dilation: [usize; 2],
             groups| ConvTranspose2d {
        stride,
        padding,
        output_padding,
        dilation,
        groups,
    };
    conv_t_case(
        "FCN k4 s2",
        [2, 3, 4, 5],
        [3, 2, 4, 4],
        ConvTranspose2d::upsample(2),
        &mut rng,
    );
    conv_t_case(
        "k3 s1 pad 1",
        [1, 2, 5, 4],
        [2, 3, 3, 3],
        p([1, 1], [1, 1], [0, 0], [1, 1], 1),
        &mut rng,
    );
    conv_t_case(
        "s2 output_padding 1",
        [2, 2, 3, 4],
        [2, 3, 3, 3],
        p([2, 2], [1, 1], [1, 1], [1, 1], 1),
        &mut rng,
    );
    conv_t_case(
        "groups 2",
        [1, 4, 3, 3],
        [4, 3, 3, 2],
        p([2, 2], [0, 1], [0, 1], [1, 1], 2),
        &mut rng,
    );
    conv_t_case(
        "dilation 2",
        [1, 2, 4, 3],
        [2, 2, 3, 3],
        p([1, 1], [1, 2], [0, 0], [2, 2], 1),
        &mut rng,
    );
    conv_t_case(
        "mixed axes",
        [2, 4, 3, 4],
        [4, 1, 2, 3],
        p([3, 2], [1, 0], [2, 1], [1, 2], 2),
        &mut rng,
    );
}

/// Distinct values at least 0.05 apart in random order, so that a step of `EPS` never changes
/// which input is a window's maximum.
fn distinct(rng: &mut Rng, shape: &[usize]) -> Tensor {
    let len: usize = shape.iter().product();
    let mut values: Vec<f32> = (0..len)
        .map(|i| i as f32 * 0.05 - len as f32 * 0.025)
        .collect();
    for i in (1..len).rev() {
        values.swap(i, rng.below(i + 1));
    }
    Tensor::from_vec(values, shape).unwrap()
}

#[test]
fn max_pool2d_gradients() {
    let mut rng = Rng::new(4);
    let pool = |kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2], ceil_mode| Pool2d {
        kernel,
        stride,
        padding,
        ceil_mode,
    };
    for (what, shape, p) in [
        ("FCN ceil 7x9", [2, 3, 7, 9], Pool2d::FCN),
        ("FCN ceil 1x1", [1, 2, 1, 1], Pool2d::FCN),
        (
            "floor 7x9",
            [1, 2, 7, 9],
            pool([2, 2], [2, 2], [0, 0], false),
        ),
        // Overlapping windows: one input may receive several gradients.
        (
            "k3 s2 pad 1 ceil",
            [2, 2, 8, 7],
            pool([3, 3], [2, 2], [1, 1], true),
        ),
        (
            "k3x2 s1x2 ceil",
            [1, 3, 5, 6],
            pool([3, 2], [1, 2], [1, 0], true),
        ),
    ] {
        let x = distinct(&mut rng, &shape);
        let pooled = ops::max_pool2d(&x, &p).unwrap();
        let r = rng.tensor(pooled.output.shape());
        let gx = ops::max_pool2d_backward(&r, &pooled).unwrap();
        // The gradient is a sum of r routed to the argmaxes: nothing lost or invented.
        let total: f64 = gx.data().iter().map(|&v| f64::from(v)).sum();
        let want: f64 = r.data().iter().map(|&v| f64::from(v)).sum();
        assert!(
            (total - want).abs() < 1e-4,
            "max_pool2d {what}: {total} vs {want}"
        );
        // Check every coordinate: most are 0 and a sample could miss the interesting ones.
        let loss = |x: &Tensor| dot(&ops::max_pool2d(x, &p).unwrap().output, &r);
        for i in 0..x.len() {
            let numeric =
                (loss(&nudge(&x, i, EPS)) - loss(&nudge(&x, i, -EPS))) / (2.0 * f64::from(EPS));
            let a = f64::from(gx.data()[i]);
            assert!(
                (a - numeric).abs() <= 1e-3 * (1.0 + numeric.abs()),
                "max_pool2d {what} [{i}]: analytic {a}, numeric {numeric}"
            );
        }
    }
}

#[test]
fn crop_gradients() {
    let mut rng = Rng::new(5);
    for (shape, offset, size) in [
        ([2, 3, 7, 8], [2, 3], [4, 4]),
        ([1, 2, 5, 5], [0, 0], [5, 5]),
        ([1, 1, 6, 9], [5, 1], [1, 7]),
    ] {
        let x = rng.tensor(&shape);
        let r = rng.tensor(&[shape[0], shape[1], size[0], size[1]]);
        let gx = ops::crop_backward(&r, &shape, offset).unwrap();
        let loss = |x: &Tensor| dot(&ops::crop(x, offset, size).unwrap(), &r);
        // All coordinates: inside and outside the window.
        for i in 0..x.len() {
            let numeric =
                (loss(&nudge(&x, i, EPS)) - loss(&nudge(&x, i, -EPS))) / (2.0 * f64::from(EPS));
            let a = f64::from(gx.data()[i]);
            assert!(
                (a - numeric).abs() <= 1e-3 * (1.0 + numeric.abs()),
                "crop {shape:?} at {offset:?} [{i}]: analytic {a}, numeric {numeric}"
            );
        }
    }
}

#[test]
fn relu_gradients() {
    let mut rng = Rng::new(6);
    // Away from the kink: |x| in [0.1, 1].
    let data = (0..3 * 4 * 5)
        .map(|_| {
            let v = 0.1 + 0.9 * (rng.uniform() + 1.0) / 2.0;
            if rng.below(2) == 0 { v } else { -v }
        })
        .collect();
    let x = Tensor::from_vec(data, &[1, 3, 4, 5]).unwrap();
    let y = ops::relu(&x).unwrap();
    let r = rng.tensor(x.shape());
    let gx = ops::relu_backward(&r, &y).unwrap();
    check(
        "relu",
        &x,
        &gx,
        &|x| dot(&ops::relu(x).unwrap(), &r),
        &mut rng,
    );
}

#[test]
fn elementwise_gradients() {
    let mut rng = Rng::new(7);
    let (a, b, r) = (
        rng.tensor(&[2, 3, 4]),
        rng.tensor(&[2, 3, 4]),
        rng.tensor(&[2, 3, 4]),
    );
    // add: d/da = d/db = r; mul: d/da = r * b; scale: factor * r.
    check(
        "add a",
        &a,
        &r,
        &|a| dot(&ops::add(a, &b).unwrap(), &r),
        &mut rng,
    );
    check(
        "add b",
        &b,
        &r,
        &|b| dot(&ops::add(&a, b).unwrap(), &r),
        &mut rng,
    );
    let ga = ops::mul(&r, &b).unwrap();
    check(
        "mul a",
        &a,
        &ga,
        &|a| dot(&ops::mul(a, &b).unwrap(), &r),
        &mut rng,
    );
    let gs = ops::scale(&r, -2.5).unwrap();
    check(
        "scale",
        &a,
        &gs,
        &|a| dot(&ops::scale(a, -2.5).unwrap(), &r),
        &mut rng,
    );
}

#[test]
fn dropout_gradients() {
    let mut rng = Rng::new(8);
    for (mode, p) in [(DropoutMode::Element, 0.3), (DropoutMode::Channel, 0.5)] {
        let x = rng.tensor(&[2, 5, 3, 4]);
        let (y, mask) = ops::dropout(&x, p, mode, 42).unwrap();
        let keep = 1.0 / (1.0 - p);
        assert!(
            mask.data().iter().all(|&m| m == 0.0 || m == keep),
            "{mode:?}: mask values other than 0 and {keep}"
        );
        let dropped = mask.data().iter().filter(|&&m| m == 0.0).count();
        assert!(
            dropped > 0 && dropped < mask.len(),
            "{mode:?}: {dropped} dropped"
        );
        if mode == DropoutMode::Channel {
            for plane in mask.data().chunks(12) {
                assert!(plane.iter().all(|&m| m == plane[0]), "a plane is split");
            }
        }
        assert_eq!(y, ops::mul(&x, &mask).unwrap());
        let r = rng.tensor(x.shape());
        let gx = ops::mul(&r, &mask).unwrap();
        // The same seed gives the same mask, so the forward pass is a fixed function of x.
        let loss = |x: &Tensor| dot(&ops::dropout(x, p, mode, 42).unwrap().0, &r);
        check(&format!("dropout {mode:?}"), &x, &gx, &loss, &mut rng);
    }
}

#[test]
fn softmax_cross_entropy_gradients() {
    let mut rng = Rng::new(9);
    const IGNORE: i64 = 255;
    let (n, c, h, w) = (2, 4, 3, 5);
    let weights = [0.5f32, 1.0, 2.0, 1.5];
    for reduction in [Reduction::SumOverBatch, Reduction::Mean] {
        for weight in [None, Some(&weights[..])] {
            // Logits of magnitude ~3, so the softmax is far from uniform.
            let logits = ops::scale(&rng.tensor(&[n, c, h, w]), 3.0).unwrap();
            // About one pixel in five ignored.
            let target: Vec<i64> = (0..n * h * w)
                .map(|_| match rng.below(5 * c) {
                    t if t < c => IGNORE,
                    t => (t % c) as i64,
                })
                .collect();
            assert!(target.contains(&IGNORE));
            let ce =
                ops::softmax_cross_entropy(&logits, &target, IGNORE, weight, reduction).unwrap();
            let loss = |x: &Tensor| {
                f64::from(
                    ops::softmax_cross_entropy(x, &target, IGNORE, weight, reduction)
                        .unwrap()
                        .loss,
                )
            };
            let what = format!(
                "softmax_cross_entropy {reduction:?} weighted {}",
                weight.is_some()
            );
            check(&what, &logits, &ce.grad, &loss, &mut rng);
            // Ignored pixels: exactly zero gradient in every channel; the others sum to zero
            // over channels (softmax minus one-hot).
            for i in 0..n {
                for px in 0..h * w {
                    let at = |ch: usize| (i * c + ch) * h * w + px;
                    let g: Vec<f32> = (0..c).map(|ch| ce.grad.data()[at(ch)]).collect();
                    if target[i * h * w + px] == IGNORE {
                        assert!(
                            g.iter().all(|&v| v == 0.0),
                            "{what}: ignored pixel {i},{px}"
                        );
                    } else {
                        assert!(g.iter().sum::<f32>().abs() < 1e-6, "{what}: pixel {i},{px}");
                    }
                }
            }
            // The loss in f64, straight from the definition.
            let mut want = 0.0f64;
            let mut total_weight = 0.0f64;
            for i in 0..n {
                for px in 0..h * w {
                    let t = target[i * h * w + px];
                    if t == IGNORE {
                        continue;
                    }
                    let z: Vec<f64> = (0..c)
                        .map(|ch| f64::from(logits.data()[(i * c + ch) * h * w + px]))
                        .collect();
                    let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
                    let wt = weight.map_or(1.0, |w| f64::from(w[t as usize]));
                    want += wt * (lse - z[t as usize]);
                    total_weight += wt;
                }
            }
            want /= match reduction {
                Reduction::SumOverBatch => n as f64,
                Reduction::Mean => total_weight,
            };
            assert!(
                (f64::from(ce.loss) - want).abs() <= 1e-5 * want.abs(),
                "{what}: loss {} vs {want}",
                ce.loss
            );
        }
    }
    // Every pixel ignored: loss 0 and gradient 0 under both reductions.
    let logits = rng.tensor(&[1, 3, 2, 2]);
    for reduction in [Reduction::SumOverBatch, Reduction::Mean] {
        let ce =
            ops::softmax_cross_entropy(&logits, &[IGNORE; 4], IGNORE, None, reduction).unwrap();
        assert_eq!(ce.loss, 0.0);
        assert!(ce.grad.data().iter().all(|&v| v == 0.0));
    }
}

/// A miniature FCN head, backpropagated by hand through every op: conv2d, conv_transpose2d
/// upsampling, crop, skip addition and the loss. Smooth everywhere (no relu or pooling kinks).
#[test]
fn fcn_head_chain_gradients() {
    let mut rng = Rng::new(10);
    const IGNORE: i64 = 255;
    let (c_in, classes, h, w) = (3, 4, 7, 6);
    let x = rng.tensor(&[1, c_in, h, w]);
    let score_w = rng.tensor(&[classes, c_in, 3, 3]);
    let score_b = rng.tensor(&[classes]);
    let up_w = rng.tensor(&[classes, classes, 4, 4]);
    let skip = rng.tensor(&[1, classes, 2 * h + 2, 2 * w + 2]);
    let conv = Conv2d::padded(1);
    let up = ConvTranspose2d::upsample(2);
    let target: Vec<i64> = (0..h * w)
        .map(|i| {
            if i % 7 == 3 {
                IGNORE
            } else {
                (i % classes) as i64
            }
        })
        .collect();
    let offset = [1, 2];
    let forward = |x: &Tensor, score_w: &Tensor, up_w: &Tensor, skip: &Tensor| {
        let score = ops::conv2d(x, score_w, Some(&score_b), &conv).unwrap();
        let upscored = ops::conv_transpose2d(&score, up_w, None, &up).unwrap();
        let fused = ops::add(&upscored, skip).unwrap();
        let out = ops::crop(&fused, offset, [h, w]).unwrap();
        (score, upscored, out)
    };
    let loss = |x: &Tensor, score_w: &Tensor, up_w: &Tensor, skip: &Tensor| {
        let (_, _, out) = forward(x, score_w, up_w, skip);
        f64::from(
            ops::softmax_cross_entropy(&out, &target, IGNORE, None, Reduction::Mean)
                .unwrap()
                .loss,
        )
    };
    let (score, upscored, out) = forward(&x, &score_w, &up_w, &skip);
    let ce = ops::softmax_cross_entropy(&out, &target, IGNORE, None, Reduction::Mean).unwrap();
    let g_fused = ops::crop_backward(&ce.grad, upscored.shape(), offset).unwrap();
    let g_up = ops::conv_transpose2d_backward(&score, &up_w, &g_fused, &up, false).unwrap();
    let g_score = ops::conv2d_backward(&x, &score_w, &g_up.input, &conv, false).unwrap();
    check(
        "chain x",
        &x,
        &g_score.input,
        &|x| loss(x, &score_w, &up_w, &skip),
        &mut rng,
    );
    check(
        "chain score_w",
        &score_w,
        &g_score.weight,
        &|v| loss(&x, v, &up_w, &skip),
        &mut rng,
    );
    check(
        "chain up_w",
        &up_w,
        &g_up.weight,
        &|v| loss(&x, &score_w, v, &skip),
        &mut rng,
    );
    check(
        "chain skip",
        &skip,
        &g_fused,
        &|v| loss(&x, &score_w, &up_w, v),
        &mut rng,
    );
}

/// The checker is meaningful: it rejects gradients that are slightly or structurally wrong.
#[test]
fn batch_norm_gradients() {
    let mut rng = Rng::new(14);
    let p = ops::BatchNorm::default();
    for (shape, statistics) in [
        ([2, 3, 4, 5], ops::Statistics::Batch),
        ([5, 2, 1, 1], ops::Statistics::Batch),
        ([2, 3, 3, 4], ops::Statistics::Running),
    ] {
        let c = shape[1];
        let x = rng.tensor(&shape);
        let (w, b) = (rng.tensor(&[c]), rng.tensor(&[c]));
        let rm = rng.tensor(&[c]);
        let rv = Tensor::full(&[c], 0.8);
        let run = |x: &Tensor, w: &Tensor, b: &Tensor| {
            ops::batch_norm2d(x, Some(w), Some(b), Some((&rm, &rv)), statistics, &p).unwrap()
        };
        let out = run(&x, &w, &b);
        let r = rng.tensor(&shape);
        let grads = ops::batch_norm2d_backward(&r, &x, Some(&w), &out).unwrap();
        let what = format!("batch_norm {shape:?} {statistics:?}");
        let loss = |x: &Tensor, w: &Tensor, b: &Tensor| dot(&run(x, w, b).output, &r);
        check(
            &format!("{what} input"),
            &x,
            &grads.input,
            &|x| loss(x, &w, &b),
            &mut rng,
        );
        check(
            &format!("{what} weight"),
            &w,
            &grads.weight,
            &|w| loss(&x, w, &b),
            &mut rng,
        );
        check(
            &format!("{what} bias"),
            &b,
            &grads.bias,
            &|b| loss(&x, &w, b),
            &mut rng,
        );
    }
}

#[test]
fn resize_concat_and_pooling_gradients() {
    let mut rng = Rng::new(15);
    for (shape, size) in [([2, 2, 5, 7], [9, 4]), ([1, 1, 6, 6], [3, 11])] {
        for align in [false, true] {
            let x = rng.tensor(&shape);
            let r = rng.tensor(&[shape[0], shape[1], size[0], size[1]]);
            let gx = ops::resize_bilinear_backward(&r, &shape, align).unwrap();
            check(
                &format!("resize {shape:?} to {size:?} align {align}"),
                &x,
                &gx,
                &|x| dot(&ops::resize_bilinear(x, size, align).unwrap(), &r),
                &mut rng,
            );
        }
    }
    let (a, b) = (rng.tensor(&[2, 3, 2, 3]), rng.tensor(&[2, 2, 2, 3]));
    let r = rng.tensor(&[2, 5, 2, 3]);
    let parts = ops::split_channels(&r, &[3, 2]).unwrap();
    check(
        "concat first",
        &a,
        &parts[0],
        &|a| dot(&ops::concat_channels(&[a, &b]).unwrap(), &r),
        &mut rng,
    );
    check(
        "concat second",
        &b,
        &parts[1],
        &|b| dot(&ops::concat_channels(&[&a, b]).unwrap(), &r),
        &mut rng,
    );
    let x = rng.tensor(&[2, 3, 4, 5]);
    let r = rng.tensor(&[2, 3, 1, 1]);
    let gx = ops::global_avg_pool2d_backward(&r, x.shape()).unwrap();
    check(
        "global average pooling",
        &x,
        &gx,
        &|x| dot(&ops::global_avg_pool2d(x).unwrap(), &r),
        &mut rng,
    );
}

#[test]
fn the_checker_rejects_wrong_gradients() {
    let mut rng = Rng::new(11);
    let p = Conv2d {
        stride: [2, 1],
        padding: [1, 0],
        dilation: [1, 2],
        groups: 1,
    };
    let (x, w) = (rng.tensor(&[1, 2, 7, 8]), rng.tensor(&[3, 2, 3, 3]));
    let r = rng.tensor(ops::conv2d(&x, &w, None, &p).unwrap().shape());
    let grads = ops::conv2d_backward(&x, &w, &r, &p, false).unwrap();
    let loss_w = |w: &Tensor| dot(&ops::conv2d(&x, w, None, &p).unwrap(), &r);
    let loss_x = |x: &Tensor| dot(&ops::conv2d(x, &w, None, &p).unwrap(), &r);
    assert!(compare("weight", &w, &grads.weight, &loss_w, &mut rng).is_ok());
    assert!(compare("input", &x, &grads.input, &loss_x, &mut rng).is_ok());

    let map = |t: &Tensor, f: &dyn Fn(usize, f32) -> f32| {
        let data = t.data().iter().enumerate().map(|(i, &v)| f(i, v)).collect();
        Tensor::from_vec(data, t.shape()).unwrap()
    };
    let gw = grads.weight.data();
    let broken: [(&str, Tensor); 4] = [
        ("scaled by 1.02", map(&grads.weight, &|_, v| v * 1.02)),
        ("sign flipped", map(&grads.weight, &|_, v| -v)),
        // Each 3x3 kernel rotated by 180 degrees (convolution instead of correlation).
        (
            "kernel flipped",
            map(&grads.weight, &|i, _| gw[i - i % 9 + 8 - i % 9]),
        ),
        // Each 3x3 kernel transposed (height and width swapped).
        (
            "kernel transposed",
            map(&grads.weight, &|i, _| {
                gw[i - i % 9 + (i % 3) * 3 + (i % 9) / 3]
            }),
        ),
    ];
    for (what, g) in broken {
        assert!(
            compare(what, &w, &g, &loss_w, &mut rng).is_err(),
            "a weight gradient {what} passed the check"
        );
    }
    let shifted = map(&grads.input, &|i, _| grads.input.data()[(i + 1) % x.len()]);
    assert!(compare("input shifted", &x, &shifted, &loss_x, &mut rng).is_err());
    let zero = Tensor::zeros(x.shape());
    assert!(compare("zero input grad", &x, &zero, &loss_x, &mut rng).is_err());
}
