//! The training loop: resumable, logged, evaluated.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use fcn_core::{
    Adam, Device, Fcn, FcnConfig, Gradients, Lars, Mode, Optimizer, Reduction, Sgd, Strictness,
    Tape, Tensor, copy_matching_params, derive_seed, load_state_dict, read_safetensors, state_dict,
};
use fcn_data::loader::{Batch, Epoch, Loader, LoaderConfig, Sampling};
use fcn_data::transforms::{Compose, HorizontalFlip, PhotometricJitter, RandomCrop, RandomScale};
use fcn_data::{ClassSet, Dataset};
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::data::open_datasets;
use crate::error::{Result, TrainError};
use crate::evaluate::{Evaluation, evaluate, normalization};

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
        /// The step's loss (mean over micro-batches).
        loss: f32,
        /// The learning rate used.
        lr: f32,
        /// Training images per second over the step.
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
}

impl Run {
    /// Starts a new run in `dir`, which must not exist or be empty.
    pub fn create(config: TrainConfig, dir: &Path) -> Result<Self> {
        config.validate()?;
        if dir.exists() {
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
        let run = Self::build(config, dir, None)?;
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io("cannot create", dir, e))?;
        fcn_data::write_atomically(&dir.join(files::CONFIG), run.config.to_toml().as_bytes())?;
        Ok(run)
    }

    /// Continues the run in `dir` from its last checkpoint, with its saved configuration.
    pub fn resume(dir: &Path) -> Result<Self> {
        let config = TrainConfig::from_file(&dir.join(files::CONFIG))?;
        let checkpoint_path = dir.join(files::CHECKPOINT);
        if !checkpoint_path.exists() {
            return Err(TrainError::RunDir {
                path: dir.to_owned(),
                message: format!("has no {} to resume from", files::CHECKPOINT),
            });
        }
        let checkpoint = Checkpoint::load(&checkpoint_path)?;
        truncate_log(&dir.join(files::LOG), checkpoint.step)?;
        Self::build(config, dir, Some((checkpoint, checkpoint_path)))
    }

    fn build(
        config: TrainConfig,
        dir: &Path,
        checkpoint: Option<(Checkpoint, PathBuf)>,
    ) -> Result<Self> {
        let device: Device = config
            .train
            .device
            .parse()
            .map_err(|e: String| TrainError::config("train.device", e))?;
        let (train, val) = open_datasets(&config)?;
        let classes = train.classes().clone();
        let class_weights = match config.optim.class_weights.as_str() {
            "median-frequency" => Some(median_frequency_weights(train.as_ref())?),
            _ => None,
        };
        let seed = config.train.seed;
        let mut model = Fcn::new(model_config(&config, &classes)?, seed)?;
        if let Some(init) = &config.model.init {
            let path = PathBuf::from(init);
            let weights = read_safetensors(&path)?;
            let mut source = model.clone();
            load_state_dict(&mut source, &weights.tensors, Strictness::Partial, &path)?;
            copy_matching_params(&mut model, &source);
        }
        let mut optimizer = optimizer(&config)?;
        let (step, epoch, batch_in_epoch, best_miou) = match checkpoint {
            Some((c, path)) => {
                load_state_dict(&mut model, &c.model, Strictness::Strict, &path)?;
                optimizer.load_state(c.optimizer)?;
                (c.step, c.epoch, c.batch_in_epoch, c.best_miou)
            }
            None => (0, 0, 0, None),
        };
        model.to_device(device)?;
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
        })
    }

    /// The model being trained.
    pub fn model(&self) -> &Fcn {
        &self.model
    }

    /// Steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    fn micro_batch(&mut self, micro: u64) -> Result<(Gradients, f32, usize)> {
        let batch = self.stream.next()?;
        let images = batch.len();
        let target: Vec<i64> = batch.labels.iter().map(|&v| i64::from(v)).collect();
        let input = Tensor::from_vec(batch.images, &batch.shape)
            .and_then(|t| t.to_device(self.device))
            .map_err(fcn_core::CoreError::from)?;
        let mut tape = Tape::new();
        let x = tape.constant(input);
        let seed = derive_seed(self.config.train.seed, &format!("dropout {micro}"));
        let logits = self.model.forward(&mut tape, &x, Mode::Train { seed })?;
        let reduction = match self.config.optim.loss.as_str() {
            "sum" => Reduction::SumOverBatch,
            _ => Reduction::Mean,
        };
        let ignore = i64::from(self.classes.ignore().unwrap_or(255));
        let loss = tape.softmax_cross_entropy(
            &logits,
            &target,
            ignore,
            self.class_weights.as_deref(),
            reduction,
        )?;
        drop(logits);
        let value = loss.value().to_vec().map_err(fcn_core::CoreError::from)?[0];
        Ok((tape.backward(&loss)?, value, images))
    }

    fn checkpoint(&self) -> Result<()> {
        Checkpoint {
            step: self.step,
            epoch: self.stream.epoch,
            batch_in_epoch: self.stream.batch_in_epoch,
            best_miou: self.best_miou,
            model: state_dict(&self.model),
            optimizer: self.optimizer.state(),
        }
        .save(&self.dir.join(files::CHECKPOINT))
    }

    /// Evaluates on the validation set, logs it, keeps the best weights and saves a few
    /// predictions.
    pub fn evaluate(&mut self, elapsed_s: f64) -> Result<Evaluation> {
        let predictions_dir = self.dir.join(files::PREDICTIONS);
        let keep = self.config.train.predictions;
        if keep > 0 {
            std::fs::create_dir_all(&predictions_dir)
                .map_err(|e| TrainError::io("cannot create", &predictions_dir, e))?;
        }
        let val = Arc::clone(&self.val);
        let colors = self.classes.colors().to_vec();
        let evaluation = evaluate(
            &self.model,
            Arc::clone(&self.val),
            self.device,
            self.config.train.workers,
            |index, pred| {
                if index >= keep {
                    return Ok(());
                }
                let sample = val.get(index)?;
                let (h, w) = sample.dim();
                let pred: Vec<u8> = pred.iter().map(|&p| p as u8).collect();
                let pred = ndarray::Array2::from_shape_vec((h, w), pred)
                    .map_err(|_| TrainError::config("data.val", "prediction size mismatch"))?;
                let stem = format!("{index:04}");
                fcn_data::write_rgb_png(
                    &predictions_dir.join(format!("{stem}_image.png")),
                    &sample.image,
                )?;
                fcn_data::write_palette_png(
                    &predictions_dir.join(format!("{stem}_pred.png")),
                    &pred,
                    &colors,
                )?;
                if let Some(gt) = sample.label.to_u8() {
                    fcn_data::write_palette_png(
                        &predictions_dir.join(format!("{stem}_gt.png")),
                        &gt,
                        &colors,
                    )?;
                }
                Ok(())
            },
        )?;
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
        let miou = evaluation.matrix.mean_iou();
        if let Some(m) = miou
            && self.best_miou.is_none_or(|b| m > b)
        {
            self.best_miou = Some(m);
            self.model.save(&self.dir.join(files::BEST))?;
        }
        Ok(evaluation)
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
        let schedule = self.config.schedule()?;
        let accumulate = self.config.train.accumulate as u64;
        let mut last = None;
        while self.step < total {
            if stop.load(Ordering::SeqCst) {
                self.checkpoint()?;
                on_event(&Event::Checkpoint { step: self.step });
                return Ok(Summary {
                    steps: self.step,
                    interrupted: true,
                    mean_iou: None,
                    baseline_mean_iou: None,
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            let step_start = Instant::now();
            let lr = schedule.at_with_warmup(
                self.step,
                self.config.optim.warmup_steps,
                self.config.optim.warmup_start,
            );
            let mut grads = Gradients::default();
            let (mut loss_sum, mut images) = (0.0f64, 0usize);
            for micro in 0..accumulate {
                let (g, loss, n) = self.micro_batch(self.step * accumulate + micro)?;
                grads.accumulate(g)?;
                loss_sum += f64::from(loss);
                images += n;
            }
            if accumulate > 1 {
                grads.scale(1.0 / accumulate as f32)?;
            }
            let loss = (loss_sum / accumulate as f64) as f32;
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
            let images_per_s = images as f64 / step_start.elapsed().as_secs_f64();
            let record = StepRecord {
                kind: "step",
                step: self.step,
                loss,
                lr,
                images_per_s,
                elapsed_s: started.elapsed().as_secs_f64(),
            };
            let json = serde_json::to_string(&record)
                .map_err(|e| TrainError::config("log", e.to_string()))?;
            append_line(&self.dir.join(files::LOG), &json)?;
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
        }
        self.model.save(&self.dir.join(files::FINAL))?;
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
