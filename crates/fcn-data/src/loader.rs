//! A parallel, deterministic batch loader.
//!
//! Worker threads read samples, transform them and collate them into [`Batch`]es (normalised
//! `f32` images, N x 3 x H x W, and labels, N x H x W, padded to the largest sample of the
//! batch). At most [`LoaderConfig::prefetch`] batches are being built or waiting at any time.
//!
//! **Determinism.** An epoch's sample order depends only on the seed and the epoch number, and
//! the random generator each sample's transform receives is seeded with
//! `(seed, epoch, position of the sample in the epoch)`. Batches are handed out in order. So
//! the batches of a seed are identical whatever the number of workers and however threads are
//! scheduled.
//!
//! ```
//! use fcn_data::loader::{Loader, LoaderConfig, Sampling};
//! use fcn_data::synthetic::SyntheticTransit;
//! use fcn_data::transforms::{Compose, HorizontalFlip, RandomCrop};
//!
//! let data = SyntheticTransit::train(10, 64, 80, 1)?;
//! let transform = Compose::new()
//!     .then(HorizontalFlip::new(0.5)?)
//!     .then(RandomCrop::new(48, 48)?);
//! let config = LoaderConfig {
//!     batch_size: 4,
//!     workers: 2,
//!     sampling: Sampling::Shuffle,
//!     ..LoaderConfig::default()
//! };
//! let loader = Loader::new(data, transform, config)?;
//! let batches: Vec<_> = loader.epoch(0).collect::<Result<_, _>>()?;
//! assert_eq!(batches.len(), 3); // 4 + 4 + 2
//! assert_eq!(batches[0].shape, [4, 3, 48, 48]);
//! # Ok::<(), fcn_data::Error>(())
//! ```

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::sample::{LabelMap, Sample};
use crate::transforms::{Normalization, SplitMix64, Transform};

/// Which samples an epoch visits, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Every sample once, in index order (evaluation).
    Sequential,
    /// Every sample once, in a new seeded permutation each epoch.
    Shuffle,
    /// `samples` indices drawn uniformly with replacement each epoch, as FCN's Caffe data layer
    /// (`random.randint` per iteration) does.
    WithReplacement {
        /// Samples per epoch.
        samples: usize,
    },
}

/// Settings of a [`Loader`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    /// Samples per batch (positive).
    pub batch_size: usize,
    /// Worker threads (positive).
    pub workers: usize,
    /// Batches being built or waiting at most (positive; below `workers` leaves workers idle).
    pub prefetch: usize,
    /// Which samples each epoch visits.
    pub sampling: Sampling,
    /// Whether to drop a final batch smaller than `batch_size`.
    pub drop_last: bool,
    /// The seed of the order and of every transform.
    pub seed: u64,
    /// How images become network input.
    pub normalization: Normalization,
    /// Which part of each batch this process loads (data-parallel training).
    pub shard: Shard,
}

/// One process's part of every batch in data-parallel training.
///
/// The epoch order is cut into *global* batches of `batch_size x count` samples, and shard
/// `index` loads positions `index x batch_size ..` of each, so the shards of one step together
/// hold exactly the batch one process with `count` times the batch size would load, with the
/// same augmentation (each sample's transform is seeded by its position in the epoch). With
/// `drop_last`, only whole global batches are used; without it, the last shards of a short final
/// global batch may get a smaller batch or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's shard, `0..count`.
    pub index: usize,
    /// Shards in all (processes).
    pub count: usize,
}

impl Shard {
    /// The whole batch: one process.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };
}

impl Default for Shard {
    fn default() -> Self {
        Self::WHOLE
    }
}

impl Default for LoaderConfig {
    /// Batches of 1, 2 workers, 4 batches prefetched, sequential, Caffe normalisation, seed 0.
    fn default() -> Self {
        Self {
            batch_size: 1,
            workers: 2,
            prefetch: 4,
            sampling: Sampling::Sequential,
            drop_last: false,
            seed: 0,
            normalization: Normalization::Caffe,
            shard: Shard::WHOLE,
        }
    }
}

/// A batch of normalised images and their labels, padded to the largest sample in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// N x 3 x H x W, row-major; padding is 0 (after normalisation).
    pub images: Vec<f32>,
    /// N x H x W, row-major; padding is the dataset's ignore value (255 if it has none).
    pub labels: Vec<u16>,
    /// `[N, 3, H, W]`.
    pub shape: [usize; 4],
    /// The samples' ids.
    pub ids: Vec<String>,
    /// The samples' indices in the dataset.
    pub indices: Vec<usize>,
    /// Each sample's (height, width) before padding.
    pub sizes: Vec<(usize, usize)>,
}

impl Batch {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }

    /// Sample `n`'s image, 3 x H x W (empty past the end).
    pub fn image(&self, n: usize) -> &[f32] {
        let size = self.shape[1] * self.shape[2] * self.shape[3];
        self.images.get(n * size..(n + 1) * size).unwrap_or(&[])
    }

    /// Sample `n`'s labels, H x W (empty past the end).
    pub fn label(&self, n: usize) -> &[u16] {
        let size = self.shape[2] * self.shape[3];
        self.labels.get(n * size..(n + 1) * size).unwrap_or(&[])
    }
}

/// Reads, transforms and batches a dataset on worker threads (see the module docs).
pub struct Loader {
    shared: Arc<Shared>,
    config: LoaderConfig,
}

/// What every worker needs.
struct Shared {
    dataset: Box<dyn Dataset>,
    transform: Box<dyn Transform>,
    normalization: Normalization,
    seed: u64,
    label_pad: u16,
}

// Keys that separate the order's random stream from the samples' streams.
const ORDER_STREAM: u64 = u64::MAX;

impl Loader {
    /// A loader over `dataset`, applying `transform` to each sample. Zero batch size, workers
    /// or prefetch, or sampling with replacement from an empty dataset, are refused.
    pub fn new(
        dataset: impl Dataset + 'static,
        transform: impl Transform + 'static,
        config: LoaderConfig,
    ) -> Result<Self> {
        for (what, value) in [
            ("batch size", config.batch_size),
            ("worker count", config.workers),
            ("prefetch", config.prefetch),
        ] {
            if value == 0 {
                return Err(Error::invalid(what, "must be positive"));
            }
        }
        if config.shard.index >= config.shard.count {
            return Err(Error::ShardOutOfRange {
                index: config.shard.index,
                count: config.shard.count,
            });
        }
        if matches!(config.sampling, Sampling::WithReplacement { .. }) && dataset.is_empty() {
            return Err(Error::invalid(
                "sampling",
                "cannot sample with replacement from an empty dataset",
            ));
        }
        let label_pad = dataset.classes().ignore().unwrap_or(255);
        Ok(Self {
            shared: Arc::new(Shared {
                dataset: Box::new(dataset),
                transform: Box::new(transform),
                normalization: config.normalization,
                seed: config.seed,
                label_pad,
            }),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The dataset indices epoch `epoch` visits, in order.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let len = self.shared.dataset.len();
        let mut rng = SplitMix64::from_keys(&[self.config.seed, epoch, ORDER_STREAM]);
        match self.config.sampling {
            Sampling::Sequential => (0..len).collect(),
            Sampling::Shuffle => {
                let mut order: Vec<usize> = (0..len).collect();
                rng.shuffle(&mut order);
                order
            }
            Sampling::WithReplacement { samples } => {
                (0..samples).map(|_| rng.below_usize(len)).collect()
            }
        }
    }

    /// Samples in a global batch: the batch size times the shard count.
    pub fn global_batch_size(&self) -> usize {
        self.config.batch_size * self.config.shard.count
    }

    /// Number of (global) batches per epoch; this shard's may be one fewer without
    /// `drop_last` (see [`Shard`]).
    pub fn batches_per_epoch(&self) -> usize {
        let samples = match self.config.sampling {
            Sampling::WithReplacement { samples } => samples,
            _ => self.shared.dataset.len(),
        };
        if self.config.drop_last {
            samples / self.global_batch_size()
        } else {
            samples.div_ceil(self.global_batch_size())
        }
    }

    /// Starts epoch `epoch` on fresh worker threads; iterate it for its batches. A failed
    /// sample yields an `Err` naming its index in place of its batch, and iteration goes on.
    /// Dropping the `Epoch` stops and joins its threads.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        self.epoch_from(epoch, 0)
    }

    /// The batches of `epoch` from batch number `first_batch` on, identical to the same
    /// batches of [`epoch`](Self::epoch) (a resumed run continues mid-epoch without decoding
    /// the batches it already used).
    pub fn epoch_from(&self, epoch: u64, first_batch: usize) -> Epoch {
        let order = self.epoch_order(epoch);
        let (batch, global) = (self.config.batch_size, self.global_batch_size());
        let offset = self.config.shard.index * batch;
        let mut jobs: Vec<Job> = order
            .chunks(global)
            .enumerate()
            .filter(|(_, chunk)| !self.config.drop_last || chunk.len() == global)
            .filter_map(|(number, chunk)| {
                let part = chunk.get(offset..)?;
                let part = &part[..part.len().min(batch)];
                (!part.is_empty()).then(|| Job {
                    number,
                    first_position: number * global + offset,
                    indices: part.to_vec(),
                })
            })
            .collect();
        let total = jobs.len();
        let first_batch = first_batch.min(total);
        jobs.drain(..first_batch);
        jobs.reverse(); // popped from the end
        let (job_sender, job_receiver) = channel::<Job>();
        let job_receiver = Arc::new(Mutex::new(job_receiver));
        let (result_sender, results) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..self.config.workers)
            .map(|_| {
                let shared = Arc::clone(&self.shared);
                let jobs = Arc::clone(&job_receiver);
                let results: Sender<(usize, Result<Batch>)> = result_sender.clone();
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || worker(&shared, epoch, &jobs, &results, &stop))
            })
            .collect();
        let mut epoch = Epoch {
            total,
            pending: jobs,
            jobs: Some(job_sender),
            results,
            workers,
            stop,
            next: first_batch,
            ready: BTreeMap::new(),
            failed: false,
        };
        for _ in 0..self.config.prefetch {
            epoch.send_next_job();
        }
        epoch
    }
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("len", &self.shared.dataset.len())
            .field("config", &self.config)
            .finish()
    }
}

/// One batch to build.
struct Job {
    number: usize,
    first_position: usize,
    indices: Vec<usize>,
}

fn worker(
    shared: &Shared,
    epoch: u64,
    jobs: &Mutex<Receiver<Job>>,
    results: &Sender<(usize, Result<Batch>)>,
    stop: &AtomicBool,
) {
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // A poisoned lock means another worker panicked; stop too.
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A panic in user code (a dataset or transform) becomes this batch's error, so the
        // consumer never waits for a batch that will not come.
        let batch =
            std::panic::catch_unwind(AssertUnwindSafe(|| build_batch(shared, epoch, &job, stop)))
                .unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".to_string());
                    Err(Error::WorkerPanicked {
                        batch: job.number,
                        panic: message,
                    })
                });
        if results.send((job.number, batch)).is_err() {
            return;
        }
    }
}

fn build_batch(shared: &Shared, epoch: u64, job: &Job, stop: &AtomicBool) -> Result<Batch> {
    let mut samples = Vec::with_capacity(job.indices.len());
    for (k, &index) in job.indices.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::invalid("epoch", "stopped"));
        }
        let position = (job.first_position + k) as u64;
        let mut rng = SplitMix64::from_keys(&[shared.seed, epoch, position]);
        let sample = shared
            .dataset
            .get(index)
            .and_then(|s| shared.transform.apply(s, &mut rng))
            .and_then(check_sizes)
            .map_err(|source| Error::Sample {
                index,
                epoch,
                source: Box::new(source),
            })?;
        samples.push((index, sample));
    }
    collate(shared, samples)
}

fn check_sizes(sample: Sample) -> Result<Sample> {
    let (image, label) = (sample.dim(), sample.label.dim());
    if image != label || sample.image.dim().2 != 3 {
        let name =
            |p: &Option<std::path::PathBuf>| p.clone().unwrap_or_else(|| sample.id.clone().into());
        return Err(Error::SizeMismatch {
            image: name(&sample.image_path),
            image_size: image,
            label: name(&sample.label_path),
            label_size: label,
        });
    }
    Ok(sample)
}

fn collate(shared: &Shared, samples: Vec<(usize, Sample)>) -> Result<Batch> {
    let n = samples.len();
    let height = samples.iter().map(|(_, s)| s.dim().0).max().unwrap_or(0);
    let width = samples.iter().map(|(_, s)| s.dim().1).max().unwrap_or(0);
    let plane = height * width;
    let mut images = vec![0f32; n * 3 * plane];
    let mut labels = vec![shared.label_pad; n * plane];
    let mut batch = Batch {
        images: Vec::new(),
        labels: Vec::new(),
        shape: [n, 3, height, width],
        ids: Vec::with_capacity(n),
        indices: Vec::with_capacity(n),
        sizes: Vec::with_capacity(n),
    };
    for (k, (index, sample)) in samples.into_iter().enumerate() {
        shared.normalization.write_chw(
            &sample.image,
            &mut images[k * 3 * plane..(k + 1) * 3 * plane],
            width,
        )?;
        let (h, w) = sample.dim();
        let out = &mut labels[k * plane..(k + 1) * plane];
        for y in 0..h {
            let row = &mut out[y * width..y * width + w];
            match &sample.label {
                LabelMap::U8(a) => {
                    for (d, s) in row.iter_mut().zip(a.row(y)) {
                        *d = u16::from(*s);
                    }
                }
                LabelMap::U16(a) => {
                    for (d, s) in row.iter_mut().zip(a.row(y)) {
                        *d = *s;
                    }
                }
            }
        }
        batch.ids.push(sample.id);
        batch.indices.push(index);
        batch.sizes.push((h, w));
    }
    batch.images = images;
    batch.labels = labels;
    Ok(batch)
}

/// The batches of one epoch, in order (an iterator of `Result<Batch>`). Owns its worker
/// threads: dropping it stops them and waits for them.
pub struct Epoch {
    total: usize,
    /// Jobs not yet handed to the workers, last first.
    pending: Vec<Job>,
    jobs: Option<Sender<Job>>,
    results: Receiver<(usize, Result<Batch>)>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// The number of the next batch to yield.
    next: usize,
    /// Batches finished ahead of their turn.
    ready: BTreeMap<usize, Result<Batch>>,
    failed: bool,
}

impl Epoch {
    /// Number of batches in the epoch.
    pub fn total(&self) -> usize {
        self.total
    }

    fn send_next_job(&mut self) {
        if let (Some(job), Some(sender)) = (self.pending.pop(), &self.jobs) {
            // The workers hold the receiver until they stop; a send error means they stopped,
            // which `next` reports.
            let _ = sender.send(job);
        }
    }
}

impl Iterator for Epoch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.total || self.failed {
            return None;
        }
        loop {
            if let Some(batch) = self.ready.remove(&self.next) {
                self.next += 1;
                self.send_next_job();
                return Some(batch);
            }
            match self.results.recv() {
                Ok((number, batch)) => {
                    self.ready.insert(number, batch);
                }
                Err(_) => {
                    // Every worker is gone before the epoch's end: one panicked.
                    self.failed = true;
                    return Some(Err(Error::BatchLost {
                        batch: self.next,
                        total: self.total,
                    }));
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total.saturating_sub(self.next);
        (left, Some(left))
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs = None; // workers waiting for a job see the channel close
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Epoch")
            .field("total", &self.total)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}
