//! The training batches of successive epochs, resumable mid-epoch.

use fcn_data::loader::{Batch, Epoch, Loader};

use crate::error::{Result, TrainError};

/// The batches of successive epochs, with the position needed to resume.
pub(super) struct BatchStream {
    pub(super) loader: Loader,
    pub(super) epoch: u64,
    pub(super) batch_in_epoch: usize,
    pub(super) current: Option<Epoch>,
}

impl BatchStream {
    pub(super) fn next(&mut self) -> Result<Batch> {
        loop {
            if self.current.is_none() {
                self.current = Some(self.loader.epoch_from(self.epoch, self.batch_in_epoch));
            }
            if let Some(epoch) = &mut self.current
                && let Some(batch) = epoch.next()
            {
                self.batch_in_epoch += 1;
                return Ok(batch?);
            }
            if self.batch_in_epoch == 0 {
                return Err(TrainError::config(
                    "data.train",
                    "the training set yields no batch",
                ));
            }
            self.current = None;
            self.epoch += 1;
            self.batch_in_epoch = 0;
        }
    }
}
