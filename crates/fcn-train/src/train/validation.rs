//! Evaluation during training: scores logged, best weights kept, a few predictions saved.

use std::sync::Arc;

use fcn_data::loader::Shard;

use super::run::Run;
use crate::distributed::collective_error;
use crate::error::{Result, TrainError};
use crate::evaluate::{Evaluation, Inference, evaluate_shard, scoring_matrix};
use crate::files;
use crate::log::{EvalRecord, LogRecord, append_record};
use crate::predict::{label_bytes, save_validation_predictions};

impl Run {
    /// Evaluates on the validation set, logs it, keeps the best weights and saves a few
    /// predictions. With several ranks, each scores its share of the images and rank 0 merges
    /// them (exactly the single-process numbers) and writes the files.
    pub fn evaluate(&mut self, elapsed_s: f64) -> Result<Evaluation> {
        let keep = self.config.train.predictions;
        let template = scoring_matrix(&self.model, self.val.as_ref())?;
        let mut kept: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut images = evaluate_shard(
            &self.model,
            Arc::clone(&self.val),
            self.device,
            self.config.train.workers,
            Inference::Whole,
            Shard {
                index: self.comm.rank(),
                count: self.comm.size(),
            },
            |index, pred| {
                if index < keep {
                    kept.push((index, label_bytes(pred)));
                }
                Ok(())
            },
        )?;
        if self.comm.size() > 1 {
            let payload = serde_json::to_vec(&(&images, &kept))
                .map_err(|e| collective_error(self.comm.as_ref(), e.to_string()))?;
            images.clear();
            kept.clear();
            for (rank, bytes) in self.comm.all_gather_bytes(&payload)?.iter().enumerate() {
                type Part = (
                    Vec<(usize, fcn_metrics::ConfusionMatrix)>,
                    Vec<(usize, Vec<u8>)>,
                );
                let (part_images, part_kept): Part =
                    serde_json::from_slice(bytes).map_err(|e| {
                        collective_error(
                            self.comm.as_ref(),
                            format!("rank {rank} sent unreadable scores: {e}"),
                        )
                    })?;
                images.extend(part_images);
                kept.extend(part_kept);
            }
        }
        let evaluation = Evaluation::from_images(&template, &images)?;
        let miou = evaluation.matrix.mean_iou();
        let improved = miou.is_some_and(|m| self.best_miou.is_none_or(|b| m > b));
        if improved {
            self.best_miou = miou;
        }
        if self.comm.rank() != 0 {
            return Ok(evaluation);
        }
        save_validation_predictions(
            &self.dir.join(files::PREDICTIONS),
            self.val.as_ref(),
            &kept,
            self.classes.colors(),
        )?;
        let record = LogRecord::Eval(Box::new(EvalRecord {
            step: self.step,
            elapsed_s,
            baseline_mean_iou: evaluation.majority_baseline_miou(),
            report: evaluation.report(self.classes.names())?,
            confusion: Some(evaluation.matrix.clone()),
        }));
        let log = self.dir.join(files::LOG);
        append_record(&log, &record)?;
        let eval_path = self.dir.join(files::EVAL);
        let pretty =
            serde_json::to_string_pretty(&record).map_err(|source| TrainError::LogEncode {
                path: eval_path.clone(),
                source,
            })?;
        fcn_data::write_atomically(&eval_path, pretty.as_bytes())?;
        if improved {
            self.model.save(&self.dir.join(files::BEST))?;
        }
        Ok(evaluation)
    }
}
