//! Scoring folders of label maps (`fcn eval --gt DIR --pred DIR`): ground-truth and predicted
//! label PNGs paired by file stem, scored with `fcn-metrics`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fcn_data::{LabelMap, read_label_png};
use fcn_metrics::{ConfusionMatrix, MetricsError, OutOfRange, PerImageIou, Report};
use ndarray::Array2;
use rayon::prelude::*;

use crate::error::{Result, TrainError};

/// Which folders to score, and how.
#[derive(Debug, Clone)]
pub struct LabelFolders {
    /// Folder of ground-truth label PNGs.
    pub gt_dir: PathBuf,
    /// Folder of predicted label PNGs, one per ground truth, same file stem.
    pub pred_dir: PathBuf,
    /// The number of classes.
    pub num_classes: usize,
    /// The ground-truth value to skip.
    pub ignore_index: Option<u32>,
    /// What to do with other ground-truth values outside the classes.
    pub out_of_range: OutOfRange,
    /// One name per class, or `None` for the indices.
    pub class_names: Option<Vec<String>>,
}

/// A ground-truth file and the prediction with the same stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPair {
    /// The shared file stem.
    pub stem: String,
    /// The ground-truth file.
    pub gt: PathBuf,
    /// The prediction file.
    pub pred: PathBuf,
}

/// Images decoded and scored together, in order, before their sums are added: bounds memory
/// and keeps the floating-point sums independent of thread timing.
const CHUNK: usize = 64;

/// Pairs the `.png` files of two folders by stem, sorted by stem. Every file must have a partner.
pub fn pair_label_files(gt_dir: &Path, pred_dir: &Path) -> Result<Vec<LabelPair>> {
    let gt = png_files_by_stem(gt_dir)?;
    let pred = png_files_by_stem(pred_dir)?;
    let missing_pred: Vec<PathBuf> = gt
        .iter()
        .filter(|(stem, _)| !pred.contains_key(*stem))
        .map(|(_, p)| p.clone())
        .collect();
    let missing_gt: Vec<PathBuf> = pred
        .iter()
        .filter(|(stem, _)| !gt.contains_key(*stem))
        .map(|(_, p)| p.clone())
        .collect();
    if !missing_pred.is_empty() || !missing_gt.is_empty() {
        return Err(TrainError::Unpaired {
            missing_pred,
            missing_gt,
        });
    }
    Ok(gt
        .into_iter()
        .zip(pred.into_values())
        .map(|((stem, gt), pred)| LabelPair { stem, gt, pred })
        .collect())
}

fn png_files_by_stem(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let io_error = |source| TrainError::Io {
        action: "cannot list",
        path: dir.to_owned(),
        source,
    };
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let is_png = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if !is_png || !path.is_file() {
            continue;
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(first) = files.insert(stem, path.clone()) {
            return Err(TrainError::DuplicateStem {
                first,
                second: path,
            });
        }
    }
    if files.is_empty() {
        return Err(TrainError::NoImages(dir.to_owned()));
    }
    Ok(files)
}

/// Reads a class-name file: one name per line, blank lines and `#` comments skipped.
pub fn read_class_names(path: &Path, num_classes: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if names.len() != num_classes {
        return Err(TrainError::ClassNames {
            path: path.to_owned(),
            expected: num_classes,
            actual: names.len(),
        });
    }
    Ok(names)
}

/// Scores every pair of the two folders and returns the report (dataset-level scores,
/// per-image averages). `progress` is called with (images done, images in all) after each
/// chunk.
pub fn score_folders(options: &LabelFolders, progress: impl Fn(usize, usize)) -> Result<Report> {
    let pairs = pair_label_files(&options.gt_dir, &options.pred_dir)?;
    let matrix = ConfusionMatrix::new(options.num_classes)?
        .with_ignore_index(options.ignore_index)
        .with_out_of_range(options.out_of_range);
    let (matrix, per_image) = score_pairs(&pairs, matrix, progress)?;
    let report = Report::new(&matrix, options.class_names.as_deref())?.with_per_image(&per_image);
    Ok(report)
}

/// Scores the pairs in parallel into `matrix` and a per-image accumulator with its settings.
pub fn score_pairs(
    pairs: &[LabelPair],
    mut matrix: ConfusionMatrix,
    progress: impl Fn(usize, usize),
) -> Result<(ConfusionMatrix, PerImageIou)> {
    let mut per_image = PerImageIou::like(&matrix);
    for (done, chunk) in pairs.chunks(CHUNK).enumerate() {
        let scored: Vec<Result<ConfusionMatrix>> = chunk
            .par_iter()
            .map(|pair| score_pair(pair, &matrix))
            .collect();
        for image in scored {
            let image = image?;
            matrix.merge(&image)?;
            per_image.add_image(&image)?;
        }
        progress(done * CHUNK + chunk.len(), pairs.len());
    }
    Ok((matrix, per_image))
}

/// The confusion matrix of one pair, with the settings of `template`.
fn score_pair(pair: &LabelPair, template: &ConfusionMatrix) -> Result<ConfusionMatrix> {
    let gt = read_label_png(&pair.gt)?;
    let pred = read_label_png(&pair.pred)?;
    if gt.dim() != pred.dim() {
        // (w, h), as the message has always said.
        let width_height = |m: &LabelMap| {
            let (h, w) = m.dim();
            (w as u32, h as u32)
        };
        return Err(TrainError::SizeMismatch {
            gt: pair.gt.clone(),
            gt_size: width_height(&gt),
            pred: pair.pred.clone(),
            pred_size: width_height(&pred),
        });
    }
    let mut image = template.empty_like();
    update(&mut image, &pred, &gt).map_err(|problem| {
        // Blame the file that holds the bad value.
        let path = match problem {
            MetricsError::PredictionOutOfRange { .. } => &pair.pred,
            _ => &pair.gt,
        };
        TrainError::Labels {
            path: path.clone(),
            problem,
        }
    })?;
    Ok(image)
}

fn update(
    matrix: &mut ConfusionMatrix,
    pred: &LabelMap,
    gt: &LabelMap,
) -> Result<(), MetricsError> {
    match (pred, gt) {
        (LabelMap::U8(p), LabelMap::U8(t)) => matrix.update(&row_major(p), &row_major(t)),
        (LabelMap::U8(p), LabelMap::U16(t)) => matrix.update(&row_major(p), &row_major(t)),
        (LabelMap::U16(p), LabelMap::U8(t)) => matrix.update(&row_major(p), &row_major(t)),
        (LabelMap::U16(p), LabelMap::U16(t)) => matrix.update(&row_major(p), &row_major(t)),
    }
}

/// The values in row-major order: borrowed when the map is laid out so (decoded maps are).
fn row_major<T: Clone>(map: &Array2<T>) -> Cow<'_, [T]> {
    match map.as_slice() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(map.iter().cloned().collect()),
    }
}
