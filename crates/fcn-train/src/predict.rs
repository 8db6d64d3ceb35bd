//! Writing predictions: palette label PNGs, overlays and class scores. One path serves
//! `fcn predict` ([`predict_image`]) and the validation images a training run keeps
//! ([`save_validation_predictions`]): the model's class scores, their argmax as a byte label
//! map ([`label_bytes`], [`label_map`]), written as a palette PNG.

use std::path::{Path, PathBuf};

use fcn_core::Fcn;
use fcn_core::PreprocessExt;
use fcn_core::tensor::ops;
use fcn_data::Dataset;
use ndarray::Array2;

use crate::error::{Result, TrainError};
use crate::evaluate::class_scores;
use crate::files;

/// What to write besides the label map.
#[derive(Debug, Clone, Copy, Default)]
pub struct PredictOptions {
    /// Also write the class scores as a float32 `.npy` (classes x H x W).
    pub logits: bool,
}

/// The files written for one image.
#[derive(Debug, Clone)]
pub struct Written {
    /// Palette PNG of the predicted classes (VOC colour map; palette index = class).
    pub labels: PathBuf,
    /// The image with the class colours blended over it.
    pub overlay: PathBuf,
    /// The scores, with `logits`.
    pub logits: Option<PathBuf>,
}

/// The model a `--model` argument names: a weights file, or a run directory (its best
/// weights, else its final ones).
pub fn model_path(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        for name in [files::BEST, files::FINAL] {
            let candidate = path.join(name);
            if candidate.exists() {
                return Ok(candidate);
            }
        }
        return Err(TrainError::NoModel(path.to_owned()));
    }
    Ok(path.to_owned())
}

/// Class scores (C, H, W) as a little-endian float32 `.npy` (format 1.0).
pub fn npy_f32(values: &[f32], shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + header length (2) + header + newline, padded to 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * values.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Predicted classes as bytes: classes beyond 255 do not fit a palette PNG and become 255
/// (shown as void).
pub fn label_bytes(labels: &[u32]) -> Vec<u8> {
    labels
        .iter()
        .map(|&c| u8::try_from(c).unwrap_or(255))
        .collect()
}

/// A row-major byte label map of an image of `(height, width)`.
pub fn label_map(labels: Vec<u8>, (height, width): (usize, usize)) -> Result<Array2<u8>> {
    let actual = labels.len();
    Array2::from_shape_vec((height, width), labels).map_err(|_| TrainError::PredictionLength {
        expected: (height, width),
        actual,
    })
}

/// Segments one image file, writing `<stem>_labels.png`, `<stem>_overlay.png` and (with
/// `logits`) `<stem>_logits.npy` into `out_dir`.
pub fn predict_image(
    model: &Fcn,
    image_path: &Path,
    out_dir: &Path,
    options: PredictOptions,
) -> Result<Written> {
    let image = fcn_data::read_rgb(image_path)?;
    let (h, w, _) = image.dim();
    let rgb: Vec<u8> = image.iter().copied().collect();
    let input = model.preprocess().apply(&rgb, h, w)?;
    let scores = class_scores(model, input)?;
    let labels = ops::argmax_channels(&scores).map_err(fcn_core::CoreError::from)?;
    let colors = fcn_data::voc_colormap(model.num_classes().max(256));
    let stem = image_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let label_map = label_map(label_bytes(&labels), (h, w))?;
    let written = Written {
        labels: out_dir.join(format!("{stem}_labels.png")),
        overlay: out_dir.join(format!("{stem}_overlay.png")),
        logits: options
            .logits
            .then(|| out_dir.join(format!("{stem}_logits.npy"))),
    };
    fcn_data::write_palette_png(&written.labels, &label_map, &colors[..256])?;
    let overlay = fcn_data::overlay_labels(&image, &label_map, &colors, None)?;
    fcn_data::write_rgb_png(&written.overlay, &overlay)?;
    if let Some(path) = &written.logits {
        let values = scores.to_vec().map_err(fcn_core::CoreError::from)?;
        let bytes = npy_f32(&values, &scores.shape()[1..]);
        fcn_data::write_atomically(path, &bytes)?;
    }
    Ok(written)
}

/// Writes `NNNN_image.png`, `NNNN_pred.png` and (when labelled) `NNNN_gt.png` into `dir` for
/// each kept validation image: its index in `dataset` and its predicted labels
/// ([`label_bytes`]), drawn with `colors`.
pub fn save_validation_predictions(
    dir: &Path,
    dataset: &dyn Dataset,
    kept: &[(usize, Vec<u8>)],
    colors: &[[u8; 3]],
) -> Result<()> {
    if kept.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io("cannot create", dir, e))?;
    for (index, pred) in kept {
        let sample = dataset.get(*index)?;
        let pred = label_map(pred.clone(), sample.dim())?;
        let stem = format!("{index:04}");
        fcn_data::write_rgb_png(&dir.join(format!("{stem}_image.png")), &sample.image)?;
        fcn_data::write_palette_png(&dir.join(format!("{stem}_pred.png")), &pred, colors)?;
        if let Some(gt) = sample.label.to_u8() {
            fcn_data::write_palette_png(&dir.join(format!("{stem}_gt.png")), &gt, colors)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_valid() {
        let bytes = npy_f32(&[1.0, 2.0], &[1, 2, 1]);
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'shape': (1, 2, 1)") && header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + header_len + 8);
    }

    #[test]
    fn labels_beyond_a_byte_become_void() {
        assert_eq!(label_bytes(&[0, 255, 256, 70_000]), [0, 255, 255, 255]);
        assert!(matches!(
            label_map(vec![0; 5], (2, 3)),
            Err(TrainError::PredictionLength {
                expected: (2, 3),
                actual: 5
            })
        ));
    }
}
