//! The [`Watchdog`] that ends a rank whose collective waits too long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
