//! Data-parallel pieces that run in one process: the weighting that makes any split of a
//! global batch step like the whole batch, the bucketed host all-reduce, configuration checks.
//! The multi-process tests (`mpirun -np 2`) are in the `fcn` crate's tests/distributed_cli.rs.

use std::sync::atomic::AtomicBool;

use fcn_core::Tensor;
use fcn_train::distributed::{Communicator, SingleProcess, host_all_reduce};
use fcn_train::{Result, Run, TrainConfig, files};

fn tiny(batch_size: usize, accumulate: usize) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model.width_divisor = 32;
    c.data.synthetic_train = 16;
    c.data.synthetic_val = 2;
    c.data.synthetic_height = 48;
    c.data.synthetic_width = 48;
    c.train.iterations = 4;
    c.train.batch_size = batch_size;
    c.train.accumulate = accumulate;
    c.train.eval_every = 0;
    c.train.predictions = 0;
    // Class weights make the micro-batches' loss normalisers differ, which equal averaging of
    // micro-batch means would get wrong.
    c.optim.class_weights = fcn_train::ClassWeighting::MedianFrequency;
    c
}

#[test]
fn accumulated_or_split_micro_batches_step_exactly_like_their_union() {
    let root = tempfile::tempdir().unwrap();
    let train = |config: TrainConfig, name: &str| {
        let dir = root.path().join(name);
        let mut run = Run::create(config, &dir).unwrap();
        run.train(&AtomicBool::new(false), |_| {}).unwrap();
        fcn_core::read_safetensors(&dir.join(files::FINAL)).unwrap()
    };
    let whole = train(tiny(4, 1), "whole");
    let worst = |other: &fcn_core::NamedTensors| {
        let mut worst = 0f32;
        for (name, a) in &whole.tensors {
            let (a, b) = (a.to_vec().unwrap(), other.tensors[name].to_vec().unwrap());
            for (x, y) in a.iter().zip(&b) {
                worst = worst.max((x - y).abs());
            }
        }
        worst
    };
    let accumulated = train(tiny(2, 2), "accumulated");
    assert!(
        worst(&accumulated) < 1e-5,
        "weights differ by {}",
        worst(&accumulated)
    );
    // The batch split into parts that run on their own threads: the same step again.
    let mut config = tiny(4, 1);
    config.train.batch_split = 3;
    let split = train(config, "split");
    assert!(worst(&split) < 1e-5, "weights differ by {}", worst(&split));
}

/// Two ranks holding the same values: every sum doubles.
struct Mirror;

impl Communicator for Mirror {
    fn backend(&self) -> &'static str {
        "mirror"
    }
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        2
    }
    fn all_reduce_sum_f32(&self, data: &mut [f32]) -> Result<()> {
        data.iter_mut().for_each(|v| *v *= 2.0);
        Ok(())
    }
    fn all_reduce_sum_f64(&self, data: &mut [f64]) -> Result<()> {
        data.iter_mut().for_each(|v| *v *= 2.0);
        Ok(())
    }
    fn broadcast_f32(&self, _data: &mut [f32], _root: usize) -> Result<()> {
        Ok(())
    }
    fn broadcast_bytes(&self, _bytes: &mut Vec<u8>, _root: usize) -> Result<()> {
        Ok(())
    }
    fn all_gather_bytes(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(vec![bytes.to_vec(), bytes.to_vec()])
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

#[test]
fn the_host_all_reduce_keeps_every_tensor_whole_whatever_the_bucket_size() {
    let shapes: [&[usize]; 4] = [&[2, 3], &[7], &[1, 1, 2, 2], &[11]];
    let tensors: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let n: usize = s.iter().product();
            let values = (0..n).map(|i| (k * 100 + i) as f32).collect();
            Tensor::from_vec(values, s).unwrap()
        })
        .collect();
    for bucket in [1, 5, 6, 13, 1000] {
        let mut reduced = tensors.clone();
        host_all_reduce(&Mirror, &mut reduced, bucket).unwrap();
        for (a, b) in tensors.iter().zip(&reduced) {
            assert_eq!(a.shape(), b.shape());
            let doubled: Vec<f32> = a.to_vec().unwrap().iter().map(|v| v * 2.0).collect();
            assert_eq!(b.to_vec().unwrap(), doubled, "bucket {bucket}");
        }
    }
    // One process: nothing to do, nothing changes.
    let mut same = tensors.clone();
    host_all_reduce(&SingleProcess, &mut same, 4).unwrap();
    assert_eq!(same[3].to_vec().unwrap(), tensors[3].to_vec().unwrap());
}

#[test]
fn distributed_settings_are_checked() {
    let mut c = TrainConfig::default();
    c.distributed.average_every = 0;
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("average_every")
    );
    // The linear scaling rule: rates for the reference batch, times global / reference.
    let mut c = TrainConfig::default();
    c.train.batch_size = 8;
    c.train.accumulate = 2;
    c.optim.lr_reference_batch = 32;
    assert_eq!(c.global_batch(4), 64);
    assert_eq!(c.lr_scale(4), 2.0);
    assert_eq!(c.lr_scale(1), 0.5);
    // The rule reaches every rate of the schedule: base, final and warm-up start.
    c.optim.decay = fcn_train::Decay::Cosine { min_lr: 1e-4 };
    c.optim.warmup = fcn_train::Warmup {
        steps: 10,
        start: 1e-5,
    };
    let schedule = c.schedule_for(4);
    assert_eq!(
        schedule.decay,
        fcn_core::LrSchedule::Cosine {
            base: c.optim.lr * 2.0,
            total: c.train.iterations,
            min: 2e-4
        }
    );
    assert_eq!(schedule.warmup.start, 2e-5);
    assert_eq!(schedule.at(0), 2e-5);
    c.optim.lr_reference_batch = 0;
    assert_eq!(c.lr_scale(64), 1.0);
}
