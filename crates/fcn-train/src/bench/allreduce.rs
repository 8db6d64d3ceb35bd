//! `fcn bench allreduce`: the gradient all-reduce of data-parallel training, timed.
//!
//! Every rank runs the same cases in the same order (they are collectives). Each case is timed
//! through [`Communicator::all_reduce_sum_tensors`], the bucketed path the training loop sums
//! its gradients with, and through one [`Communicator::all_reduce_sum_f32`] of the same number
//! of values (the transport alone: no bucketing, no copies in and out of tensors). The
//! bandwidths follow nccl-tests: algorithm bandwidth = bytes / time, bus bandwidth = algorithm
//! bandwidth x 2(p-1)/p, the rate each link carries in a ring all-reduce over p ranks.

use std::fmt;
use std::time::Instant;

use crate::distributed::Communicator;
use fcn_common::median;
use fcn_core::{Arch, Device, Fcn, FcnConfig, Module, Tensor};
use serde::Serialize;

use crate::error::{Result, TrainError};

/// What to time.
#[derive(Debug, Clone)]
pub struct AllreduceBenchOptions {
    /// The network whose gradients are summed.
    pub arch: Arch,
    /// Backbone width divisor of the first model case (1 = VGG16).
    pub width_divisor: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Gradient bucket size in MiB (`distributed.bucket_mib` of the training configuration).
    pub bucket_mib: usize,
    /// Timed repeats of each case; the median is reported.
    pub repeats: usize,
    /// Largest message of the size sweep, bytes (the sweep goes from 4 KiB up by 4x).
    pub max_bytes: usize,
}

impl Default for AllreduceBenchOptions {
    fn default() -> Self {
        Self {
            arch: Arch::Fcn8s,
            width_divisor: 1,
            num_classes: 21,
            bucket_mib: crate::DistributedConfig::default().bucket_mib,
            repeats: 5,
            max_bytes: 256 << 20,
        }
    }
}

/// Width divisor of the main job (`fcn train` with no arguments).
const MAIN_JOB_WIDTH_DIVISOR: usize = 8;
/// Smallest message of the size sweep.
const MIN_SWEEP_BYTES: usize = 4 << 10;
/// Each timed repeat runs the collective at least this many times, or until it has moved
/// about [`REPEAT_BYTES`] (so that the microsecond cases are not timer noise).
const MAX_ITERATIONS: usize = 200;
/// Bytes per rank one timed repeat aims to move.
const REPEAT_BYTES: usize = 32 << 20;

/// The timing of one case.
#[derive(Debug, Clone, Serialize)]
pub struct AllreduceCase {
    /// The case name.
    pub name: String,
    /// Tensors summed (a model's trainable parameters, or one).
    pub tensors: usize,
    /// f32 values summed per rank.
    pub values: usize,
    /// Bytes summed per rank (`4 x values`).
    pub bytes: usize,
    /// Collectives per timed repeat (their mean is one sample).
    pub iterations: usize,
    /// Median seconds of `all_reduce_sum_tensors` (bucketed, as in training), mean over ranks;
    /// `None` with one rank.
    pub median_s: Option<f64>,
    /// `bytes / median_s`, GB/s (10^9 bytes).
    pub algbw_gbps: Option<f64>,
    /// `algbw x 2(p-1)/p`, GB/s.
    pub busbw_gbps: Option<f64>,
    /// Median seconds of one `all_reduce_sum_f32` over the same number of values.
    pub flat_median_s: Option<f64>,
    /// Bus bandwidth of the flat all-reduce, GB/s.
    pub flat_busbw_gbps: Option<f64>,
}

/// All cases, and where they ran.
#[derive(Debug, Clone, Serialize)]
pub struct AllreduceBench {
    /// `single`, `mpi` or `nccl`.
    pub backend: String,
    /// Number of ranks.
    pub ranks: usize,
    /// Rank 0's processor.
    pub cpu: String,
    /// Rank 0's compute threads.
    pub threads: usize,
    /// Where the tensors live (`cpu`, or the rank's GPU with NCCL).
    pub device: String,
    /// Gradient bucket size, MiB.
    pub bucket_mib: usize,
    /// Timed repeats per case.
    pub repeats: usize,
    /// The cases: the model gradients first, then the size sweep.
    pub cases: Vec<AllreduceCase>,
}

/// The shapes of the gradients training all-reduces: the trainable parameters of the model
/// (the frozen bilinear upsampling has none), in `state_dict` order; and the parameter count
/// of the whole model.
pub fn gradient_shapes(
    arch: Arch,
    num_classes: usize,
    width_divisor: usize,
) -> Result<(Vec<Vec<usize>>, usize)> {
    let config = FcnConfig::new(arch, num_classes).with_width_divisor(width_divisor);
    let model = Fcn::new(config, 1)?;
    let shapes = model
        .params()
        .into_iter()
        .filter(|p| p.trainable)
        .map(|p| p.value.shape().to_vec())
        .collect();
    Ok((shapes, model.num_values()))
}

/// The mean over ranks of each rank's `seconds` (every rank calls it).
fn mean_over_ranks(comm: &dyn Communicator, seconds: f64) -> Result<f64> {
    let mut v = [seconds];
    comm.all_reduce_sum_f64(&mut v)?;
    Ok(v[0] / comm.size() as f64)
}

/// Median over `repeats` of the mean seconds of `iterations` calls of `op`, each repeat
/// started together on every rank (after a one-value all-reduce) and averaged over ranks.
fn time_collective(
    comm: &dyn Communicator,
    repeats: usize,
    iterations: usize,
    mut op: impl FnMut() -> Result<()>,
) -> Result<f64> {
    op()?; // warm-up: buffers, connections
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        mean_over_ranks(comm, 0.0)?;
        let start = Instant::now();
        for _ in 0..iterations {
            op()?;
        }
        let seconds = start.elapsed().as_secs_f64() / iterations as f64;
        samples.push(mean_over_ranks(comm, seconds)?);
    }
    Ok(median(samples))
}

/// Sums (rank + 1) over ranks through the bucketed path and checks the result, so a broken
/// transport cannot produce timings.
fn check_sum(comm: &dyn Communicator, device: Device, bucket_values: usize) -> Result<()> {
    let value = (comm.rank() + 1) as f32;
    let mut tensors = vec![
        Tensor::full(&[3, 5], value).to_device(device)?,
        Tensor::full(&[1000], value).to_device(device)?,
    ];
    comm.all_reduce_sum_tensors(&mut tensors, bucket_values.min(16))?;
    let p = comm.size();
    let expected = (p * (p + 1) / 2) as f32;
    for t in &tensors {
        if t.to_vec()?.iter().any(|&v| v != expected) {
            return Err(TrainError::Distributed {
                backend: comm.backend(),
                rank: comm.rank(),
                ranks: p,
                message: format!("the all-reduce check gave a wrong sum (expected {expected})"),
            });
        }
    }
    Ok(())
}

fn time_case(
    comm: &dyn Communicator,
    name: String,
    shapes: &[Vec<usize>],
    device: Device,
    options: &AllreduceBenchOptions,
) -> Result<AllreduceCase> {
    let values: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    let bytes = 4 * values;
    let iterations = (REPEAT_BYTES / bytes.max(1)).clamp(1, MAX_ITERATIONS);
    let mut case = AllreduceCase {
        name,
        tensors: shapes.len(),
        values,
        bytes,
        iterations,
        median_s: None,
        algbw_gbps: None,
        busbw_gbps: None,
        flat_median_s: None,
        flat_busbw_gbps: None,
    };
    let p = comm.size();
    if p == 1 {
        return Ok(case);
    }
    let bus = 2.0 * (p - 1) as f64 / p as f64;
    let bucket_values = options.bucket_mib.max(1) * (1 << 20) / 4;
    // Zeros: the sums stay zero however often they run (no overflow, no denormals).
    let mut tensors = shapes
        .iter()
        .map(|s| Tensor::zeros(s).to_device(device))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let t = time_collective(comm, options.repeats, iterations, || {
        comm.all_reduce_sum_tensors(&mut tensors, bucket_values)
    })?;
    drop(tensors);
    case.median_s = Some(t);
    case.algbw_gbps = Some(bytes as f64 / t / 1e9);
    case.busbw_gbps = Some(bus * bytes as f64 / t / 1e9);
    let mut flat = vec![0.0f32; values];
    let t = time_collective(comm, options.repeats, iterations, || {
        comm.all_reduce_sum_f32(&mut flat)
    })?;
    case.flat_median_s = Some(t);
    case.flat_busbw_gbps = Some(bus * bytes as f64 / t / 1e9);
    Ok(case)
}

/// Runs every case on every rank of `comm` (all ranks must call it with the same options).
/// With one rank nothing is timed: the cases only give the sizes.
pub fn run_allreduce_bench(
    comm: &dyn Communicator,
    options: &AllreduceBenchOptions,
) -> Result<AllreduceBench> {
    let device = comm.device().unwrap_or(Device::Cpu);
    let bucket_values = options.bucket_mib.max(1) * (1 << 20) / 4;
    if comm.size() > 1 {
        check_sum(comm, device, bucket_values)?;
    }
    let mut widths = vec![options.width_divisor.max(1)];
    if widths[0] != MAIN_JOB_WIDTH_DIVISOR {
        widths.push(MAIN_JOB_WIDTH_DIVISOR);
    }
    let mut cases = Vec::new();
    for width in widths {
        let (shapes, parameters) = gradient_shapes(options.arch, options.num_classes, width)?;
        let name = format!(
            "{} /{width} grads ({:.1} M params)",
            options.arch.name(),
            parameters as f64 / 1e6
        );
        cases.push(time_case(comm, name, &shapes, device, options)?);
    }
    let mut bytes = MIN_SWEEP_BYTES;
    while bytes <= options.max_bytes.max(MIN_SWEEP_BYTES) {
        let name = match bytes {
            b if b >= 1 << 20 => format!("{} MiB", b >> 20),
            b => format!("{} KiB", b >> 10),
        };
        cases.push(time_case(comm, name, &[vec![bytes / 4]], device, options)?);
        bytes *= 4;
    }
    Ok(AllreduceBench {
        backend: comm.backend().to_owned(),
        ranks: comm.size(),
        cpu: super::cpu_name(),
        threads: rayon::current_num_threads(),
        device: device.to_string(),
        bucket_mib: options.bucket_mib,
        repeats: options.repeats,
        cases,
    })
}

impl fmt::Display for AllreduceBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "all-reduce (sum, f32) over {} rank(s), backend {}, tensors on {}; cpu: {} \
             ({} threads per rank); buckets of {} MiB; median of {} repeats",
            self.ranks,
            self.backend,
            self.device,
            self.cpu,
            self.threads,
            self.bucket_mib,
            self.repeats
        )?;
        if self.ranks == 1 {
            writeln!(
                f,
                "one rank: nothing to time (start under mpirun with --distributed mpi)"
            )?;
        }
        writeln!(
            f,
            "{:<34} {:>7} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "case", "tensors", "bytes", "ms", "algbw GB/s", "busbw GB/s", "flat ms", "flat busbw"
        )?;
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.3}", v * 1e3));
        let gb = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        for c in &self.cases {
            writeln!(
                f,
                "{:<34} {:>7} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}",
                c.name,
                c.tensors,
                c.bytes,
                ms(c.median_s),
                gb(c.algbw_gbps),
                gb(c.busbw_gbps),
                ms(c.flat_median_s),
                gb(c.flat_busbw_gbps)
            )?;
        }
        Ok(())
    }
}
