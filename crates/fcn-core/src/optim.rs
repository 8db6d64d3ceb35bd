//! Optimizers (SGD with momentum, LARS) and learning-rate schedules.
//!
//! Per-parameter learning-rate and decay multipliers come from each [`Param`] (the FCN
//! reference: weights lr x1 with decay, biases lr x2 without); frozen parameters are skipped.
//! Optimizer state is keyed by parameter name, so it survives rebuilding the model and is
//! saved in checkpoints with [`Optimizer::state`]. The updates themselves are fcn-tensor
//! operations (`ops::sgd_step`, `ops::lars_step`, `ops::adam_step`, `ops::sum_squares`), so they
//! run where the parameters live and a GPU step never copies weights through the host.

use std::collections::BTreeMap;

use fcn_tensor::{Device, Tensor, ops};

use crate::autograd::Gradients;
use crate::error::{CoreError, Result, invalid};
use crate::param::{Module, Param, ParamKind};

/// Updates parameters from their gradients.
pub trait Optimizer {
    /// One update with learning rate `lr` (from a schedule).
    fn step(&mut self, module: &mut dyn Module, grads: &Gradients, lr: f32) -> Result<()>;

    /// The state (momentum buffers) by parameter name, for checkpoints.
    fn state(&self) -> BTreeMap<String, Tensor>;

    /// Restores state saved by [`state`](Self::state).
    fn load_state(&mut self, state: BTreeMap<String, Tensor>) -> Result<()>;
}

fn check_shapes(p: &Param, g: &Tensor) -> Result<()> {
    if g.shape() != p.value.shape() {
        return Err(CoreError::OptimizerState(format!(
            "gradient of {} has shape {:?}, the parameter {:?}",
            p.name,
            g.shape(),
            p.value.shape()
        )));
    }
    Ok(())
}

fn load_buffers(
    buffers: &mut BTreeMap<String, Tensor>,
    state: BTreeMap<String, Tensor>,
) -> Result<()> {
    for (name, t) in &state {
        if t.is_empty() {
            return Err(CoreError::OptimizerState(format!(
                "empty buffer for {name}"
            )));
        }
    }
    *buffers = state;
    Ok(())
}

/// Stochastic gradient descent with momentum and weight decay, in PyTorch's form:
/// `buf = momentum * buf + (g + wd * w)`, `w -= lr * buf` (per parameter, `lr` and `wd`
/// times its multipliers). With a fixed rate this equals Caffe's form.
#[derive(Debug, Clone)]
pub struct Sgd {
    /// Momentum (0.99 in the FCN reference).
    pub momentum: f32,
    /// Weight decay (5e-4 in the FCN reference).
    pub weight_decay: f32,
    buffers: BTreeMap<String, Tensor>,
}

impl Sgd {
    /// SGD with the given momentum and weight decay.
    pub fn new(momentum: f32, weight_decay: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&momentum) || weight_decay < 0.0 || !weight_decay.is_finite() {
            return Err(invalid(
                "SGD",
                format!("momentum {momentum} must be in [0, 1), weight decay {weight_decay} >= 0"),
            ));
        }
        Ok(Self {
            momentum,
            weight_decay,
            buffers: BTreeMap::new(),
        })
    }

    /// The FCN reference: momentum 0.99, weight decay 5e-4.
    pub fn fcn_reference() -> Self {
        Self {
            momentum: 0.99,
            weight_decay: 5e-4,
            buffers: BTreeMap::new(),
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, module: &mut dyn Module, grads: &Gradients, lr: f32) -> Result<()> {
        let mut result = Ok(());
        module.visit_params_mut(&mut |p| {
            if result.is_err() || !p.trainable {
                return;
            }
            let Some(g) = grads.get(p) else { return };
            result = (|| {
                check_shapes(p, g)?;
                let buf = self
                    .buffers
                    .entry(p.name.clone())
                    .or_insert_with(|| zeros_like(&p.value));
                follow(buf, p.value.device())?;
                let step = ops::MomentumStep {
                    momentum: self.momentum,
                    weight_decay: self.weight_decay * p.decay_mult,
                    rate: lr * p.lr_mult,
                };
                Ok(ops::sgd_step(&mut p.value, buf, g, &step)?)
            })();
        });
        result
    }

    fn state(&self) -> BTreeMap<String, Tensor> {
        self.buffers.clone()
    }

    fn load_state(&mut self, state: BTreeMap<String, Tensor>) -> Result<()> {
        load_buffers(&mut self.buffers, state)
    }
}

/// Moves optimizer state restored from a checkpoint (host tensors) to its parameter's device.
fn follow(state: &mut Tensor, device: Device) -> Result<()> {
    if state.device() != device {
        *state = state.to_device(device)?;
    }
    Ok(())
}

fn zeros_like(t: &Tensor) -> Tensor {
    let z = Tensor::zeros(t.shape());
    // A zero buffer on the parameter's device; the CPU one if the copy fails (it cannot for a
    // device the parameter already lives on).
    z.to_device(t.device())
        .unwrap_or_else(|_| Tensor::zeros(t.shape()))
}

/// Layer-wise Adaptive Rate Scaling (You, Gitman, Ginsburg 2017; FCN_REFERENCE.md section 6):
/// per weight tensor, `local = eta ||w|| / (||g|| + beta ||w||)` (1 when either norm is 0),
/// `v = m v + lr local (g + beta w)`, `w -= v`. Biases are excluded from the trust ratio.
#[derive(Debug, Clone)]
pub struct Lars {
    /// Momentum.
    pub momentum: f32,
    /// Weight decay (beta).
    pub weight_decay: f32,
    /// Trust coefficient (about 0.001).
    pub eta: f32,
    buffers: BTreeMap<String, Tensor>,
}

impl Lars {
    /// LARS with the given momentum, weight decay and trust coefficient.
    pub fn new(momentum: f32, weight_decay: f32, eta: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&momentum) || weight_decay < 0.0 || eta <= 0.0 {
            return Err(invalid(
                "LARS",
                format!(
                    "momentum {momentum} must be in [0, 1), weight decay {weight_decay} >= 0, eta {eta} > 0"
                ),
            ));
        }
        Ok(Self {
            momentum,
            weight_decay,
            eta,
            buffers: BTreeMap::new(),
        })
    }

    /// The trust ratio of one parameter.
    pub fn local_rate(&self, p: &Param, g: &Tensor) -> Result<f32> {
        if p.kind == ParamKind::Bias {
            return Ok(1.0);
        }
        let beta = f64::from(self.weight_decay * p.decay_mult);
        let w_norm = ops::sum_squares(&p.value)?.sqrt();
        let g_norm = ops::sum_squares(g)?.sqrt();
        if w_norm == 0.0 || g_norm == 0.0 {
            return Ok(1.0);
        }
        Ok((f64::from(self.eta) * w_norm / (g_norm + beta * w_norm)) as f32)
    }
}

impl Optimizer for Lars {
    fn step(&mut self, module: &mut dyn Module, grads: &Gradients, lr: f32) -> Result<()> {
        let mut result = Ok(());
        module.visit_params_mut(&mut |p| {
            if result.is_err() || !p.trainable {
                return;
            }
            let Some(g) = grads.get(p) else { return };
            result = (|| {
                check_shapes(p, g)?;
                let local = self.local_rate(p, g)?;
                let buf = self
                    .buffers
                    .entry(p.name.clone())
                    .or_insert_with(|| zeros_like(&p.value));
                follow(buf, p.value.device())?;
                // v = m v + lr local (g + beta w) is the SGD update with the rate folded into
                // the buffer; keep the buffer in "velocity" units as the paper writes it.
                let step = ops::MomentumStep {
                    momentum: self.momentum,
                    weight_decay: self.weight_decay * p.decay_mult,
                    rate: lr * p.lr_mult * local,
                };
                Ok(ops::lars_step(&mut p.value, buf, g, &step)?)
            })();
        });
        result
    }

    fn state(&self) -> BTreeMap<String, Tensor> {
        self.buffers.clone()
    }

    fn load_state(&mut self, state: BTreeMap<String, Tensor>) -> Result<()> {
        load_buffers(&mut self.buffers, state)
    }
}

/// Adam (Kingma and Ba 2015) in PyTorch's form, with L2 weight decay added to the gradient
/// (`torch.optim.Adam`'s `weight_decay`), per-parameter lr and decay multipliers:
/// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
/// `w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
/// Not part of the FCN reference; it trains narrow FCNs from scratch much faster than SGD.
#[derive(Debug, Clone)]
pub struct Adam {
    /// First-moment decay (0.9).
    pub beta1: f32,
    /// Second-moment decay (0.999).
    pub beta2: f32,
    /// Added to the denominator (1e-8).
    pub eps: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    step: u64,
    first: BTreeMap<String, Tensor>,
    second: BTreeMap<String, Tensor>,
}

impl Adam {
    /// Adam with PyTorch's defaults (0.9, 0.999, 1e-8) and the given weight decay.
    pub fn new(weight_decay: f32) -> Result<Self> {
        if weight_decay < 0.0 || !weight_decay.is_finite() {
            return Err(invalid(
                "Adam",
                format!("weight decay {weight_decay} must be >= 0"),
            ));
        }
        Ok(Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            first: BTreeMap::new(),
            second: BTreeMap::new(),
        })
    }

    /// Steps taken (bias correction depends on it).
    pub fn steps(&self) -> u64 {
        self.step
    }
}

const ADAM_STEP: &str = "adam.step";

impl Optimizer for Adam {
    fn step(&mut self, module: &mut dyn Module, grads: &Gradients, lr: f32) -> Result<()> {
        self.step += 1;
        let t = self.step.min(i32::MAX as u64) as i32;
        let c1 = 1.0 - f64::from(self.beta1).powi(t);
        let c2 = 1.0 - f64::from(self.beta2).powi(t);
        let mut result = Ok(());
        module.visit_params_mut(&mut |p| {
            if result.is_err() || !p.trainable {
                return;
            }
            let Some(g) = grads.get(p) else { return };
            result = (|| {
                check_shapes(p, g)?;
                let device = p.value.device();
                let m = self
                    .first
                    .entry(p.name.clone())
                    .or_insert_with(|| zeros_like(&p.value));
                let v = self
                    .second
                    .entry(p.name.clone())
                    .or_insert_with(|| zeros_like(&p.value));
                follow(m, device)?;
                follow(v, device)?;
                let step = ops::AdamStep {
                    beta1: self.beta1,
                    beta2: self.beta2,
                    eps: self.eps,
                    weight_decay: self.weight_decay * p.decay_mult,
                    rate: f64::from(lr * p.lr_mult),
                    bias_correction1: c1,
                    bias_correction2: c2,
                };
                Ok(ops::adam_step(&mut p.value, m, v, g, &step)?)
            })();
        });
        result
    }

    fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (name, t) in &self.first {
            out.insert(format!("m.{name}"), t.clone());
        }
        for (name, t) in &self.second {
            out.insert(format!("v.{name}"), t.clone());
        }
        // The step count as a tensor, so the state is one map of tensors. f32 holds step
        // counts exactly up to 2^24; beyond that bias correction is 1 to f32 precision anyway.
        out.insert(ADAM_STEP.to_owned(), Tensor::full(&[1], self.step as f32));
        out
    }

    fn load_state(&mut self, state: BTreeMap<String, Tensor>) -> Result<()> {
        let mut first = BTreeMap::new();
        let mut second = BTreeMap::new();
        let mut step = None;
        for (name, t) in state {
            if name == ADAM_STEP {
                step = t.to_vec()?.first().map(|&s| s as u64);
            } else if let Some(n) = name.strip_prefix("m.") {
                first.insert(n.to_owned(), t.to_device(Device::Cpu)?);
            } else if let Some(n) = name.strip_prefix("v.") {
                second.insert(n.to_owned(), t.to_device(Device::Cpu)?);
            } else {
                return Err(CoreError::OptimizerState(format!(
                    "unexpected entry {name} in Adam state"
                )));
            }
        }
        self.step =
            step.ok_or_else(|| CoreError::OptimizerState("Adam state has no step".into()))?;
        self.first = first;
        self.second = second;
        Ok(())
    }
}

/// A learning rate as a function of the step (0-based).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LrSchedule {
    /// The base rate throughout (the FCN reference).
    Fixed {
        /// The rate.
        base: f32,
    },
    /// `base * gamma ^ floor(step / every)`.
    Step {
        /// The starting rate.
        base: f32,
        /// Steps between decays.
        every: u64,
        /// Decay factor.
        gamma: f32,
    },
    /// `base * (1 - step / total) ^ power` (0 from `total` on): power 0.9 in torchvision's
    /// recipe, 2 in LARS.
    Poly {
        /// The starting rate.
        base: f32,
        /// Steps to zero.
        total: u64,
        /// Exponent.
        power: f32,
    },
    /// `min + (base - min) (1 + cos(pi step / total)) / 2`.
    Cosine {
        /// The starting rate.
        base: f32,
        /// Steps to the minimum.
        total: u64,
        /// The final rate.
        min: f32,
    },
}

impl LrSchedule {
    /// The rate at `step`.
    pub fn at(&self, step: u64) -> f32 {
        match *self {
            LrSchedule::Fixed { base } => base,
            LrSchedule::Step { base, every, gamma } => {
                let decays = step / every.max(1);
                base * gamma.powi(decays.min(i32::MAX as u64) as i32)
            }
            LrSchedule::Poly { base, total, power } => {
                if step >= total {
                    0.0
                } else {
                    let left = 1.0 - step as f64 / total as f64;
                    (f64::from(base) * left.powf(f64::from(power))) as f32
                }
            }
            LrSchedule::Cosine { base, total, min } => {
                let t = (step.min(total) as f64) / (total.max(1) as f64);
                let c = (1.0 + (std::f64::consts::PI * t).cos()) / 2.0;
                (f64::from(min) + f64::from(base - min) * c) as f32
            }
        }
    }

    /// The rate at `step` with a linear warm-up from `start` over the first `warmup` steps:
    /// `(t * base_t + (W - t) * start) / W` (FCN_REFERENCE.md section 6).
    pub fn at_with_warmup(&self, step: u64, warmup: u64, start: f32) -> f32 {
        let rate = self.at(step);
        if step >= warmup || warmup == 0 {
            return rate;
        }
        let (t, w) = (step as f64, warmup as f64);
        ((t * f64::from(rate) + (w - t) * f64::from(start)) / w) as f32
    }
}
