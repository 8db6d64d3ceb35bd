//! `fcn bench model`: a whole FCN training step and forward pass, timed, with peak memory.

use std::fmt;
use std::time::Instant;

use fcn_common::median;
use fcn_core::tensor::ops::{self, ConvAlgo};
use fcn_core::tensor::{Device, Tensor};
use fcn_core::{Arch, Fcn, FcnConfig, Mode, Module, Optimizer, Reduction, Sgd, Tape};
use serde::Serialize;

use crate::error::Result;
use fcn_core::SplitMix64;

/// What to time.
#[derive(Debug, Clone)]
pub struct ModelBenchOptions {
    /// The variant.
    pub arch: Arch,
    /// Backbone width divisor (1 = the real VGG16).
    pub width_divisor: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Side of the square training input (batch 1).
    pub train_size: usize,
    /// Side of the square forward-only input (batch 1).
    pub forward_size: usize,
    /// Timed runs of each; the median is reported.
    pub repeats: usize,
    /// Where to run.
    pub device: Device,
}

impl Default for ModelBenchOptions {
    fn default() -> Self {
        Self {
            arch: Arch::Fcn8s,
            width_divisor: 1,
            num_classes: 21,
            train_size: 512,
            forward_size: 224,
            repeats: 3,
            device: Device::Cpu,
        }
    }
}

/// The timings.
#[derive(Debug, Clone, Serialize)]
pub struct ModelBench {
    /// The processor.
    pub cpu: String,
    /// Threads in the pool.
    pub threads: usize,
    /// The CPU's algorithm for 3x3 stride-1 convolutions (`--conv-algo`).
    pub conv_algo: ConvAlgo,
    /// The device.
    pub device: String,
    /// `fcn8s`, ...
    pub arch: String,
    /// Backbone width divisor.
    pub width_divisor: usize,
    /// Parameters in the model.
    pub parameters: usize,
    /// Training input side.
    pub train_size: usize,
    /// Median seconds of forward + loss + backward + SGD step at batch 1.
    pub train_step_s: f64,
    /// Forward input side.
    pub forward_size: usize,
    /// Median seconds of an inference forward pass at batch 1.
    pub forward_s: f64,
    /// Peak resident memory of the process, MiB (Linux `VmHWM`), if known.
    pub peak_rss_mib: Option<f64>,
}

/// Peak resident set size of this process in MiB, from `/proc/self/status`.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn random_image(size: usize, seed: u64, device: Device) -> Result<Tensor> {
    let mut rng = SplitMix64::new(seed);
    let n = 3 * size * size;
    let data = (0..n)
        .map(|_| (rng.next_u64() % 256) as f32 - 117.0)
        .collect();
    Ok(Tensor::from_vec(data, &[1, 3, size, size])?.to_device(device)?)
}

/// Runs the benchmark: one untimed warm-up of each, then `repeats` timed runs.
pub fn run_model_bench(options: &ModelBenchOptions) -> Result<ModelBench> {
    let config =
        FcnConfig::new(options.arch, options.num_classes).with_width_divisor(options.width_divisor);
    let mut model = Fcn::new(config, 1)?;
    // Non-zero score layers, so the backward pass reaches the whole backbone as it does in
    // training (zero-initialised scores would stop it at the heads).
    model.visit_params_mut(&mut |p| {
        if p.name.starts_with("score") && p.kind == fcn_core::ParamKind::Weight {
            p.value = Tensor::full(p.value.shape(), 1e-3);
        }
    });
    model.to_device(options.device)?;
    let parameters = model.num_values();
    let mut sgd = Sgd::fcn_reference();
    let train_input = random_image(options.train_size, 2, options.device)?;
    let mut rng = SplitMix64::new(3);
    let pixels = options.train_size * options.train_size;
    let target: Vec<i64> = (0..pixels)
        .map(|_| (rng.next_u64() % options.num_classes as u64) as i64)
        .collect();
    let mut train_step = |step: u64| -> Result<f64> {
        let start = Instant::now();
        let mut tape = Tape::new();
        let x = tape.constant(train_input.clone());
        let logits = model.forward(&mut tape, &x, Mode::Train { seed: step })?;
        let loss =
            tape.softmax_cross_entropy(&logits, &target, 255, None, Reduction::SumOverBatch)?;
        drop(logits);
        let grads = tape.backward(&loss)?;
        sgd.step(&mut model, &grads, 1e-10)?;
        drop(grads);
        options.device.synchronize()?;
        Ok(start.elapsed().as_secs_f64())
    };
    train_step(0)?;
    let mut train = Vec::new();
    for step in 0..options.repeats.max(1) {
        train.push(train_step(step as u64 + 1)?);
    }
    let forward_input = random_image(options.forward_size, 4, options.device)?;
    let forward = |()| -> Result<f64> {
        let start = Instant::now();
        let mut tape = Tape::inference();
        let x = tape.constant(forward_input.clone());
        let y = model.forward(&mut tape, &x, Mode::Eval)?;
        drop(y);
        options.device.synchronize()?;
        Ok(start.elapsed().as_secs_f64())
    };
    forward(())?;
    let mut fwd = Vec::new();
    for _ in 0..options.repeats.max(1) {
        fwd.push(forward(())?);
    }
    Ok(ModelBench {
        cpu: super::cpu_name(),
        threads: rayon::current_num_threads(),
        conv_algo: ops::conv_algo(),
        device: options.device.to_string(),
        arch: options.arch.name().to_owned(),
        width_divisor: options.width_divisor,
        parameters,
        train_size: options.train_size,
        train_step_s: median(train),
        forward_size: options.forward_size,
        forward_s: median(fwd),
        peak_rss_mib: peak_rss_mib(),
    })
}

impl fmt::Display for ModelBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} (width / {}, {:.1} M parameters) on {}; cpu: {} ({} threads); conv algo: {}",
            self.arch,
            self.width_divisor,
            self.parameters as f64 / 1e6,
            self.device,
            self.cpu,
            self.threads,
            self.conv_algo
        )?;
        writeln!(
            f,
            "train step, batch 1, 3x{0}x{0}: {1:.3} s",
            self.train_size, self.train_step_s
        )?;
        writeln!(
            f,
            "forward,    batch 1, 3x{0}x{0}: {1:.3} s",
            self.forward_size, self.forward_s
        )?;
        match self.peak_rss_mib {
            Some(m) => write!(f, "peak resident memory: {m:.0} MiB"),
            None => write!(f, "peak resident memory: unknown on this system"),
        }
    }
}
