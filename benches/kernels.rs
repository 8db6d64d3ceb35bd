//! Criterion benches of the tensor kernels on the CPU, on the fixed cases of `fcn bench ops`
//! (the same shapes, so the two agree): GEMM, 3x3 convolution forward and backward, FCN's
//! 16x16 stride-8 transposed convolution, ceil-mode max pooling, softmax cross-entropy.
//!
//! `cargo bench --bench kernels` (`-- --quick` for a run of seconds; a group name such as
//! `conv3x3` to run one). Throughput is in FLOP/s where the work has a FLOP count (criterion
//! prints it as elements per second), otherwise in values per second. The same cases against
//! PyTorch: `python benches/ops_vs_pytorch.py`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fcn::core::SplitMix64;
use fcn::tensor::Tensor;
use fcn::tensor::ops::{self, Conv2d, ConvTranspose2d, Pool2d, Reduction};

/// Uniform values in [-1, 1) from a fixed seed, so every run times the same data.
fn random(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = SplitMix64::new(seed);
    let n: usize = shape.iter().product();
    let values = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    Tensor::from_vec(values, shape).unwrap()
}

/// A group with few samples: each case runs for milliseconds, and the defaults would take
/// minutes for the set.
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    throughput: Throughput,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(throughput);
    group
}

fn gemm(c: &mut Criterion) {
    let n = 1024;
    let (a, b) = (random(&[n, n], 1), random(&[n, n], 2));
    let mut g = group(c, "gemm", Throughput::Elements(2 * (n as u64).pow(3)));
    g.bench_function("sgemm_1024", |bench| {
        bench.iter(|| ops::matmul(&a, &b).unwrap());
    });
    g.finish();
}

fn conv3x3(c: &mut Criterion) {
    // 1x64x128x128 -> 64 channels, padding 1.
    let x = random(&[1, 64, 128, 128], 3);
    let w = random(&[64, 64, 3, 3], 4);
    let bias = random(&[64], 5);
    let gy = random(&[1, 64, 128, 128], 6);
    let conv = Conv2d::padded(1);
    let flops = 2 * 64 * 64 * 9 * 128 * 128;
    let mut g = group(c, "conv3x3", Throughput::Elements(flops));
    g.bench_function("forward", |bench| {
        bench.iter(|| ops::conv2d(&x, &w, Some(&bias), &conv).unwrap());
    });
    // Input, weight and bias gradients: twice the forward pass's work.
    g.throughput(Throughput::Elements(2 * flops));
    g.bench_function("backward", |bench| {
        bench.iter(|| ops::conv2d_backward(&x, &w, &gy, &conv, true).unwrap());
    });
    g.finish();
}

fn conv_transpose(c: &mut Criterion) {
    // FCN-32s/8s upsampling: 21 classes, 16x16 kernel, stride 8, on a 64x64 score map.
    let score = random(&[1, 21, 64, 64], 7);
    let up = random(&[21, 21, 16, 16], 8);
    let flops = 2 * 21 * 21 * 256 * 64 * 64;
    let mut g = group(c, "conv_transpose", Throughput::Elements(flops));
    g.bench_function("k16s8_forward", |bench| {
        bench.iter(|| {
            ops::conv_transpose2d(&score, &up, None, &ConvTranspose2d::upsample(8)).unwrap()
        });
    });
    g.finish();
}

fn max_pool(c: &mut Criterion) {
    // 2x2 stride 2, ceil mode (FCN's pooling), with the indices the backward pass needs.
    let shape = [1, 64, 355, 355];
    let features = random(&shape, 9);
    let values = shape.iter().product::<usize>() as u64;
    let mut g = group(c, "max_pool", Throughput::Elements(values));
    g.bench_function("ceil_2x2_forward", |bench| {
        bench.iter(|| ops::max_pool2d(&features, &Pool2d::FCN).unwrap());
    });
    g.finish();
}

fn softmax_cross_entropy(c: &mut Criterion) {
    // 21 classes at 512x512, about 1 pixel in 22 ignored (255); loss and gradient.
    let (classes, side) = (21, 512);
    let logits = random(&[1, classes, side, side], 10);
    let target: Vec<i64> = random(&[side * side], 11)
        .to_vec()
        .unwrap()
        .iter()
        .map(|v| match ((v + 1.0) * 11.0) as i64 {
            21.. => 255,
            c => c,
        })
        .collect();
    let values = (classes * side * side) as u64;
    let mut g = group(c, "softmax_cross_entropy", Throughput::Elements(values));
    g.bench_function("forward_backward", |bench| {
        bench.iter(|| {
            ops::softmax_cross_entropy(&logits, &target, 255, None, Reduction::SumOverBatch)
                .unwrap()
        });
    });
    g.finish();
}

criterion_group!(
    benches,
    gemm,
    conv3x3,
    conv_transpose,
    max_pool,
    softmax_cross_entropy
);
criterion_main!(benches);
