//! What the training loop reports: [`Event`]s as it goes, a [`Summary`] at the end.

/// What the loop tells its caller as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An optimizer step finished.
    Step {
        /// Steps done.
        step: u64,
        /// Steps in the run.
        total: u64,
        /// The step's loss (over the whole global batch; rank 0's own in local SGD).
        loss: f32,
        /// The learning rate used.
        lr: f32,
        /// Training images per second over the step (all ranks).
        images_per_s: f64,
    },
    /// An evaluation finished.
    Eval {
        /// Steps done.
        step: u64,
        /// Validation mean IoU.
        mean_iou: Option<f64>,
        /// Validation pixel accuracy.
        pixel_accuracy: Option<f64>,
        /// The majority-class baseline's mean IoU.
        baseline_mean_iou: Option<f64>,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Steps done.
        step: u64,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Steps done.
    pub steps: u64,
    /// Whether it stopped early on request (Ctrl-C); it can be resumed.
    pub interrupted: bool,
    /// The last validation mean IoU, if evaluated.
    pub mean_iou: Option<f64>,
    /// The majority-class baseline.
    pub baseline_mean_iou: Option<f64>,
    /// Seconds of wall-clock time in this process.
    pub seconds: f64,
}
