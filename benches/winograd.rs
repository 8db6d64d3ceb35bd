//! Criterion benches of the CPU algorithms for 3x3 stride-1 convolutions (`ops::ConvAlgo`):
//! im2col + GEMM against Winograd F(2x2, 3x3) and F(4x4, 3x3), forward (with bias) and
//! backward-data, on VGG16 layer shapes at the FCN-8s main-job geometry (width/8 on a 128x128
//! image: conv1 runs at 326x326 after FCN's 100-pixel padding) and at full width.
//!
//! `RAYON_NUM_THREADS=1 cargo bench --bench winograd` (`-- --quick` for a short run; a shape
//! name such as `c64_41` to run one). Throughput is in direct-convolution FLOP/s
//! (`2 * c_in * c_out * 9 * h * w`, printed by criterion as elements per second), so the three
//! algorithms compare by time.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fcn::core::SplitMix64;
use fcn::tensor::Tensor;
use fcn::tensor::ops::{self, Conv2d, ConvAlgo};

/// Uniform values in [-1, 1) from a fixed seed, so every run times the same data.
fn random(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = SplitMix64::new(seed);
    let n: usize = shape.iter().product();
    let values = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    Tensor::from_vec(values, shape).unwrap()
}

/// (name, input channels, output channels, side): one image, padding 1.
const SHAPES: [(&str, usize, usize, usize); 9] = [
    // Width/8 at the main job's 128x128 images.
    ("c8_326", 8, 8, 326),
    ("c16_163", 16, 16, 163),
    ("c32_82", 32, 32, 82),
    ("c64_41", 64, 64, 41),
    ("c64_21", 64, 64, 21),
    // Full width.
    ("c64_128", 64, 64, 128),
    ("c128_64", 128, 128, 64),
    ("c256_64", 256, 256, 64),
    ("c512_32", 512, 512, 32),
];

const ALGOS: [(&str, ConvAlgo); 3] = [
    ("gemm", ConvAlgo::Gemm),
    ("f2", ConvAlgo::Winograd2),
    ("f4", ConvAlgo::Winograd4),
];

fn conv3x3_algorithms(c: &mut Criterion) {
    let conv = Conv2d::padded(1);
    for (i, &(name, c_in, c_out, side)) in SHAPES.iter().enumerate() {
        let seed = 10 * i as u64;
        let x = random(&[1, c_in, side, side], seed);
        let w = random(&[c_out, c_in, 3, 3], seed + 1);
        let bias = random(&[c_out], seed + 2);
        let gy = random(&[1, c_out, side, side], seed + 3);
        let flops = 2 * (c_in * c_out * 9 * side * side) as u64;
        let mut g = c.benchmark_group(format!("winograd/{name}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Elements(flops));
        for (algo_name, algo) in ALGOS {
            g.bench_function(format!("forward/{algo_name}"), |bench| {
                bench.iter(|| ops::conv2d_with_algo(&x, &w, Some(&bias), &conv, false, algo));
            });
        }
        for (algo_name, algo) in ALGOS {
            g.bench_function(format!("backward_data/{algo_name}"), |bench| {
                bench.iter(|| {
                    ops::conv2d_backward_input(&w, &gy, [1, c_in, side, side], &conv, algo)
                });
            });
        }
        g.finish();
    }
}

criterion_group!(benches, conv3x3_algorithms);
criterion_main!(benches);
