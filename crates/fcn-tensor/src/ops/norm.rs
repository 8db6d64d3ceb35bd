//! Batch normalisation over the channels of NCHW tensors (with the fused residual add and ReLU
//! of residual networks), and global average pooling.

use super::check::{common_device, same_shape};
use crate::{Device, Result, Tensor, TensorError, cpu, cuda};

/// Which statistics batch normalisation normalises with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistics {
    /// The batch's own mean and biased variance per channel (training); the running statistics,
    /// when given, are updated with the unbiased variance, as PyTorch does.
    Batch,
    /// The running statistics (evaluation); they are left as they are.
    Running,
}

/// The constants of a batch normalisation (PyTorch's `BatchNorm2d` defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNorm {
    /// Added to the variance before its square root.
    pub eps: f32,
    /// Weight of the batch in the running statistics' update:
    /// `running = (1 - momentum) running + momentum batch`.
    pub momentum: f32,
}

impl Default for BatchNorm {
    fn default() -> Self {
        Self {
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}

/// The result of [`batch_norm2d`]: the output, the per-channel statistics it normalised with
/// (kept for the backward pass) and the updated running statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormOutput {
    /// The normalised tensor (N, C, H, W), after the residual add and ReLU of
    /// [`batch_norm2d_relu`].
    pub output: Tensor,
    /// The mean per channel (C) that was subtracted: the batch's or the running one.
    pub mean: Tensor,
    /// `1 / sqrt(var + eps)` per channel (C), of the batch's biased variance or the running one.
    pub invstd: Tensor,
    /// The running mean after this pass: updated with [`Statistics::Batch`], the one given with
    /// [`Statistics::Running`]; `None` when no running statistics were given.
    pub running_mean: Option<Tensor>,
    /// The running variance after this pass, as [`running_mean`](Self::running_mean).
    pub running_var: Option<Tensor>,
    /// Which statistics normalised (the backward pass differentiates through batch statistics).
    pub statistics: Statistics,
}

/// The gradients of [`batch_norm2d`].
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormGrads {
    /// With respect to the input.
    pub input: Tensor,
    /// With respect to the affine weight (C): `sum(g * xhat)` per channel.
    pub weight: Tensor,
    /// With respect to the affine bias (C): `sum(g)` per channel.
    pub bias: Tensor,
}

/// Batch normalisation of `x` (N, C, H, W) per channel, then `weight * xhat + bias` (each
/// optional: 1 and 0 without). `running` is `(running_mean, running_var)`, required with
/// [`Statistics::Running`]; with [`Statistics::Batch`] the output carries their update
/// (PyTorch's `F.batch_norm(x, rm, rv, weight, bias, training, momentum, eps)`).
pub fn batch_norm2d(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    running: Option<(&Tensor, &Tensor)>,
    statistics: Statistics,
    p: &BatchNorm,
) -> Result<BatchNormOutput> {
    batch_norm(
        "batch_norm2d",
        x,
        [weight, bias],
        running,
        statistics,
        p,
        None,
        false,
    )
}

/// [`batch_norm2d`] followed by `+ residual` (when given, shaped like `x`) and a ReLU, in one
/// pass over memory: `relu(bn(x) + residual)`, a residual block's tail. The backward pass is
/// [`relu_backward`](super::relu_backward) from the output, then [`batch_norm2d_backward`] (the
/// residual's gradient is the ReLU's).
pub fn batch_norm2d_relu(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    running: Option<(&Tensor, &Tensor)>,
    statistics: Statistics,
    p: &BatchNorm,
    residual: Option<&Tensor>,
) -> Result<BatchNormOutput> {
    batch_norm(
        "batch_norm2d_relu",
        x,
        [weight, bias],
        running,
        statistics,
        p,
        residual,
        true,
    )
}

/// `value` or, without it, `C` copies of `fill` on `device`.
fn per_channel(value: Option<&Tensor>, c: usize, fill: f32, device: Device) -> Result<Tensor> {
    match value {
        Some(v) => Ok(v.clone()),
        None => Tensor::full(&[c], fill).to_device(device),
    }
}

/// Checks that each of `named` is a vector of `c` values on `device`.
fn check_channels(
    op: &'static str,
    x: &Tensor,
    c: usize,
    named: &[(&'static str, Option<&Tensor>)],
) -> Result<()> {
    for &(operand, t) in named {
        let Some(t) = t else { continue };
        common_device(op, &[x, t])?;
        if t.shape() != [c] {
            return Err(TensorError::ShapeMismatch {
                op,
                reason: format!("{operand} must have one value per channel ({c})"),
                shapes: vec![x.shape().to_vec(), t.shape().to_vec()],
            });
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn batch_norm(
    op: &'static str,
    x: &Tensor,
    [weight, bias]: [Option<&Tensor>; 2],
    running: Option<(&Tensor, &Tensor)>,
    statistics: Statistics,
    p: &BatchNorm,
    residual: Option<&Tensor>,
    relu: bool,
) -> Result<BatchNormOutput> {
    let device = common_device(op, &[x])?;
    let [n, c, h, w] = x.dims4(op, "input")?;
    let dims = [n, c, h * w];
    check_channels(
        op,
        x,
        c,
        &[
            ("weight", weight),
            ("bias", bias),
            ("running_mean", running.map(|r| r.0)),
            ("running_var", running.map(|r| r.1)),
        ],
    )?;
    if let Some(r) = residual {
        common_device(op, &[x, r])?;
        same_shape(op, x, r)?;
    }
    if !(p.eps >= 0.0 && p.eps.is_finite() && (0.0..=1.0).contains(&p.momentum)) {
        return Err(TensorError::InvalidParameter {
            op,
            reason: format!(
                "eps {} must be finite and not negative, momentum {} in [0, 1]",
                p.eps, p.momentum
            ),
        });
    }
    let count = n * h * w;
    if statistics == Statistics::Batch && count < 2 && c > 0 {
        return Err(TensorError::InvalidParameter {
            op,
            reason: format!(
                "batch statistics need more than 1 value per channel, got input shape {:?}",
                x.shape()
            ),
        });
    }
    let (weight, bias) = (
        per_channel(weight, c, 1.0, device)?,
        per_channel(bias, c, 0.0, device)?,
    );
    let shape = x.shape();
    match device {
        Device::Cpu => {
            let (mean, invstd, updated) = match (statistics, running) {
                (Statistics::Running, None) => {
                    return Err(TensorError::InvalidParameter {
                        op,
                        reason: "running statistics are required to normalise with them".to_owned(),
                    });
                }
                (Statistics::Running, Some((rm, rv))) => {
                    let invstd: Vec<f32> = rv
                        .data()
                        .iter()
                        .map(|&v| (1.0 / (f64::from(v) + f64::from(p.eps)).sqrt()) as f32)
                        .collect();
                    (rm.data().to_vec(), invstd, Some((rm.clone(), rv.clone())))
                }
                (Statistics::Batch, running) => {
                    let stats = cpu::norm::channel_statistics(x.data(), dims);
                    let mean: Vec<f32> = stats.iter().map(|&(m, _)| m as f32).collect();
                    let invstd: Vec<f32> = stats
                        .iter()
                        .map(|&(_, v)| (1.0 / (v + f64::from(p.eps)).sqrt()) as f32)
                        .collect();
                    let updated = match running {
                        Some((rm, rv)) => {
                            let m = f64::from(p.momentum);
                            let unbiased = count as f64 / (count - 1) as f64;
                            let blend = |old: &[f32], new: &dyn Fn(usize) -> f64| {
                                old.iter()
                                    .enumerate()
                                    .map(|(ch, &o)| (m * new(ch) + (1.0 - m) * f64::from(o)) as f32)
                                    .collect::<Vec<_>>()
                            };
                            let rm = blend(rm.data(), &|ch| stats[ch].0);
                            let rv = blend(rv.data(), &|ch| stats[ch].1 * unbiased);
                            Some((Tensor::from_vec(rm, &[c])?, Tensor::from_vec(rv, &[c])?))
                        }
                        None => None,
                    };
                    (mean, invstd, updated)
                }
            };
            let (alpha, beta): (Vec<f32>, Vec<f32>) = (0..c)
                .map(|ch| {
                    let alpha = invstd[ch] * weight.data()[ch];
                    (alpha, bias.data()[ch] - mean[ch] * alpha)
                })
                .unzip();
            let y = cpu::norm::scale_shift(
                x.data(),
                &alpha,
                &beta,
                residual.map(Tensor::data),
                relu,
                dims,
            );
            let (running_mean, running_var) = updated.unzip();
            Ok(BatchNormOutput {
                output: Tensor::from_vec(y, shape)?,
                mean: Tensor::from_vec(mean, &[c])?,
                invstd: Tensor::from_vec(invstd, &[c])?,
                running_mean,
                running_var,
                statistics,
            })
        }
        Device::Cuda(_) => {
            let sx = x.cuda_storage(op)?;
            let (mean, invstd, updated) = match (statistics, running) {
                (Statistics::Running, None) => {
                    return Err(TensorError::InvalidParameter {
                        op,
                        reason: "running statistics are required to normalise with them".to_owned(),
                    });
                }
                (Statistics::Running, Some((rm, rv))) => {
                    let (mean, invstd) = cuda::batch_norm_running(
                        rm.cuda_storage(op)?,
                        rv.cuda_storage(op)?,
                        p.eps,
                    )?;
                    (mean, invstd, Some((rm.clone(), rv.clone())))
                }
                (Statistics::Batch, running) => {
                    let storages = match running {
                        Some((rm, rv)) => Some((rm.cuda_storage(op)?, rv.cuda_storage(op)?)),
                        None => None,
                    };
                    let (mean, invstd, updated) =
                        cuda::batch_norm_statistics(sx, dims, storages, p.eps, p.momentum)?;
                    let updated = updated
                        .map(|(rm, rv)| (Tensor::from_cuda(rm, &[c]), Tensor::from_cuda(rv, &[c])));
                    (mean, invstd, updated)
                }
            };
            let residual = match residual {
                Some(r) => Some(r.cuda_storage(op)?),
                None => None,
            };
            let y = cuda::batch_norm_apply(
                sx,
                [
                    &mean,
                    &invstd,
                    weight.cuda_storage(op)?,
                    bias.cuda_storage(op)?,
                ],
                residual,
                relu,
                dims,
            )?;
            let (running_mean, running_var) = updated.unzip();
            Ok(BatchNormOutput {
                output: Tensor::from_cuda(y, shape),
                mean: Tensor::from_cuda(mean, &[c]),
                invstd: Tensor::from_cuda(invstd, &[c]),
                running_mean,
                running_var,
                statistics,
            })
        }
    }
}

/// The gradients of [`batch_norm2d`] from `grad_output` (after
/// [`relu_backward`](super::relu_backward) for [`batch_norm2d_relu`]), its input `x`, the
/// affine `weight` it ran with (1 without) and its output. With batch statistics the input
/// gradient runs through the mean and variance, as PyTorch's training-mode backward.
pub fn batch_norm2d_backward(
    grad_output: &Tensor,
    x: &Tensor,
    weight: Option<&Tensor>,
    forward: &BatchNormOutput,
) -> Result<BatchNormGrads> {
    let op = "batch_norm2d_backward";
    let device = common_device(op, &[grad_output, x, &forward.mean, &forward.invstd])?;
    same_shape(op, grad_output, x)?;
    let [n, c, h, w] = x.dims4(op, "input")?;
    let dims = [n, c, h * w];
    check_channels(
        op,
        x,
        c,
        &[
            ("weight", weight),
            ("mean", Some(&forward.mean)),
            ("invstd", Some(&forward.invstd)),
        ],
    )?;
    let weight = per_channel(weight, c, 1.0, device)?;
    let through_statistics = forward.statistics == Statistics::Batch;
    match device {
        Device::Cpu => {
            let sums =
                cpu::norm::backward_sums(grad_output.data(), x.data(), forward.mean.data(), dims);
            let gx = cpu::norm::input_gradient(
                grad_output.data(),
                x.data(),
                forward.mean.data(),
                forward.invstd.data(),
                weight.data(),
                &sums,
                through_statistics,
                dims,
            );
            let gw = sums
                .iter()
                .zip(forward.invstd.data())
                .map(|(&(_, dot), &invstd)| (dot * f64::from(invstd)) as f32)
                .collect();
            let gb = sums.iter().map(|&(sum, _)| sum as f32).collect();
            Ok(BatchNormGrads {
                input: Tensor::from_vec(gx, x.shape())?,
                weight: Tensor::from_vec(gw, &[c])?,
                bias: Tensor::from_vec(gb, &[c])?,
            })
        }
        Device::Cuda(_) => {
            let (gx, gw, gb) = cuda::batch_norm_backward(
                grad_output.cuda_storage(op)?,
                x.cuda_storage(op)?,
                [
                    forward.mean.cuda_storage(op)?,
                    forward.invstd.cuda_storage(op)?,
                    weight.cuda_storage(op)?,
                ],
                through_statistics,
                dims,
            )?;
            Ok(BatchNormGrads {
                input: Tensor::from_cuda(gx, x.shape()),
                weight: Tensor::from_cuda(gw, &[c]),
                bias: Tensor::from_cuda(gb, &[c]),
            })
        }
    }
}

/// Global average pooling: the mean of every plane of `x` (N, C, H, W), shape (N, C, 1, 1)
/// (PyTorch's `adaptive_avg_pool2d(x, 1)`).
pub fn global_avg_pool2d(x: &Tensor) -> Result<Tensor> {
    let op = "global_avg_pool2d";
    let device = common_device(op, &[x])?;
    let [n, c, h, w] = x.dims4(op, "input")?;
    if h * w == 0 {
        return Err(TensorError::InvalidParameter {
            op,
            reason: format!("the planes of input shape {:?} are empty", x.shape()),
        });
    }
    let shape = [n, c, 1, 1];
    match device {
        Device::Cpu => Tensor::from_vec(cpu::norm::plane_means(x.data(), h * w), &shape),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::plane_means(x.cuda_storage(op)?, n * c, h * w)?,
            &shape,
        )),
    }
}

/// The gradient of [`global_avg_pool2d`] for an input of `input_shape` (N, C, H, W): each
/// plane's gradient divided evenly over its values.
pub fn global_avg_pool2d_backward(grad_output: &Tensor, input_shape: &[usize]) -> Result<Tensor> {
    let op = "global_avg_pool2d_backward";
    let device = common_device(op, &[grad_output])?;
    let [n, c, h, w] = <[usize; 4]>::try_from(input_shape).map_err(|_| TensorError::Rank {
        op,
        operand: "input_shape",
        expected: 4,
        shape: input_shape.to_vec(),
    })?;
    if grad_output.shape() != [n, c, 1, 1] {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: "the gradient must be (N, C, 1, 1) of the input".to_owned(),
            shapes: vec![grad_output.shape().to_vec(), input_shape.to_vec()],
        });
    }
    match device {
        Device::Cpu => Tensor::from_vec(
            cpu::norm::plane_means_backward(grad_output.data(), h * w),
            input_shape,
        ),
        Device::Cuda(_) => Ok(Tensor::from_cuda(
            cuda::plane_means_backward(grad_output.cuda_storage(op)?, h * w)?,
            input_shape,
        )),
    }
}
