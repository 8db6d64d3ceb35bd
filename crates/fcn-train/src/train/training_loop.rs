//! The loop: steps (accumulated, split, all-reduced or locally averaged), evaluations,
//! checkpoints, and a clean stop on request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use fcn_core::Gradients;

use super::events::{Event, Summary};
use super::run::Run;
use crate::config::DistributedMode;
use crate::distributed::{all_reduce_gradients, average_model};
use crate::error::{Result, TrainError};
use crate::files;
use crate::log::{LogRecord, StepRecord, append_record};

impl Run {
    /// Checkpoints and reports a run stopped on request.
    fn interrupted(
        &mut self,
        started: Instant,
        on_event: &mut impl FnMut(&Event),
    ) -> Result<Summary> {
        // Local SGD stops only right after an average, so every rank holds the same model.
        self.checkpoint()?;
        on_event(&Event::Checkpoint { step: self.step });
        Ok(Summary {
            steps: self.step,
            interrupted: true,
            mean_iou: None,
            baseline_mean_iou: None,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Trains to the configured number of steps (or until `stop` is set, after which it
    /// checkpoints and returns), calling `on_event` as it goes.
    pub fn train(
        &mut self,
        stop: &AtomicBool,
        mut on_event: impl FnMut(&Event),
    ) -> Result<Summary> {
        let started = Instant::now();
        let total = self.config.train.iterations;
        let ranks = self.comm.size();
        let schedule = self.config.schedule_for(ranks);
        let accumulate = self.config.train.accumulate as u64;
        let local_sgd = self.config.distributed.mode == DistributedMode::LocalSgd && ranks > 1;
        let average_every = self.config.distributed.average_every;
        let bucket_values = self.config.distributed.bucket_mib * (1 << 20) / 4;
        // Training batches are whole (drop_last), so every batch splits into as many parts.
        let parts = self
            .split_pools
            .len()
            .clamp(1, self.config.train.batch_size);
        let mut last = None;
        while self.step < total {
            if ranks == 1 && stop.load(Ordering::SeqCst) {
                return self.interrupted(started, &mut on_event);
            }
            let step_start = Instant::now();
            let lr = schedule.at(self.step);
            // Each contribution (part of a micro-batch, rank) is weighted by its loss
            // normaliser, so the sum over all of them, divided by the total weight, is the
            // gradient of the loss of the whole global batch. A lone contribution is used as
            // it is.
            let syncing_ranks = if local_sgd { 1 } else { ranks };
            let weighted = accumulate as usize * parts * syncing_ranks > 1;
            let mut grads = Gradients::default();
            // Weight, weighted loss, images, stop requests.
            let mut totals = [0.0f64; 4];
            for micro in 0..accumulate {
                for mut m in self.micro_batch(self.step * accumulate + micro)? {
                    if weighted {
                        m.grads.scale(m.weight as f32)?;
                    }
                    grads.accumulate(m.grads)?;
                    totals[0] += m.weight;
                    totals[1] += f64::from(m.loss) * m.weight;
                    totals[2] += m.images as f64;
                }
            }
            totals[3] = f64::from(u8::from(stop.load(Ordering::SeqCst)));
            let next = self.step + 1;
            let every = |n: u64| n > 0 && next.is_multiple_of(n);
            let synchronise = !local_sgd
                || every(average_every)
                || every(self.config.train.eval_every)
                || every(self.config.train.checkpoint_every)
                || next == total;
            if !local_sgd {
                self.comm.all_reduce_sum_f64(&mut totals)?;
                all_reduce_gradients(self.comm.as_ref(), &self.model, &mut grads, bucket_values)?;
            }
            if weighted && totals[0] > 0.0 {
                grads.scale((1.0 / totals[0]) as f32)?;
            }
            let loss = if totals[0] > 0.0 {
                (totals[1] / totals[0]) as f32
            } else {
                0.0
            };
            if !loss.is_finite() {
                return Err(TrainError::Diverged {
                    step: self.step,
                    loss,
                    lr,
                });
            }
            self.optimizer.step(&mut self.model, &grads, lr)?;
            drop(grads);
            self.step += 1;
            let mut images = totals[2];
            let mut stop_requested = totals[3] > 0.0;
            if local_sgd {
                // Every rank trained on as many images as this one.
                images *= ranks as f64;
                // Ranks agree on stopping only when they synchronise.
                let mut flags = [f64::from(u8::from(stop_requested))];
                if synchronise {
                    average_model(self.comm.as_ref(), &mut self.model, bucket_values)?;
                    self.comm.all_reduce_sum_f64(&mut flags)?;
                }
                stop_requested = synchronise && flags[0] > 0.0;
            }
            let images_per_s = images / step_start.elapsed().as_secs_f64();
            if self.comm.rank() == 0 {
                let record = LogRecord::Step(StepRecord {
                    step: self.step,
                    loss: f64::from(loss),
                    lr: f64::from(lr),
                    images_per_s,
                    elapsed_s: started.elapsed().as_secs_f64(),
                });
                append_record(&self.dir.join(files::LOG), &record)?;
            }
            on_event(&Event::Step {
                step: self.step,
                total,
                loss,
                lr,
                images_per_s,
            });
            let every = self.config.train.eval_every;
            if self.step == total || (every > 0 && self.step.is_multiple_of(every)) {
                let evaluation = self.evaluate(started.elapsed().as_secs_f64())?;
                let event = Event::Eval {
                    step: self.step,
                    mean_iou: evaluation.matrix.mean_iou(),
                    pixel_accuracy: evaluation.matrix.pixel_accuracy(),
                    baseline_mean_iou: evaluation.majority_baseline_miou(),
                };
                on_event(&event);
                last = Some(event);
            }
            let every = self.config.train.checkpoint_every;
            if self.step == total || (every > 0 && self.step.is_multiple_of(every)) {
                self.checkpoint()?;
                on_event(&Event::Checkpoint { step: self.step });
            }
            if stop_requested && self.step < total {
                return self.interrupted(started, &mut on_event);
            }
        }
        if self.comm.rank() == 0 {
            self.model.save(&self.dir.join(files::FINAL))?;
        }
        let (mean_iou, baseline_mean_iou) = match last {
            Some(Event::Eval {
                mean_iou,
                baseline_mean_iou,
                ..
            }) => (mean_iou, baseline_mean_iou),
            _ => (None, None),
        };
        Ok(Summary {
            steps: self.step,
            interrupted: false,
            mean_iou,
            baseline_mean_iou,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}
