//! Command-line overrides of a configuration: the one list of settings a flag can change,
//! shared by `fcn train` (applied over the file) and `fcn train --resume` (refused).

use fcn_core::{Arch, Device};
use fcn_data::registry::DataSpec;

use super::{OptimizerKind, ScheduleKind, TrainConfig};

/// Settings given on the command line; `None` (empty for the data sets) leaves the
/// configuration's value. With the `clap` feature these are `fcn train`'s flags.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ConfigOverrides {
    /// Training set(s): `synthetic` or FORMAT:ROOT[:SPLIT] (repeatable).
    #[cfg_attr(feature = "clap", arg(long = "data", value_name = "SPEC"))]
    pub data: Vec<DataSpec>,
    /// Validation set(s), same syntax (repeatable).
    #[cfg_attr(feature = "clap", arg(long = "val", value_name = "SPEC"))]
    pub val: Vec<DataSpec>,
    /// The network.
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub arch: Option<Arch>,
    /// Backbone width divisor (1 = VGG16).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub width_divisor: Option<usize>,
    /// Optimizer steps.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub iterations: Option<u64>,
    /// Images per micro-batch.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub batch_size: Option<usize>,
    /// Micro-batches per optimizer step.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub accumulate: Option<usize>,
    /// Split each micro-batch into N parts that run at once on their own threads (the same
    /// step, often faster for small networks).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub batch_split: Option<usize>,
    /// The optimizer (its parameters stay those of the file when it names the same one,
    /// else the optimizer's defaults).
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub optimizer: Option<OptimizerKind>,
    /// Base learning rate.
    #[cfg_attr(feature = "clap", arg(long))]
    pub lr: Option<f32>,
    /// The learning-rate decay (its parameters as for `--optimizer`).
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub schedule: Option<ScheduleKind>,
    /// Evaluate every N steps (0: only at the end).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub eval_every: Option<u64>,
    /// Seed of weights, order, augmentation and dropout.
    #[cfg_attr(feature = "clap", arg(long))]
    pub seed: Option<u64>,
    /// cpu or cuda:N.
    #[cfg_attr(feature = "clap", arg(long))]
    pub device: Option<Device>,
    /// Loader threads.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub workers: Option<usize>,
}

impl ConfigOverrides {
    /// Whether no setting is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Writes every given setting into `config`.
    pub fn apply(&self, config: &mut TrainConfig) {
        if !self.data.is_empty() {
            config.data.train.clone_from(&self.data);
        }
        if !self.val.is_empty() {
            config.data.val.clone_from(&self.val);
        }
        set(&mut config.model.arch, self.arch);
        set(&mut config.model.width_divisor, self.width_divisor);
        set(&mut config.train.iterations, self.iterations);
        set(&mut config.train.batch_size, self.batch_size);
        set(&mut config.train.accumulate, self.accumulate);
        set(&mut config.train.batch_split, self.batch_split);
        if let Some(kind) = self.optimizer {
            config.optim.optimizer = config.optim.optimizer.with_kind(kind);
        }
        set(&mut config.optim.lr, self.lr);
        if let Some(kind) = self.schedule {
            config.optim.decay = config.optim.decay.with_kind(kind);
        }
        set(&mut config.train.eval_every, self.eval_every);
        set(&mut config.train.seed, self.seed);
        set(&mut config.train.device, self.device);
        set(&mut config.train.workers, self.workers);
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}
