//! Training and evaluation of FCNs: the loop behind `fcn train`, resumable checkpoints, JSONL
//! logs and evaluation with `fcn-metrics`.
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

mod checkpoint;
mod config;
mod data;
pub mod distributed;
mod error;
mod evaluate;
mod report;
mod train;

pub use checkpoint::Checkpoint;
pub use config::{
    AugmentConfig, DataConfig, DistributedConfig, LoopConfig, ModelConfig, OptimConfig, TrainConfig,
};
pub use data::{open_dataset, open_datasets, synthetic_options};
pub use error::{Result, TrainError};
pub use evaluate::{
    Evaluation, Inference, evaluate, evaluate_shard, evaluate_with, normalization, predict_labels,
    predict_labels_sliding,
};
pub use report::{render_report, write_report};
pub use train::{Event, Run, Summary, files, median_frequency_weights};
