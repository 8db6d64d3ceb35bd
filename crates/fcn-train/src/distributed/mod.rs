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

mod communicator;
mod launch;
mod model_sync;
mod watchdog;

pub(crate) use communicator::collective_error;
pub use communicator::{Communicator, SingleProcess, host_all_reduce};
pub use launch::{Backend, Launched, end_all_on_error, launch};
pub use model_sync::{
    all_reduce_gradients, average_model, broadcast_model, ranks_differing_from_root,
};
pub use watchdog::{WATCHDOG_EXIT_CODE, Watchdog};

#[cfg(feature = "mpi")]
mod mpi_backend;
#[cfg(feature = "mpi")]
pub use mpi_backend::Mpi;

#[cfg(feature = "nccl")]
mod nccl_backend;
#[cfg(feature = "nccl")]
pub use nccl_backend::Nccl;
