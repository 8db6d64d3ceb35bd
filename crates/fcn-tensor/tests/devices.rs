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
            assert_eq!(y, y.clone());
            let expected: Vec<f32> = host(&x).iter().map(|v| v.max(0.0)).collect();
            assert_close("relu", &expected, &host(&y));
            assert_close("relu again", &expected, &host(&ops::relu(&x).unwrap()));
            outputs.push(y);
        }
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

/// Operands on two devices are a `DeviceMismatch`; operations without a CUDA kernel are
/// `Unsupported` on `cuda:0`, never a panic.
#[cfg(feature = "cuda")]
#[test]
fn cuda_mismatch_and_unsupported() {
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
    for err in [
        ops::add(&cpu, &gpu).unwrap_err(),
        ops::mul(&gpu, &cpu).unwrap_err(),
        ops::matmul(&cpu, &gpu).unwrap_err(),
        ops::relu_backward(&gpu, &cpu).unwrap_err(),
    ] {
        assert!(matches!(err, TensorError::DeviceMismatch { .. }), "{err}");
    }
    let x = input(&[1, 1, 4, 4], 3, device);
    let w = input(&[1, 1, 3, 3], 4, device);
    let unsupported = [
        ops::conv2d(&x, &w, None, &ops::Conv2d::default()).unwrap_err(),
        ops::max_pool2d(&x, &ops::Pool2d::FCN).unwrap_err(),
        ops::crop(&x, [0, 0], [2, 2]).unwrap_err(),
        ops::argmax_channels(&x).unwrap_err(),
    ];
    for err in unsupported {
        assert!(
            matches!(err, TensorError::Unsupported { device: d, .. } if d == device),
            "{err}"
        );
    }
    // Mixed devices are a mismatch even for an operation with no CUDA kernel.
    let w_cpu = input(&[1, 1, 3, 3], 4, Device::Cpu);
    let err = ops::conv2d(&x, &w_cpu, None, &ops::Conv2d::default()).unwrap_err();
    assert!(matches!(err, TensorError::DeviceMismatch { .. }), "{err}");
}

/// Without the feature, a CUDA device is an error value that names the missing feature.
#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_an_error() {
    let err = Tensor::zeros(&[1]).to_device(Device::Cuda(0)).unwrap_err();
    assert!(
        matches!(err, TensorError::DeviceUnavailable { .. }),
        "{err}"
    );
    eprintln!("skipping CUDA: {err}");
}
