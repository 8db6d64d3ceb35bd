//! The saved validation predictions (`predictions/NNNN_{image,gt,pred}.png`), blended over
//! their images and ready to embed.

use std::path::Path;

use ndarray::{Array2, Array3};

use crate::error::{Result, TrainError};

/// A saved validation prediction, ready to embed.
pub(super) struct Prediction {
    pub(super) stem: String,
    pub(super) image_png: Vec<u8>,
    /// (height, width).
    pub(super) size: (usize, usize),
    pub(super) gt_png: Option<Vec<u8>>,
    pub(super) pred_png: Option<Vec<u8>>,
    /// Correct pixels over counted ground-truth pixels.
    pub(super) accuracy: Option<f64>,
    pub(super) palette: Option<Vec<[u8; 3]>>,
}

/// Reads `predictions/NNNN_{image,gt,pred}.png` and blends the labels over the images.
pub(super) fn read_predictions(
    dir: &Path,
    ignore: Option<u32>,
    num_classes: Option<usize>,
) -> Result<Vec<Prediction>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io("cannot read", dir, e)),
    };
    let mut stems = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io("cannot read", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix("_image.png") {
            stems.push(stem.to_owned());
        }
    }
    stems.sort();
    stems
        .into_iter()
        .map(|stem| read_prediction(dir, stem, ignore, num_classes))
        .collect()
}

/// A decoded label PNG with its palette (empty when it has none).
type Labels = (Array2<u16>, Vec<[u8; 3]>);

fn read_prediction(
    dir: &Path,
    stem: String,
    ignore: Option<u32>,
    num_classes: Option<usize>,
) -> Result<Prediction> {
    let image_path = dir.join(format!("{stem}_image.png"));
    let image_png =
        std::fs::read(&image_path).map_err(|e| TrainError::io("cannot read", &image_path, e))?;
    let image = fcn_data::decode_rgb(&image_png, &image_path)?;
    let (height, width, _) = image.dim();
    let mut palette = None;
    let mut labels = |kind: &str| -> Result<Option<Labels>> {
        let path = dir.join(format!("{stem}_{kind}.png"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(TrainError::io("cannot read", &path, e)),
        };
        let map = fcn_data::decode_label_png(&bytes, &path)?.to_u16();
        if map.dim() != (height, width) {
            return Err(TrainError::PredictionSize {
                path,
                expected: (height, width),
                actual: map.dim(),
            });
        }
        let file_palette = png_palette(&bytes);
        if palette.is_none() {
            palette.clone_from(&file_palette);
        }
        Ok(Some((map, file_palette.unwrap_or_default())))
    };
    let gt = labels("gt")?;
    let pred = labels("pred")?;
    let n = num_classes.unwrap_or(usize::MAX);
    let encode = |labels: &Option<Labels>| -> Result<Option<Vec<u8>>> {
        match labels {
            Some((map, file_palette)) => {
                let colors = class_colors(file_palette, n.min(256));
                let blended = overlay(&image, map, &colors, ignore, n)?;
                Ok(Some(fcn_data::encode_rgb_png(&blended)?))
            }
            None => Ok(None),
        }
    };
    let accuracy = match (&gt, &pred) {
        (Some((gt, _)), Some((pred, _))) => {
            let (mut counted, mut correct) = (0u64, 0u64);
            for (&g, &p) in gt.iter().zip(pred.iter()) {
                if Some(u32::from(g)) == ignore || usize::from(g) >= n {
                    continue;
                }
                counted += 1;
                correct += u64::from(g == p);
            }
            (counted > 0).then(|| correct as f64 / counted as f64)
        }
        _ => None,
    };
    Ok(Prediction {
        gt_png: encode(&gt)?,
        pred_png: encode(&pred)?,
        stem,
        image_png,
        size: (height, width),
        accuracy,
        palette,
    })
}

/// The PLTE chunk of a PNG file, if it has one (palette index = class).
fn png_palette(bytes: &[u8]) -> Option<Vec<[u8; 3]>> {
    let mut rest = bytes.strip_prefix(b"\x89PNG\r\n\x1a\n")?;
    while rest.len() >= 12 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = &rest[4..8];
        let data = rest.get(8..8usize.checked_add(len)?)?;
        match kind {
            b"PLTE" => {
                return Some(data.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect());
            }
            b"IDAT" | b"IEND" => return None,
            _ => rest = rest.get(12 + len..)?,
        }
    }
    None
}

/// One colour per class: the file's palette, completed with the VOC colour map.
pub(super) fn class_colors(palette: &[[u8; 3]], n: usize) -> Vec<[u8; 3]> {
    let voc = fcn_data::voc_colormap(n.max(palette.len()).min(256));
    (0..n.min(256))
        .map(|c| palette.get(c).or(voc.get(c)).copied().unwrap_or([0, 0, 0]))
        .collect()
}

/// The class colours blended at 50% over `image`; ignored and unknown labels leave the image.
fn overlay(
    image: &Array3<u8>,
    labels: &Array2<u16>,
    colors: &[[u8; 3]],
    ignore: Option<u32>,
    num_classes: usize,
) -> Result<Array3<u8>> {
    let colors = &colors[..colors.len().min(num_classes)];
    let ignore = ignore.and_then(|i| u16::try_from(i).ok());
    Ok(fcn_data::overlay_labels(image, labels, colors, ignore)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_palette_reads_the_plte_chunk() {
        let labels = Array2::from_shape_vec((1, 2), vec![0u8, 1]).unwrap();
        let png = fcn_data::encode_palette_png(&labels, &[[1, 2, 3], [4, 5, 6]]).unwrap();
        assert_eq!(png_palette(&png), Some(vec![[1, 2, 3], [4, 5, 6]]));
        assert_eq!(png_palette(b"not a png"), None);
    }

    #[test]
    fn overlay_blends_half_and_leaves_ignored_pixels() {
        let image = Array3::from_elem((1, 3, 3), 100u8);
        let labels = Array2::from_shape_vec((1, 3), vec![0u16, 255, 7]).unwrap();
        let out = overlay(&image, &labels, &[[200, 0, 100]], Some(255), 1).unwrap();
        assert_eq!(
            out.slice(ndarray::s![0, 0, ..]).to_vec(),
            vec![150, 50, 100]
        );
        assert_eq!(
            out.slice(ndarray::s![0, 1, ..]).to_vec(),
            vec![100, 100, 100]
        );
        assert_eq!(
            out.slice(ndarray::s![0, 2, ..]).to_vec(),
            vec![100, 100, 100]
        );
    }
}
