//! The run's log as the page shows it: steps, evaluations and the wall-clock time over every
//! process of the run.

use std::path::Path;

use crate::error::Result;
use crate::log::{EvalRecord, LogRecord, StepRecord, read_records};

/// The parsed log.
pub(super) struct Log {
    pub(super) steps: Vec<StepRecord>,
    pub(super) evals: Vec<EvalRecord>,
    /// Wall-clock seconds over every process of the run (a resumed run restarts its clock).
    pub(super) wall_s: f64,
}

impl Log {
    pub(super) fn last_step(&self) -> u64 {
        let steps = self.steps.iter().map(|s| s.step);
        steps
            .chain(self.evals.iter().map(|e| e.step))
            .max()
            .unwrap_or(0)
    }
}

/// Reads `log.jsonl`; `None` when there is none yet.
pub(super) fn read_log(path: &Path) -> Result<Option<Log>> {
    let Some(records) = read_records(path)? else {
        return Ok(None);
    };
    let mut log = Log {
        steps: Vec::new(),
        evals: Vec::new(),
        wall_s: 0.0,
    };
    let (mut previous, mut segment_max) = (0.0f64, 0.0f64);
    for record in records {
        let elapsed = match &record {
            LogRecord::Step(s) => s.elapsed_s,
            LogRecord::Eval(e) => e.elapsed_s,
            LogRecord::Other => continue,
        };
        if elapsed.is_finite() {
            if elapsed < previous {
                log.wall_s += segment_max;
                segment_max = 0.0;
            }
            segment_max = segment_max.max(elapsed);
            previous = elapsed;
        }
        match record {
            LogRecord::Step(s) => log.steps.push(s),
            LogRecord::Eval(e) => log.evals.push(*e),
            LogRecord::Other => {}
        }
    }
    log.wall_s += segment_max;
    Ok(Some(log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_adds_the_segments_of_a_resumed_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let lines = [
            r#"{"kind":"step","step":1,"loss":1.0,"lr":0.1,"images_per_s":1.0,"elapsed_s":10.0}"#,
            r#"{"kind":"step","step":2,"loss":1.0,"lr":0.1,"images_per_s":1.0,"elapsed_s":20.0}"#,
            r#"{"kind":"step","step":3,"loss":1.0,"lr":0.1,"images_per_s":1.0,"elapsed_s":5.0}"#,
            r#"{"kind":"future","step":3}"#,
            r#"{"kind":"step","step":4,"loss":1.0,"lr":0.1,"images_per_s":1.0,"elapsed_s":7.0}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let log = read_log(&path).unwrap().unwrap();
        assert_eq!(log.steps.len(), 4);
        assert!((log.wall_s - 27.0).abs() < 1e-9);
    }
}
