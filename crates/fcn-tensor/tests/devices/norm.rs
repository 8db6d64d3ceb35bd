//! Batch normalisation, bilinear resizing, channel concatenation and global average pooling on
//! every device, each checked against a plain f64 computation.

use super::*;
use fcn_tensor::ops::{BatchNorm, Statistics};

/// Batch normalisation by the definition in f64: per channel mean and biased variance, then
/// `(x - mean) / sqrt(var + eps) * w + b`; returns the output and the unbiased variances.
fn naive_batch_norm(
    x: &[f32],
    [n, c, plane]: [usize; 3],
    w: &[f32],
    b: &[f32],
    eps: f64,
) -> (Vec<f32>, Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0f32; x.len()];
    let (mut means, mut unbiased) = (Vec::new(), Vec::new());
    let count = (n * plane) as f64;
    for ch in 0..c {
        let values = || (0..n).flat_map(|i| x[(i * c + ch) * plane..][..plane].iter());
        let mean = values().map(|&v| f64::from(v)).sum::<f64>() / count;
        let var = values()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / count;
        for i in 0..n {
            for k in 0..plane {
                let at = (i * c + ch) * plane + k;
                let xhat = (f64::from(x[at]) - mean) / (var + eps).sqrt();
                y[at] = (xhat * f64::from(w[ch]) + f64::from(b[ch])) as f32;
            }
        }
        means.push(mean);
        unbiased.push(var * count / (count - 1.0));
    }
    (y, means, unbiased)
}

/// `sum(a * b)` in f64.
fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

on_devices! {
    fn batch_norm_training(device) -> Vec<Tensor> {
        // Planes of one value, a partial block and several blocks per channel.
        let mut outputs = Vec::new();
        for (seed, shape) in [[4, 3, 1, 1], [2, 5, 7, 9], [3, 2, 33, 40]].into_iter().enumerate() {
            let seed = 200 + 10 * seed as u64;
            let [n, c, h, w] = shape;
            let x = input(&shape, seed, device);
            let weight = input(&[c], seed + 1, device);
            let bias = input(&[c], seed + 2, device);
            let rm = input(&[c], seed + 3, device);
            let rv = Tensor::full(&[c], 0.7).to_device(device).unwrap();
            let p = BatchNorm { eps: 1e-5, momentum: 0.2 };
            let out = ops::batch_norm2d(
                &x, Some(&weight), Some(&bias), Some((&rm, &rv)), Statistics::Batch, &p,
            )
            .unwrap();
            let (expected, means, unbiased) =
                naive_batch_norm(&host(&x), [n, c, h * w], &host(&weight), &host(&bias), 1e-5);
            assert_close("batch_norm output", &expected, &host(&out.output));
            let (new_rm, new_rv) = (out.running_mean.clone().unwrap(), out.running_var.clone().unwrap());
            let expected_rm: Vec<f32> = host(&rm)
                .iter()
                .zip(&means)
                .map(|(&o, &m)| (0.8 * f64::from(o) + 0.2 * m) as f32)
                .collect();
            let expected_rv: Vec<f32> = unbiased.iter().map(|&v| (0.8 * 0.7 + 0.2 * v) as f32).collect();
            assert_close("running mean", &expected_rm, &host(&new_rm));
            assert_close("running var", &expected_rv, &host(&new_rv));
            // The fused tail of a residual block: relu(bn(x) + residual).
            let residual = input(&shape, seed + 4, device);
            let fused = ops::batch_norm2d_relu(
                &x, Some(&weight), Some(&bias), None, Statistics::Batch, &p, Some(&residual),
            )
            .unwrap();
            let expected_fused: Vec<f32> = expected
                .iter()
                .zip(host(&residual))
                .map(|(&y, r)| (y + r).max(0.0))
                .collect();
            assert_close("fused", &expected_fused, &host(&fused.output));
            // The backward pass: the weight and bias gradients by their definitions.
            let g = input(&shape, seed + 5, device);
            let grads = ops::batch_norm2d_backward(&g, &x, Some(&weight), &out).unwrap();
            let hg = host(&g);
            let xhat: Vec<f32> = expected
                .iter()
                .enumerate()
                .map(|(at, &y)| {
                    let ch = at / (h * w) % c;
                    (f64::from(y) - f64::from(host(&bias)[ch])) as f32 / host(&weight)[ch]
                })
                .collect();
            let per_channel = |f: &dyn Fn(usize) -> f64| -> Vec<f32> {
                (0..c)
                    .map(|ch| {
                        (0..x.len())
                            .filter(|at| at / (h * w) % c == ch)
                            .map(f)
                            .sum::<f64>() as f32
                    })
                    .collect()
            };
            assert_close("gbias", &per_channel(&|at| f64::from(hg[at])), &host(&grads.bias));
            assert_close(
                "gweight",
                &per_channel(&|at| f64::from(hg[at]) * f64::from(xhat[at])),
                &host(&grads.weight),
            );
            outputs.extend([out.output, new_rm, new_rv, fused.output, grads.input, grads.weight, grads.bias]);
        }
        outputs
    }
}

on_devices! {
    fn batch_norm_evaluation(device) -> Vec<Tensor> {
        let shape = [2, 4, 5, 6];
        let x = input(&shape, 300, device);
        let rm = input(&[4], 301, device);
        let rv = Tensor::from_vec(vec![0.5, 1.0, 2.0, 0.25], &[4]).unwrap().to_device(device).unwrap();
        let p = BatchNorm::default();
        let out = ops::batch_norm2d(&x, None, None, Some((&rm, &rv)), Statistics::Running, &p).unwrap();
        let (hx, hm, hv) = (host(&x), host(&rm), host(&rv));
        let expected: Vec<f32> = hx
            .iter()
            .enumerate()
            .map(|(at, &v)| {
                let ch = at / 30 % 4;
                ((f64::from(v) - f64::from(hm[ch])) / (f64::from(hv[ch]) + 1e-5).sqrt()) as f32
            })
            .collect();
        assert_close("eval output", &expected, &host(&out.output));
        // Running statistics pass through unchanged; the input gradient is g * invstd.
        assert_eq!(host(out.running_var.as_ref().unwrap()), hv);
        let g = input(&shape, 302, device);
        let grads = ops::batch_norm2d_backward(&g, &x, None, &out).unwrap();
        let expected_gx: Vec<f32> = host(&g)
            .iter()
            .enumerate()
            .map(|(at, &g)| (f64::from(g) / (f64::from(hv[at / 30 % 4]) + 1e-5).sqrt()) as f32)
            .collect();
        assert_close("eval gx", &expected_gx, &host(&grads.input));
        vec![out.output, grads.input, grads.weight, grads.bias]
    }
}

on_devices! {
    fn resize_bilinear(device) -> Vec<Tensor> {
        let mut outputs = Vec::new();
        for (seed, (shape, size)) in [
            ([2, 3, 5, 7], [9, 4]),
            ([1, 2, 16, 16], [64, 64]),
            ([1, 1, 31, 17], [8, 5]),
            ([1, 2, 3, 3], [1, 1]),
        ]
        .into_iter()
        .enumerate()
        {
            for align in [false, true] {
                let seed = 400 + 10 * seed as u64 + u64::from(align);
                let x = input(&shape, seed, device);
                let y = ops::resize_bilinear(&x, size, align).unwrap();
                assert_eq!(y.shape(), [shape[0], shape[1], size[0], size[1]]);
                // Constants stay constant; the backward pass is the adjoint of the forward.
                let ones = Tensor::full(&shape, 1.0).to_device(device).unwrap();
                let resized = host(&ops::resize_bilinear(&ones, size, align).unwrap());
                assert!(resized.iter().all(|&v| (v - 1.0).abs() < 1e-6), "{shape:?} {size:?}");
                let g = input(y.shape(), seed + 5, device);
                let gx = ops::resize_bilinear_backward(&g, x.shape(), align).unwrap();
                let (lhs, rhs) = (dot(&host(&y), &host(&g)), dot(&host(&x), &host(&gx)));
                assert!((lhs - rhs).abs() <= 1e-5 * lhs.abs().max(1.0), "{lhs} {rhs}");
                outputs.extend([y, gx]);
            }
        }
        outputs
    }
}

on_devices! {
    fn concat_split_and_average(device) -> Vec<Tensor> {
        let a = input(&[2, 3, 4, 5], 500, device);
        let b = input(&[2, 1, 4, 5], 501, device);
        let c = input(&[2, 4, 4, 5], 502, device);
        let y = ops::concat_channels(&[&a, &b, &c]).unwrap();
        assert_eq!(y.shape(), [2, 8, 4, 5]);
        let hy = host(&y);
        // Image 1, channel 3 is b's only channel.
        assert_eq!(hy[(8 + 3) * 20..][..20], host(&b)[20..40]);
        let parts = ops::split_channels(&y, &[3, 1, 4]).unwrap();
        for (part, original) in parts.iter().zip([&a, &b, &c]) {
            assert_eq!(host(part), host(original));
        }
        let pooled = ops::global_avg_pool2d(&y).unwrap();
        assert_eq!(pooled.shape(), [2, 8, 1, 1]);
        let means: Vec<f32> = hy.chunks(20).map(|p| p.iter().map(|&v| f64::from(v)).sum::<f64>() as f32 / 20.0).collect();
        assert_close("means", &means, &host(&pooled));
        let big = input(&[1, 2, 70, 90], 503, device);
        let big_pooled = ops::global_avg_pool2d(&big).unwrap();
        let g = input(&[2, 8, 1, 1], 504, device);
        let gx = ops::global_avg_pool2d_backward(&g, y.shape()).unwrap();
        let expected: Vec<f32> = host(&g).iter().flat_map(|&g| [g / 20.0; 20]).collect();
        assert_close("pool backward", &expected, &host(&gx));
        let mut outputs = vec![y, pooled, big_pooled, gx];
        outputs.extend(parts);
        outputs
    }
}
