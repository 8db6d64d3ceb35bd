//! Accuracy of the CPU convolution algorithms (`ops::ConvAlgo`) on 3x3 stride-1 convolutions:
//! each against an f64 direct convolution, over random shapes and value ranges, and the input
//! gradient by Winograd against the GEMM path's.
//!
//! The error is measured relative to the output's magnitude, `max |y|` of the f64 result.
//! Bounds (documented on `ConvAlgo`): GEMM and F(2x2) 1e-5 (the issue asks 1e-4 for F(2x2)),
//! F(4x4) 1e-4. Measured maxima over these cases are printed by `measured_error_bounds`
//! (`cargo test -p fcn-tensor --test tests winograd -- --nocapture`).

use fcn_tensor::Tensor;
use fcn_tensor::ops::{self, Conv2d, ConvAlgo};
use proptest::prelude::*;

use crate::common::Rng;

const ALGOS: [ConvAlgo; 3] = [ConvAlgo::Gemm, ConvAlgo::Winograd2, ConvAlgo::Winograd4];

/// The bound on `max |y - exact| / max |exact|` of each algorithm.
fn bound(algo: ConvAlgo) -> f64 {
    match algo {
        ConvAlgo::Winograd4 => 1e-4,
        _ => 1e-5,
    }
}

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    padding: usize,
    /// Inputs in `[offset - 1, offset + 1) * x_scale`: `offset` 1 gives post-ReLU-like, all
    /// positive inputs, the hard case for Winograd (large terms that cancel).
    offset: f32,
    x_scale: f32,
    w_scale: f32,
    seed: u64,
}

impl Case {
    fn out_h(&self) -> usize {
        self.h + 2 * self.padding - 2
    }
    fn out_w(&self) -> usize {
        self.w + 2 * self.padding - 2
    }

    fn tensors(&self) -> (Tensor, Tensor, Tensor, Tensor) {
        let mut rng = Rng::new(self.seed);
        let mut values = |len: usize, offset: f32, scale: f32| -> Vec<f32> {
            (0..len).map(|_| (rng.uniform() + offset) * scale).collect()
        };
        let x = values(
            self.n * self.c_in * self.h * self.w,
            self.offset,
            self.x_scale,
        );
        let w = values(self.c_out * self.c_in * 9, 0.0, self.w_scale);
        let b = values(self.c_out, 0.0, self.x_scale * self.w_scale);
        let gy = values(self.n * self.c_out * self.out_h() * self.out_w(), 0.0, 1.0);
        (
            Tensor::from_vec(x, &[self.n, self.c_in, self.h, self.w]).unwrap(),
            Tensor::from_vec(w, &[self.c_out, self.c_in, 3, 3]).unwrap(),
            Tensor::from_vec(b, &[self.c_out]).unwrap(),
            Tensor::from_vec(gy, &[self.n, self.c_out, self.out_h(), self.out_w()]).unwrap(),
        )
    }

    /// The convolution plus bias in f64, directly.
    fn exact(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> Vec<f64> {
        let (x, w, b) = (x.data(), w.data(), b.data());
        let (oh, ow, p) = (self.out_h(), self.out_w(), self.padding as isize);
        let mut y = vec![0.0f64; self.n * self.c_out * oh * ow];
        for n in 0..self.n {
            for k in 0..self.c_out {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut sum = f64::from(b[k]);
                        for c in 0..self.c_in {
                            for r in 0..3 {
                                let ih = (i + r) as isize - p;
                                if ih < 0 || ih >= self.h as isize {
                                    continue;
                                }
                                for s in 0..3 {
                                    let iw = (j + s) as isize - p;
                                    if iw < 0 || iw >= self.w as isize {
                                        continue;
                                    }
                                    let xv = x[((n * self.c_in + c) * self.h + ih as usize)
                                        * self.w
                                        + iw as usize];
                                    let wv = w[((k * self.c_in + c) * 3 + r) * 3 + s];
                                    sum += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        y[((n * self.c_out + k) * oh + i) * ow + j] = sum;
                    }
                }
            }
        }
        y
    }
}

/// `max |got - want| / max |want|` (0 for an all-zero `want` matched exactly).
fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (&g, &w)| m.max((f64::from(g) - w).abs()));
    if err == 0.0 {
        0.0
    } else {
        err / scale.max(f64::MIN_POSITIVE)
    }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        1usize..=2,
        1usize..=40,
        1usize..=40,
        1usize..=20,
        1usize..=20,
        0usize..=2,
        prop_oneof![Just(0.0f32), Just(1.0f32)],
        prop_oneof![Just(1e-3f32), Just(1.0f32), Just(1e3f32)],
        prop_oneof![Just(1e-2f32), Just(1.0f32), Just(10.0f32)],
        any::<u64>(),
    )
        .prop_filter("the kernel fits the padded input", |c| {
            c.3 + 2 * c.5 >= 3 && c.4 + 2 * c.5 >= 3
        })
        .prop_map(
            |(n, c_in, c_out, h, w, padding, offset, x_scale, w_scale, seed)| Case {
                n,
                c_in,
                c_out,
                h,
                w,
                padding,
                offset,
                x_scale,
                w_scale,
                seed,
            },
        )
}

/// The forward pass (with bias) of every algorithm, and the ReLU-fused one, against f64.
fn check_forward(case: &Case) -> Result<(), TestCaseError> {
    let (x, w, b, _) = case.tensors();
    let exact = case.exact(&x, &w, &b);
    let conv = Conv2d::padded(case.padding);
    for algo in ALGOS {
        let y = ops::conv2d_with_algo(&x, &w, Some(&b), &conv, false, algo).unwrap();
        let err = relative_error(y.data(), &exact);
        prop_assert!(err <= bound(algo), "{algo:?}: error {err:e} on {case:?}");
        let y = ops::conv2d_with_algo(&x, &w, Some(&b), &conv, true, algo).unwrap();
        let relu: Vec<f64> = exact.iter().map(|v| v.max(0.0)).collect();
        let scale = exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = y
            .data()
            .iter()
            .zip(&relu)
            .fold(0.0f64, |m, (&g, &w)| m.max((f64::from(g) - w).abs()));
        prop_assert!(err <= bound(algo) * scale, "{algo:?} + ReLU on {case:?}");
    }
    Ok(())
}

/// The input gradient by each Winograd tile against the GEMM path's, relative to its largest
/// value; the weight and bias gradients are the GEMM path's, bit for bit.
fn check_backward_data(case: &Case) -> Result<(), TestCaseError> {
    let (x, w, _, gy) = case.tensors();
    let conv = Conv2d::padded(case.padding);
    let gemm = ops::conv2d_backward_with_algo(&x, &w, &gy, &conv, true, ConvAlgo::Gemm).unwrap();
    let want: Vec<f64> = gemm.input.data().iter().map(|&v| f64::from(v)).collect();
    for algo in [ConvAlgo::Winograd2, ConvAlgo::Winograd4] {
        let grads = ops::conv2d_backward_with_algo(&x, &w, &gy, &conv, true, algo).unwrap();
        let err = relative_error(grads.input.data(), &want);
        // Both sides have rounding error: GEMM's (1e-5) plus the algorithm's.
        prop_assert!(
            err <= bound(algo) + 1e-5,
            "{algo:?}: error {err:e} on {case:?}"
        );
        prop_assert_eq!(&grads.weight, &gemm.weight);
        prop_assert_eq!(&grads.bias, &gemm.bias);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn forward_matches_f64_direct_convolution(case in case_strategy()) {
        check_forward(&case)?;
    }

    #[test]
    fn input_gradient_matches_the_gemm_path(case in case_strategy()) {
        check_backward_data(&case)?;
    }
}

/// Larger layers than the proptest reaches (VGG-like channel counts, positive inputs), and the
/// largest error each algorithm shows on them, printed for the record.
#[test]
fn measured_error_bounds() {
    let cases = [
        (64, 64, 34, 1.0),
        (128, 128, 20, 1.0),
        (256, 256, 12, 1.0),
        (512, 512, 9, 0.0),
        (512, 512, 9, 1.0),
    ];
    for (i, &(c_in, c_out, size, offset)) in cases.iter().enumerate() {
        let case = Case {
            n: 1,
            c_in,
            c_out,
            h: size,
            w: size,
            padding: 1,
            offset,
            x_scale: 1.0,
            w_scale: 0.05,
            seed: 100 + i as u64,
        };
        let (x, w, b, _) = case.tensors();
        let exact = case.exact(&x, &w, &b);
        for algo in ALGOS {
            let y =
                ops::conv2d_with_algo(&x, &w, Some(&b), &Conv2d::padded(1), false, algo).unwrap();
            let err = relative_error(y.data(), &exact);
            println!("{c_in}->{c_out} ch, {size}x{size}, offset {offset}: {algo:?} {err:.2e}");
            assert!(err <= bound(algo), "{algo:?}: {err:e}");
        }
    }
}

/// Shapes Winograd does not apply to (strided, dilated, grouped, 1x1) take the GEMM path
/// whatever the algorithm asked: identical results.
#[test]
fn other_convolutions_take_the_gemm_path() {
    let mut rng = Rng::new(7);
    let x = rng.tensor(&[1, 4, 9, 9]);
    let params = [
        (
            3,
            Conv2d {
                stride: [2, 2],
                ..Conv2d::padded(1)
            },
        ),
        (
            3,
            Conv2d {
                dilation: [2, 2],
                ..Conv2d::padded(2)
            },
        ),
        (1, Conv2d::default()),
    ];
    for (k, conv) in params {
        let w = rng.tensor(&[6, 4, k, k]);
        let gemm = ops::conv2d_with_algo(&x, &w, None, &conv, false, ConvAlgo::Gemm).unwrap();
        for algo in [ConvAlgo::Winograd2, ConvAlgo::Winograd4, ConvAlgo::Auto] {
            let y = ops::conv2d_with_algo(&x, &w, None, &conv, false, algo).unwrap();
            assert_eq!(y, gemm, "{algo:?} {conv:?}");
        }
    }
    let grouped = Conv2d {
        groups: 2,
        ..Conv2d::padded(1)
    };
    let w = rng.tensor(&[6, 2, 3, 3]);
    let gemm = ops::conv2d_with_algo(&x, &w, None, &grouped, false, ConvAlgo::Gemm).unwrap();
    let y = ops::conv2d_with_algo(&x, &w, None, &grouped, false, ConvAlgo::Winograd4).unwrap();
    assert_eq!(y, gemm);
}

/// The process-wide setting starts at the GEMM path (training results unchanged by default).
#[test]
fn the_default_algorithm_is_gemm() {
    assert_eq!(ConvAlgo::default(), ConvAlgo::Gemm);
    assert_eq!(ops::conv_algo(), ConvAlgo::Gemm);
}

/// `Auto` follows its table: F(4x4) from 32 channels on planes from 32x32, else GEMM, bit for
/// bit the same as asking for that algorithm.
#[test]
fn auto_follows_its_table() {
    assert_eq!(ConvAlgo::choice(64, 64, 41, 41), ConvAlgo::Winograd4);
    assert_eq!(ConvAlgo::choice(16, 16, 163, 163), ConvAlgo::Gemm);
    assert_eq!(ConvAlgo::choice(64, 64, 21, 21), ConvAlgo::Gemm);
    let mut rng = Rng::new(11);
    let conv = Conv2d::padded(1);
    for (c, side) in [(32, 33), (8, 40)] {
        let x = rng.tensor(&[1, c, side, side]);
        let w = rng.tensor(&[c, c, 3, 3]);
        let gy = rng.tensor(&[1, c, side, side]);
        let chosen = ConvAlgo::choice(c, c, side, side);
        let auto = ops::conv2d_with_algo(&x, &w, None, &conv, true, ConvAlgo::Auto).unwrap();
        let fixed = ops::conv2d_with_algo(&x, &w, None, &conv, true, chosen).unwrap();
        assert_eq!(auto, fixed);
        let shape = [1, c, side, side];
        let auto = ops::conv2d_backward_input(&w, &gy, shape, &conv, ConvAlgo::Auto).unwrap();
        let fixed = ops::conv2d_backward_input(&w, &gy, shape, &conv, chosen).unwrap();
        assert_eq!(auto, fixed);
    }
}

/// Winograd results do not depend on the number of threads: blocks of tiles are fixed by the
/// shapes, each output pixel is computed by one task.
#[test]
fn winograd_results_do_not_depend_on_thread_count() {
    let mut rng = Rng::new(12);
    let x = rng.tensor(&[2, 24, 30, 30]);
    let w = rng.tensor(&[20, 24, 3, 3]);
    let conv = Conv2d::padded(1);
    for algo in [ConvAlgo::Winograd2, ConvAlgo::Winograd4] {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| ops::conv2d_with_algo(&x, &w, None, &conv, false, algo).unwrap())
        };
        assert_eq!(run(1), run(3), "{algo:?}");
    }
}

/// The names of configuration files and of the command line.
#[test]
fn algorithms_are_named_in_kebab_case() {
    for (algo, name) in ConvAlgo::ALL.into_iter().zip(ConvAlgo::NAMES) {
        assert_eq!(algo.name(), *name);
        assert_eq!(algo.to_string(), *name);
        let json = serde_json::to_string(&algo).unwrap();
        assert_eq!(json, format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<ConvAlgo>(&json).unwrap(), algo);
    }
    assert!(serde_json::from_str::<ConvAlgo>("\"winograd\"").is_err());
}

/// `with_conv_algo` overrides this thread only, and restores the previous algorithm after,
/// even when nested or unwinding.
#[test]
fn with_conv_algo_is_scoped_to_its_thread() {
    assert_eq!(ops::conv_algo(), ConvAlgo::Gemm);
    ops::with_conv_algo(ConvAlgo::Winograd4, || {
        assert_eq!(ops::conv_algo(), ConvAlgo::Winograd4);
        let other = std::thread::spawn(ops::conv_algo).join().unwrap();
        assert_eq!(other, ConvAlgo::Gemm);
        ops::with_conv_algo(ConvAlgo::Auto, || {
            assert_eq!(ops::conv_algo(), ConvAlgo::Auto)
        });
        assert_eq!(ops::conv_algo(), ConvAlgo::Winograd4);
        let unwound = std::panic::catch_unwind(|| {
            ops::with_conv_algo(ConvAlgo::Winograd2, || panic!("inside"))
        });
        assert!(unwound.is_err());
        assert_eq!(ops::conv_algo(), ConvAlgo::Winograd4);
    });
    assert_eq!(ops::conv_algo(), ConvAlgo::Gemm);
}

/// Convolutions by Winograd are counted; the GEMM path's are not.
#[test]
fn winograd_convolutions_are_counted() {
    let x = Tensor::from_vec(vec![0.5; 2 * 6 * 6], &[1, 2, 6, 6]).unwrap();
    let w = Tensor::from_vec(vec![0.25; 3 * 2 * 9], &[3, 2, 3, 3]).unwrap();
    let conv = Conv2d::padded(1);
    let before = ops::winograd_convolutions();
    ops::with_conv_algo(ConvAlgo::Winograd2, || ops::conv2d(&x, &w, None, &conv)).unwrap();
    // Other tests may run Winograd at the same time: the count only grows.
    assert!(ops::winograd_convolutions() > before);
}
