//! File names inside a run directory.

/// The resolved configuration.
pub const CONFIG: &str = "config.toml";
/// One JSON object per line: steps and evaluations ([`crate::LogRecord`]).
pub const LOG: &str = "log.jsonl";
/// The latest checkpoint.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// The weights with the best validation mean IoU.
pub const BEST: &str = "best.safetensors";
/// The final weights.
pub const FINAL: &str = "final.safetensors";
/// The last evaluation's report (fcn-metrics JSON).
pub const EVAL: &str = "eval.json";
/// Saved validation predictions.
pub const PREDICTIONS: &str = "predictions";
/// The HTML report (`fcn report`).
pub const REPORT: &str = "report.html";
