//! The training loop: resumable, logged, evaluated.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use fcn_core::{
    Adam, Device, Fcn, FcnConfig, Gradients, Lars, Mode, Optimizer, Reduction, Sgd, Strictness,
    Tape, Tensor, copy_matching_params, derive_seed, load_state_dict, read_safetensors, state_dict,
};
use fcn_data::loader::{Batch, Epoch, Loader, LoaderConfig, Sampling, Shard};
use fcn_data::transforms::{Compose, HorizontalFlip, PhotometricJitter, RandomCrop, RandomScale};
use fcn_data::{ClassSet, Dataset};
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::data::open_datasets;
use crate::distributed::{
    Communicator, SingleProcess, all_reduce_gradients, average_model, broadcast_model,
    collective_error, ranks_differing_from_root,
};
use crate::error::{Result, TrainError};
use crate::evaluate::{Evaluation, Inference, evaluate_shard, normalization, scoring_matrix};

/// File names inside a run directory.
pub mod files {
    /// The resolved configuration.
    pub const CONFIG: &str = "config.toml";
    /// One JSON object per line: steps and evaluations.
    pub const LOG: &str = "log.jsonl";
    /// The latest checkpoint.
    pub const CHECKPOINT: &str = "checkpoint.safetensors";
    /// The weights with the best validation mean IoU.
    pub const BEST: &str = "best.safetensors";
    /// The final weights.
    pub const FINAL: &str = "final.safetensors";
    /// The last evaluation's report (fcn-metrics JSON).
    pub const EVAL: &str = "eval.json";
    /// Saved validation predictions.
    pub const PREDICTIONS: &str = "predictions";
    /// The HTML report (`fcn report`).
    pub const REPORT: &str = "report.html";
}

/// What the loop tells its caller as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An optimizer step finished.
    Step {
        /// Steps done.
        step: u64,
        /// Steps in the run.
        total: u64,
        /// The step's loss (over the whole global batch; rank 0's own in local SGD).
        loss: f32,
        /// The learning rate used.
        lr: f32,
        /// Training images per second over the step (all ranks).
        images_per_s: f64,
    },
    /// An evaluation finished.
    Eval {
        /// Steps done.
        step: u64,
        /// Validation mean IoU.
        mean_iou: Option<f64>,
        /// Validation pixel accuracy.
        pixel_accuracy: Option<f64>,
        /// The majority-class baseline's mean IoU.
        baseline_mean_iou: Option<f64>,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Steps done.
        step: u64,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Steps done.
    pub steps: u64,
    /// Whether it stopped early on request (Ctrl-C); it can be resumed.
    pub interrupted: bool,
    /// The last validation mean IoU, if evaluated.
    pub mean_iou: Option<f64>,
    /// The majority-class baseline.
    pub baseline_mean_iou: Option<f64>,
    /// Seconds of wall-clock time in this process.
    pub seconds: f64,
}

#[derive(Serialize)]
struct StepRecord {
    kind: &'static str,
    step: u64,
    loss: f32,
    lr: f32,
    images_per_s: f64,
    elapsed_s: f64,
}

#[derive(Serialize)]
struct EvalRecord<'a> {
    kind: &'static str,
    step: u64,
    elapsed_s: f64,
    baseline_mean_iou: Option<f64>,
    report: &'a fcn_metrics::Report,
    confusion: &'a fcn_metrics::ConfusionMatrix,
}

/// The batches of successive epochs, with the position needed to resume.
struct BatchStream {
    loader: Loader,
    epoch: u64,
    batch_in_epoch: usize,
    current: Option<Epoch>,
}

impl BatchStream {
    fn next(&mut self) -> Result<Batch> {
        loop {
            if self.current.is_none() {
                self.current = Some(self.loader.epoch_from(self.epoch, self.batch_in_epoch));
            }
            if let Some(epoch) = &mut self.current
                && let Some(batch) = epoch.next()
            {
                self.batch_in_epoch += 1;
                return Ok(batch?);
            }
            if self.batch_in_epoch == 0 {
                return Err(TrainError::config(
                    "data.train",
                    "the training set yields no batch",
                ));
            }
            self.current = None;
            self.epoch += 1;
            self.batch_in_epoch = 0;
        }
    }
}

fn optimizer(config: &TrainConfig) -> Result<Box<dyn Optimizer>> {
    let o = &config.optim;
    Ok(match o.optimizer.as_str() {
        "sgd" => Box::new(Sgd::new(o.momentum, o.weight_decay)?),
        "lars" => Box::new(Lars::new(o.momentum, o.weight_decay, o.lars_eta)?),
        _ => Box::new(Adam::new(o.weight_decay)?),
    })
}

fn model_config(config: &TrainConfig, classes: &ClassSet) -> Result<FcnConfig> {
    Ok(FcnConfig {
        dropout: config.model.dropout,
        learnable_upsampling: config.model.learnable_upsampling,
        preprocess: config.preprocess()?,
        ..FcnConfig::new(config.arch()?, classes.len())
            .with_width_divisor(config.model.width_divisor)
    })
}

fn augmentation(config: &TrainConfig, ignore: u16) -> Result<Compose> {
    let a = &config.augment;
    let mut t = Compose::new();
    if a.scale != [1.0, 1.0] {
        t = t.then(RandomScale::new(a.scale[0], a.scale[1])?);
    }
    if let Some([h, w]) = a.crop {
        t = t.then(RandomCrop::new(h, w)?.with_fill([124, 116, 104], ignore));
    }
    if a.flip {
        t = t.then(HorizontalFlip::new(0.5)?);
    }
    if a.jitter > 0.0 {
        t = t.then(PhotometricJitter::new(a.jitter, a.jitter, a.jitter)?);
    }
    Ok(t)
}

/// Samples read to estimate class frequencies.
const WEIGHT_SAMPLES: usize = 256;
/// Largest class weight of median-frequency balancing.
const MAX_CLASS_WEIGHT: f32 = 10.0;

/// SegNet's median-frequency class weights from up to [`WEIGHT_SAMPLES`] evenly spaced
/// training samples: `freq(c)` = pixels of c / pixels of the images that hold c, and
/// `w(c) = median(freq) / freq(c)`, capped at [`MAX_CLASS_WEIGHT`]; classes never seen weigh 1.
pub fn median_frequency_weights(dataset: &dyn Dataset) -> Result<Vec<f32>> {
    let classes = dataset.classes().len();
    let ignore = dataset.classes().ignore();
    let mut pixels = vec![0u64; classes];
    let mut image_pixels = vec![0u64; classes];
    let n = dataset.len().min(WEIGHT_SAMPLES);
    for k in 0..n {
        let sample = dataset.get(k * dataset.len() / n.max(1))?;
        let mut counts = vec![0u64; classes];
        let (h, w) = sample.label.dim();
        for y in 0..h {
            for x in 0..w {
                if let Some(v) = sample.label.get(y, x)
                    && Some(v) != ignore
                    && usize::from(v) < classes
                {
                    counts[usize::from(v)] += 1;
                }
            }
        }
        let total: u64 = counts.iter().sum();
        for c in 0..classes {
            if counts[c] > 0 {
                pixels[c] += counts[c];
                image_pixels[c] += total;
            }
        }
    }
    let freq: Vec<Option<f64>> = (0..classes)
        .map(|c| (pixels[c] > 0).then(|| pixels[c] as f64 / image_pixels[c] as f64))
        .collect();
    let mut seen: Vec<f64> = freq.iter().flatten().copied().collect();
    if seen.is_empty() {
        return Ok(vec![1.0; classes]);
    }
    seen.sort_by(f64::total_cmp);
    let median = seen[seen.len() / 2];
    Ok(freq
        .iter()
        .map(|f| f.map_or(1.0, |f| ((median / f) as f32).min(MAX_CLASS_WEIGHT)))
        .collect())
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io("cannot append to", path, e))?;
    writeln!(file, "{line}").map_err(|e| TrainError::io("cannot append to", path, e))
}

/// Keeps the log lines of steps up to `step` (a resumed run redoes the later ones).
fn truncate_log(path: &Path, step: u64) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrainError::io("cannot read", path, e)),
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("step").and_then(serde_json::Value::as_u64))
                .is_some_and(|s| s <= step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    fcn_data::write_atomically(path, kept.as_bytes())?;
    Ok(())
}

/// What a forward and backward pass needs: shareable by the threads of a split batch.
struct ForwardContext<'a> {
    model: &'a Fcn,
    device: Device,
    seed: u64,
    reduction: Reduction,
    ignore: i64,
    class_weights: Option<&'a [f32]>,
}

impl ForwardContext<'_> {
    /// Forward and backward of one batch (N x 3 x H x W images, N x H x W labels).
    fn forward_backward(
        &self,
        images: Vec<f32>,
        shape: [usize; 4],
        labels: &[u16],
        dropout_stream: &str,
    ) -> Result<MicroBatch> {
        let count = shape[0];
        let target: Vec<i64> = labels.iter().map(|&v| i64::from(v)).collect();
        let (ignore, reduction) = (self.ignore, self.reduction);
        let weight = match reduction {
            Reduction::SumOverBatch => count as f64,
            _ => target
                .iter()
                .filter(|&&t| t != ignore)
                .map(|&t| {
                    let w = self.class_weights.and_then(|w| w.get(t as usize));
                    f64::from(w.copied().unwrap_or(1.0))
                })
                .sum(),
        };
        let input = Tensor::from_vec(images, &shape)
            .and_then(|t| t.to_device(self.device))
            .map_err(fcn_core::CoreError::from)?;
        let mut tape = Tape::new();
        let x = tape.constant(input);
        let seed = derive_seed(self.seed, dropout_stream);
        let logits = self.model.forward(&mut tape, &x, Mode::Train { seed })?;
        let loss =
            tape.softmax_cross_entropy(&logits, &target, ignore, self.class_weights, reduction)?;
        drop(logits);
        let value = loss.value().to_vec().map_err(fcn_core::CoreError::from)?[0];
        Ok(MicroBatch {
            grads: tape.backward(&loss)?,
            loss: value,
            images: count,
            weight,
        })
    }
}

/// A training run in a directory.
pub struct Run {
    config: TrainConfig,
    dir: PathBuf,
    device: Device,
    model: Fcn,
    optimizer: Box<dyn Optimizer>,
    classes: ClassSet,
    stream: BatchStream,
    val: Arc<dyn Dataset>,
    step: u64,
    best_miou: Option<f64>,
    class_weights: Option<Vec<f32>>,
    comm: Rc<dyn Communicator>,
    /// One thread pool per part of a split batch (`train.batch_split`); empty = no split.
    split_pools: Vec<rayon::ThreadPool>,
}

/// What one micro-batch contributes to a step.
struct MicroBatch {
    grads: Gradients,
    loss: f32,
    images: usize,
    /// The loss's normaliser: the (class-weighted) count of valid pixels for a `mean` loss,
    /// the number of images for `sum`. Contributions are weighted by it, so any split of a
    /// global batch (micro-batches, ranks) gives the gradient of the whole batch's loss.
    weight: f64,
}

impl Run {
    /// Starts a new run in `dir`, which must not exist or be empty.
    pub fn create(config: TrainConfig, dir: &Path) -> Result<Self> {
        Self::create_with(config, dir, Rc::new(SingleProcess))
    }

    /// Starts a new run as one rank of a data-parallel job: every rank calls it with the same
    /// configuration (checked); rank 0 alone writes into `dir`.
    pub fn create_with(
        config: TrainConfig,
        dir: &Path,
        comm: Rc<dyn Communicator>,
    ) -> Result<Self> {
        config.validate()?;
        if comm.rank() == 0 && dir.exists() {
            let mut entries =
                std::fs::read_dir(dir).map_err(|e| TrainError::io("cannot read", dir, e))?;
            if entries.next().is_some() {
                return Err(TrainError::RunDir {
                    path: dir.to_owned(),
                    message: "is not empty; use --resume to continue the run in it, or choose a new directory".into(),
                });
            }
        }
        // Datasets and model first: a run refused for bad data leaves nothing behind.
        let run = Self::build(config, dir, None, comm)?;
        if run.comm.rank() == 0 {
            std::fs::create_dir_all(dir).map_err(|e| TrainError::io("cannot create", dir, e))?;
            fcn_data::write_atomically(&dir.join(files::CONFIG), run.config.to_toml().as_bytes())?;
        }
        Ok(run)
    }

    /// Continues the run in `dir` from its last checkpoint, with its saved configuration.
    pub fn resume(dir: &Path) -> Result<Self> {
        Self::resume_with(dir, Rc::new(SingleProcess))
    }

    /// Continues a run as one rank of a data-parallel job, with any number of ranks: rank 0
    /// reads the configuration and the checkpoint and sends them to the others (which need
    /// not see `dir`).
    pub fn resume_with(dir: &Path, comm: Rc<dyn Communicator>) -> Result<Self> {
        let config_path = dir.join(files::CONFIG);
        let checkpoint_path = dir.join(files::CHECKPOINT);
        let (mut config_bytes, mut checkpoint_bytes) = (Vec::new(), Vec::new());
        if comm.rank() == 0 {
            config_bytes = std::fs::read(&config_path)
                .map_err(|e| TrainError::io("cannot read", &config_path, e))?;
            if !checkpoint_path.exists() {
                return Err(TrainError::RunDir {
                    path: dir.to_owned(),
                    message: format!("has no {} to resume from", files::CHECKPOINT),
                });
            }
            checkpoint_bytes = std::fs::read(&checkpoint_path)
                .map_err(|e| TrainError::io("cannot read checkpoint", &checkpoint_path, e))?;
        }
        comm.broadcast_bytes(&mut config_bytes, 0)?;
        comm.broadcast_bytes(&mut checkpoint_bytes, 0)?;
        let text = String::from_utf8(config_bytes).map_err(|_| {
            TrainError::config(
                "config.toml",
                format!("{} is not UTF-8", config_path.display()),
            )
        })?;
        let config = TrainConfig::from_toml(&text, &config_path)?;
        let checkpoint = Checkpoint::from_bytes(&checkpoint_bytes, &checkpoint_path)?;
        drop(checkpoint_bytes);
        if comm.rank() == 0 {
            truncate_log(&dir.join(files::LOG), checkpoint.step)?;
        }
        Self::build(config, dir, Some((checkpoint, checkpoint_path)), comm)
    }

    fn build(
        config: TrainConfig,
        dir: &Path,
        checkpoint: Option<(Checkpoint, PathBuf)>,
        comm: Rc<dyn Communicator>,
    ) -> Result<Self> {
        // Ranks may train on different devices (one GPU each); everything else must match.
        let mut shared = config.clone();
        shared.train.device.clear();
        let differing = ranks_differing_from_root(comm.as_ref(), shared.to_toml().as_bytes())?;
        if !differing.is_empty() {
            return Err(collective_error(
                comm.as_ref(),
                format!(
                    "ranks {differing:?} were given a configuration different from rank 0's; \
                     start every rank with the same command"
                ),
            ));
        }
        let device: Device = match comm.device() {
            Some(device) => device,
            None => config
                .train
                .device
                .parse::<Device>()
                .map_err(|e| TrainError::config("train.device", e.to_string()))?,
        };
        let (train, val) = open_datasets(&config)?;
        let classes = train.classes().clone();
        let class_weights = match config.optim.class_weights.as_str() {
            "median-frequency" => Some(median_frequency_weights(train.as_ref())?),
            _ => None,
        };
        let seed = config.train.seed;
        let mut model = Fcn::new(model_config(&config, &classes)?, seed)?;
        // Rank 0 reads the initial weights; the broadcast below gives them to every rank.
        if let Some(init) = config.model.init.as_ref().filter(|_| comm.rank() == 0) {
            let path = PathBuf::from(init);
            let weights = read_safetensors(&path)?;
            let mut source = model.clone();
            load_state_dict(&mut source, &weights.tensors, Strictness::Partial, &path)?;
            copy_matching_params(&mut model, &source);
        }
        let mut optimizer = optimizer(&config)?;
        let global_batch = config.train.batch_size * comm.size();
        let (step, epoch, batch_in_epoch, best_miou) = match checkpoint {
            Some((c, path)) => {
                load_state_dict(&mut model, &c.model, Strictness::Strict, &path)?;
                // The optimizer's buffers live where the parameters do (SGD and LARS add them
                // to the parameters on the device).
                let state = c
                    .optimizer
                    .into_iter()
                    .map(|(name, t)| Ok((name, t.to_device(device)?)))
                    .collect::<std::result::Result<_, fcn_core::tensor::TensorError>>()
                    .map_err(fcn_core::CoreError::from)?;
                optimizer.load_state(state)?;
                // Another number of ranks changes the loader's global batch: continue at the
                // first batch holding no image already used in this epoch.
                let written_with = match c.global_batch {
                    0 => config.train.batch_size,
                    n => n,
                };
                let used = c.batch_in_epoch * written_with;
                (c.step, c.epoch, used.div_ceil(global_batch), c.best_miou)
            }
            None => (0, 0, 0, None),
        };
        broadcast_model(comm.as_ref(), &mut model)?;
        model.to_device(device)?;
        // Parts of a split batch each need a core of their own, and only help on the CPU (a
        // GPU runs one stream).
        let split = config.train.batch_split.min(rayon::current_num_threads());
        let split_pools = if split > 1 && device == Device::Cpu {
            let threads = rayon::current_num_threads() / split;
            (0..split)
                .map(|_| {
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .map_err(|e| TrainError::config("train.batch_split", e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let ignore = classes.ignore().unwrap_or(255);
        let loader = Loader::new(
            train,
            augmentation(&config, ignore)?,
            LoaderConfig {
                batch_size: config.train.batch_size,
                workers: config.train.workers,
                prefetch: 2 * config.train.workers,
                sampling: Sampling::Shuffle,
                drop_last: true,
                seed,
                normalization: normalization(model.preprocess()),
                shard: Shard {
                    index: comm.rank(),
                    count: comm.size(),
                },
            },
        )?;
        Ok(Self {
            config,
            dir: dir.to_owned(),
            device,
            model,
            optimizer,
            classes,
            stream: BatchStream {
                loader,
                epoch,
                batch_in_epoch,
                current: None,
            },
            val,
            step,
            best_miou,
            class_weights,
            comm,
            split_pools,
        })
    }

    /// This process's rank and the number of ranks.
    pub fn rank(&self) -> (usize, usize) {
        (self.comm.rank(), self.comm.size())
    }

    /// The model being trained.
    pub fn model(&self) -> &Fcn {
        &self.model
    }

    /// Steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The next batch's contributions: the whole batch, or its parts with `train.batch_split`.
    fn micro_batch(&mut self, micro: u64) -> Result<Vec<MicroBatch>> {
        let batch = self.stream.next()?;
        let stream = match self.comm.rank() {
            0 => format!("dropout {micro}"),
            rank => format!("dropout {micro} rank {rank}"),
        };
        let parts = self.split_pools.len().min(batch.len());
        if parts <= 1 {
            let whole = self.forward_context().forward_backward(
                batch.images,
                batch.shape,
                &batch.labels,
                &stream,
            )?;
            return Ok(vec![whole]);
        }
        // Split along the batch: each part runs on its own thread with its own share of the
        // cores (small convolutions keep a core busier than a share of one operation). The
        // training loop weights the parts like any other contribution, which gives the whole
        // batch's gradient.
        let [n, c, h, w] = batch.shape;
        let (image_len, label_len) = (c * h * w, h * w);
        let context = self.forward_context();
        let context = &context;
        let results: Vec<Result<MicroBatch>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..parts)
                .map(|p| {
                    let (start, end) = (p * n / parts, (p + 1) * n / parts);
                    let images = batch.images[start * image_len..end * image_len].to_vec();
                    let labels = &batch.labels[start * label_len..end * label_len];
                    let stream = match p {
                        0 => stream.clone(),
                        p => format!("{stream} part {p}"),
                    };
                    let pool = &self.split_pools[p];
                    scope.spawn(move || {
                        pool.install(|| {
                            context.forward_backward(
                                images,
                                [end - start, c, h, w],
                                labels,
                                &stream,
                            )
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(TrainError::config(
                            "train.batch_split",
                            "a part's thread panicked",
                        ))
                    })
                })
                .collect()
        });
        results.into_iter().collect()
    }

    fn forward_context(&self) -> ForwardContext<'_> {
        ForwardContext {
            model: &self.model,
            device: self.device,
            seed: self.config.train.seed,
            reduction: match self.config.optim.loss.as_str() {
                "sum" => Reduction::SumOverBatch,
                _ => Reduction::Mean,
            },
            ignore: i64::from(self.classes.ignore().unwrap_or(255)),
            class_weights: self.class_weights.as_deref(),
        }
    }

    /// Rank 0 writes the checkpoint; every rank holds the same state in sync mode.
    fn checkpoint(&self) -> Result<()> {
        if self.comm.rank() != 0 {
            return Ok(());
        }
        Checkpoint {
            step: self.step,
            epoch: self.stream.epoch,
            batch_in_epoch: self.stream.batch_in_epoch,
            global_batch: self.config.train.batch_size * self.comm.size(),
            best_miou: self.best_miou,
            model: state_dict(&self.model),
            optimizer: self.optimizer.state(),
        }
        .save(&self.dir.join(files::CHECKPOINT))
    }

    /// Evaluates on the validation set, logs it, keeps the best weights and saves a few
    /// predictions. With several ranks, each scores its share of the images and rank 0 merges
    /// them (exactly the single-process numbers) and writes the files.
    pub fn evaluate(&mut self, elapsed_s: f64) -> Result<Evaluation> {
        let keep = self.config.train.predictions;
        let template = scoring_matrix(&self.model, self.val.as_ref())?;
        let mut kept: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut images = evaluate_shard(
            &self.model,
            Arc::clone(&self.val),
            self.device,
            self.config.train.workers,
            Inference::Whole,
            Shard {
                index: self.comm.rank(),
                count: self.comm.size(),
            },
            |index, pred| {
                if index < keep {
                    kept.push((index, pred.iter().map(|&p| p as u8).collect()));
                }
                Ok(())
            },
        )?;
        if self.comm.size() > 1 {
            let payload = serde_json::to_vec(&(&images, &kept))
                .map_err(|e| collective_error(self.comm.as_ref(), e.to_string()))?;
            images.clear();
            kept.clear();
            for (rank, bytes) in self.comm.all_gather_bytes(&payload)?.iter().enumerate() {
                type Part = (
                    Vec<(usize, fcn_metrics::ConfusionMatrix)>,
                    Vec<(usize, Vec<u8>)>,
                );
                let (part_images, part_kept): Part =
                    serde_json::from_slice(bytes).map_err(|e| {
                        collective_error(
                            self.comm.as_ref(),
                            format!("rank {rank} sent unreadable scores: {e}"),
                        )
                    })?;
                images.extend(part_images);
                kept.extend(part_kept);
            }
        }
        let evaluation = Evaluation::from_images(&template, &images)?;
        let miou = evaluation.matrix.mean_iou();
        let improved = miou.is_some_and(|m| self.best_miou.is_none_or(|b| m > b));
        if improved {
            self.best_miou = miou;
        }
        if self.comm.rank() != 0 {
            return Ok(evaluation);
        }
        self.save_predictions(&kept)?;
        let report = evaluation.report(self.classes.names())?;
        let baseline = evaluation.majority_baseline_miou();
        let record = EvalRecord {
            kind: "eval",
            step: self.step,
            elapsed_s,
            baseline_mean_iou: baseline,
            report: &report,
            confusion: &evaluation.matrix,
        };
        let json =
            serde_json::to_string(&record).map_err(|e| TrainError::config("log", e.to_string()))?;
        append_line(&self.dir.join(files::LOG), &json)?;
        let pretty = serde_json::to_string_pretty(&record)
            .map_err(|e| TrainError::config("log", e.to_string()))?;
        fcn_data::write_atomically(&self.dir.join(files::EVAL), pretty.as_bytes())?;
        if improved {
            self.model.save(&self.dir.join(files::BEST))?;
        }
        Ok(evaluation)
    }

    /// Writes the image, prediction and ground truth of each kept validation image.
    fn save_predictions(&self, kept: &[(usize, Vec<u8>)]) -> Result<()> {
        if kept.is_empty() {
            return Ok(());
        }
        let dir = self.dir.join(files::PREDICTIONS);
        std::fs::create_dir_all(&dir).map_err(|e| TrainError::io("cannot create", &dir, e))?;
        let colors = self.classes.colors();
        for (index, pred) in kept {
            let sample = self.val.get(*index)?;
            let (h, w) = sample.dim();
            let pred = ndarray::Array2::from_shape_vec((h, w), pred.clone())
                .map_err(|_| TrainError::config("data.val", "prediction size mismatch"))?;
            let stem = format!("{index:04}");
            fcn_data::write_rgb_png(&dir.join(format!("{stem}_image.png")), &sample.image)?;
            fcn_data::write_palette_png(&dir.join(format!("{stem}_pred.png")), &pred, colors)?;
            if let Some(gt) = sample.label.to_u8() {
                fcn_data::write_palette_png(&dir.join(format!("{stem}_gt.png")), &gt, colors)?;
            }
        }
        Ok(())
    }

    /// Checkpoints and reports a run stopped on request.
    fn interrupted(
        &mut self,
        started: Instant,
        on_event: &mut impl FnMut(&Event),
    ) -> Result<Summary> {
        // Local SGD stops only right after an average, so every rank holds the same model.
        self.checkpoint()?;
        on_event(&Event::Checkpoint { step: self.step });
        Ok(Summary {
            steps: self.step,
            interrupted: true,
            mean_iou: None,
            baseline_mean_iou: None,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Trains to the configured number of steps (or until `stop` is set, after which it
    /// checkpoints and returns), calling `on_event` as it goes.
    pub fn train(
        &mut self,
        stop: &AtomicBool,
        mut on_event: impl FnMut(&Event),
    ) -> Result<Summary> {
        let started = Instant::now();
        let total = self.config.train.iterations;
        let ranks = self.comm.size();
        let schedule = self.config.schedule_for(ranks)?;
        let accumulate = self.config.train.accumulate as u64;
        let local_sgd = self.config.distributed.mode == "local-sgd" && ranks > 1;
        let average_every = self.config.distributed.average_every;
        let bucket_values = self.config.distributed.bucket_mib * (1 << 20) / 4;
        // Training batches are whole (drop_last), so every batch splits into as many parts.
        let parts = self
            .split_pools
            .len()
            .clamp(1, self.config.train.batch_size);
        let mut last = None;
        while self.step < total {
            if ranks == 1 && stop.load(Ordering::SeqCst) {
                return self.interrupted(started, &mut on_event);
            }
            let step_start = Instant::now();
            let lr = schedule.at_with_warmup(
                self.step,
                self.config.optim.warmup_steps,
                self.config.optim.warmup_start,
            );
            // Each contribution (part of a micro-batch, rank) is weighted by its loss
            // normaliser, so the sum over all of them, divided by the total weight, is the
            // gradient of the loss of the whole global batch. A lone contribution is used as
            // it is.
            let syncing_ranks = if local_sgd { 1 } else { ranks };
            let weighted = accumulate as usize * parts * syncing_ranks > 1;
            let mut grads = Gradients::default();
            // Weight, weighted loss, images, stop requests.
            let mut totals = [0.0f64; 4];
            for micro in 0..accumulate {
                for mut m in self.micro_batch(self.step * accumulate + micro)? {
                    if weighted {
                        m.grads.scale(m.weight as f32)?;
                    }
                    grads.accumulate(m.grads)?;
                    totals[0] += m.weight;
                    totals[1] += f64::from(m.loss) * m.weight;
                    totals[2] += m.images as f64;
                }
            }
            totals[3] = f64::from(u8::from(stop.load(Ordering::SeqCst)));
            let next = self.step + 1;
            let every = |n: u64| n > 0 && next.is_multiple_of(n);
            let synchronise = !local_sgd
                || every(average_every)
                || every(self.config.train.eval_every)
                || every(self.config.train.checkpoint_every)
                || next == total;
            if !local_sgd {
                self.comm.all_reduce_sum_f64(&mut totals)?;
                all_reduce_gradients(self.comm.as_ref(), &self.model, &mut grads, bucket_values)?;
            }
            if weighted && totals[0] > 0.0 {
                grads.scale((1.0 / totals[0]) as f32)?;
            }
            let loss = if totals[0] > 0.0 {
                (totals[1] / totals[0]) as f32
            } else {
                0.0
            };
            if !loss.is_finite() {
                return Err(TrainError::Diverged {
                    step: self.step,
                    loss,
                    lr,
                });
            }
            self.optimizer.step(&mut self.model, &grads, lr)?;
            drop(grads);
            self.step += 1;
            let mut images = totals[2];
            let mut stop_requested = totals[3] > 0.0;
            if local_sgd {
                // Every rank trained on as many images as this one.
                images *= ranks as f64;
                // Ranks agree on stopping only when they synchronise.
                let mut flags = [f64::from(u8::from(stop_requested))];
                if synchronise {
                    average_model(self.comm.as_ref(), &mut self.model, bucket_values)?;
                    self.comm.all_reduce_sum_f64(&mut flags)?;
                }
                stop_requested = synchronise && flags[0] > 0.0;
            }
            let images_per_s = images / step_start.elapsed().as_secs_f64();
            let record = StepRecord {
                kind: "step",
                step: self.step,
                loss,
                lr,
                images_per_s,
                elapsed_s: started.elapsed().as_secs_f64(),
            };
            if self.comm.rank() == 0 {
                let json = serde_json::to_string(&record)
                    .map_err(|e| TrainError::config("log", e.to_string()))?;
                append_line(&self.dir.join(files::LOG), &json)?;
            }
            on_event(&Event::Step {
                step: self.step,
                total,
                loss,
                lr,
                images_per_s,
            });
            let every = self.config.train.eval_every;
            if self.step == total || (every > 0 && self.step.is_multiple_of(every)) {
                let evaluation = self.evaluate(started.elapsed().as_secs_f64())?;
                let event = Event::Eval {
                    step: self.step,
                    mean_iou: evaluation.matrix.mean_iou(),
                    pixel_accuracy: evaluation.matrix.pixel_accuracy(),
                    baseline_mean_iou: evaluation.majority_baseline_miou(),
                };
                on_event(&event);
                last = Some(event);
            }
            let every = self.config.train.checkpoint_every;
            if self.step == total || (every > 0 && self.step.is_multiple_of(every)) {
                self.checkpoint()?;
                on_event(&Event::Checkpoint { step: self.step });
            }
            if stop_requested && self.step < total {
                return self.interrupted(started, &mut on_event);
            }
        }
        if self.comm.rank() == 0 {
            self.model.save(&self.dir.join(files::FINAL))?;
        }
        let (mean_iou, baseline_mean_iou) = match last {
            Some(Event::Eval {
                mean_iou,
                baseline_mean_iou,
                ..
            }) => (mean_iou, baseline_mean_iou),
            _ => (None, None),
        };
        Ok(Summary {
            steps: self.step,
            interrupted: false,
            mean_iou,
            baseline_mean_iou,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}
