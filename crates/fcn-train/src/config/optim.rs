//! The `[optim]` table: optimizer, learning-rate schedule with its warm-up, loss.
//!
//! On disk the table stays flat (`optimizer = "sgd"`, `momentum = 0.9`, `schedule = "poly"`,
//! `power = 0.9`, ...), as configuration files have always been written; in memory each
//! choice is an enum that carries its own parameters, so code that reads the configuration
//! cannot pick up a parameter of a choice that was not made.

use fcn_core::LrSchedule;
use serde::{Deserialize, Serialize};

use super::choices::{ClassWeighting, LossReduction};

/// Which optimizer (the choice alone; [`Optimizer`] carries the parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with momentum (the FCN reference).
    Sgd,
    /// Adam (PyTorch's form, L2 weight decay).
    Adam,
    /// LARS: SGD with a layer-wise trust ratio, for large batches.
    Lars,
}

/// The optimizer and its own parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// SGD with momentum.
    Sgd {
        /// Momentum.
        momentum: f32,
    },
    /// Adam.
    Adam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Added to the denominator.
        eps: f32,
    },
    /// LARS (You et al. 2017).
    Lars {
        /// Momentum.
        momentum: f32,
        /// Trust coefficient.
        eta: f32,
    },
}

/// SGD's and LARS's default momentum.
const MOMENTUM: f32 = 0.9;
/// LARS's default trust coefficient.
const LARS_ETA: f32 = 0.001;
/// PyTorch's Adam defaults.
const ADAM_BETAS: [f32; 2] = [0.9, 0.999];
const ADAM_EPS: f32 = 1e-8;

impl Optimizer {
    /// The kind with its default parameters.
    pub fn default_for(kind: OptimizerKind) -> Self {
        match kind {
            OptimizerKind::Sgd => Optimizer::Sgd { momentum: MOMENTUM },
            OptimizerKind::Adam => Optimizer::Adam {
                beta1: ADAM_BETAS[0],
                beta2: ADAM_BETAS[1],
                eps: ADAM_EPS,
            },
            OptimizerKind::Lars => Optimizer::Lars {
                momentum: MOMENTUM,
                eta: LARS_ETA,
            },
        }
    }

    /// Which optimizer this is.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            Optimizer::Sgd { .. } => OptimizerKind::Sgd,
            Optimizer::Adam { .. } => OptimizerKind::Adam,
            Optimizer::Lars { .. } => OptimizerKind::Lars,
        }
    }

    /// This optimizer switched to `kind`: unchanged if it already is one, otherwise `kind`'s
    /// defaults, keeping the momentum when going between SGD and LARS.
    pub fn with_kind(self, kind: OptimizerKind) -> Self {
        if self.kind() == kind {
            return self;
        }
        match (self.momentum(), Optimizer::default_for(kind)) {
            (Some(momentum), Optimizer::Sgd { .. }) => Optimizer::Sgd { momentum },
            (Some(momentum), Optimizer::Lars { eta, .. }) => Optimizer::Lars { momentum, eta },
            (_, other) => other,
        }
    }

    /// The momentum, for the optimizers that have one.
    pub fn momentum(&self) -> Option<f32> {
        match *self {
            Optimizer::Sgd { momentum } | Optimizer::Lars { momentum, .. } => Some(momentum),
            Optimizer::Adam { .. } => None,
        }
    }
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::default_for(OptimizerKind::Adam)
    }
}

/// Which learning-rate decay (the choice alone; [`Decay`] carries the parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// The base rate throughout.
    Fixed,
    /// Multiplied by `gamma` every `step_every` steps.
    Step,
    /// `(1 - step / iterations) ^ power`.
    Poly,
    /// Cosine from the base rate down to `min_lr` at the last step.
    Cosine,
}

/// How the learning rate decays over `train.iterations` steps, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    /// The base rate throughout (the FCN reference).
    Fixed,
    /// `lr * gamma ^ floor(step / every)`.
    Step {
        /// Steps between decays.
        every: u64,
        /// Decay factor.
        gamma: f32,
    },
    /// `lr * (1 - step / iterations) ^ power`.
    Poly {
        /// Exponent (0.9 in torchvision's recipe, 2 with LARS).
        power: f32,
    },
    /// `min_lr + (lr - min_lr) (1 + cos(pi step / iterations)) / 2`.
    Cosine {
        /// The final rate (scaled with `lr` by the linear scaling rule).
        min_lr: f32,
    },
}

const STEP_EVERY: u64 = 1000;
const STEP_GAMMA: f32 = 0.1;
const POLY_POWER: f32 = 0.9;
const COSINE_MIN_LR: f32 = 1e-5;

impl Decay {
    /// The kind with its default parameters.
    pub fn default_for(kind: ScheduleKind) -> Self {
        match kind {
            ScheduleKind::Fixed => Decay::Fixed,
            ScheduleKind::Step => Decay::Step {
                every: STEP_EVERY,
                gamma: STEP_GAMMA,
            },
            ScheduleKind::Poly => Decay::Poly { power: POLY_POWER },
            ScheduleKind::Cosine => Decay::Cosine {
                min_lr: COSINE_MIN_LR,
            },
        }
    }

    /// Which decay this is.
    pub fn kind(&self) -> ScheduleKind {
        match self {
            Decay::Fixed => ScheduleKind::Fixed,
            Decay::Step { .. } => ScheduleKind::Step,
            Decay::Poly { .. } => ScheduleKind::Poly,
            Decay::Cosine { .. } => ScheduleKind::Cosine,
        }
    }

    /// This decay switched to `kind` (unchanged if it already is one, else `kind`'s defaults).
    pub fn with_kind(self, kind: ScheduleKind) -> Self {
        if self.kind() == kind {
            self
        } else {
            Decay::default_for(kind)
        }
    }
}

/// A linear warm-up from `start` to the schedule's rate over the first `steps` steps.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Warmup {
    /// Warm-up steps (0 = none).
    pub steps: u64,
    /// The rate at step 0 (scaled with `lr` by the linear scaling rule).
    pub start: f32,
}

/// The learning rate of every step: a decay from the base rate, after an optional warm-up.
/// Built by [`TrainConfig::schedule_for`](super::TrainConfig::schedule_for), which applies
/// the linear scaling rule to every rate in it (base, final and warm-up start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// The decay from the base rate.
    pub decay: LrSchedule,
    /// The warm-up before it.
    pub warmup: Warmup,
}

impl Schedule {
    /// The rate at `step` (0-based).
    pub fn at(&self, step: u64) -> f32 {
        self.decay
            .at_with_warmup(step, self.warmup.steps, self.warmup.start)
    }
}

/// Optimizer, schedule and loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "OptimTable", into = "OptimTable")]
pub struct OptimConfig {
    /// The optimizer and its parameters.
    pub optimizer: Optimizer,
    /// Base learning rate.
    pub lr: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// How the rate decays.
    pub decay: Decay,
    /// The warm-up before the decay.
    pub warmup: Warmup,
    /// How pixel losses are combined.
    pub loss: LossReduction,
    /// Per-class loss weights.
    pub class_weights: ClassWeighting,
    /// The linear scaling rule (Goyal et al. 2017): when positive, every rate (`lr`, the
    /// cosine's `min_lr`, the warm-up start) is the rate for a global batch of this many
    /// images, multiplied by `global batch / lr_reference_batch` (global batch = `batch_size
    /// x ranks x accumulate`); pair it with a warm-up. 0 = the rates as given.
    pub lr_reference_batch: usize,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::default(),
            lr: 1e-3,
            weight_decay: 0.0,
            decay: Decay::default_for(ScheduleKind::Cosine),
            warmup: Warmup::default(),
            loss: LossReduction::Mean,
            class_weights: ClassWeighting::None,
            lr_reference_batch: 0,
        }
    }
}

/// The `[optim]` table as written in files: flat keys, every one optional. A parameter of a
/// choice not made (`lars_eta` with `optimizer = "adam"`) is accepted, since every run
/// directory's `config.toml` written before the typed configuration holds all of them, and
/// is not used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct OptimTable {
    /// `sgd`, `adam` or `lars`.
    optimizer: OptimizerKind,
    /// Base learning rate.
    lr: f32,
    /// Momentum (SGD, LARS).
    #[serde(skip_serializing_if = "Option::is_none")]
    momentum: Option<f32>,
    /// Adam's `[beta1, beta2]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    adam_betas: Option<[f32; 2]>,
    /// Adam's epsilon.
    #[serde(skip_serializing_if = "Option::is_none")]
    adam_eps: Option<f32>,
    /// LARS trust coefficient.
    #[serde(skip_serializing_if = "Option::is_none")]
    lars_eta: Option<f32>,
    /// Weight decay.
    weight_decay: f32,
    /// `fixed`, `step`, `poly` or `cosine`.
    schedule: ScheduleKind,
    /// Final rate of the cosine schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    min_lr: Option<f32>,
    /// Poly exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    power: Option<f32>,
    /// Step schedule: steps between decays.
    #[serde(skip_serializing_if = "Option::is_none")]
    step_every: Option<u64>,
    /// Step schedule: decay factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    gamma: Option<f32>,
    /// Linear warm-up steps.
    warmup_steps: u64,
    /// Warm-up starting rate.
    warmup_start: f32,
    /// `mean` or `sum`.
    loss: LossReduction,
    /// `none` or `median-frequency`.
    class_weights: ClassWeighting,
    /// See [`OptimConfig::lr_reference_batch`].
    lr_reference_batch: usize,
}

impl Default for OptimTable {
    fn default() -> Self {
        OptimConfig::default().into()
    }
}

impl From<OptimConfig> for OptimTable {
    fn from(c: OptimConfig) -> Self {
        let mut table = OptimTable {
            optimizer: c.optimizer.kind(),
            lr: c.lr,
            momentum: None,
            adam_betas: None,
            adam_eps: None,
            lars_eta: None,
            weight_decay: c.weight_decay,
            schedule: c.decay.kind(),
            min_lr: None,
            power: None,
            step_every: None,
            gamma: None,
            warmup_steps: c.warmup.steps,
            warmup_start: c.warmup.start,
            loss: c.loss,
            class_weights: c.class_weights,
            lr_reference_batch: c.lr_reference_batch,
        };
        match c.optimizer {
            Optimizer::Sgd { momentum } => table.momentum = Some(momentum),
            Optimizer::Adam { beta1, beta2, eps } => {
                table.adam_betas = Some([beta1, beta2]);
                table.adam_eps = Some(eps);
            }
            Optimizer::Lars { momentum, eta } => {
                table.momentum = Some(momentum);
                table.lars_eta = Some(eta);
            }
        }
        match c.decay {
            Decay::Fixed => {}
            Decay::Step { every, gamma } => {
                table.step_every = Some(every);
                table.gamma = Some(gamma);
            }
            Decay::Poly { power } => table.power = Some(power),
            Decay::Cosine { min_lr } => table.min_lr = Some(min_lr),
        }
        table
    }
}

impl From<OptimTable> for OptimConfig {
    fn from(t: OptimTable) -> Self {
        let optimizer = match Optimizer::default_for(t.optimizer) {
            Optimizer::Sgd { momentum } => Optimizer::Sgd {
                momentum: t.momentum.unwrap_or(momentum),
            },
            Optimizer::Adam { beta1, beta2, eps } => {
                let [beta1, beta2] = t.adam_betas.unwrap_or([beta1, beta2]);
                Optimizer::Adam {
                    beta1,
                    beta2,
                    eps: t.adam_eps.unwrap_or(eps),
                }
            }
            Optimizer::Lars { momentum, eta } => Optimizer::Lars {
                momentum: t.momentum.unwrap_or(momentum),
                eta: t.lars_eta.unwrap_or(eta),
            },
        };
        let decay = match Decay::default_for(t.schedule) {
            Decay::Fixed => Decay::Fixed,
            Decay::Step { every, gamma } => Decay::Step {
                every: t.step_every.unwrap_or(every),
                gamma: t.gamma.unwrap_or(gamma),
            },
            Decay::Poly { power } => Decay::Poly {
                power: t.power.unwrap_or(power),
            },
            Decay::Cosine { min_lr } => Decay::Cosine {
                min_lr: t.min_lr.unwrap_or(min_lr),
            },
        };
        OptimConfig {
            optimizer,
            lr: t.lr,
            weight_decay: t.weight_decay,
            decay,
            warmup: Warmup {
                steps: t.warmup_steps,
                start: t.warmup_start,
            },
            loss: t.loss,
            class_weights: t.class_weights,
            lr_reference_batch: t.lr_reference_batch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_survives_the_flat_table() {
        let optimizers = [
            Optimizer::Sgd { momentum: 0.5 },
            Optimizer::Adam {
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-6,
            },
            Optimizer::Lars {
                momentum: 0.7,
                eta: 0.02,
            },
        ];
        let decays = [
            Decay::Fixed,
            Decay::Step {
                every: 7,
                gamma: 0.5,
            },
            Decay::Poly { power: 2.0 },
            Decay::Cosine { min_lr: 3e-4 },
        ];
        for optimizer in optimizers {
            for decay in decays {
                let config = OptimConfig {
                    optimizer,
                    decay,
                    ..OptimConfig::default()
                };
                let back = OptimConfig::from(OptimTable::from(config.clone()));
                assert_eq!(back, config);
            }
        }
    }

    #[test]
    fn switching_kind_keeps_the_momentum_between_sgd_and_lars() {
        let sgd = Optimizer::Sgd { momentum: 0.5 };
        assert_eq!(
            sgd.with_kind(OptimizerKind::Lars),
            Optimizer::Lars {
                momentum: 0.5,
                eta: LARS_ETA
            }
        );
        assert_eq!(sgd.with_kind(OptimizerKind::Sgd), sgd);
        assert_eq!(
            sgd.with_kind(OptimizerKind::Adam),
            Optimizer::default_for(OptimizerKind::Adam)
        );
    }
}

super::choices::display_as_name! {
    OptimizerKind { Sgd => "sgd", Adam => "adam", Lars => "lars" }
    ScheduleKind { Fixed => "fixed", Step => "step", Poly => "poly", Cosine => "cosine" }
}
