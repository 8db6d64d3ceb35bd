//! `fcn bench ops`: the fixed tensor-kernel cases of the fcn-tensor issue, timed.

use std::time::Instant;

use fcn_core::tensor::ops::{self, Conv2d, ConvAlgo, ConvTranspose2d, Pool2d, Reduction};
use fcn_core::tensor::{Device, Tensor};
use serde::Serialize;

use crate::error::Result;
use fcn_core::SplitMix64;

/// The timing of one case.
#[derive(Debug, Clone, Serialize)]
pub struct OpTiming {
    /// The case name.
    pub name: String,
    /// Median seconds per run.
    pub median_s: f64,
    /// Floating-point operations per run (multiply-adds count two), when meaningful.
    pub flops: Option<f64>,
    /// `flops / median_s / 1e9`.
    pub gflops: Option<f64>,
}

/// All cases, and where they ran.
#[derive(Debug, Clone, Serialize)]
pub struct OpsBench {
    /// The processor.
    pub cpu: String,
    /// Threads in the pool.
    pub threads: usize,
    /// The CPU's algorithm for 3x3 stride-1 convolutions (`--conv-algo`).
    pub conv_algo: ConvAlgo,
    /// The device the cases ran on.
    pub device: String,
    /// The cases.
    pub cases: Vec<OpTiming>,
}

fn random(shape: &[usize], seed: u64, device: Device) -> Result<Tensor> {
    let mut rng = SplitMix64::new(seed);
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|_| (rng.below(1 << 24) as f32 / (1 << 23) as f32) - 1.0)
        .collect();
    Ok(Tensor::from_vec(data, shape)?.to_device(device)?)
}

fn time(
    name: &str,
    device: Device,
    repeats: usize,
    flops: Option<f64>,
    mut run: impl FnMut() -> Result<()>,
) -> Result<OpTiming> {
    run()?;
    device.synchronize()?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        run()?;
        device.synchronize()?; // GPU work is asynchronous: time it to completion
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median_s = times[times.len() / 2];
    Ok(OpTiming {
        name: name.to_owned(),
        median_s,
        flops,
        gflops: flops.map(|f| f / median_s / 1e9),
    })
}

/// Runs every case `repeats` times on `device` and reports the medians.
pub fn run_ops_bench(device: Device, repeats: usize) -> Result<OpsBench> {
    let mut cases = Vec::new();

    let (a, b) = (
        random(&[1024, 1024], 1, device)?,
        random(&[1024, 1024], 2, device)?,
    );
    cases.push(time(
        "sgemm_1024",
        device,
        repeats,
        Some(2.0 * 1024f64.powi(3)),
        || {
            ops::matmul(&a, &b)?;
            Ok(())
        },
    )?);

    let x = random(&[1, 64, 128, 128], 3, device)?;
    let w = random(&[64, 64, 3, 3], 4, device)?;
    let bias = random(&[64], 5, device)?;
    let conv = Conv2d::padded(1);
    let conv_flops = 2.0 * 64.0 * 64.0 * 9.0 * 128.0 * 128.0;
    cases.push(time(
        "conv3x3_fwd",
        device,
        repeats,
        Some(conv_flops),
        || {
            ops::conv2d(&x, &w, Some(&bias), &conv)?;
            Ok(())
        },
    )?);
    let gy = random(&[1, 64, 128, 128], 6, device)?;
    cases.push(time(
        "conv3x3_bwd",
        device,
        repeats,
        Some(2.0 * conv_flops),
        || {
            ops::conv2d_backward(&x, &w, &gy, &conv, true)?;
            Ok(())
        },
    )?);

    let score = random(&[1, 21, 64, 64], 7, device)?;
    let up = random(&[21, 21, 16, 16], 8, device)?;
    let convt_flops = 2.0 * 21.0 * 21.0 * 256.0 * 64.0 * 64.0;
    cases.push(time(
        "convT_k16s8_fwd",
        device,
        repeats,
        Some(convt_flops),
        || {
            ops::conv_transpose2d(&score, &up, None, &ConvTranspose2d::upsample(8))?;
            Ok(())
        },
    )?);

    let features = random(&[1, 64, 355, 355], 9, device)?;
    cases.push(time("maxpool_ceil_fwd", device, repeats, None, || {
        ops::max_pool2d(&features, &Pool2d::FCN)?;
        Ok(())
    })?);

    let logits = random(&[1, 21, 512, 512], 10, device)?;
    let mut rng = SplitMix64::new(11);
    let target: Vec<i64> = (0..512 * 512)
        .map(|_| match rng.below(22) {
            21 => 255,
            c => c as i64,
        })
        .collect();
    cases.push(time("xent_fwd_bwd", device, repeats, None, || {
        ops::softmax_cross_entropy(&logits, &target, 255, None, Reduction::SumOverBatch)?;
        Ok(())
    })?);

    Ok(OpsBench {
        cpu: super::cpu_name(),
        threads: rayon::current_num_threads(),
        conv_algo: ops::conv_algo(),
        device: device.to_string(),
        cases,
    })
}

impl std::fmt::Display for OpsBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "device: {}; cpu: {} ({} threads); conv algo: {}",
            self.device, self.cpu, self.threads, self.conv_algo
        )?;
        writeln!(f, "{:<20} {:>11} {:>9}", "case", "median ms", "GFLOP/s")?;
        for c in &self.cases {
            let gflops = c
                .gflops
                .map_or_else(|| "-".to_owned(), |g| format!("{g:.1}"));
            writeln!(f, "{:<20} {:>11.3} {:>9}", c.name, c.median_s * 1e3, gflops)?;
        }
        Ok(())
    }
}
