//! Data-parallel training: the [`Communicator`] between the processes (ranks) of one run.
//!
//! Three implementations: [`SingleProcess`] (the default, no collective does anything),
//! [`Mpi`] (Open MPI through the `mpi` crate, feature `mpi`) and `Nccl` (one process per GPU,
//! feature `nccl`). Every rank runs the same loop; the loop calls the collectives below in the
//! same order on every rank, so a collective only returns once all ranks reached it.
//!
//! A rank that dies makes its launcher (`mpirun`, `srun`) end the others. A rank that hangs, or
//! a launcher that does not, is caught by the [`Watchdog`]: a collective that waits longer than
//! the timeout ends the process with an error that names the rank and the operation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fcn_core::{Fcn, Gradients, Module, Tensor};

use crate::error::{Result, TrainError};

/// The collectives data-parallel training needs. Every method must be called by every rank,
/// in the same order (MPI's rule).
pub trait Communicator {
    /// `single`, `mpi` or `nccl`.
    fn backend(&self) -> &'static str;

    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;

    /// Number of ranks.
    fn size(&self) -> usize;

    /// The device this rank must train on, when the communicator decides it (NCCL: the GPU of
    /// the local rank); `None` = the configuration's `train.device`.
    fn device(&self) -> Option<fcn_core::Device> {
        None
    }

    /// Element-wise sum over ranks, in place.
    fn all_reduce_sum_f32(&self, data: &mut [f32]) -> Result<()>;

    /// Element-wise sum over ranks of `send`, into `recv` (same length). The default copies
    /// and sums in place; MPI reduces straight into `recv`, saving a copy of large buckets.
    fn all_reduce_sum_f32_into(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        recv.copy_from_slice(send);
        self.all_reduce_sum_f32(recv)
    }

    /// Element-wise sum over ranks, in place (scalars that need the precision: loss sums,
    /// pixel counts).
    fn all_reduce_sum_f64(&self, data: &mut [f64]) -> Result<()>;

    /// Rank `root`'s values, everywhere.
    fn broadcast_f32(&self, data: &mut [f32], root: usize) -> Result<()>;

    /// Rank `root`'s bytes, everywhere (the length may differ between ranks before the call).
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()>;

    /// Every rank's bytes, in rank order, everywhere.
    fn all_gather_bytes(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>>;

    /// Ends every rank with exit status `code` (a failing rank calls it so that the others do
    /// not wait for it forever).
    fn abort(&self, code: i32) -> !;

    /// Sums tensors over ranks, in buckets of at most `bucket_values` values (one tensor
    /// larger than that is a bucket of its own). The default goes through host memory; a
    /// device backend (NCCL) reduces device tensors where they are.
    fn all_reduce_sum_tensors(&self, tensors: &mut [Tensor], bucket_values: usize) -> Result<()> {
        host_all_reduce(self, tensors, bucket_values)
    }

    /// Rank `root`'s tensors, everywhere (same shapes on every rank).
    fn broadcast_tensors(&self, tensors: &mut [Tensor], root: usize) -> Result<()> {
        for t in tensors.iter_mut() {
            let device = t.device();
            let mut values = t.to_vec().map_err(fcn_core::CoreError::from)?;
            self.broadcast_f32(&mut values, root)?;
            *t = rebuild(values, t.shape(), device)?;
        }
        Ok(())
    }
}

fn rebuild(values: Vec<f32>, shape: &[usize], device: fcn_core::Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(values, shape)
        .and_then(|t| t.to_device(device))
        .map_err(fcn_core::CoreError::from)?)
}

/// The host-memory bucketed all-reduce behind [`Communicator::all_reduce_sum_tensors`]:
/// consecutive tensors are packed into one buffer while they fit in `bucket_values` values,
/// reduced into a second buffer, and unpacked (a bucket of one tensor becomes that tensor's
/// storage without a copy).
pub fn host_all_reduce<C: Communicator + ?Sized>(
    comm: &C,
    tensors: &mut [Tensor],
    bucket_values: usize,
) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let lengths: Vec<usize> = tensors.iter().map(Tensor::len).collect();
    for bucket in buckets(&lengths, bucket_values) {
        let (start, end) = (bucket.start, bucket.end);
        let values = lengths[bucket].iter().sum();
        let mut send = Vec::with_capacity(values);
        for t in &tensors[start..end] {
            if t.device() == fcn_core::Device::Cpu {
                send.extend_from_slice(t.data());
            } else {
                send.extend(t.to_vec().map_err(fcn_core::CoreError::from)?);
            }
        }
        let mut recv = vec![0f32; values];
        comm.all_reduce_sum_f32_into(&send, &mut recv)?;
        drop(send);
        if end - start == 1 {
            let t = &mut tensors[start];
            *t = rebuild(recv, t.shape(), t.device())?;
        } else {
            let mut offset = 0;
            for t in &mut tensors[start..end] {
                let n = t.len();
                let part = recv[offset..offset + n].to_vec();
                *t = rebuild(part, t.shape(), t.device())?;
                offset += n;
            }
        }
    }
    Ok(())
}

/// Cuts tensors of `lengths` values, in order, into buckets of at most `bucket_values` values;
/// a tensor larger than that is a bucket of its own.
pub(crate) fn buckets(lengths: &[usize], bucket_values: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < lengths.len() {
        let mut end = start + 1;
        let mut values = lengths[start];
        while end < lengths.len() && values + lengths[end] <= bucket_values {
            values += lengths[end];
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// One process: rank 0 of 1. Every collective returns its input.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn backend(&self) -> &'static str {
        "single"
    }

    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_reduce_sum_f32(&self, _data: &mut [f32]) -> Result<()> {
        Ok(())
    }

    fn all_reduce_sum_f64(&self, _data: &mut [f64]) -> Result<()> {
        Ok(())
    }

    fn broadcast_f32(&self, _data: &mut [f32], _root: usize) -> Result<()> {
        Ok(())
    }

    fn broadcast_bytes(&self, _bytes: &mut Vec<u8>, _root: usize) -> Result<()> {
        Ok(())
    }

    fn all_gather_bytes(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(vec![bytes.to_vec()])
    }

    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// Ends the process when a collective waits longer than its timeout: the error names the rank
/// and the operation, so a hung peer cannot hang the job.
///
/// A background thread checks the deadline of the collective in progress every 100 ms.
#[derive(Debug, Clone)]
pub struct Watchdog {
    /// Milliseconds since `epoch` at which the collective in progress times out; 0 = none.
    deadline_ms: Arc<AtomicU64>,
    /// What the collective in progress is.
    operation: Arc<Mutex<&'static str>>,
    epoch: Instant,
    timeout: Duration,
}

/// The exit status of a rank that the watchdog ends.
pub const WATCHDOG_EXIT_CODE: i32 = 70;

impl Watchdog {
    /// Starts the watchdog thread of rank `rank` of `size`.
    pub fn start(timeout: Duration, backend: &'static str, rank: usize, size: usize) -> Self {
        let dog = Self {
            deadline_ms: Arc::new(AtomicU64::new(0)),
            operation: Arc::new(Mutex::new("a collective")),
            epoch: Instant::now(),
            timeout,
        };
        let watched = dog.clone();
        std::thread::Builder::new()
            .name("fcn-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    let deadline = watched.deadline_ms.load(Ordering::SeqCst);
                    if deadline != 0 && watched.now_ms() > deadline {
                        let op = *watched
                            .operation
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        eprintln!(
                            "fcn: distributed training ({backend}), rank {rank} of {size}: {} \
                             waited more than {} s for the other ranks; one of them has died or \
                             hung. Ending this rank (exit status {WATCHDOG_EXIT_CODE}); resume \
                             from the last checkpoint with --resume.",
                            op,
                            watched.timeout.as_secs_f64(),
                        );
                        std::process::exit(WATCHDOG_EXIT_CODE);
                    }
                }
            })
            .ok();
        dog
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Runs `f`, the collective `operation` (named in the error), under the timeout.
    pub fn guard<T>(&self, operation: &'static str, f: impl FnOnce() -> T) -> T {
        *self
            .operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = operation;
        let timeout_ms = self.timeout.as_millis().max(1) as u64;
        self.deadline_ms
            .store(self.now_ms() + timeout_ms, Ordering::SeqCst);
        let out = f();
        self.deadline_ms.store(0, Ordering::SeqCst);
        out
    }
}

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

#[cfg(feature = "mpi")]
mod mpi_backend;
#[cfg(feature = "mpi")]
pub use mpi_backend::Mpi;

#[cfg(feature = "nccl")]
mod nccl_backend;
#[cfg(feature = "nccl")]
pub use nccl_backend::Nccl;

/// The error of a collective that failed on this rank.
pub(crate) fn collective_error(
    comm: &(impl Communicator + ?Sized),
    message: impl Into<String>,
) -> TrainError {
    TrainError::Distributed {
        backend: comm.backend(),
        rank: comm.rank(),
        ranks: comm.size(),
        message: message.into(),
    }
}
