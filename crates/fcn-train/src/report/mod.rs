//! `fcn report`: one self-contained HTML page summarising a run directory.
//!
//! The page needs no server and no network: the plots are inline SVG drawn here, the images
//! are PNGs embedded as base64 data URIs. Everything it shows comes from the files the
//! training loop writes: `config.toml`, `log.jsonl` and `predictions/`. Missing pieces (no
//! evaluation yet, no saved predictions) are said on the page; a malformed log line is an
//! error naming the file and the line.

mod class_charts;
mod curves;
mod page;
mod predictions;
mod run_log;
mod svg_chart;
mod text;

use std::path::{Path, PathBuf};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::files;
use page::Page;
use predictions::{class_colors, read_predictions};
use run_log::read_log;

/// Writes `RUN_DIR/report.html`, atomically, and returns its path.
///
/// ```no_run
/// let path = fcn_train::write_report("runs/demo".as_ref())?;
/// println!("open {}", path.display());
/// # Ok::<(), fcn_train::TrainError>(())
/// ```
pub fn write_report(run_dir: &Path) -> Result<PathBuf> {
    let html = render_report(run_dir)?;
    let path = run_dir.join(files::REPORT);
    fcn_data::write_atomically(&path, html.as_bytes())?;
    Ok(path)
}

/// The HTML page of the run in `run_dir`, without writing it.
pub fn render_report(run_dir: &Path) -> Result<String> {
    if !run_dir.is_dir() {
        return Err(TrainError::NotADirectory(run_dir.to_owned()));
    }
    let config_path = run_dir.join(files::CONFIG);
    let config = if config_path.exists() {
        Some(TrainConfig::from_file(&config_path)?)
    } else {
        None
    };
    let log = read_log(&run_dir.join(files::LOG))?;
    let last_eval = log.as_ref().and_then(|l| l.evals.last());
    let ignore = last_eval.map_or(Some(255), |e| e.report.ignore_index);
    let num_classes = last_eval.map(|e| e.report.num_classes);
    let predictions = read_predictions(&run_dir.join(files::PREDICTIONS), ignore, num_classes)?;
    let palette = predictions
        .iter()
        .find_map(|p| p.palette.clone())
        .unwrap_or_default();
    let names: Vec<String> = match last_eval {
        Some(e) => e.report.per_class.iter().map(|c| c.name.clone()).collect(),
        None => (0..palette.len().min(256)).map(|c| c.to_string()).collect(),
    };
    let colors = class_colors(&palette, names.len());
    let page = Page {
        run_dir,
        config: config.as_ref(),
        log: log.as_ref(),
        names: &names,
        colors: &colors,
        predictions: &predictions,
    };
    Ok(page.render())
}
