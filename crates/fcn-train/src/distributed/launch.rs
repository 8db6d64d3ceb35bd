//! Choosing and starting the communicator of a run (`fcn train --distributed ...`), and how
//! many compute threads each rank gets.

use std::rc::Rc;
use std::time::Duration;

use super::communicator::{Communicator, SingleProcess};
use crate::error::Result;

/// How a run spreads over processes (`fcn train --distributed none|mpi|nccl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// One process.
    #[default]
    #[serde(rename = "none")]
    #[cfg_attr(feature = "clap", value(name = "none"))]
    Single,
    /// MPI: one rank per process of `mpirun -np N` or `srun` (feature `mpi`).
    Mpi,
    /// NCCL: one process per GPU, bootstrapped over MPI (feature `nccl`).
    Nccl,
}

/// A started communicator.
pub struct Launched {
    /// The communicator of this process.
    pub comm: Rc<dyn Communicator>,
    /// The compute threads this rank should use when several ranks share the node's cores:
    /// `None` with one rank, or when `RAYON_NUM_THREADS` already says.
    pub threads: Option<usize>,
}

/// Starts the communicator of `backend`, whose collectives end the process after waiting
/// `timeout` (at least one second), and works out this rank's share of the cores.
pub fn launch(backend: Backend, timeout: Duration) -> Result<Launched> {
    let comm = start(backend, timeout.max(Duration::from_secs(1)))?;
    let threads =
        (comm.size() > 1 && std::env::var_os("RAYON_NUM_THREADS").is_none()).then(threads_per_rank);
    Ok(Launched { comm, threads })
}

/// The communicator of one backend, or why this build has none.
fn start(backend: Backend, timeout: Duration) -> Result<Rc<dyn Communicator>> {
    // `timeout` is unused when no backend feature is on.
    let _ = timeout;
    Ok(match backend {
        Backend::Single => Rc::new(SingleProcess),
        #[cfg(feature = "mpi")]
        Backend::Mpi => Rc::new(super::mpi_backend::Mpi::init(timeout)?),
        #[cfg(not(feature = "mpi"))]
        Backend::Mpi => return Err(crate::error::TrainError::BackendNotBuilt { feature: "mpi" }),
        #[cfg(feature = "nccl")]
        Backend::Nccl => Rc::new(super::nccl_backend::Nccl::init(timeout)?),
        #[cfg(not(feature = "nccl"))]
        Backend::Nccl => return Err(crate::error::TrainError::BackendNotBuilt { feature: "nccl" }),
    })
}

/// This rank's share of the cores: a launcher that bound the rank to some cores (mpirun binds
/// to a core or a socket by default) already gave it its share; an unbound rank shares the
/// node's cores with the other ranks on the node.
fn threads_per_rank() -> usize {
    let local_ranks = [
        "OMPI_COMM_WORLD_LOCAL_SIZE",
        "MPI_LOCALNRANKS",
        "SLURM_NTASKS_PER_NODE",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok()?.parse::<usize>().ok())
    .unwrap_or(1)
    .max(1);
    let usable = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = match online_cpus() {
        Some(online) if usable < online => usable,
        _ => usable / local_ranks,
    };
    threads.max(1)
}

/// The number of CPUs the kernel has online (`/sys/devices/system/cpu/online`, e.g. `0-63`).
fn online_cpus() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    cpus_in_list(&text)
}

/// The number of CPUs in a kernel CPU list (`0-63`, `0-3,8-11`, `5`).
fn cpus_in_list(text: &str) -> Option<usize> {
    let mut count = 0;
    for range in text.trim().split(',') {
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        count += (hi.parse::<usize>().ok()? + 1).checked_sub(lo.parse::<usize>().ok()?)?;
    }
    Some(count)
}

/// A failing rank of several prints its error (with its causes) and ends every rank: the
/// others may be waiting for it in a collective. A single process returns `result` as it is.
pub fn end_all_on_error<T, E>(comm: &dyn Communicator, result: Result<T, E>) -> Result<T, E>
where
    E: AsRef<dyn std::error::Error>,
{
    if let Err(err) = &result
        && comm.size() > 1
    {
        let err = err.as_ref();
        eprintln!("error: rank {} of {}: {err}", comm.rank(), comm.size());
        let mut cause = err.source();
        while let Some(c) = cause {
            eprintln!("  caused by: {c}");
            cause = c.source();
        }
        comm.abort(1);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_count_every_range() {
        assert_eq!(cpus_in_list("0-63\n"), Some(64));
        assert_eq!(cpus_in_list("0-3,8-11"), Some(8));
        assert_eq!(cpus_in_list("5"), Some(1));
        assert_eq!(cpus_in_list("x"), None);
    }

    #[test]
    fn one_process_starts_without_a_feature() {
        let launched = launch(Backend::Single, Duration::ZERO).unwrap();
        assert_eq!((launched.comm.size(), launched.threads), (1, None));
    }

    #[cfg(not(feature = "mpi"))]
    #[test]
    fn a_backend_not_built_names_its_feature() {
        let err = launch(Backend::Mpi, Duration::from_secs(1)).err().unwrap();
        assert!(err.to_string().contains("--features mpi"), "{err}");
    }
}
