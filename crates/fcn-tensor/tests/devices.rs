//! The same operation tests on every device: on the CPU always, and with the `cuda` feature on
//! `cuda:0` when a GPU and its libraries are there, where the results must match the CPU's
//! (1e-5 relative to the output's scale). Without a GPU the CUDA arm prints
//! `skipping CUDA: <reason>` and passes; without the feature it does not exist.

use fcn_tensor::ops;
use fcn_tensor::{Device, Tensor, TensorError};

/// A tensor of `shape` with values in `[-1, 1)` from a seed (SplitMix64), on `device`.
fn input(shape: &[usize], seed: u64, device: Device) -> Tensor {
    crate::common::Rng::new(seed)
        .tensor(shape)
        .to_device(device)
        .unwrap()
}

/// `expected` and `actual` agree within `1e-5` of the larger of 1 and the largest `|expected|`.
fn assert_close(what: &str, expected: &[f32], actual: &[f32]) {
    assert_eq!(expected.len(), actual.len(), "{what}: lengths differ");
    let scale = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        assert!(
            (e - a).abs() <= 1e-5 * scale,
            "{what}: value {i} is {a}, expected {e} (scale {scale})"
        );
    }
}

/// The values of `t` on the host, from any device.
fn host(t: &Tensor) -> Vec<f32> {
    t.to_vec().unwrap()
}

/// `cuda:0` when it can run the CUDA kernels; else prints why not and returns `None`.
#[cfg(feature = "cuda")]
fn cuda_device() -> Option<Device> {
    let device = Device::Cuda(0);
    let probe = Tensor::zeros(&[1]).to_device(device).and_then(|t| {
        ops::relu(&t)?;
        ops::matmul(&t.reshape(&[1, 1])?, &t.reshape(&[1, 1])?)
    });
    match probe {
        Ok(_) => Some(device),
        Err(e @ TensorError::DeviceUnavailable { .. }) => {
            eprintln!("skipping CUDA: {e}");
            None
        }
        Err(e) => panic!("cuda:0 is present but failed: {e}"),
    }
}

/// `on_devices!(fn name(device) -> Vec<Tensor> { ... })`: a module `name` whose test `cpu` runs
/// the body on the CPU, and whose test `cuda` (with the feature) runs it on `cuda:0` too and
/// compares every output with the CPU's. The body checks its own outputs against a reference.
macro_rules! on_devices {
    (fn $name:ident($device:ident) -> Vec<Tensor> $body:block) => {
        mod $name {
            use super::*;

            fn run($device: Device) -> Vec<Tensor> $body

            #[test]
            fn cpu() {
                for t in run(Device::Cpu) {
                    assert_eq!(t.device(), Device::Cpu);
                }
            }

            #[cfg(feature = "cuda")]
            #[test]
            fn cuda() {
                let Some(device) = cuda_device() else { return };
                let expected = run(Device::Cpu);
                let actual = run(device);
                assert_eq!(expected.len(), actual.len());
                for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
                    assert_eq!(a.device(), device, "output {i}");
                    assert_eq!(a.shape(), e.shape(), "output {i}");
                    assert_close(&format!("output {i}"), e.data(), &host(a));
                }
            }
        }
    };
}

// Batch normalisation, resizing, concatenation and pooling (a child module: it uses the macro).
mod norm;

/// `a (m, k) * b (k, n)` by the definition, in f64.
fn naive_matmul(a: &[f32], b: &[f32], [m, k, n]: [usize; 3]) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|p| f64::from(a[i * k + p]) * f64::from(b[p * n + j]))
                .sum::<f64>() as f32;
        }
    }
    c
}

/// The transpose of a row-major (rows, cols) matrix.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols * rows)
        .map(|i| a[(i % rows) * cols + i / rows])
        .collect()
}

on_devices! {
    fn matmul(device) -> Vec<Tensor> {
        let mut outputs = Vec::new();
        for (seed, [m, k, n]) in [[1, 1, 1], [33, 17, 29], [64, 128, 32], [5, 300, 2]]
            .into_iter()
            .enumerate()
        {
            let a = input(&[m, k], seed as u64, device);
            let b = input(&[k, n], seed as u64 + 100, device);
            let c = ops::matmul(&a, &b).unwrap();
            assert_eq!(c.shape(), [m, n]);
            assert_close("matmul", &naive_matmul(&host(&a), &host(&b), [m, k, n]), &host(&c));
            outputs.push(c);
        }
        outputs
    }
}

on_devices! {
    fn matmul_backward(device) -> Vec<Tensor> {
        let [m, k, n] = [19, 23, 7];
        let a = input(&[m, k], 1, device);
        let b = input(&[k, n], 2, device);
        let g = input(&[m, n], 3, device);
        let (ga, gb) = ops::matmul_backward(&a, &b, &g).unwrap();
        let (ha, hb, hg) = (host(&a), host(&b), host(&g));
        assert_close("ga", &naive_matmul(&hg, &transpose(&hb, k, n), [m, n, k]), &host(&ga));
        assert_close("gb", &naive_matmul(&transpose(&ha, m, k), &hg, [k, m, n]), &host(&gb));
        vec![ga, gb]
    }
}

on_devices! {
    fn relu(device) -> Vec<Tensor> {
        // 70_000 values: several blocks; an empty tensor: no launch at all.
        let mut outputs = Vec::new();
        for shape in [&[2, 3, 100, 117][..], &[70_000], &[0, 3]] {
            let x = input(shape, 4, device);
            let y = ops::relu(&x).unwrap();
            assert_eq!((y.shape(), y.device()), (x.shape(), device));
            let expected: Vec<f32> = host(&x).iter().map(|v| v.max(0.0)).collect();
            assert_close("relu", &expected, &host(&y));
            assert_close("relu again", &expected, &host(&ops::relu(&x).unwrap()));
            outputs.push(y);
        }
        // PyTorch's ReLU keeps a NaN (a `max` would turn it into 0 and hide a diverged run).
        let nan = Tensor::from_vec(vec![f32::NAN, -1.0, 2.0], &[3]).unwrap().to_device(device).unwrap();
        let y = host(&ops::relu(&nan).unwrap());
        assert!(y[0].is_nan() && y[1] == 0.0 && y[2] == 2.0, "relu of [NaN, -1, 2]: {y:?}");
        outputs
    }
}

on_devices! {
    fn relu_backward(device) -> Vec<Tensor> {
        let y = ops::relu(&input(&[3, 4, 5, 6], 5, device)).unwrap();
        let g = input(&[3, 4, 5, 6], 6, device);
        let gx = ops::relu_backward(&g, &y).unwrap();
        let expected: Vec<f32> = host(&g)
            .iter()
            .zip(host(&y))
            .map(|(&g, y)| if y > 0.0 { g } else { 0.0 })
            .collect();
        assert_close("relu_backward", &expected, &host(&gx));
        vec![gx]
    }
}

on_devices! {
    fn add_mul_scale(device) -> Vec<Tensor> {
        let a = input(&[4, 1000], 7, device);
        let b = input(&[4, 1000], 8, device);
        let (ha, hb) = (host(&a), host(&b));
        let sum = ops::add(&a, &b).unwrap();
        let product = ops::mul(&a, &b).unwrap();
        let scaled = ops::scale(&a, -2.5).unwrap();
        let zip = |f: fn(f32, f32) -> f32| -> Vec<f32> {
            ha.iter().zip(&hb).map(|(&a, &b)| f(a, b)).collect()
        };
        assert_close("add", &zip(|a, b| a + b), &host(&sum));
        assert_close("mul", &zip(|a, b| a * b), &host(&product));
        assert_close("scale", &zip(|a, _| -2.5 * a), &host(&scaled));
        assert_close("scale again", &host(&scaled), &host(&ops::scale(&a, -2.5).unwrap()));
        vec![sum, product, scaled]
    }
}

on_devices! {
    fn to_device_round_trip(device) -> Vec<Tensor> {
        let x = input(&[2, 3, 4], 9, Device::Cpu);
        let there = x.to_device(device).unwrap();
        assert_eq!(there.device(), device);
        assert_eq!(there.shape(), x.shape());
        assert_eq!(there.len(), x.len());
        let back = there.to_device(Device::Cpu).unwrap();
        assert_eq!(back, x);
        assert_eq!(there.to_vec().unwrap(), x.data());
        let reshaped = there.reshape(&[6, 4]).unwrap();
        assert_eq!(reshaped.device(), device);
        let empty = Tensor::zeros(&[0]).to_device(device).unwrap();
        assert!(empty.is_empty() && empty.to_vec().unwrap().is_empty());
        vec![there, reshaped]
    }
}

/// The same computation on the CPU, when `device` is another: exact results (indices, labels,
/// copies) are compared bit for bit there.
fn on_cpu<T>(device: Device, f: impl Fn(Device) -> T) -> Option<T> {
    (device != Device::Cpu).then(|| f(Device::Cpu))
}

/// A tensor of `shape` with few distinct values (many ties), a NaN every `nan_every` values
/// (none when 0), on `device`.
fn coarse(shape: &[usize], seed: u64, nan_every: usize, device: Device) -> Tensor {
    let mut rng = crate::common::Rng::new(seed);
    let len = shape.iter().product();
    let values: Vec<f32> = (0..len)
        .map(|i| {
            if nan_every > 0 && i % nan_every == nan_every - 1 {
                f32::NAN
            } else {
                rng.below(8) as f32 * 0.25 - 1.0
            }
        })
        .collect();
    Tensor::from_vec(values, shape)
        .unwrap()
        .to_device(device)
        .unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}

on_devices! {
    fn crop(device) -> Vec<Tensor> {
        let x = input(&[2, 3, 17, 23], 10, device);
        let y = ops::crop(&x, [3, 5], [9, 11]).unwrap();
        let g = input(&[2, 3, 9, 11], 11, device);
        let gx = ops::crop_backward(&g, &[2, 3, 17, 23], [3, 5]).unwrap();
        let (hx, hy, hg, hgx) = (host(&x), host(&y), host(&g), host(&gx));
        for p in 0..6 {
            for r in 0..17 {
                for c in 0..23 {
                    let inside = (3..12).contains(&r) && (5..16).contains(&c);
                    let at = p * 17 * 23 + r * 23 + c;
                    let want = if inside { hg[p * 99 + (r - 3) * 11 + c - 5] } else { 0.0 };
                    assert_eq!(hgx[at].to_bits(), want.to_bits(), "crop_backward {at}");
                    if inside {
                        assert_eq!(hy[p * 99 + (r - 3) * 11 + c - 5].to_bits(), hx[at].to_bits());
                    }
                }
            }
        }
        vec![y, gx]
    }
}

on_devices! {
    fn argmax_channels(device) -> Vec<Tensor> {
        let x = coarse(&[2, 5, 7, 9], 12, 13, device);
        let labels = ops::argmax_channels(&x).unwrap();
        let hx = host(&x);
        for (i, &label) in labels.iter().enumerate() {
            let (img, p) = (i / 63, i % 63);
            let at = |ch: usize| hx[img * 5 * 63 + ch * 63 + p];
            let (mut best, mut want) = (at(0), 0);
            for ch in 1..5 {
                let v = at(ch);
                if (v > best || v.is_nan()) && !best.is_nan() {
                    (best, want) = (v, ch as u32);
                }
            }
            assert_eq!(label, want, "pixel {i}");
        }
        if let Some(cpu) = on_cpu(device, |d| ops::argmax_channels(&x.to_device(d).unwrap())) {
            assert_eq!(labels, cpu.unwrap());
        }
        let as_values: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
        vec![Tensor::from_vec(as_values, &[2, 7, 9]).unwrap().to_device(device).unwrap()]
    }
}

on_devices! {
    fn max_pool2d(device) -> Vec<Tensor> {
        let mut outputs = Vec::new();
        let configs = [
            ([2, 3, 9, 11], ops::Pool2d::FCN),
            ([1, 2, 8, 8], ops::Pool2d::FCN),
            (
                [2, 2, 10, 7],
                ops::Pool2d { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceil_mode: true },
            ),
            (
                [1, 3, 6, 9],
                ops::Pool2d { kernel: [3, 2], stride: [1, 2], padding: [1, 0], ceil_mode: false },
            ),
        ];
        for (seed, (shape, p)) in configs.into_iter().enumerate() {
            let x = coarse(&shape, 20 + seed as u64, 11, device);
            let pooled = ops::max_pool2d(&x, &p).unwrap();
            let g = input(pooled.output.shape(), 30 + seed as u64, device);
            let gx = ops::max_pool2d_backward(&g, &pooled).unwrap();
            assert_eq!(gx.shape(), shape);
            if let Some(cpu) = on_cpu(device, |d| {
                let pooled = ops::max_pool2d(&x.to_device(d).unwrap(), &p).unwrap();
                let gx = ops::max_pool2d_backward(&g.to_device(d).unwrap(), &pooled).unwrap();
                (pooled, gx)
            }) {
                assert_eq!(pooled.indices, cpu.0.indices, "indices {shape:?}");
                assert_eq!(bits(&host(&pooled.output)), bits(cpu.0.output.data()));
                assert_eq!(bits(&host(&gx)), bits(cpu.1.data()), "gradient {shape:?}");
            }
            // NaNs compare unequal: the macro's comparison gets them replaced by a marker.
            let denan = |t: &Tensor| {
                let v: Vec<f32> = host(t).iter().map(|v| if v.is_nan() { 7.0 } else { *v }).collect();
                Tensor::from_vec(v, t.shape()).unwrap().to_device(device).unwrap()
            };
            outputs.push(denan(&pooled.output));
            outputs.push(gx);
        }
        outputs
    }
}

on_devices! {
    fn softmax_cross_entropy(device) -> Vec<Tensor> {
        let mut outputs = Vec::new();
        let [n, c, h, w] = [2, 5, 13, 17];
        let logits = ops::scale(&input(&[n, c, h, w], 40, device), 4.0).unwrap();
        let mut rng = crate::common::Rng::new(41);
        let target: Vec<i64> = (0..n * h * w)
            .map(|_| match rng.below(c + 1) {
                t if t == c => 255,
                t => t as i64,
            })
            .collect();
        let weight = [0.5, 1.0, 2.0, 0.25, 1.5];
        for (weight, reduction) in [
            (None, ops::Reduction::SumOverBatch),
            (Some(&weight[..]), ops::Reduction::Mean),
            (Some(&weight[..]), ops::Reduction::SumOverBatch),
            (None, ops::Reduction::Mean),
        ] {
            let ce = ops::softmax_cross_entropy(&logits, &target, 255, weight, reduction).unwrap();
            assert!(ce.loss.is_finite() && ce.loss > 0.0);
            let again = ops::softmax_cross_entropy(&logits, &target, 255, weight, reduction).unwrap();
            assert_eq!(ce.loss.to_bits(), again.loss.to_bits(), "deterministic loss");
            outputs.push(Tensor::from_vec(vec![ce.loss], &[1]).unwrap().to_device(device).unwrap());
            outputs.push(ce.grad);
        }
        // Every pixel ignored: zero loss and gradient.
        let ignored = vec![255; n * h * w];
        let ce = ops::softmax_cross_entropy(&logits, &ignored, 255, None, ops::Reduction::Mean)
            .unwrap();
        assert_eq!(ce.loss, 0.0);
        assert!(host(&ce.grad).iter().all(|&g| g == 0.0));
        outputs
    }
}

on_devices! {
    fn dropout(device) -> Vec<Tensor> {
        let mut outputs = Vec::new();
        let x = input(&[2, 3, 8, 9], 50, device);
        for (mode, p, seed) in [
            (ops::DropoutMode::Element, 0.5, 7),
            (ops::DropoutMode::Channel, 0.3, 8),
            (ops::DropoutMode::Element, 0.0, 9),
        ] {
            let (y, mask) = ops::dropout(&x, p, mode, seed).unwrap();
            if let Some(cpu) = on_cpu(device, |d| {
                ops::dropout(&x.to_device(d).unwrap(), p, mode, seed).unwrap()
            }) {
                assert_eq!(bits(&host(&mask)), bits(cpu.1.data()), "mask {mode:?}");
            }
            outputs.push(y);
            outputs.push(mask);
        }
        outputs
    }
}

/// Operands on two devices are a `DeviceMismatch`, never a panic.
#[cfg(feature = "cuda")]
#[test]
fn cuda_mismatch() {
    let Some(device) = cuda_device() else {
        // No GPU: asking for one is still an error value.
        let err = Tensor::zeros(&[1]).to_device(Device::Cuda(0)).unwrap_err();
        assert!(
            matches!(err, TensorError::DeviceUnavailable { .. }),
            "{err}"
        );
        return;
    };
    let cpu = input(&[2, 2], 1, Device::Cpu);
    let gpu = input(&[2, 2], 2, device);
    let x = input(&[1, 1, 4, 4], 3, device);
    let w_cpu = input(&[1, 1, 3, 3], 4, Device::Cpu);
    for err in [
        ops::add(&cpu, &gpu).unwrap_err(),
        ops::mul(&gpu, &cpu).unwrap_err(),
        ops::matmul(&cpu, &gpu).unwrap_err(),
        ops::relu_backward(&gpu, &cpu).unwrap_err(),
        ops::conv2d(&x, &w_cpu, None, &ops::Conv2d::default()).unwrap_err(),
        ops::conv_transpose2d(&x, &w_cpu, None, &ops::ConvTranspose2d::upsample(2)).unwrap_err(),
    ] {
        assert!(matches!(err, TensorError::DeviceMismatch { .. }), "{err}");
    }
}

on_devices! {
    fn conv2d(device) -> Vec<Tensor> {
        let mut outputs = Vec::new();
        let configs = [
            ([2, 3, 9, 11], [4, 3, 3, 3], ops::Conv2d::padded(1)),
            (
                [2, 4, 12, 10],
                [6, 2, 3, 2],
                ops::Conv2d { stride: [2, 1], padding: [2, 1], dilation: [2, 1], groups: 2 },
            ),
            ([1, 5, 6, 7], [3, 5, 1, 1], ops::Conv2d::default()),
        ];
        for (seed, (xs, ws, p)) in configs.into_iter().enumerate() {
            let seed = 60 + 10 * seed as u64;
            let x = input(&xs, seed, device);
            let w = input(&ws, seed + 1, device);
            let bias = input(&[ws[0]], seed + 2, device);
            let y = ops::conv2d(&x, &w, Some(&bias), &p).unwrap();
            // The fused ReLU (applied per tile on the CPU) equals a ReLU after the convolution.
            for b in [Some(&bias), None] {
                let fused = ops::conv2d_relu(&x, &w, b, &p).unwrap();
                let separate = ops::relu(&ops::conv2d(&x, &w, b, &p).unwrap()).unwrap();
                let values = host(&fused);
                assert_eq!(values, host(&separate), "conv2d_relu, bias {}", b.is_some());
                // Both sides of the ReLU are exercised.
                assert!(values.contains(&0.0) && values.iter().any(|&v| v > 0.0));
                outputs.push(fused);
            }
            let g = input(y.shape(), seed + 3, device);
            let grads = ops::conv2d_backward(&x, &w, &g, &p, true).unwrap();
            // Without the input gradient: the same weight and bias gradients.
            let (weight, bias) = ops::conv2d_backward_parameters(&x, &w, &g, &p, true).unwrap();
            assert_eq!(host(&weight), host(&grads.weight));
            assert_eq!(bias.map(|b| host(&b)), grads.bias.as_ref().map(host));
            let (_, no_bias) = ops::conv2d_backward_parameters(&x, &w, &g, &p, false).unwrap();
            assert!(no_bias.is_none());
            outputs.extend([y, grads.input, grads.weight, grads.bias.unwrap()]);
        }
        outputs
    }
}

on_devices! {
    fn conv_transpose2d(device) -> Vec<Tensor> {
        let mut outputs = Vec::new();
        let configs = [
            ([2, 3, 5, 6], [3, 2, 4, 4], ops::ConvTranspose2d::upsample(2)),
            (
                [1, 4, 4, 5],
                [4, 3, 3, 2],
                ops::ConvTranspose2d {
                    stride: [2, 3],
                    padding: [1, 0],
                    output_padding: [1, 2],
                    dilation: [1, 2],
                    groups: 2,
                },
            ),
        ];
        for (seed, (xs, ws, p)) in configs.into_iter().enumerate() {
            let seed = 90 + 10 * seed as u64;
            let x = input(&xs, seed, device);
            let w = input(&ws, seed + 1, device);
            let bias = input(&[ws[1] * p.groups], seed + 2, device);
            let y = ops::conv_transpose2d(&x, &w, Some(&bias), &p).unwrap();
            let g = input(y.shape(), seed + 3, device);
            let grads = ops::conv_transpose2d_backward(&x, &w, &g, &p, true).unwrap();
            outputs.extend([y, grads.input, grads.weight, grads.bias.unwrap()]);
        }
        outputs
    }
}

on_devices! {
    fn sgd_and_lars_steps(device) -> Vec<Tensor> {
        let mut outputs = Vec::new();
        // 70_000 values: several blocks of the grid-stride kernels.
        for (seed, shape) in [(110, vec![3, 4, 5, 6]), (120, vec![70_000])] {
            let step = ops::MomentumStep { momentum: 0.9, weight_decay: 5e-4, rate: 0.1 };
            let grad = input(&shape, seed + 2, device);
            let mut weight = input(&shape, seed, device);
            let mut buffer = input(&shape, seed + 1, device);
            ops::sgd_step(&mut weight, &mut buffer, &grad, &step).unwrap();
            let mut lars_weight = input(&shape, seed, device);
            let mut velocity = input(&shape, seed + 1, device);
            ops::lars_step(&mut lars_weight, &mut velocity, &grad, &step).unwrap();
            for t in [&weight, &buffer, &lars_weight, &velocity] {
                assert_eq!(t.device(), device);
                assert_eq!(t.shape(), &shape[..]);
            }
            outputs.extend([weight, buffer, lars_weight, velocity]);
        }
        outputs
    }
}

on_devices! {
    fn adam_step(device) -> Vec<Tensor> {
        let shape = [2, 3, 17, 19];
        let mut weight = input(&shape, 130, device);
        let mut first = Tensor::zeros(&shape).to_device(device).unwrap();
        let mut second = Tensor::zeros(&shape).to_device(device).unwrap();
        for t in 1..=3 {
            let grad = input(&shape, 130 + t as u64, device);
            let step = ops::AdamStep {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.01,
                rate: 1e-3,
                bias_correction1: 1.0 - 0.9f64.powi(t),
                bias_correction2: 1.0 - 0.999f64.powi(t),
            };
            ops::adam_step(&mut weight, &mut first, &mut second, &grad, &step).unwrap();
        }
        vec![weight, first, second]
    }
}

on_devices! {
    fn sum_squares(device) -> Vec<Tensor> {
        // Empty, one value, a partial block, several blocks.
        [0, 1, 4097, 70_000]
            .into_iter()
            .map(|len| {
                let x = input(&[len], 140 + len as u64, device);
                let expected: f64 = host(&x).iter().map(|&v| f64::from(v) * f64::from(v)).sum();
                let sum = ops::sum_squares(&x).unwrap();
                assert!((sum - expected).abs() <= 1e-9 * expected.max(1.0), "{len}: {sum} {expected}");
                // As a tensor on the device, so the CPU and GPU sums are compared too.
                Tensor::full(&[1], sum as f32).to_device(device).unwrap()
            })
            .collect()
    }
}

/// Without the feature, a CUDA device is an error value that names the missing feature.
#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_an_error() {
    let err = Tensor::zeros(&[1]).to_device(Device::Cuda(0)).unwrap_err();
    assert!(
        matches!(
            err,
            TensorError::DeviceUnavailable {
                reason: fcn_tensor::Unavailable::NotBuilt,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no CUDA backend"), "{err}");
    assert!(matches!(
        Device::Cuda(0).synchronize().unwrap_err(),
        TensorError::DeviceUnavailable {
            reason: fcn_tensor::Unavailable::NotBuilt,
            ..
        }
    ));
    eprintln!("skipping CUDA: {err}");
}
