//! The training configuration: a TOML file, every field optional, defaults = the main job.

use std::path::Path;

use fcn_core::{Arch, LrSchedule, Preprocess};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Everything a run needs. `TrainConfig::default()` is the embedded main job: FCN-8s at a
/// width that trains on a 2-core CPU, on synthetic transit scenes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The network.
    pub model: ModelConfig,
    /// The data.
    pub data: DataConfig,
    /// Training-time augmentation.
    pub augment: AugmentConfig,
    /// Optimizer, learning rate, loss.
    pub optim: OptimConfig,
    /// Steps, batches, evaluation, checkpoints, seed.
    pub train: LoopConfig,
    /// Data-parallel training (used when `fcn train --distributed` starts several ranks).
    pub distributed: DistributedConfig,
}

/// Data-parallel training. `train.batch_size` is the batch of **each rank**: the global batch
/// is `batch_size x ranks x accumulate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistributedConfig {
    /// `sync`: gradients summed over ranks every step, so N ranks compute exactly the step of
    /// one process with N times the batch. `local-sgd`: each rank steps on its own gradients
    /// and the models are averaged every `average_every` steps (and before every evaluation and
    /// checkpoint); for slow links.
    pub mode: String,
    /// Local SGD: steps between model averages.
    pub average_every: u64,
    /// Gradients are all-reduced in buckets of this many MiB (PyTorch DDP's default is 25).
    pub bucket_mib: usize,
}

impl Default for DistributedConfig {
    fn default() -> Self {
        Self {
            mode: "sync".into(),
            average_every: 8,
            bucket_mib: 25,
        }
    }
}

/// The network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `fcn32s`, `fcn16s`, `fcn8s` or `fcn8s-atonce`.
    pub arch: String,
    /// Backbone channels divided by this (1 = VGG16).
    pub width_divisor: usize,
    /// Dropout after fc6 and fc7.
    pub dropout: f32,
    /// Train the bilinear upsampling layers (frozen in the reference).
    pub learnable_upsampling: bool,
    /// `caffe` or `imagenet` input normalisation.
    pub preprocess: String,
    /// Start from these weights (safetensors: an FCN of the same shape, or a coarser FCN for
    /// staged training, copied by name).
    pub init: Option<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            arch: "fcn8s".into(),
            width_divisor: 8,
            dropout: 0.0,
            learnable_upsampling: false,
            // Unit-scale input trains from scratch at least as well as Caffe's 0..255 scale
            // (measured: docs/benchmarks.md); Caffe's is for the reference weights.
            preprocess: "imagenet".into(),
            init: None,
        }
    }
}

/// The data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Training sets: `synthetic`, or `FORMAT:ROOT[:SPLIT]`.
    pub train: Vec<String>,
    /// Validation sets, same syntax.
    pub val: Vec<String>,
    /// Map every dataset's labels into the transit taxonomy (needed to mix datasets; the
    /// synthetic scenes are already in it).
    pub transit: bool,
    /// Images in the synthetic training set.
    pub synthetic_train: usize,
    /// Images in the synthetic validation set.
    pub synthetic_val: usize,
    /// Height of synthetic images.
    pub synthetic_height: usize,
    /// Width of synthetic images.
    pub synthetic_width: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            train: vec!["synthetic".into()],
            val: vec!["synthetic".into()],
            transit: false,
            synthetic_train: 4000,
            synthetic_val: 100,
            synthetic_height: 128,
            synthetic_width: 128,
        }
    }
}

/// Training-time augmentation (evaluation uses whole images).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Random crop `[height, width]` (padded with the ignore label where the image is smaller).
    pub crop: Option<[usize; 2]>,
    /// Random scale range `[min, max]`.
    pub scale: [f64; 2],
    /// Random horizontal flips.
    pub flip: bool,
    /// Photometric jitter strength (brightness, contrast, saturation), 0 = off.
    pub jitter: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            crop: None,
            scale: [1.0, 1.0],
            flip: true,
            jitter: 0.0,
        }
    }
}

/// Optimizer, schedule and loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// `sgd`, `adam` or `lars`.
    pub optimizer: String,
    /// Base learning rate.
    pub lr: f32,
    /// Momentum (SGD, LARS).
    pub momentum: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// LARS trust coefficient.
    pub lars_eta: f32,
    /// `fixed`, `step`, `poly` or `cosine`.
    pub schedule: String,
    /// Final rate of the cosine schedule.
    pub min_lr: f32,
    /// Poly exponent.
    pub power: f32,
    /// Step schedule: steps between decays.
    pub step_every: u64,
    /// Step schedule: decay factor.
    pub gamma: f32,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
    /// Warm-up starting rate.
    pub warmup_start: f32,
    /// `mean` (over valid pixels) or `sum` (over valid pixels / batch, the FCN reference).
    pub loss: String,
    /// `none`, or `median-frequency` (SegNet's balancing: class c weighs
    /// `median(freq) / freq(c)`, with `freq(c)` = pixels of c / pixels of the images holding c,
    /// measured on up to 256 training samples; capped at 10 so rare classes cannot dominate).
    pub class_weights: String,
    /// The linear scaling rule (Goyal et al. 2017): when positive, `lr` and `min_lr` are the
    /// rates for a global batch of this many images, and are multiplied by
    /// `global batch / lr_reference_batch` (global batch = `batch_size x ranks x
    /// accumulate`); pair it with `warmup_steps`. 0 = use `lr` as given.
    pub lr_reference_batch: usize,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            optimizer: "adam".into(),
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 0.0,
            lars_eta: 0.001,
            schedule: "cosine".into(),
            min_lr: 1e-5,
            power: 0.9,
            step_every: 1000,
            gamma: 0.1,
            warmup_steps: 0,
            warmup_start: 0.0,
            loss: "mean".into(),
            class_weights: "none".into(),
            lr_reference_batch: 0,
        }
    }
}

/// The loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoopConfig {
    /// Optimizer steps.
    pub iterations: u64,
    /// Images per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step (gradient accumulation). Each micro-batch's gradient
    /// is weighted by its loss normaliser, so the step is exactly that of one batch of
    /// `batch_size x accumulate` images.
    pub accumulate: usize,
    /// Split each micro-batch into this many parts that run at once, each on its own thread
    /// with an equal share of the compute threads; their gradients are combined exactly as one
    /// batch's. Small networks keep the cores busier this way than by splitting each operation
    /// (the main job: 7% more images/s with 2). CPU only; capped at the compute threads.
    pub batch_split: usize,
    /// Evaluate every this many steps (and at the end); 0 = only at the end.
    pub eval_every: u64,
    /// Checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
    /// Seed of weights, data order, augmentation and dropout.
    pub seed: u64,
    /// Loader threads.
    pub workers: usize,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Validation images whose overlays are saved for the report.
    pub predictions: usize,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            // Batch 4 beat batch 8 and matched batch 2 in the same time; 2400 steps fill the
            // budget the 2000 of the slower kernels did (docs/benchmarks.md).
            iterations: 2400,
            batch_size: 4,
            accumulate: 1,
            // Measured on the main job: 2 parts, 7% more images/s (docs/benchmarks.md).
            batch_split: 2,
            eval_every: 600,
            checkpoint_every: 100,
            seed: 1337,
            workers: 2,
            device: "cpu".into(),
            predictions: 8,
        }
    }
}

impl TrainConfig {
    /// Reads a TOML file; fields it omits keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| TrainError::io("cannot read", path, e))?;
        Self::from_toml(&text, path)
    }

    /// Parses TOML text; `path` only names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|source| TrainError::ConfigFile {
            path: path.to_owned(),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML (written to the run directory).
    pub fn to_toml(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The architecture.
    pub fn arch(&self) -> Result<Arch> {
        self.model.arch.parse().map_err(|_| {
            TrainError::config(
                "model.arch",
                format!(
                    "{:?}: expected fcn32s, fcn16s, fcn8s or fcn8s-atonce",
                    self.model.arch
                ),
            )
        })
    }

    /// The input normalisation.
    pub fn preprocess(&self) -> Result<Preprocess> {
        self.model.preprocess.parse().map_err(|_| {
            TrainError::config(
                "model.preprocess",
                format!("{:?}: expected caffe or imagenet", self.model.preprocess),
            )
        })
    }

    /// The learning-rate schedule of a single process.
    pub fn schedule(&self) -> Result<LrSchedule> {
        self.schedule_for(1)
    }

    /// Images per optimizer step over `ranks` ranks.
    pub fn global_batch(&self, ranks: usize) -> usize {
        self.train.batch_size * self.train.accumulate * ranks
    }

    /// The factor the linear scaling rule applies to the rates over `ranks` ranks (1 when
    /// `optim.lr_reference_batch` is 0).
    pub fn lr_scale(&self, ranks: usize) -> f32 {
        match self.optim.lr_reference_batch {
            0 => 1.0,
            reference => self.global_batch(ranks) as f32 / reference as f32,
        }
    }

    /// The learning-rate schedule over `ranks` ranks (the rates scaled by
    /// [`lr_scale`](Self::lr_scale)).
    pub fn schedule_for(&self, ranks: usize) -> Result<LrSchedule> {
        let o = &self.optim;
        let total = self.train.iterations;
        let scale = self.lr_scale(ranks);
        let (lr, min_lr) = (o.lr * scale, o.min_lr * scale);
        Ok(match o.schedule.as_str() {
            "fixed" => LrSchedule::Fixed { base: lr },
            "step" => LrSchedule::Step {
                base: lr,
                every: o.step_every,
                gamma: o.gamma,
            },
            "poly" => LrSchedule::Poly {
                base: lr,
                total,
                power: o.power,
            },
            "cosine" => LrSchedule::Cosine {
                base: lr,
                total,
                min: min_lr,
            },
            other => {
                return Err(TrainError::config(
                    "optim.schedule",
                    format!("{other:?}: expected fixed, step, poly or cosine"),
                ));
            }
        })
    }

    /// Checks every field; the first problem is returned, naming the field.
    pub fn validate(&self) -> Result<()> {
        self.arch()?;
        self.preprocess()?;
        self.schedule()?;
        let positive = |field, v: usize| {
            if v == 0 {
                Err(TrainError::config(field, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("model.width_divisor", self.model.width_divisor)?;
        positive("train.batch_size", self.train.batch_size)?;
        positive("train.accumulate", self.train.accumulate)?;
        positive("train.batch_split", self.train.batch_split)?;
        positive("train.workers", self.train.workers)?;
        if self.train.iterations == 0 {
            return Err(TrainError::config("train.iterations", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            return Err(TrainError::config("model.dropout", "must be in [0, 1)"));
        }
        if !(self.optim.lr > 0.0 && self.optim.lr.is_finite()) {
            return Err(TrainError::config(
                "optim.lr",
                format!("{} must be positive", self.optim.lr),
            ));
        }
        if !matches!(self.optim.optimizer.as_str(), "sgd" | "adam" | "lars") {
            return Err(TrainError::config(
                "optim.optimizer",
                format!("{:?}: expected sgd, adam or lars", self.optim.optimizer),
            ));
        }
        if !matches!(
            self.optim.class_weights.as_str(),
            "none" | "median-frequency"
        ) {
            return Err(TrainError::config(
                "optim.class_weights",
                format!(
                    "{:?}: expected none or median-frequency",
                    self.optim.class_weights
                ),
            ));
        }
        if !matches!(self.optim.loss.as_str(), "mean" | "sum") {
            return Err(TrainError::config(
                "optim.loss",
                format!("{:?}: expected mean or sum", self.optim.loss),
            ));
        }
        let [lo, hi] = self.augment.scale;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return Err(TrainError::config(
                "augment.scale",
                format!("[{lo}, {hi}] must satisfy 0 < min <= max"),
            ));
        }
        let d = &self.distributed;
        if !matches!(d.mode.as_str(), "sync" | "local-sgd") {
            return Err(TrainError::config(
                "distributed.mode",
                format!("{:?}: expected sync or local-sgd", d.mode),
            ));
        }
        positive("distributed.average_every", d.average_every as usize)?;
        positive("distributed.bucket_mib", d.bucket_mib)?;
        if self.data.train.is_empty() {
            return Err(TrainError::config("data.train", "no training set"));
        }
        if self.data.val.is_empty() {
            return Err(TrainError::config("data.val", "no validation set"));
        }
        self.train
            .device
            .parse::<fcn_core::Device>()
            .map_err(|e| TrainError::config("train.device", e.to_string()))?;
        Ok(())
    }
}
