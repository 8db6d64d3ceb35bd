//! The [`Communicator`] trait, the single-process communicator and the host-memory bucketed
//! all-reduce that backends share.

use fcn_core::Tensor;

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

/// A tensor of `shape` on `device` from host values.
pub(super) fn rebuild(
    values: Vec<f32>,
    shape: &[usize],
    device: fcn_core::Device,
) -> Result<Tensor> {
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
