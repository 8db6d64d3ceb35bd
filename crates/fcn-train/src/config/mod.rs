//! The training configuration: a TOML file, every field optional, defaults = the main job.

use std::path::Path;

use fcn_core::{Arch, Device, LrSchedule, Preprocess};
use fcn_data::registry::DataSpec;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

mod choices;
mod optim;
mod overrides;

pub use choices::{ClassWeighting, DistributedMode, LossReduction};
pub use optim::{Decay, OptimConfig, Optimizer, OptimizerKind, Schedule, ScheduleKind, Warmup};
pub use overrides::ConfigOverrides;

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
    /// How ranks combine their work.
    pub mode: DistributedMode,
    /// Local SGD: steps between model averages.
    pub average_every: u64,
    /// Gradients are all-reduced in buckets of this many MiB (PyTorch DDP's default is 25).
    pub bucket_mib: usize,
}

impl Default for DistributedConfig {
    fn default() -> Self {
        Self {
            mode: DistributedMode::Sync,
            average_every: 8,
            bucket_mib: 25,
        }
    }
}

/// The network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The network.
    pub arch: Arch,
    /// Backbone channels divided by this (1 = VGG16).
    pub width_divisor: usize,
    /// Dropout after fc6 and fc7.
    pub dropout: f32,
    /// Train the bilinear upsampling layers (frozen in the reference).
    pub learnable_upsampling: bool,
    /// Input normalisation.
    pub preprocess: Preprocess,
    /// Start from these weights (safetensors: an FCN of the same shape, or a coarser FCN for
    /// staged training, copied by name).
    pub init: Option<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            arch: Arch::Fcn8s,
            width_divisor: 8,
            dropout: 0.0,
            learnable_upsampling: false,
            // Unit-scale input trains from scratch at least as well as Caffe's 0..255 scale
            // (measured: docs/benchmarks.md); Caffe's is for the reference weights.
            preprocess: Preprocess::ImageNet,
            init: None,
        }
    }
}

/// The data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Training sets: `synthetic`, or `FORMAT:ROOT[:SPLIT]`.
    pub train: Vec<DataSpec>,
    /// Validation sets, same syntax.
    pub val: Vec<DataSpec>,
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
            train: vec![DataSpec::synthetic()],
            val: vec![DataSpec::synthetic()],
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
    #[serde(with = "choices::device_text")]
    pub device: Device,
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
            device: Device::Cpu,
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
        let file_error = |field: String, source: toml::de::Error| TrainError::ConfigFile {
            path: path.to_owned(),
            line: source.span().map(|span| line_of(text, span.start)),
            field,
            source: Box::new(source),
        };
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| file_error(String::new(), e))?;
        let config: Self = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            file_error(
                if field == "." { String::new() } else { field },
                e.into_inner(),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML (written to the run directory).
    pub fn to_toml(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The learning-rate schedule of a single process.
    pub fn schedule(&self) -> Schedule {
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

    /// The learning-rate schedule over `ranks` ranks: every rate (base, final, warm-up
    /// start) scaled by [`lr_scale`](Self::lr_scale).
    pub fn schedule_for(&self, ranks: usize) -> Schedule {
        let o = &self.optim;
        let total = self.train.iterations;
        let scale = self.lr_scale(ranks);
        let base = o.lr * scale;
        let decay = match o.decay {
            Decay::Fixed => LrSchedule::Fixed { base },
            Decay::Step { every, gamma } => LrSchedule::Step { base, every, gamma },
            Decay::Poly { power } => LrSchedule::Poly { base, total, power },
            Decay::Cosine { min_lr } => LrSchedule::Cosine {
                base,
                total,
                min: min_lr * scale,
            },
        };
        Schedule {
            decay,
            warmup: Warmup {
                steps: o.warmup.steps,
                start: o.warmup.start * scale,
            },
        }
    }

    /// Checks every field; the first problem is returned, naming the field.
    pub fn validate(&self) -> Result<()> {
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
        let o = &self.optim;
        let rate = |field, v: f32| {
            if v >= 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(TrainError::config(field, format!("{v} must be >= 0")))
            }
        };
        if !(o.lr > 0.0 && o.lr.is_finite()) {
            return Err(TrainError::config(
                "optim.lr",
                format!("{} must be positive", o.lr),
            ));
        }
        rate("optim.weight_decay", o.weight_decay)?;
        rate("optim.warmup_start", o.warmup.start)?;
        let unit = |field, v: f32| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(TrainError::config(field, format!("{v} must be in [0, 1)")))
            }
        };
        match o.optimizer {
            Optimizer::Sgd { momentum } => unit("optim.momentum", momentum)?,
            Optimizer::Lars { momentum, eta } => {
                unit("optim.momentum", momentum)?;
                if !(eta > 0.0 && eta.is_finite()) {
                    return Err(TrainError::config(
                        "optim.lars_eta",
                        format!("{eta} must be positive"),
                    ));
                }
            }
            Optimizer::Adam { beta1, beta2, eps } => {
                unit("optim.adam_betas", beta1)?;
                unit("optim.adam_betas", beta2)?;
                if !(eps > 0.0 && eps.is_finite()) {
                    return Err(TrainError::config(
                        "optim.adam_eps",
                        format!("{eps} must be positive"),
                    ));
                }
            }
        }
        match o.decay {
            Decay::Fixed => {}
            Decay::Step { every, gamma } => {
                positive("optim.step_every", every as usize)?;
                rate("optim.gamma", gamma)?;
            }
            Decay::Poly { power } => rate("optim.power", power)?,
            Decay::Cosine { min_lr } => rate("optim.min_lr", min_lr)?,
        }
        let [lo, hi] = self.augment.scale;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return Err(TrainError::config(
                "augment.scale",
                format!("[{lo}, {hi}] must satisfy 0 < min <= max"),
            ));
        }
        let d = &self.distributed;
        positive("distributed.average_every", d.average_every as usize)?;
        positive("distributed.bucket_mib", d.bucket_mib)?;
        if self.data.train.is_empty() {
            return Err(TrainError::config("data.train", "no training set"));
        }
        if self.data.val.is_empty() {
            return Err(TrainError::config("data.val", "no validation set"));
        }
        Ok(())
    }
}

/// The line (from 1) holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}
