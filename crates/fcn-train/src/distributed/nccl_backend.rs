//! The NCCL communicator: one process per GPU, tensors on the GPU summed and broadcast there by
//! NCCL; MPI starts the ranks, hands NCCL its unique id and runs the host collectives (scalars,
//! bytes, abort).
//!
//! # How device tensors are reduced
//!
//! Out of place, tensor by tensor, each bucket's all-reduces inside one NCCL group
//! (`ncclGroupStart` / `ncclGroupEnd`): NCCL launches a group's operations together, so the
//! per-tensor launch cost is paid once per bucket, and no value is copied besides what NCCL
//! moves. Packing a bucket into one flat buffer would add two device-to-device passes over
//! every gradient and a bucket-sized buffer for the same single launch. Each result goes to a
//! new buffer: tensors share their buffers when cloned (the gradient map keeps the ones it
//! handed out), so summing in place would change values that other clones still hold.
//!
//! All of it runs on the stream of fcn-tensor's device, so it is ordered with the backward pass
//! before it and the optimizer step after it; the call waits for the stream under the watchdog,
//! so a rank whose peer died or hung ends with an error that names the operation.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use fcn_core::tensor::interop::{self, cudarc};
use fcn_core::{Device, Tensor};

use cudarc::driver::{CudaSlice, CudaStream};
use cudarc::nccl::{Comm, Id, ReduceOp, group_end, group_start};

use super::communicator::{Communicator, buckets, collective_error, host_all_reduce, rebuild};
use super::mpi_backend::Mpi;
use crate::error::{Result, TrainError};

/// Environment variables that launchers set to the rank's index among the ranks of its node
/// (Open MPI, MPICH / Intel MPI, Slurm).
const LOCAL_RANK_VARIABLES: [&str; 3] = [
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MPI_LOCALRANKID",
    "SLURM_LOCALID",
];

/// NCCL over the GPUs of `mpirun -np N` (or `srun`): rank r trains on the GPU of its local
/// rank. Start at most as many ranks per node as the node has GPUs.
///
/// Host collectives ([`Communicator::all_reduce_sum_f64`], [`Communicator::broadcast_bytes`],
/// ...) go through MPI; [`Communicator::all_reduce_sum_tensors`] and
/// [`Communicator::broadcast_tensors`] run NCCL on the tensors that live on this rank's GPU
/// (others take the host path). Like [`Mpi`], only the thread that created it may use it.
pub struct Nccl {
    // Fields drop in order: the NCCL communicator before MPI is finalized.
    comm: Comm,
    stream: Arc<CudaStream>,
    ordinal: usize,
    mpi: Mpi,
}

impl Nccl {
    /// Initialises MPI, picks the GPU of this rank's local rank (`OMPI_COMM_WORLD_LOCAL_RANK`,
    /// `MPI_LOCALRANKID` or `SLURM_LOCALID`; else the rank modulo the number of GPUs) and
    /// creates the NCCL communicator on fcn-tensor's stream of that GPU. Collectives that wait
    /// longer than `timeout` end the process.
    ///
    /// A missing CUDA driver, GPU or NCCL library on any rank is an error on every rank (the
    /// failing one says why), never a panic or a hang.
    pub fn init(timeout: Duration) -> Result<Self> {
        let mpi = Mpi::init_as(timeout, "nccl")?;
        let (rank, size) = (mpi.rank(), mpi.size());
        let error = |message: String| TrainError::Distributed {
            backend: "nccl",
            rank,
            ranks: size,
            message,
        };
        // Every rank sets up its GPU (and rank 0 makes the unique id); then they agree that
        // all succeeded before any waits for another in NCCL.
        let local = local_device(rank).and_then(|(ordinal, stream)| {
            let id = match rank {
                0 => Some(unique_id()?),
                _ => None,
            };
            Ok((ordinal, stream, id))
        });
        agree(&mpi, local.as_ref().err().cloned(), "set up NCCL").map_err(error)?;
        let Ok((ordinal, stream, id)) = local else {
            // `agree` returned an error for a failed rank.
            return Err(error("NCCL set-up failed".into()));
        };
        let mut bytes: Vec<u8> = id
            .map(|id| id.internal().iter().map(|&c| c as u8).collect())
            .unwrap_or_default();
        mpi.broadcast_bytes(&mut bytes, 0)?;
        let internal: [std::ffi::c_char; 128] = bytes
            .iter()
            .map(|&b| b as std::ffi::c_char)
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| {
                error(format!(
                    "rank 0 sent an NCCL unique id of {} bytes, not 128",
                    bytes.len()
                ))
            })?;
        let created = mpi.watchdog().guard("NCCL initialisation", || {
            stream
                .context()
                .bind_to_thread()
                .map_err(|e| format!("cannot make GPU {ordinal} current: {e}"))?;
            let id = Id::uninit(internal);
            let stream = Arc::clone(&stream);
            match catch_unwind(AssertUnwindSafe(|| Comm::from_rank(stream, rank, size, id))) {
                Ok(Ok(comm)) => Ok(comm),
                Ok(Err(e)) => Err(format!(
                    "ncclCommInitRank failed: {:?} (NCCL_DEBUG=WARN prints NCCL's reason)",
                    e.0
                )),
                Err(_) => Err("ncclCommInitRank panicked inside cudarc".to_owned()),
            }
        });
        agree(
            &mpi,
            created.as_ref().err().cloned(),
            "create the NCCL communicator",
        )
        .map_err(error)?;
        let comm = created.map_err(error)?;
        Ok(Self {
            comm,
            stream,
            ordinal,
            mpi,
        })
    }

    /// The GPU ordinal this rank runs on.
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// Whether `t` lives on this rank's GPU (the tensors NCCL reduces).
    fn on_device(&self, t: &Tensor) -> bool {
        t.device() == Device::Cuda(self.ordinal) && !t.is_empty()
    }

    fn nccl_error(&self, op: &str, e: &cudarc::nccl::result::NcclError) -> TrainError {
        collective_error(
            self,
            format!(
                "{op} failed: {:?} (NCCL_DEBUG=WARN prints NCCL's reason)",
                e.0
            ),
        )
    }

    fn driver_error(&self, op: &str, e: &cudarc::driver::DriverError) -> TrainError {
        collective_error(self, format!("{op} on GPU {}: {e}", self.ordinal))
    }

    /// Buffers for the results of `tensors`.
    fn outputs(&self, tensors: &[&Tensor]) -> Result<Vec<CudaSlice<f32>>> {
        tensors
            .iter()
            .map(|t| {
                self.stream
                    .alloc_zeros::<f32>(t.len())
                    .map_err(|e| self.driver_error("allocation", &e))
            })
            .collect()
    }

    /// Runs `each` (one NCCL call per tensor) on `tensors` into `outputs` inside one NCCL group.
    fn grouped(
        &self,
        op: &'static str,
        tensors: &[&Tensor],
        outputs: &mut [CudaSlice<f32>],
        each: impl Fn(
            &cudarc::driver::CudaView<'_, f32>,
            &mut CudaSlice<f32>,
        ) -> std::result::Result<
            cudarc::nccl::result::NcclStatus,
            cudarc::nccl::result::NcclError,
        >,
    ) -> Result<()> {
        group_start().map_err(|e| self.nccl_error("ncclGroupStart", &e))?;
        let mut result = Ok(());
        for (t, out) in tensors.iter().zip(outputs.iter_mut()) {
            let Some(view) = interop::cuda_view(t) else {
                result = Err(collective_error(self, format!("{op}: a CPU tensor")));
                break;
            };
            if let Err(e) = each(&view, out) {
                result = Err(self.nccl_error(op, &e));
                break;
            }
        }
        // The group is always closed, so NCCL's state stays usable after an error.
        let closed = group_end()
            .map(|_| ())
            .map_err(|e| self.nccl_error("ncclGroupEnd", &e));
        result.and(closed)
    }
}

/// This rank's GPU ordinal and fcn-tensor's stream on it, or why there is none.
fn local_device(rank: usize) -> std::result::Result<(usize, Arc<CudaStream>), String> {
    let local = LOCAL_RANK_VARIABLES
        .iter()
        .find_map(|v| Some((*v, std::env::var(v).ok()?.trim().parse::<usize>().ok()?)));
    let wanted = local.map_or(rank, |(_, l)| l);
    // NCCL first: it is what this backend adds to a CUDA build. Both reasons when both fail.
    let nccl = interop::nccl_available(wanted).map_err(|e| e.to_string());
    let count = interop::device_count().map_err(|e| e.to_string());
    let count = match (nccl, count) {
        (Ok(()), Ok(count)) => count,
        (Err(n), Err(c)) => return Err(format!("{n}; {c}")),
        (Err(e), Ok(_)) | (Ok(()), Err(e)) => return Err(e),
    };
    if count == 0 {
        return Err("the CUDA driver reports no GPU".to_owned());
    }
    let ordinal = match local {
        Some((variable, l)) if l >= count => {
            return Err(format!(
                "{variable}={l}, but this node has {count} GPU(s): start at most {count} \
                 rank(s) per node (NCCL needs a GPU of its own for each rank)"
            ));
        }
        Some((_, l)) => l,
        None => rank % count,
    };
    let stream = interop::stream(ordinal).map_err(|e| e.to_string())?;
    Ok((ordinal, stream))
}

/// A new NCCL unique id (rank 0), or why not.
fn unique_id() -> std::result::Result<Id, String> {
    match catch_unwind(Id::new) {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => Err(format!(
            "ncclGetUniqueId failed: {:?} (NCCL_DEBUG=WARN prints NCCL's reason)",
            e.0
        )),
        Err(_) => Err("ncclGetUniqueId panicked inside cudarc".to_owned()),
    }
}

/// Whether every rank succeeded at `what`: this rank's `failure`, else how many others failed.
fn agree(mpi: &Mpi, failure: Option<String>, what: &str) -> std::result::Result<(), String> {
    let mut failed = [f64::from(u8::from(failure.is_some()))];
    mpi.all_reduce_sum_f64(&mut failed)
        .map_err(|e| e.to_string())?;
    match failure {
        Some(message) => Err(message),
        None if failed[0] > 0.0 => Err(format!(
            "{} other rank(s) could not {what} (their errors say why)",
            failed[0]
        )),
        None => Ok(()),
    }
}

impl Communicator for Nccl {
    fn backend(&self) -> &'static str {
        "nccl"
    }

    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn size(&self) -> usize {
        self.comm.world_size()
    }

    fn device(&self) -> Option<Device> {
        Some(Device::Cuda(self.ordinal))
    }

    fn all_reduce_sum_f32(&self, data: &mut [f32]) -> Result<()> {
        self.mpi.all_reduce_sum_f32(data)
    }

    fn all_reduce_sum_f32_into(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        self.mpi.all_reduce_sum_f32_into(send, recv)
    }

    fn all_reduce_sum_f64(&self, data: &mut [f64]) -> Result<()> {
        self.mpi.all_reduce_sum_f64(data)
    }

    fn broadcast_f32(&self, data: &mut [f32], root: usize) -> Result<()> {
        self.mpi.broadcast_f32(data, root)
    }

    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        self.mpi.broadcast_bytes(bytes, root)
    }

    fn all_gather_bytes(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.mpi.all_gather_bytes(bytes)
    }

    fn abort(&self, code: i32) -> ! {
        self.mpi.abort(code)
    }

    /// Tensors on this rank's GPU are summed there by NCCL (see the module's notes); others
    /// (CPU tensors) through host memory, first. Every rank must pass tensors of the same
    /// shapes on the same kind of device.
    fn all_reduce_sum_tensors(&self, tensors: &mut [Tensor], bucket_values: usize) -> Result<()> {
        let (device, host): (Vec<usize>, Vec<usize>) =
            (0..tensors.len()).partition(|&i| self.on_device(&tensors[i]));
        if !host.is_empty() {
            let mut values: Vec<Tensor> = host.iter().map(|&i| tensors[i].clone()).collect();
            host_all_reduce(self, &mut values, bucket_values)?;
            for (&i, t) in host.iter().zip(values) {
                tensors[i] = t;
            }
        }
        if device.is_empty() {
            return Ok(());
        }
        let lengths: Vec<usize> = device.iter().map(|&i| tensors[i].len()).collect();
        let summed = self.mpi.watchdog().guard("all-reduce (device)", || {
            let mut summed = Vec::with_capacity(device.len());
            for range in buckets(&lengths, bucket_values) {
                let bucket: Vec<&Tensor> = device[range].iter().map(|&i| &tensors[i]).collect();
                let mut outputs = self.outputs(&bucket)?;
                self.grouped("ncclAllReduce", &bucket, &mut outputs, |view, out| {
                    self.comm.all_reduce(view, out, &ReduceOp::Sum)
                })?;
                summed.extend(outputs);
            }
            self.stream
                .synchronize()
                .map_err(|e| self.driver_error("synchronize after all-reduce", &e))?;
            Ok::<_, TrainError>(summed)
        })?;
        for (&i, out) in device.iter().zip(summed) {
            tensors[i] = interop::tensor_from_cuda(out, tensors[i].shape())
                .map_err(fcn_core::CoreError::from)?;
        }
        Ok(())
    }

    /// Tensors on this rank's GPU are broadcast there by NCCL (one group); others through host
    /// memory, first.
    fn broadcast_tensors(&self, tensors: &mut [Tensor], root: usize) -> Result<()> {
        if root >= self.size() {
            return Err(collective_error(
                self,
                format!("root rank {root} is not below {}", self.size()),
            ));
        }
        let (device, host): (Vec<usize>, Vec<usize>) =
            (0..tensors.len()).partition(|&i| self.on_device(&tensors[i]));
        for &i in &host {
            let t = &tensors[i];
            let mut values = t.to_vec().map_err(fcn_core::CoreError::from)?;
            self.broadcast_f32(&mut values, root)?;
            tensors[i] = rebuild(values, t.shape(), t.device())?;
        }
        if device.is_empty() {
            return Ok(());
        }
        let root_rank = root as i32;
        let received = self.mpi.watchdog().guard("broadcast (device)", || {
            let bucket: Vec<&Tensor> = device.iter().map(|&i| &tensors[i]).collect();
            let mut outputs = self.outputs(&bucket)?;
            self.grouped("ncclBroadcast", &bucket, &mut outputs, |view, out| {
                // The send buffer is read on the root only.
                self.comm.broadcast(Some(view), out, root_rank)
            })?;
            self.stream
                .synchronize()
                .map_err(|e| self.driver_error("synchronize after broadcast", &e))?;
            Ok::<_, TrainError>(outputs)
        })?;
        for (&i, out) in device.iter().zip(received) {
            tensors[i] = interop::tensor_from_cuda(out, tensors[i].shape())
                .map_err(fcn_core::CoreError::from)?;
        }
        Ok(())
    }
}
