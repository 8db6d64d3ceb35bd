//! Optimizer updates as device operations: the weight and its state are updated where they
//! live, so a GPU training step never copies weights or gradients through the host. On the CPU
//! the values are updated in place (no second copy of the model) with the operation order and
//! precision of `cpu::optim`.

use super::check::{common_device, same_shape};
use crate::{Device, Result, Tensor, cpu, cuda};

/// The coefficients of one momentum step ([`sgd_step`], [`lars_step`]) of one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MomentumStep {
    /// Momentum of the buffer.
    pub momentum: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
    /// The step's learning rate (LARS: times the trust ratio).
    pub rate: f32,
}

impl MomentumStep {
    fn coefficients(&self) -> [f32; 3] {
        [self.momentum, self.weight_decay, self.rate]
    }
}

/// The coefficients of one Adam step ([`adam_step`]) of one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
    /// The learning rate.
    pub rate: f64,
    /// `1 - beta1^t` at step `t`.
    pub bias_correction1: f64,
    /// `1 - beta2^t` at step `t`.
    pub bias_correction2: f64,
}

/// Checks that `state` and `grad` are on the weight's device with its shape.
fn check(op: &'static str, weight: &Tensor, state: &[&Tensor], grad: &Tensor) -> Result<Device> {
    let operands: Vec<&Tensor> = [weight]
        .into_iter()
        .chain(state.iter().copied())
        .chain([grad])
        .collect();
    let device = common_device(op, &operands)?;
    for t in &operands[1..] {
        same_shape(op, weight, t)?;
    }
    Ok(device)
}

/// Runs `update` on the host values of `tensors` (CPU tensors, checked), in place when each
/// holds the only reference to its values.
fn update_in_place<const N: usize>(
    tensors: [&mut Tensor; N],
    update: impl FnOnce(&mut [Vec<f32>; N]),
) -> Result<()> {
    let shape = tensors[0].shape().to_vec();
    let mut tensors = tensors;
    let mut values: [Vec<f32>; N] =
        std::array::from_fn(|i| tensors[i].take_host_values().unwrap_or_default());
    update(&mut values);
    for (t, v) in tensors.iter_mut().zip(values) {
        **t = Tensor::from_vec(v, &shape)?;
    }
    Ok(())
}

/// One step of SGD with momentum in PyTorch's form:
/// `buffer = momentum * buffer + (grad + weight_decay * weight)`, `weight -= rate * buffer`.
pub fn sgd_step(
    weight: &mut Tensor,
    buffer: &mut Tensor,
    grad: &Tensor,
    step: &MomentumStep,
) -> Result<()> {
    let op = "sgd_step";
    match check(op, weight, &[buffer], grad)? {
        Device::Cpu => update_in_place([weight, buffer], |[w, b]| {
            cpu::optim::sgd_step(
                w,
                b,
                grad.data(),
                step.momentum,
                step.weight_decay,
                step.rate,
            );
        }),
        Device::Cuda(_) => {
            let (w, b) = cuda::sgd_step(
                weight.cuda_storage(op)?,
                buffer.cuda_storage(op)?,
                grad.cuda_storage(op)?,
                step.coefficients(),
            )?;
            *weight = Tensor::from_cuda(w, weight.shape());
            *buffer = Tensor::from_cuda(b, buffer.shape());
            Ok(())
        }
    }
}

/// One LARS momentum step with the rate folded into the velocity, as the paper writes it:
/// `velocity = momentum * velocity + rate * (grad + weight_decay * weight)`,
/// `weight -= velocity`.
pub fn lars_step(
    weight: &mut Tensor,
    velocity: &mut Tensor,
    grad: &Tensor,
    step: &MomentumStep,
) -> Result<()> {
    let op = "lars_step";
    match check(op, weight, &[velocity], grad)? {
        Device::Cpu => update_in_place([weight, velocity], |[w, v]| {
            cpu::optim::lars_step(
                w,
                v,
                grad.data(),
                step.momentum,
                step.weight_decay,
                step.rate,
            );
        }),
        Device::Cuda(_) => {
            let (w, v) = cuda::lars_step(
                weight.cuda_storage(op)?,
                velocity.cuda_storage(op)?,
                grad.cuda_storage(op)?,
                step.coefficients(),
            )?;
            *weight = Tensor::from_cuda(w, weight.shape());
            *velocity = Tensor::from_cuda(v, velocity.shape());
            Ok(())
        }
    }
}

/// One Adam step in PyTorch's form with L2 weight decay added to the gradient:
/// `g = grad + weight_decay * weight`, `first = beta1 first + (1 - beta1) g`,
/// `second = beta2 second + (1 - beta2) g^2`,
/// `weight -= rate (first / c1) / (sqrt(second / c2) + eps)` (the step in f64).
pub fn adam_step(
    weight: &mut Tensor,
    first: &mut Tensor,
    second: &mut Tensor,
    grad: &Tensor,
    step: &AdamStep,
) -> Result<()> {
    let op = "adam_step";
    match check(op, weight, &[first, second], grad)? {
        Device::Cpu => {
            let coefficients = cpu::optim::Adam {
                beta1: step.beta1,
                beta2: step.beta2,
                eps: step.eps,
                decay: step.weight_decay,
                rate: step.rate,
                c1: step.bias_correction1,
                c2: step.bias_correction2,
            };
            update_in_place([weight, first, second], |[w, m, v]| {
                cpu::optim::adam_step(w, m, v, grad.data(), &coefficients);
            })
        }
        Device::Cuda(_) => {
            let (w, m, v) = cuda::adam_step(
                [
                    weight.cuda_storage(op)?,
                    first.cuda_storage(op)?,
                    second.cuda_storage(op)?,
                    grad.cuda_storage(op)?,
                ],
                [step.beta1, step.beta2, step.eps, step.weight_decay],
                [step.rate, step.bias_correction1, step.bias_correction2],
            )?;
            *weight = Tensor::from_cuda(w, weight.shape());
            *first = Tensor::from_cuda(m, first.shape());
            *second = Tensor::from_cuda(v, second.shape());
            Ok(())
        }
    }
}

/// The sum of the squares of the values, in f64 (LARS's norms). On the CPU in order; on a GPU
/// by fixed-shape block trees (deterministic), only the block partials coming back.
pub fn sum_squares(x: &Tensor) -> Result<f64> {
    match x.device() {
        Device::Cpu => Ok(cpu::optim::sum_squares(x.data())),
        Device::Cuda(_) => cuda::sum_squares(x.cuda_storage("sum_squares")?),
    }
}
