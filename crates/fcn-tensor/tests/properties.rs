//! Properties over random shapes and parameters: output shapes follow the documented formulas,
//! invalid parameters are errors (never panics), the transposed convolution is the adjoint of
//! the convolution, single-channel convolution agrees with `ndarray-conv`, `argmax_channels`
//! agrees with a naive loop, and the FCN-32s/16s/8s crops fit for every input size.

use fcn_tensor::Tensor;
use fcn_tensor::ops::{self, Conv2d, ConvTranspose2d, Pool2d};
use ndarray::Array2;
use ndarray_conv::{ConvExt, ConvMode, PaddingMode, ReverseKernel, WithDilation};
use proptest::prelude::*;

/// A tensor of `shape` with values in `[-1, 1)` from a seed (SplitMix64).
fn tensor(shape: &[usize], seed: u64) -> Tensor {
    crate::common::Rng::new(seed).tensor(shape)
}

/// `<a, b>` in f64, and the sum of `|a_i b_i|` (the scale of its rounding error).
fn inner(a: &Tensor, b: &Tensor) -> (f64, f64) {
    assert_eq!(a.shape(), b.shape());
    a.data()
        .iter()
        .zip(b.data())
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .fold((0.0, 0.0), |(s, m), v| (s + v, m + v.abs()))
}

/// Geometry of a grouped convolution: channels per group and the per-axis parameters.
#[derive(Debug, Clone)]
struct ConvCase {
    n: usize,
    groups: usize,
    c_in_per_group: usize,
    c_out_per_group: usize,
    size: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    seed: u64,
}

impl ConvCase {
    fn c_in(&self) -> usize {
        self.groups * self.c_in_per_group
    }

    fn c_out(&self) -> usize {
        self.groups * self.c_out_per_group
    }

    fn conv(&self) -> Conv2d {
        Conv2d {
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
        }
    }

    /// The output size per axis from the documented formula.
    fn out(&self) -> Option<[usize; 2]> {
        let axis = |a: usize| {
            ops::conv_output_size(
                self.size[a],
                self.kernel[a],
                self.stride[a],
                self.padding[a],
                self.dilation[a],
            )
        };
        Some([axis(0)?, axis(1)?])
    }
}

fn pair(lo: usize, hi: usize) -> impl Strategy<Value = [usize; 2]> {
    [lo..=hi, lo..=hi]
}

prop_compose! {
    fn conv_case()(
        n in 1usize..=2,
        groups in 1usize..=3,
        c_in_per_group in 1usize..=2,
        c_out_per_group in 1usize..=2,
        size in pair(1, 11),
        kernel in pair(1, 4),
        stride in pair(1, 3),
        padding in pair(0, 3),
        dilation in pair(1, 3),
        seed in any::<u64>(),
    ) -> ConvCase {
        ConvCase {
            n, groups, c_in_per_group, c_out_per_group, size, kernel, stride, padding, dilation,
            seed,
        }
    }
}

proptest! {
    // No regression files: the seeds are printed on failure.
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// conv2d's output has the documented size, or is an error exactly when the dilated kernel
    /// does not fit the padded input; the gradients have the operands' shapes.
    #[test]
    fn conv2d_shapes(case in conv_case()) {
        let x = tensor(&[case.n, case.c_in(), case.size[0], case.size[1]], case.seed);
        let w = tensor(
            &[case.c_out(), case.c_in_per_group, case.kernel[0], case.kernel[1]],
            case.seed ^ 1,
        );
        let b = tensor(&[case.c_out()], case.seed ^ 2);
        let p = case.conv();
        let y = ops::conv2d(&x, &w, Some(&b), &p);
        match case.out() {
            None => {
                prop_assert!(y.is_err());
                prop_assert!(ops::conv2d_backward(&x, &w, &x, &p, true).is_err());
            }
            Some([oh, ow]) => {
                let y = y.unwrap();
                prop_assert_eq!(y.shape(), &[case.n, case.c_out(), oh, ow][..]);
                // The formula, spelled out: the last tap of the last window is inside the
                // padded input, one more stride would not be.
                for a in 0..2 {
                    let span = case.dilation[a] * (case.kernel[a] - 1) + 1;
                    let padded = case.size[a] + 2 * case.padding[a];
                    let out = [oh, ow][a];
                    prop_assert!((out - 1) * case.stride[a] + span <= padded);
                    prop_assert!(out * case.stride[a] + span > padded);
                }
                let gy = tensor(y.shape(), case.seed ^ 3);
                let g = ops::conv2d_backward(&x, &w, &gy, &p, true).unwrap();
                prop_assert_eq!(g.input.shape(), x.shape());
                prop_assert_eq!(g.weight.shape(), w.shape());
                prop_assert_eq!(g.bias.as_ref().map(Tensor::shape), Some(b.shape()));
                // A grad_output of the wrong shape is an error.
                let wrong = Tensor::zeros(&[case.n, case.c_out(), oh + 1, ow]);
                prop_assert!(ops::conv2d_backward(&x, &w, &wrong, &p, false).is_err());
            }
        }
    }

    /// conv_transpose2d's output has the documented size; the gradients have the operands'
    /// shapes.
    #[test]
    fn conv_transpose2d_shapes(case in conv_case(), op in pair(0, 2)) {
        let output_padding = [op[0] % case.stride[0], op[1] % case.stride[1]];
        let p = ConvTranspose2d {
            stride: case.stride,
            padding: case.padding,
            output_padding,
            dilation: case.dilation,
            groups: case.groups,
        };
        let x = tensor(&[case.n, case.c_in(), case.size[0], case.size[1]], case.seed);
        let w = tensor(
            &[case.c_in(), case.c_out_per_group, case.kernel[0], case.kernel[1]],
            case.seed ^ 1,
        );
        let b = tensor(&[case.c_out()], case.seed ^ 2);
        let out = |a: usize| {
            ops::conv_transpose_output_size(
                case.size[a],
                case.kernel[a],
                case.stride[a],
                case.padding[a],
                output_padding[a],
                case.dilation[a],
            )
        };
        let y = ops::conv_transpose2d(&x, &w, Some(&b), &p);
        match (out(0), out(1)) {
            (Some(oh), Some(ow)) => {
                let y = y.unwrap();
                prop_assert_eq!(y.shape(), &[case.n, case.c_out(), oh, ow][..]);
                for a in 0..2 {
                    let full = (case.size[a] - 1) * case.stride[a]
                        + case.dilation[a] * (case.kernel[a] - 1)
                        + output_padding[a]
                        + 1;
                    prop_assert_eq!([oh, ow][a] + 2 * case.padding[a], full);
                }
                let gy = tensor(y.shape(), case.seed ^ 3);
                let g = ops::conv_transpose2d_backward(&x, &w, &gy, &p, true).unwrap();
                prop_assert_eq!(g.input.shape(), x.shape());
                prop_assert_eq!(g.weight.shape(), w.shape());
                prop_assert_eq!(g.bias.as_ref().map(Tensor::shape), Some(b.shape()));
            }
            _ => prop_assert!(y.is_err()),
        }
    }

    /// max_pool2d's output has the documented size; in ceil mode every window starts inside
    /// the input or its left padding; every value is its window's maximum, at its index; the
    /// gradient has the input's shape.
    #[test]
    fn max_pool2d_shapes(
        n in 1usize..=2,
        c in 1usize..=3,
        size in pair(1, 11),
        kernel in pair(1, 4),
        stride in pair(1, 3),
        pad in pair(0, 2),
        ceil_mode in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let padding = [pad[0].min(kernel[0] / 2), pad[1].min(kernel[1] / 2)];
        let p = Pool2d { kernel, stride, padding, ceil_mode };
        let x = tensor(&[n, c, size[0], size[1]], seed);
        let out = |a: usize| ops::pool_output_size(size[a], kernel[a], stride[a], padding[a], ceil_mode);
        let pooled = ops::max_pool2d(&x, &p);
        let (Some(oh), Some(ow)) = (out(0), out(1)) else {
            prop_assert!(pooled.is_err());
            return Ok(());
        };
        let pooled = pooled.unwrap();
        prop_assert_eq!(pooled.output.shape(), &[n, c, oh, ow][..]);
        for a in 0..2 {
            let o = [oh, ow][a];
            let floor = (size[a] + 2 * padding[a]) as i64 - kernel[a] as i64;
            let floor = floor.div_euclid(stride[a] as i64) + 1;
            let o = o as i64;
            if ceil_mode {
                prop_assert!(o == floor || o == floor + 1);
                let o = o as usize;
                prop_assert!((o - 1) * stride[a] < size[a] + padding[a]);
            } else {
                prop_assert_eq!(o, floor);
            }
        }
        // Naive windows.
        let plane = size[0] * size[1];
        for (k, (&v, &i)) in pooled.output.data().iter().zip(&pooled.indices).enumerate() {
            let (pl, oy, ox) = (k / (oh * ow), k / ow % oh, k % ow);
            let xs = &x.data()[pl * plane..(pl + 1) * plane];
            let mut best = f32::NEG_INFINITY;
            for dy in 0..kernel[0] {
                for dx in 0..kernel[1] {
                    let yy = (oy * stride[0] + dy) as isize - padding[0] as isize;
                    let xx = (ox * stride[1] + dx) as isize - padding[1] as isize;
                    if (0..size[0] as isize).contains(&yy) && (0..size[1] as isize).contains(&xx) {
                        best = best.max(xs[yy as usize * size[1] + xx as usize]);
                    }
                }
            }
            prop_assert_eq!(v, best);
            prop_assert_eq!(xs[i as usize], v);
        }
        let gy = tensor(pooled.output.shape(), seed ^ 1);
        let gx = ops::max_pool2d_backward(&gy, &pooled).unwrap();
        prop_assert_eq!(gx.shape(), x.shape());
    }

    /// Invalid parameters are errors, not panics.
    #[test]
    fn invalid_parameters_are_errors(case in conv_case(), which in 0usize..4, axis in 0usize..2) {
        let x = tensor(&[case.n, case.c_in(), case.size[0], case.size[1]], case.seed);
        let w = tensor(
            &[case.c_out(), case.c_in_per_group, case.kernel[0], case.kernel[1]],
            case.seed ^ 1,
        );
        let mut p = case.conv();
        match which {
            0 => p.stride[axis] = 0,
            1 => p.dilation[axis] = 0,
            2 => p.groups = 0,
            // Groups that do not divide the channels (or disagree with the weight).
            _ => p.groups = case.c_in() + 1,
        }
        prop_assert!(ops::conv2d(&x, &w, None, &p).is_err());
        prop_assert!(ops::conv2d_backward(&x, &w, &x, &p, true).is_err());

        let wt = tensor(
            &[case.c_in(), case.c_out_per_group, case.kernel[0], case.kernel[1]],
            case.seed ^ 2,
        );
        let mut pt = ConvTranspose2d {
            stride: case.stride,
            padding: case.padding,
            output_padding: [0, 0],
            dilation: case.dilation,
            groups: case.groups,
        };
        match which {
            0 => pt.stride[axis] = 0,
            1 => pt.dilation[axis] = 0,
            2 => pt.groups = 0,
            // output_padding not smaller than the stride.
            _ => pt.output_padding[axis] = case.stride[axis] + axis,
        }
        prop_assert!(ops::conv_transpose2d(&x, &wt, None, &pt).is_err());
        prop_assert!(ops::conv_transpose2d_backward(&x, &wt, &x, &pt, true).is_err());
        // Groups that do not divide the input channels.
        if case.c_in() > 1 {
            let bad = ConvTranspose2d { groups: case.c_in() + 1, ..pt };
            prop_assert!(ops::conv_transpose2d(&x, &wt, None, &bad).is_err());
        }

        // Pooling: a zero kernel or stride, or padding over half the kernel.
        let mut pool = Pool2d {
            kernel: case.kernel,
            stride: case.stride,
            padding: [0, 0],
            ceil_mode: which % 2 == 0,
        };
        match which {
            0 => pool.stride[axis] = 0,
            1 => pool.kernel[axis] = 0,
            _ => pool.padding[axis] = case.kernel[axis] / 2 + 1 + case.padding[axis],
        }
        prop_assert!(ops::max_pool2d(&x, &pool).is_err());
    }

    /// A kernel larger than the padded input is an error for conv2d and max_pool2d.
    #[test]
    fn kernel_larger_than_padded_input(
        size in 1usize..=8, pad in 0usize..=2, extra in 1usize..=3, seed in any::<u64>(),
    ) {
        let k = size + 2 * pad + extra;
        let x = tensor(&[1, 2, size, size + 3], seed);
        let w = tensor(&[1, 2, k, 1], seed ^ 1);
        prop_assert!(ops::conv2d(&x, &w, None, &Conv2d::padded(pad)).is_err());
        let w = tensor(&[1, 2, 1, k + 3], seed ^ 1);
        prop_assert!(ops::conv2d(&x, &w, None, &Conv2d::padded(pad)).is_err());
        // With dilation, the span counts: 2 taps 2 apart need 3 positions.
        let x1 = tensor(&[1, 1, 2, 2], seed);
        let w1 = tensor(&[1, 1, 2, 2], seed);
        let dilated = Conv2d { dilation: [2, 2], ..Conv2d::default() };
        prop_assert!(ops::conv2d(&x1, &w1, None, &dilated).is_err());
        for ceil_mode in [false, true] {
            let pool = Pool2d {
                kernel: [k, 1],
                stride: [1, 1],
                padding: [pad.min(k / 2), 0],
                ceil_mode,
            };
            let fits = size + 2 * pool.padding[0] >= k;
            prop_assert_eq!(ops::max_pool2d(&x, &pool).is_ok(), fits);
        }
    }

    /// `<conv2d(x, w), y> == <x, conv_transpose2d(y, w)>` with the same geometry and the
    /// output_padding that brings back x's size; and conv2d_backward's input gradient is that
    /// same transposed convolution.
    #[test]
    fn conv_transpose2d_is_the_adjoint_of_conv2d(case in conv_case()) {
        let Some([oh, ow]) = case.out() else { return Ok(()); };
        let x = tensor(&[case.n, case.c_in(), case.size[0], case.size[1]], case.seed);
        let w = tensor(
            &[case.c_out(), case.c_in_per_group, case.kernel[0], case.kernel[1]],
            case.seed ^ 1,
        );
        let y = tensor(&[case.n, case.c_out(), oh, ow], case.seed ^ 2);
        // What the conv's floor division dropped: (H + 2p - d (k - 1) - 1) mod s.
        let output_padding = [0, 1].map(|a| {
            (case.size[a] + 2 * case.padding[a] - case.dilation[a] * (case.kernel[a] - 1) - 1)
                % case.stride[a]
        });
        prop_assert!(output_padding[0] < case.stride[0] && output_padding[1] < case.stride[1]);
        let pt = ConvTranspose2d {
            stride: case.stride,
            padding: case.padding,
            output_padding,
            dilation: case.dilation,
            groups: case.groups,
        };
        let ay = ops::conv2d(&x, &w, None, &case.conv()).unwrap();
        let aty = ops::conv_transpose2d(&y, &w, None, &pt).unwrap();
        prop_assert_eq!(aty.shape(), x.shape());
        let (lhs, lhs_scale) = inner(&ay, &y);
        let (rhs, rhs_scale) = inner(&x, &aty);
        let tol = 1e-5 * (lhs_scale + rhs_scale) + 1e-6;
        prop_assert!((lhs - rhs).abs() <= tol, "<Ax, y> = {lhs}, <x, A^T y> = {rhs}");

        let g = ops::conv2d_backward(&x, &w, &y, &case.conv(), false).unwrap();
        for (&a, &b) in g.input.data().iter().zip(aty.data()) {
            prop_assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // And the other way round: conv_transpose2d_backward's input gradient is the conv.
        let gt = ops::conv_transpose2d_backward(&y, &w, &x, &pt, false).unwrap();
        for (&a, &b) in gt.input.data().iter().zip(ay.data()) {
            prop_assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    /// Single-channel conv2d (a correlation) agrees with ndarray-conv's zero-padded correlation
    /// (its convolution with the kernel not reversed), dilation and stride included.
    #[test]
    fn conv2d_matches_ndarray_conv(
        size in pair(1, 12),
        kernel in pair(1, 5),
        padding in pair(0, 3),
        dilation in pair(1, 2),
        stride in prop_oneof![3 => Just([1, 1]), 1 => pair(1, 3)],
        seed in any::<u64>(),
    ) {
        let p = Conv2d { stride, padding, dilation, groups: 1 };
        let x = tensor(&[1, 1, size[0], size[1]], seed);
        let w = tensor(&[1, 1, kernel[0], kernel[1]], seed ^ 1);
        let ours = ops::conv2d(&x, &w, None, &p);
        let xa = Array2::from_shape_vec((size[0], size[1]), x.data().to_vec()).unwrap();
        let wa = Array2::from_shape_vec((kernel[0], kernel[1]), w.data().to_vec()).unwrap();
        let theirs = xa.conv(
            wa.with_dilation(dilation).no_reverse(),
            ConvMode::Custom { padding, strides: stride },
            PaddingMode::Zeros,
        );
        let (Ok(ours), Ok(theirs)) = (ours, theirs) else {
            // Both reject a kernel that does not fit; ndarray-conv has no other error here.
            let ours = ops::conv2d(&x, &w, None, &p);
            prop_assert!(ours.is_err(), "only ndarray-conv failed");
            return Ok(());
        };
        prop_assert_eq!(ours.shape(), &[1, 1, theirs.nrows(), theirs.ncols()][..]);
        let tol = 1e-5 * (kernel[0] * kernel[1]) as f32;
        for (&a, &b) in ours.data().iter().zip(theirs.iter()) {
            prop_assert!((a - b).abs() <= tol, "ours {a}, ndarray-conv {b}");
        }
    }

    /// argmax_channels: one label per pixel, below C, the first maximum (values with ties).
    #[test]
    fn argmax_channels_matches_a_naive_loop(
        n in 1usize..=2,
        c in 1usize..=6,
        h in 1usize..=5,
        w in 1usize..=70,
        values in prop::collection::vec(-3i8..=3, 2 * 6 * 5 * 70),
    ) {
        let data: Vec<f32> = values[..n * c * h * w].iter().map(|&v| f32::from(v)).collect();
        let x = Tensor::from_vec(data, &[n, c, h, w]).unwrap();
        let labels = ops::argmax_channels(&x).unwrap();
        prop_assert_eq!(labels.len(), n * h * w);
        for i in 0..n {
            for px in 0..h * w {
                let at = |ch: usize| x.data()[(i * c + ch) * h * w + px];
                let mut best = 0;
                for ch in 1..c {
                    if at(ch) > at(best) {
                        best = ch;
                    }
                }
                let got = labels[i * h * w + px];
                prop_assert!((got as usize) < c);
                prop_assert_eq!(got as usize, best, "image {}, pixel {}", i, px);
            }
        }
    }
}

#[test]
fn argmax_channels_rejects_no_channels_and_other_ranks() {
    assert!(ops::argmax_channels(&Tensor::zeros(&[1, 0, 2, 2])).is_err());
    assert!(ops::argmax_channels(&Tensor::zeros(&[3, 2])).is_err());
}

/// The sizes through VGG16-FCN for an input of `h`, from the size functions alone, and whether
/// each crop of FCN-32s, FCN-16s and FCN-8s fits. Returns the failures, named.
fn fcn_crops(h: usize) -> Vec<String> {
    let conv = |s: usize, k: usize, p: usize| ops::conv_output_size(s, k, 1, p, 1);
    let pool = |s: usize| ops::pool_output_size(s, 2, 2, 0, true);
    let up =
        |s: usize, k: usize, stride: usize| ops::conv_transpose_output_size(s, k, stride, 0, 0, 1);
    let mut fails = Vec::new();
    let mut fail = |what: String| fails.push(what);

    // conv1_1 (pad 100), then 2, 2, 3, 3, 3 convolutions (k3 p1) per block, each followed by a
    // ceil-mode 2x2 pool.
    let mut s = conv(h, 3, 100).unwrap();
    let mut pools = Vec::new();
    for (block, convs) in [2, 2, 3, 3, 3].into_iter().enumerate() {
        let first = if block == 0 { 1 } else { 0 };
        for _ in first..convs {
            s = conv(s, 3, 1).unwrap();
        }
        s = pool(s).unwrap();
        pools.push(s);
    }
    let (pool3, pool4, pool5) = (pools[2], pools[3], pools[4]);
    // fc6 (k7, no padding), fc7 and score_fr (k1).
    let Some(score) = conv(pool5, 7, 0)
        .and_then(|s| conv(s, 1, 0))
        .and_then(|s| conv(s, 1, 0))
    else {
        return vec![format!("fc6 does not fit pool5 ({pool5})")];
    };

    // FCN-32s: upscore (k64 s32), crop 19.
    let upscore = up(score, 64, 32).unwrap();
    if 19 + h > upscore {
        fail(format!("FCN-32s: upscore {upscore} < 19 + {h}"));
    }
    // FCN-16s: upscore2 (k4 s2); score_pool4 cropped at 5 to its size; upscore16 (k32 s16),
    // crop 27.
    let upscore2 = up(score, 4, 2).unwrap();
    if 5 + upscore2 > pool4 {
        fail(format!(
            "FCN-16s: score_pool4 {pool4} < 5 + upscore2 {upscore2}"
        ));
    }
    let upscore16 = up(upscore2, 32, 16).unwrap();
    if 27 + h > upscore16 {
        fail(format!("FCN-16s: upscore16 {upscore16} < 27 + {h}"));
    }
    // FCN-8s: as FCN-16s to the fused pool4 (upscore2's size), upscore_pool4 (k4 s2),
    // score_pool3 cropped at 9 to its size, upscore8 (k16 s8), crop 31.
    if 5 + upscore2 > pool4 {
        fail(format!(
            "FCN-8s: score_pool4 {pool4} < 5 + upscore2 {upscore2}"
        ));
    }
    let upscore_pool4 = up(upscore2, 4, 2).unwrap();
    if 9 + upscore_pool4 > pool3 {
        fail(format!(
            "FCN-8s: score_pool3 {pool3} < 9 + upscore_pool4 {upscore_pool4}"
        ));
    }
    let upscore8 = up(upscore_pool4, 16, 8).unwrap();
    if 31 + h > upscore8 {
        fail(format!("FCN-8s: upscore8 {upscore8} < 31 + {h}"));
    }
    fails
}

#[test]
fn fcn_crops_fit_every_input_size() {
    let failures: Vec<String> = (1..=600)
        .flat_map(|h| {
            fcn_crops(h)
                .into_iter()
                .map(move |f| format!("H = {h}: {f}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The same geometry on tensors, for one small size: every crop succeeds through the real ops.
#[test]
fn fcn_crops_on_tensors() {
    // Spot values of the size chain (pytorch-fcn): H = 1 gives pool5 = 7 and a 1x1 score map.
    let conv = |s| ops::conv_output_size(s, 3, 1, 100, 1).unwrap();
    assert_eq!(conv(1), 199);
    let mut s = conv(1);
    for _ in 0..5 {
        s = ops::pool_output_size(s, 2, 2, 0, true).unwrap();
    }
    assert_eq!(s, 7);
    let h = 3;
    let score = Tensor::zeros(&[1, 2, 1, 1]);
    let upscore = ops::conv_transpose2d(
        &score,
        &Tensor::zeros(&[2, 2, 64, 64]),
        None,
        &ConvTranspose2d::upsample(32),
    )
    .unwrap();
    assert_eq!(upscore.shape(), [1, 2, 64, 64]);
    assert!(ops::crop(&upscore, [19, 19], [h, h]).is_ok());
    // An offset past the end is an error.
    assert!(ops::crop(&upscore, [62, 0], [h, h]).is_err());
}

/// Regressions from review: degenerate sizes give errors or empty results, never panics.
#[test]
fn degenerate_sizes_do_not_panic() {
    use fcn_tensor::Tensor;
    use fcn_tensor::ops::{self, Conv2d};
    let y = ops::conv2d(
        &Tensor::full(&[1, 2, 3, 3], 1.0),
        &Tensor::full(&[0, 2, 1, 1], 1.0),
        None,
        &Conv2d::default(),
    );
    assert_eq!(y.unwrap().shape(), &[1, 0, 3, 3]);
    assert_eq!(ops::conv_output_size(5, 0, 1, 0, 1), None);
    assert_eq!(ops::conv_output_size(5, 3, 0, 0, 1), None);
    assert_eq!(ops::conv_output_size(5, 3, 1, usize::MAX / 2 + 1, 1), None);
    assert_eq!(ops::pool_output_size(5, 2, 0, 0, false), None);
    assert_eq!(ops::pool_output_size(5, 0, 1, 0, false), None);
    assert_eq!(ops::conv_transpose_output_size(3, 0, 2, 0, 0, 1), None);
    assert_eq!(
        ops::conv_transpose_output_size(3, 2, usize::MAX, 0, 0, 1),
        None
    );
    assert!(ops::crop(&Tensor::zeros(&[1, 1, 4, 4]), [usize::MAX, 0], [1, 1]).is_err());
}
