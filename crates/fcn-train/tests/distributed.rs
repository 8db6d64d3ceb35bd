//! Data-parallel pieces that run in one process: the weighting that makes any split of a
//! global batch (micro-batches, parts, ranks run as threads) step like the whole batch, with
//! Adam and with plain SGD; local SGD's averaging; the bucketed host all-reduce; configuration
//! checks.
//! The multi-process tests (`mpirun -np 2`) are in the `fcn` crate's tests/distributed_cli.rs.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use fcn_core::{Module, Tensor};
use fcn_train::distributed::{Communicator, SingleProcess, host_all_reduce};
use fcn_train::{Result, Run, TrainConfig, files};

/// The optimizers every equivalence test runs with, as `[optim]` TOML. Adam divides each update
/// by the gradient's running magnitude, so a gradient off by a constant factor steps almost as
/// the right one does; plain SGD, with or without momentum, moves by the gradient itself, so a
/// wrong scale shows in the weights.
const OPTIMIZERS: [(&str, &str); 3] = [
    ("adam", "optimizer = \"adam\"\nlr = 0.001\n"),
    (
        "sgd",
        "optimizer = \"sgd\"\nlr = 0.01\nmomentum = 0.0\nschedule = \"fixed\"\n",
    ),
    (
        "sgd with momentum",
        "optimizer = \"sgd\"\nlr = 0.01\nmomentum = 0.9\nschedule = \"fixed\"\n",
    ),
];

/// Largest difference of final weights that still counts as the same step.
const SAME_STEP: f32 = 1e-5;

/// FCN-8s at width / 32 on 48x48 scenes, 4 steps with `optim` (TOML lines of `[optim]`). Class
/// weights make the micro-batches' loss normalisers differ, which equal averaging of
/// micro-batch means would get wrong.
fn tiny(batch_size: usize, accumulate: usize, batch_split: usize, optim: &str) -> TrainConfig {
    tiny_with(batch_size, accumulate, batch_split, optim, "")
}

/// [`tiny`] and more tables.
fn tiny_with(
    batch_size: usize,
    accumulate: usize,
    batch_split: usize,
    optim: &str,
    tables: &str,
) -> TrainConfig {
    let text = format!(
        "[model]\nwidth_divisor = 32\n\
         [data]\nsynthetic_train = 16\nsynthetic_val = 2\nsynthetic_height = 48\nsynthetic_width = 48\n\
         [train]\niterations = 4\nbatch_size = {batch_size}\naccumulate = {accumulate}\n\
         batch_split = {batch_split}\neval_every = 0\npredictions = 0\n\
         [optim]\n{optim}class_weights = \"median-frequency\"\n{tables}"
    );
    TrainConfig::from_toml(&text, Path::new("tiny.toml")).unwrap()
}

/// `optim` with its learning rate doubled: for SGD without weight decay that is exactly the
/// step a gradient twice too large would take.
fn doubled_lr(optim: &str) -> String {
    assert!(optim.contains("lr = 0.01\n"), "{optim}");
    optim.replace("lr = 0.01\n", "lr = 0.02\n")
}

/// Trains `config` in one process and returns the final weights.
fn train_alone(config: TrainConfig, dir: &Path) -> fcn_core::NamedTensors {
    let mut run = Run::create(config, dir).unwrap();
    run.train(&AtomicBool::new(false), |_| {}).unwrap();
    fcn_core::read_safetensors(&dir.join(files::FINAL)).unwrap()
}

/// Largest absolute difference between two sets of the same tensors.
fn max_difference(a: &fcn_core::NamedTensors, b: &fcn_core::NamedTensors) -> f32 {
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>()
    );
    let mut worst = 0f32;
    for (name, x) in &a.tensors {
        let (x, y) = (x.to_vec().unwrap(), b.tensors[name].to_vec().unwrap());
        assert_eq!(x.len(), y.len(), "{name}");
        for (p, q) in x.iter().zip(&y) {
            worst = worst.max((p - q).abs());
        }
    }
    worst
}

/// One batch of 4 (not split: its gradient is used as computed, no weighting), against 2
/// accumulated micro-batches of 2 and the batch split into parts on their own threads.
fn micro_batches_step_like_their_union(optimizer: usize) {
    let (name, optim) = OPTIMIZERS[optimizer];
    let root = tempfile::tempdir().unwrap();
    let whole = train_alone(tiny(4, 1, 1, optim), &root.path().join("whole"));
    let accumulated = train_alone(tiny(2, 2, 1, optim), &root.path().join("accumulated"));
    let worst = max_difference(&whole, &accumulated);
    assert!(
        worst < SAME_STEP,
        "{name}: accumulated weights differ by {worst}"
    );
    // The batch split into parts that run on their own threads: the same step again (as many
    // parts as there are compute threads, at most 3).
    let split = train_alone(tiny(4, 1, 3, optim), &root.path().join("split"));
    let worst = max_difference(&whole, &split);
    assert!(worst < SAME_STEP, "{name}: split weights differ by {worst}");
    if name.starts_with("sgd") {
        // The comparison is tight enough to see a gradient twice too large.
        let doubled = tiny(4, 1, 1, &doubled_lr(optim));
        let doubled = train_alone(doubled, &root.path().join("doubled"));
        let worst = max_difference(&whole, &doubled);
        assert!(
            worst > 100.0 * SAME_STEP,
            "{name}: a doubled step moves by {worst} only"
        );
    }
}

#[test]
fn accumulated_or_split_micro_batches_step_exactly_like_their_union_with_adam() {
    micro_batches_step_like_their_union(0);
}

#[test]
fn accumulated_or_split_micro_batches_step_exactly_like_their_union_with_sgd() {
    micro_batches_step_like_their_union(1);
}

#[test]
fn accumulated_or_split_micro_batches_step_exactly_like_their_union_with_sgd_momentum() {
    micro_batches_step_like_their_union(2);
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

/// The meeting point of ranks that run as threads of this process: every collective is an
/// all-gather of each rank's bytes, in rank order.
struct Exchange {
    ranks: usize,
    round: Mutex<Round>,
    changed: Condvar,
}

#[derive(Default)]
struct Round {
    /// Counts finished all-gathers, so a fast rank cannot enter the next one early.
    generation: u64,
    deposited: Vec<Option<Vec<u8>>>,
    gathered: Option<Arc<Vec<Vec<u8>>>>,
    /// Ranks that still have to pick up `gathered`.
    pending: usize,
}

/// How long a rank waits for the others before the test fails (instead of hanging).
const PATIENCE: Duration = Duration::from_secs(120);

impl Exchange {
    fn new(ranks: usize) -> Arc<Self> {
        Arc::new(Self {
            ranks,
            round: Mutex::new(Round {
                deposited: vec![None; ranks],
                ..Round::default()
            }),
            changed: Condvar::new(),
        })
    }

    fn wait<'a>(&self, rank: usize, round: MutexGuard<'a, Round>) -> MutexGuard<'a, Round> {
        let (round, timeout) = self.changed.wait_timeout(round, PATIENCE).unwrap();
        assert!(
            !timeout.timed_out(),
            "rank {rank}: the other ranks never came"
        );
        round
    }

    fn all_gather(&self, rank: usize, bytes: Vec<u8>) -> Arc<Vec<Vec<u8>>> {
        let mut round = self.round.lock().unwrap();
        // The previous all-gather must be picked up by every rank first.
        while round.pending > 0 {
            round = self.wait(rank, round);
        }
        let generation = round.generation;
        round.deposited[rank] = Some(bytes);
        if round.deposited.iter().all(Option::is_some) {
            let all = round
                .deposited
                .iter_mut()
                .map(|b| b.take().unwrap())
                .collect();
            round.gathered = Some(Arc::new(all));
            round.pending = self.ranks;
            round.generation += 1;
            self.changed.notify_all();
        }
        while round.generation == generation {
            round = self.wait(rank, round);
        }
        let all = Arc::clone(round.gathered.as_ref().unwrap());
        round.pending -= 1;
        if round.pending == 0 {
            round.gathered = None;
            self.changed.notify_all();
        }
        all
    }
}

/// One rank of a job whose ranks are threads. It records the input of every `f32` sum: in local
/// SGD those are the models the ranks hold right before each average.
struct ThreadRank {
    rank: usize,
    exchange: Arc<Exchange>,
    summed: RefCell<Vec<Vec<f32>>>,
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

impl Communicator for ThreadRank {
    fn backend(&self) -> &'static str {
        "threads"
    }
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.exchange.ranks
    }
    fn all_reduce_sum_f32(&self, data: &mut [f32]) -> Result<()> {
        self.summed.borrow_mut().push(data.to_vec());
        let all = self.exchange.all_gather(self.rank, f32_bytes(data));
        data.fill(0.0);
        for bytes in all.iter() {
            for (d, v) in data.iter_mut().zip(f32_values(bytes)) {
                *d += v;
            }
        }
        Ok(())
    }
    fn all_reduce_sum_f64(&self, data: &mut [f64]) -> Result<()> {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let all = self.exchange.all_gather(self.rank, bytes);
        data.fill(0.0);
        for bytes in all.iter() {
            for (d, b) in data.iter_mut().zip(bytes.chunks_exact(8)) {
                *d += f64::from_le_bytes(b.try_into().unwrap());
            }
        }
        Ok(())
    }
    fn broadcast_f32(&self, data: &mut [f32], root: usize) -> Result<()> {
        let all = self.exchange.all_gather(self.rank, f32_bytes(data));
        data.copy_from_slice(&f32_values(&all[root]));
        Ok(())
    }
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        let all = self.exchange.all_gather(self.rank, bytes.clone());
        bytes.clone_from(&all[root]);
        Ok(())
    }
    fn all_gather_bytes(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self.exchange.all_gather(self.rank, bytes.to_vec()).to_vec())
    }
    fn abort(&self, code: i32) -> ! {
        panic!("rank {} aborted the job with status {code}", self.rank)
    }
}

/// What one rank of [`train_as_threads`] ends with.
struct RankResult {
    /// The trainable parameters, concatenated in `state_dict` order.
    trainable: Vec<f32>,
    /// The input of every `f32` sum over ranks, in order.
    summed: Vec<Vec<f32>>,
}

/// Trains `config` with `ranks` ranks that run as threads of this process; rank 0 writes `dir`.
fn train_as_threads(config: &TrainConfig, dir: &Path, ranks: usize) -> Vec<RankResult> {
    let exchange = Exchange::new(ranks);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..ranks)
            .map(|rank| {
                let exchange = Arc::clone(&exchange);
                let config = config.clone();
                scope.spawn(move || {
                    let comm = Rc::new(ThreadRank {
                        rank,
                        exchange,
                        summed: RefCell::new(Vec::new()),
                    });
                    let mut run = Run::create_with(config, dir, comm.clone()).unwrap();
                    assert_eq!(run.rank(), (rank, ranks));
                    run.train(&AtomicBool::new(false), |_| {}).unwrap();
                    let trainable = run
                        .model()
                        .params()
                        .into_iter()
                        .filter(|p| p.trainable)
                        .flat_map(|p| p.value.to_vec().unwrap())
                        .collect();
                    drop(run);
                    RankResult {
                        trainable,
                        summed: comm.summed.take(),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Two ranks with batch 2 each (no split), against one process with batch 4 (no split either).
fn two_ranks_step_like_one_process(optimizer: usize) {
    let (name, optim) = OPTIMIZERS[optimizer];
    let root = tempfile::tempdir().unwrap();
    let one = train_alone(tiny(4, 1, 1, optim), &root.path().join("one"));
    let dir = root.path().join("two");
    let ranks = train_as_threads(&tiny(2, 1, 1, optim), &dir, 2);
    // Synchronous training: every rank takes the same step from the same summed gradient.
    assert_eq!(ranks[0].trainable, ranks[1].trainable, "{name}");
    let two = fcn_core::read_safetensors(&dir.join(files::FINAL)).unwrap();
    let worst = max_difference(&one, &two);
    assert!(
        worst < SAME_STEP,
        "{name}: two ranks differ from one process by {worst}"
    );
    if name.starts_with("sgd") {
        let doubled = train_alone(tiny(4, 1, 1, &doubled_lr(optim)), &root.path().join("x2"));
        let worst = max_difference(&one, &doubled);
        assert!(
            worst > 100.0 * SAME_STEP,
            "{name}: a doubled step moves by {worst} only"
        );
    }
}

#[test]
fn two_ranks_with_batch_b_step_like_one_process_with_batch_2b_with_adam() {
    two_ranks_step_like_one_process(0);
}

#[test]
fn two_ranks_with_batch_b_step_like_one_process_with_batch_2b_with_sgd() {
    two_ranks_step_like_one_process(1);
}

#[test]
fn two_ranks_with_batch_b_step_like_one_process_with_batch_2b_with_sgd_momentum() {
    two_ranks_step_like_one_process(2);
}

#[test]
fn local_sgd_ranks_drift_apart_between_averages_and_hold_the_mean_after_each() {
    let root = tempfile::tempdir().unwrap();
    let (_, sgd) = OPTIMIZERS[1];
    let config = tiny_with(
        2,
        1,
        1,
        sgd,
        "[distributed]\nmode = \"local-sgd\"\naverage_every = 2\nbucket_mib = 1024\n",
    );
    // 4 steps, averaged after steps 2 and 4 (no evaluation or checkpoint in between).
    let ranks = train_as_threads(&config, &root.path().join("local"), 2);
    let values = ranks[0].trainable.len();
    for rank in &ranks {
        // In local SGD the only sums of f32 values are the averages of the models (one bucket
        // each: 1 GiB holds this model).
        assert_eq!(rank.summed.len(), 2, "averages seen: {}", rank.summed.len());
        assert!(rank.summed.iter().all(|m| m.len() == values));
    }
    for average in 0..2 {
        // Between averages each rank stepped on its own data: the models differ.
        let (a, b) = (&ranks[0].summed[average], &ranks[1].summed[average]);
        let apart = largest_difference(a, b);
        assert!(
            apart > 1e-4,
            "average {average}: the ranks' models differ by {apart} only"
        );
    }
    // The first average gave both ranks one model, which then moved on again.
    let first_mean: Vec<f32> = ranks[0].summed[0]
        .iter()
        .zip(&ranks[1].summed[0])
        .map(|(x, y)| (x + y) * 0.5)
        .collect();
    for rank in &ranks {
        assert!(largest_difference(&first_mean, &rank.summed[1]) > 1e-4);
    }
    // Right after the last average both ranks hold exactly the mean of their models.
    let last_mean: Vec<f32> = ranks[0].summed[1]
        .iter()
        .zip(&ranks[1].summed[1])
        .map(|(x, y)| (x + y) * 0.5)
        .collect();
    assert_eq!(ranks[0].trainable, last_mean);
    assert_eq!(ranks[1].trainable, last_mean);
}
