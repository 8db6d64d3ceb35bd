//! Per-pixel class decisions: the softmax cross-entropy loss and the channel argmax.

use super::check::common_device;
use crate::geometry::Reduction;
use crate::{Device, Result, Tensor, TensorError, cpu, cuda};

/// Per pixel of an NCHW tensor, the index of the largest channel (the first on ties): the
/// predicted label map, shape (N, H, W) flattened.
pub fn argmax_channels(x: &Tensor) -> Result<Vec<u32>> {
    let op = "argmax_channels";
    let device = common_device(op, &[x])?;
    let [n, c, h, w] = x.dims4(op, "input")?;
    if c == 0 {
        return Err(TensorError::InvalidParameter {
            op,
            reason: "the input has no channels".to_owned(),
        });
    }
    match device {
        Device::Cpu => Ok(cpu::elementwise::argmax_channels(x.data(), n, c, h * w)),
        Device::Cuda(_) => cuda::argmax_channels(x.cuda_storage(op)?, [n, c, h * w]),
    }
}

/// Loss and logits gradient of a pixel-wise softmax cross-entropy.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossEntropy {
    /// The reduced loss.
    pub loss: f32,
    /// d loss / d logits, same shape as the logits.
    pub grad: Tensor,
}

/// Softmax cross-entropy of logits (N, C, H, W) against labels (N*H*W values, row-major), with
/// pixels labelled `ignore_index` skipped and optional per-class weights. Any other label
/// outside `[0, C)` is an error naming it.
pub fn softmax_cross_entropy(
    logits: &Tensor,
    target: &[i64],
    ignore_index: i64,
    weight: Option<&[f32]>,
    reduction: Reduction,
) -> Result<CrossEntropy> {
    let op = "softmax_cross_entropy";
    let device = common_device(op, &[logits])?;
    let [n, c, h, w] = logits.dims4(op, "logits")?;
    if target.len() != n * h * w {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: format!("{} labels for {} pixels", target.len(), n * h * w),
            shapes: vec![logits.shape().to_vec(), vec![target.len()]],
        });
    }
    if let Some(weight) = weight.filter(|weight| weight.len() != c) {
        return Err(TensorError::ShapeMismatch {
            op,
            reason: format!("{} class weights for {c} classes", weight.len()),
            shapes: vec![logits.shape().to_vec(), vec![weight.len()]],
        });
    }
    if let Some(index) = target
        .iter()
        .position(|&t| t != ignore_index && !(0..c as i64).contains(&t))
    {
        return Err(TensorError::LabelOutOfRange {
            op,
            value: target[index],
            index,
            num_classes: c,
            ignore_index,
        });
    }
    match device {
        Device::Cpu => {
            let (loss, grad) = cpu::loss::softmax_cross_entropy(
                logits.data(),
                target,
                [n, c, h * w],
                ignore_index,
                weight,
                reduction,
            );
            Ok(CrossEntropy {
                loss,
                grad: Tensor::from_vec(grad, logits.shape())?,
            })
        }
        Device::Cuda(_) => cuda_softmax_cross_entropy(
            logits,
            target,
            ignore_index,
            weight,
            reduction,
            [n, c, h * w],
        ),
    }
}

/// [`softmax_cross_entropy`] of checked GPU logits (N, C, H*W): the labels (-1 for ignored),
/// the class weights and the per-class gradient factors `weight * scale` are prepared here as
/// on the CPU (same f64 scale), the kernels compute the gradient and the summed loss.
fn cuda_softmax_cross_entropy(
    logits: &Tensor,
    target: &[i64],
    ignore_index: i64,
    weight: Option<&[f32]>,
    reduction: Reduction,
    [n, c, hw]: [usize; 3],
) -> Result<CrossEntropy> {
    let class_weight = |t: i64| weight.map_or(1.0, |w| w[t as usize]);
    let scale = reduction.scale(n, target, ignore_index, weight);
    let labels: Vec<i32> = target
        .iter()
        .map(|&t| if t == ignore_index { -1 } else { t as i32 })
        .collect();
    let weights: Vec<f32> = (0..c as i64).map(class_weight).collect();
    let coef: Vec<f32> = weights
        .iter()
        .map(|&w| (f64::from(w) * scale) as f32)
        .collect();
    let (loss, grad) = cuda::softmax_cross_entropy(
        logits.cuda_storage("softmax_cross_entropy")?,
        &labels,
        &weights,
        &coef,
        [n, c, hw],
    )?;
    Ok(CrossEntropy {
        loss: (loss * scale) as f32,
        grad: Tensor::from_cuda(grad, logits.shape()),
    })
}
