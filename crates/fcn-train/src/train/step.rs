//! One step's forward and backward passes: a batch whole, or split into parts that run at
//! once on their own threads (`train.batch_split`).

use fcn_core::{Device, Fcn, Gradients, Mode, Reduction, Tape, Tensor, derive_seed};

use super::run::Run;
use crate::error::{Result, TrainError};

/// What a forward and backward pass needs: shareable by the threads of a split batch.
pub(super) struct ForwardContext<'a> {
    model: &'a Fcn,
    device: Device,
    seed: u64,
    reduction: Reduction,
    ignore: i64,
    class_weights: Option<&'a [f32]>,
}

impl ForwardContext<'_> {
    /// Forward and backward of one batch (N x 3 x H x W images, N x H x W labels).
    fn forward_backward(
        &self,
        images: Vec<f32>,
        shape: [usize; 4],
        labels: &[u16],
        dropout_stream: &str,
    ) -> Result<MicroBatch> {
        let count = shape[0];
        let target: Vec<i64> = labels.iter().map(|&v| i64::from(v)).collect();
        let (ignore, reduction) = (self.ignore, self.reduction);
        let weight = match reduction {
            Reduction::SumOverBatch => count as f64,
            _ => target
                .iter()
                .filter(|&&t| t != ignore)
                .map(|&t| {
                    let w = self.class_weights.and_then(|w| w.get(t as usize));
                    f64::from(w.copied().unwrap_or(1.0))
                })
                .sum(),
        };
        let input = Tensor::from_vec(images, &shape)
            .and_then(|t| t.to_device(self.device))
            .map_err(fcn_core::CoreError::from)?;
        let mut tape = Tape::new();
        let x = tape.constant(input);
        let seed = derive_seed(self.seed, dropout_stream);
        let logits = self.model.forward(&mut tape, &x, Mode::Train { seed })?;
        let loss =
            tape.softmax_cross_entropy(&logits, &target, ignore, self.class_weights, reduction)?;
        drop(logits);
        let value = loss.value().to_vec().map_err(fcn_core::CoreError::from)?[0];
        Ok(MicroBatch {
            grads: tape.backward(&loss)?,
            loss: value,
            images: count,
            weight,
        })
    }
}

/// What one micro-batch contributes to a step.
pub(super) struct MicroBatch {
    pub(super) grads: Gradients,
    pub(super) loss: f32,
    pub(super) images: usize,
    /// The loss's normaliser: the (class-weighted) count of valid pixels for a `mean` loss,
    /// the number of images for `sum`. Contributions are weighted by it, so any split of a
    /// global batch (micro-batches, ranks) gives the gradient of the whole batch's loss.
    pub(super) weight: f64,
}

impl Run {
    /// The next batch's contributions: the whole batch, or its parts with `train.batch_split`.
    pub(super) fn micro_batch(&mut self, micro: u64) -> Result<Vec<MicroBatch>> {
        let batch = self.stream.next()?;
        let stream = match self.comm.rank() {
            0 => format!("dropout {micro}"),
            rank => format!("dropout {micro} rank {rank}"),
        };
        let parts = self.split_pools.len().min(batch.len());
        if parts <= 1 {
            let whole = self.forward_context().forward_backward(
                batch.images,
                batch.shape,
                &batch.labels,
                &stream,
            )?;
            return Ok(vec![whole]);
        }
        // Split along the batch: each part runs on its own thread with its own share of the
        // cores (small convolutions keep a core busier than a share of one operation). The
        // training loop weights the parts like any other contribution, which gives the whole
        // batch's gradient.
        let [n, c, h, w] = batch.shape;
        let (image_len, label_len) = (c * h * w, h * w);
        let context = self.forward_context();
        let context = &context;
        let results: Vec<Result<MicroBatch>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..parts)
                .map(|p| {
                    let (start, end) = (p * n / parts, (p + 1) * n / parts);
                    let images = batch.images[start * image_len..end * image_len].to_vec();
                    let labels = &batch.labels[start * label_len..end * label_len];
                    let stream = match p {
                        0 => stream.clone(),
                        p => format!("{stream} part {p}"),
                    };
                    let pool = &self.split_pools[p];
                    scope.spawn(move || {
                        pool.install(|| {
                            context.forward_backward(
                                images,
                                [end - start, c, h, w],
                                labels,
                                &stream,
                            )
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .enumerate()
                .map(|(part, h)| {
                    h.join().unwrap_or_else(|payload| {
                        Err(TrainError::ThreadPanicked {
                            part,
                            message: panic_message(payload.as_ref()),
                        })
                    })
                })
                .collect()
        });
        results.into_iter().collect()
    }

    fn forward_context(&self) -> ForwardContext<'_> {
        ForwardContext {
            model: &self.model,
            device: self.device,
            seed: self.config.train.seed,
            reduction: self.config.optim.loss.reduction(),
            ignore: i64::from(self.classes.ignore().unwrap_or(255)),
            class_weights: self.class_weights.as_deref(),
        }
    }
}

/// The message a thread panicked with (`panic!` with a literal or a formatted message).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_kept() {
        let literal = std::thread::spawn(|| panic!("out of memory"))
            .join()
            .unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), "out of memory");
        let formatted = std::thread::spawn(|| panic!("part {}", 2))
            .join()
            .unwrap_err();
        assert_eq!(panic_message(formatted.as_ref()), "part 2");
    }
}
