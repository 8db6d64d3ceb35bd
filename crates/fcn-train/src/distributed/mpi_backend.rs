//! The MPI communicator (Open MPI through the `mpi` crate).

use std::time::Duration;

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives, Root};
use mpi::{Count, Threading};

use super::communicator::{Communicator, SingleProcess, collective_error};
use super::watchdog::Watchdog;
use crate::error::Result;

/// MPI's `COMM_WORLD`: one rank per process started by `mpirun -np N` (or `srun`).
///
/// Only the thread that created it calls MPI (`MPI_THREAD_FUNNELED`); the loader's threads
/// never do. Dropping it finalizes MPI.
pub struct Mpi {
    world: SimpleCommunicator,
    /// `mpi`, or `nccl` when it serves the NCCL communicator.
    backend: &'static str,
    watchdog: Watchdog,
    // Last: finalizes MPI when dropped, after everything above.
    _universe: Universe,
}

impl Mpi {
    /// Initialises MPI; collectives that wait longer than `timeout` end the process.
    pub fn init(timeout: Duration) -> Result<Self> {
        Self::init_as(timeout, "mpi")
    }

    /// [`init`](Self::init) for the communicator `backend`, which names it in errors.
    pub(crate) fn init_as(timeout: Duration, backend: &'static str) -> Result<Self> {
        let (universe, _threading) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or_else(|| collective_error(&SingleProcess, "MPI is already initialised"))?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(Self {
            world,
            backend,
            watchdog: Watchdog::start(timeout, backend, rank, size),
            _universe: universe,
        })
    }

    /// The watchdog of this process's collectives (the NCCL communicator shares it).
    #[cfg(feature = "nccl")]
    pub(super) fn watchdog(&self) -> &Watchdog {
        &self.watchdog
    }

    fn root(&self, root: usize) -> Result<mpi::topology::Process<'_>> {
        if root >= self.size() {
            return Err(collective_error(
                self,
                format!("root rank {root} is not below {}", self.size()),
            ));
        }
        Ok(self.world.process_at_rank(root as i32))
    }
}

impl Communicator for Mpi {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_reduce_sum_f32(&self, data: &mut [f32]) -> Result<()> {
        let send = data.to_vec();
        self.watchdog.guard("all-reduce (f32)", || {
            self.world
                .all_reduce_into(&send[..], data, SystemOperation::sum())
        });
        Ok(())
    }

    fn all_reduce_sum_f32_into(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        if send.len() != recv.len() {
            return Err(collective_error(
                self,
                format!("all-reduce of {} values into {}", send.len(), recv.len()),
            ));
        }
        self.watchdog.guard("all-reduce (f32)", || {
            self.world
                .all_reduce_into(send, recv, SystemOperation::sum())
        });
        Ok(())
    }

    fn all_reduce_sum_f64(&self, data: &mut [f64]) -> Result<()> {
        let send = data.to_vec();
        self.watchdog.guard("all-reduce (f64)", || {
            self.world
                .all_reduce_into(&send[..], data, SystemOperation::sum())
        });
        Ok(())
    }

    fn broadcast_f32(&self, data: &mut [f32], root: usize) -> Result<()> {
        let root = self.root(root)?;
        self.watchdog
            .guard("broadcast (f32)", || root.broadcast_into(data));
        Ok(())
    }

    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        let process = self.root(root)?;
        let mut len = bytes.len() as u64;
        self.watchdog
            .guard("broadcast (bytes)", || process.broadcast_into(&mut len));
        let len = usize::try_from(len)
            .map_err(|_| collective_error(self, "broadcast length overflows"))?;
        bytes.resize(len, 0);
        self.watchdog.guard("broadcast (bytes)", || {
            process.broadcast_into(&mut bytes[..])
        });
        Ok(())
    }

    fn all_gather_bytes(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        let len = Count::try_from(bytes.len())
            .map_err(|_| collective_error(self, "all-gather of more than 2 GiB per rank"))?;
        let mut counts: Vec<Count> = vec![0; self.size()];
        self.watchdog.guard("all-gather (bytes)", || {
            self.world.all_gather_into(&len, &mut counts[..])
        });
        let mut displs = Vec::with_capacity(counts.len());
        let mut total: Count = 0;
        for &c in &counts {
            displs.push(total);
            total = total
                .checked_add(c)
                .ok_or_else(|| collective_error(self, "all-gather of more than 2 GiB"))?;
        }
        let mut flat = vec![0u8; total as usize];
        {
            let mut partition = PartitionMut::new(&mut flat[..], &counts[..], &displs[..]);
            self.watchdog.guard("all-gather (bytes)", || {
                self.world.all_gather_varcount_into(bytes, &mut partition)
            });
        }
        Ok(counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| flat[d as usize..(d + c) as usize].to_vec())
            .collect())
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
