//! Training and evaluation of FCNs: the loop behind `fcn train`, resumable checkpoints, JSONL
//! logs ([`LogRecord`]), evaluation with `fcn-metrics` (of a model, or of folders of label
//! maps), prediction writing, HTML reports and the start-up of a distributed run.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use fcn_train::{Run, TrainConfig};
//!
//! // The embedded main job: FCN-8s (width / 8) on synthetic transit scenes.
//! let mut run = Run::create(TrainConfig::default(), "runs/demo".as_ref())?;
//! let summary = run.train(&AtomicBool::new(false), |event| println!("{event:?}"))?;
//! println!("mean IoU {:?}", summary.mean_iou);
//! # Ok::<(), fcn_train::TrainError>(())
//! ```
#![deny(missing_docs)]

pub mod bench;
mod checkpoint;
mod config;
mod data;
pub mod distributed;
mod error;
mod evaluate;
pub mod files;
mod folders;
pub mod log;
pub mod predict;
mod report;
mod train;

pub use checkpoint::Checkpoint;
pub use config::{
    AugmentConfig, ClassWeighting, ConfigOverrides, DataConfig, Decay, DistributedConfig,
    DistributedMode, LoopConfig, LossReduction, ModelConfig, OptimConfig, Optimizer, OptimizerKind,
    Schedule, ScheduleKind, TrainConfig, Warmup,
};
pub use data::{open_dataset, open_datasets, synthetic_options};
pub use error::{CheckpointProblem, Result, TrainError};
pub use evaluate::{
    Evaluation, Inference, class_scores, evaluate, evaluate_shard, evaluate_with, normalization,
    predict_labels, predict_labels_sliding,
};
pub use folders::{
    LabelFolders, LabelPair, pair_label_files, read_class_names, score_folders, score_pairs,
};
pub use log::{EvalRecord, LogRecord, StepRecord};
pub use report::{render_report, write_report};
pub use train::{Event, Run, Summary, median_frequency_weights};
