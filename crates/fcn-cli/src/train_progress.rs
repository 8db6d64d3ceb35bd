//! Progress of `fcn train` on the terminal: a bar with ETA, loss and throughput on a TTY; one
//! line per evaluation and checkpoint otherwise (logs, CI).

use std::io::IsTerminal;

use fcn_train::Event;
use indicatif::{ProgressBar, ProgressStyle};

/// Shows training events.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    start_step: u64,
}

impl Progress {
    /// A display for a run starting at `start_step` (non-zero when resumed).
    pub(crate) fn new(start_step: u64) -> Self {
        Self {
            bar: None,
            start_step,
        }
    }

    fn bar(&mut self, total: u64) -> &ProgressBar {
        self.bar.get_or_insert_with(|| {
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new(total)
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} steps  ETA {eta}  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(self.start_step);
            bar.reset_eta();
            bar
        })
    }

    /// Shows one event.
    pub(crate) fn event(&mut self, event: &Event) {
        match *event {
            Event::Step {
                step,
                total,
                loss,
                lr,
                images_per_s,
            } => {
                let bar = self.bar(total);
                bar.set_position(step);
                bar.set_message(format!(
                    "loss {loss:.4}  lr {lr:.2e}  {images_per_s:.1} img/s"
                ));
            }
            Event::Eval {
                step,
                mean_iou,
                pixel_accuracy,
                baseline_mean_iou,
            } => {
                let show = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.4}"));
                let line = format!(
                    "step {step}: validation mean IoU {} (baseline {}), pixel accuracy {}",
                    show(mean_iou),
                    show(baseline_mean_iou),
                    show(pixel_accuracy)
                );
                match &self.bar {
                    Some(bar) if !bar.is_hidden() => bar.println(line),
                    _ => eprintln!("{line}"),
                }
            }
            Event::Checkpoint { step } => {
                if self.bar.as_ref().is_none_or(ProgressBar::is_hidden) {
                    eprintln!("step {step}: checkpoint written");
                }
            }
        }
    }

    /// Clears the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
