//! The collectives of the training loop over a model: gradient all-reduce, weight broadcast,
//! model averaging, agreement checks.

use fcn_core::{Fcn, Gradients, Module, Tensor};

use super::communicator::Communicator;
use crate::error::Result;

/// The trainable parameters of `model` that have a gradient, in `state_dict` order.
fn trainable(model: &Fcn) -> Vec<&fcn_core::Param> {
    model.params().into_iter().filter(|p| p.trainable).collect()
}

/// Sums every rank's gradients (bucketed), in place. Every rank must hold a gradient for the
/// same parameters (they run the same network).
pub fn all_reduce_gradients(
    comm: &dyn Communicator,
    model: &Fcn,
    grads: &mut Gradients,
    bucket_values: usize,
) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let params: Vec<&fcn_core::Param> = trainable(model)
        .into_iter()
        .filter(|p| grads.get(p).is_some())
        .collect();
    let mut tensors: Vec<Tensor> = params
        .iter()
        .filter_map(|p| grads.get(p).cloned())
        .collect();
    comm.all_reduce_sum_tensors(&mut tensors, bucket_values)?;
    for (p, t) in params.into_iter().zip(tensors) {
        grads.set(p, t);
    }
    Ok(())
}

/// Gives every rank rank 0's parameters (identical initial weights).
pub fn broadcast_model(comm: &dyn Communicator, model: &mut Fcn) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let mut tensors: Vec<Tensor> = model.params().iter().map(|p| p.value.clone()).collect();
    comm.broadcast_tensors(&mut tensors, 0)?;
    let mut values = tensors.into_iter();
    model.visit_params_mut(&mut |p| {
        if let Some(v) = values.next() {
            p.value = v;
        }
    });
    Ok(())
}

/// Replaces every rank's trainable parameters by their mean over ranks (local SGD's
/// synchronisation).
pub fn average_model(comm: &dyn Communicator, model: &mut Fcn, bucket_values: usize) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let mut tensors: Vec<Tensor> = trainable(model).iter().map(|p| p.value.clone()).collect();
    comm.all_reduce_sum_tensors(&mut tensors, bucket_values)?;
    let scale = 1.0 / comm.size() as f32;
    let mut values = tensors.into_iter();
    let mut failure = None;
    model.visit_params_mut(&mut |p| {
        if !p.trainable {
            return;
        }
        if let Some(v) = values.next() {
            match fcn_core::tensor::ops::scale(&v, scale) {
                Ok(mean) => p.value = mean,
                Err(e) => failure = Some(e),
            }
        }
    });
    match failure {
        Some(e) => Err(fcn_core::CoreError::from(e).into()),
        None => Ok(()),
    }
}

/// Whether the value is the same on every rank (configurations, checkpoints): every rank's
/// bytes are gathered and compared with rank 0's; the ranks that differ are returned.
pub fn ranks_differing_from_root(comm: &dyn Communicator, bytes: &[u8]) -> Result<Vec<usize>> {
    let all = comm.all_gather_bytes(bytes)?;
    Ok((1..all.len()).filter(|&r| all[r] != all[0]).collect())
}
