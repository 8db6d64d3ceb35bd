//! The run's JSONL log (`log.jsonl`): one [`LogRecord`] per line, written by the training loop
//! and read back by `fcn report` and by a resumed run.

use std::io::Write;
use std::path::Path;

use fcn_metrics::{ConfusionMatrix, Report};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Result, TrainError};

/// One line of `log.jsonl`: `{"kind":"step",...}` or `{"kind":"eval",...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogRecord {
    /// An optimizer step.
    Step(StepRecord),
    /// An evaluation on the validation set.
    Eval(Box<EvalRecord>),
    /// A kind this version does not know (written by another version); read, never written.
    #[serde(other)]
    Other,
}

/// An optimizer step. The loss and the learning rate are `f32` in the loop and written with
/// `f32` precision; they are read back as the `f64` of the written decimal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Steps done.
    pub step: u64,
    /// The step's loss.
    #[serde(serialize_with = "as_f32")]
    pub loss: f64,
    /// The learning rate used.
    #[serde(default, serialize_with = "as_f32")]
    pub lr: f64,
    /// Training images per second over the step (all ranks).
    #[serde(default)]
    pub images_per_s: f64,
    /// Seconds since this process started training (a resumed run restarts the clock).
    pub elapsed_s: f64,
}

/// An evaluation on the validation set (also the content of `eval.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Steps done.
    pub step: u64,
    /// Seconds since this process started training.
    pub elapsed_s: f64,
    /// The majority-class baseline's mean IoU.
    #[serde(default)]
    pub baseline_mean_iou: Option<f64>,
    /// The scores.
    pub report: Report,
    /// The confusion matrix (absent in the logs of early versions).
    #[serde(default)]
    pub confusion: Option<ConfusionMatrix>,
}

impl LogRecord {
    /// The step the record belongs to (`None` for a kind this version does not know).
    pub fn step(&self) -> Option<u64> {
        match self {
            LogRecord::Step(s) => Some(s.step),
            LogRecord::Eval(e) => Some(e.step),
            LogRecord::Other => None,
        }
    }

    /// The record as one line of JSON (no newline).
    pub fn to_line(&self, path: &Path) -> Result<String> {
        serde_json::to_string(self).map_err(|source| TrainError::LogEncode {
            path: path.to_owned(),
            source,
        })
    }
}

/// Writes an `f64` that holds an `f32` value with `f32` precision (as the loop computed it).
fn as_f32<S: Serializer>(value: &f64, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_f32(*value as f32)
}

/// Appends one record to the log at `path` (created if needed).
pub fn append_record(path: &Path, record: &LogRecord) -> Result<()> {
    let line = record.to_line(path)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io("cannot append to", path, e))?;
    writeln!(file, "{line}").map_err(|e| TrainError::io("cannot append to", path, e))
}

/// Reads every record of the log at `path`, in order (blank lines skipped); `None` when there
/// is no log yet. A malformed line is an error naming the file and the line.
pub fn read_records(path: &Path) -> Result<Option<Vec<LogRecord>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrainError::io("cannot read", path, e)),
    };
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(line).map_err(|source| TrainError::LogRecord {
            path: path.to_owned(),
            line: index + 1,
            source,
        })?;
        records.push(record);
    }
    Ok(Some(records))
}

/// Keeps the records of steps up to `step` (a resumed run redoes the later ones). Lines that
/// are not a record of this version (malformed, or of an unknown kind) are dropped.
pub fn truncate_log(path: &Path, step: u64) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrainError::io("cannot read", path, e)),
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<LogRecord>(line)
                .ok()
                .and_then(|r| r.step())
                .is_some_and(|s| s <= step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    fcn_data::write_atomically(path, kept.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_records_keep_the_bytes_of_earlier_versions() {
        let line = r#"{"kind":"step","step":3,"loss":0.123456,"lr":0.001,"images_per_s":12.5,"elapsed_s":1.25}"#;
        let record: LogRecord = serde_json::from_str(line).unwrap();
        let LogRecord::Step(step) = &record else {
            panic!("not a step: {record:?}");
        };
        assert_eq!(step.loss, 0.123456);
        assert_eq!(record.to_line(Path::new("log")).unwrap(), line);
        // As written by the loop: f32 values, shortest decimal.
        let written = LogRecord::Step(StepRecord {
            step: 1,
            loss: f64::from(0.1f32),
            lr: f64::from(1e-4f32),
            images_per_s: 2.0,
            elapsed_s: 0.5,
        });
        assert_eq!(
            written.to_line(Path::new("log")).unwrap(),
            r#"{"kind":"step","step":1,"loss":0.1,"lr":0.0001,"images_per_s":2.0,"elapsed_s":0.5}"#
        );
    }

    #[test]
    fn unknown_kinds_are_read_and_have_no_step() {
        let record: LogRecord = serde_json::from_str(r#"{"kind":"future","step":3}"#).unwrap();
        assert_eq!(record, LogRecord::Other);
        assert_eq!(record.step(), None);
    }

    #[test]
    fn truncation_keeps_records_up_to_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let lines: Vec<String> = (1..=4)
            .map(|s| format!(r#"{{"kind":"step","step":{s},"loss":1.0,"lr":0.1,"images_per_s":1.0,"elapsed_s":1.0}}"#))
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        truncate_log(&path, 2).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n{}\n", lines[0], lines[1])
        );
    }
}
