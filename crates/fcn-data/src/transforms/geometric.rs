//! Geometric transforms: scale, resize, crop, flip. Labels move with nearest-neighbour
//! sampling and are padded with the ignore value.

use fcn_common::SplitMix64;
use ndarray::{Array2, Array3};

use super::compose::Transform;
use super::pixels::{check_label_matches, check_size, contiguous};
use super::resample::resize_sample;
use crate::error::{Error, Result};
use crate::sample::{LabelMap, Sample};

/// Rescales image and label by a factor drawn uniformly from `[min, max]` (image bilinear,
/// label nearest); the new size is `round(side * factor)`, at least 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomScale {
    min: f64,
    max: f64,
}

impl RandomScale {
    /// Factors in `[min, max]`, `0 < min <= max`.
    pub fn new(min: f64, max: f64) -> Result<Self> {
        if !(min > 0.0 && min <= max && max.is_finite()) {
            return Err(Error::invalid(
                "random scale",
                format!("need 0 < min <= max, got {min}..{max}"),
            ));
        }
        Ok(Self { min, max })
    }
}

impl Transform for RandomScale {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        check_label_matches(&sample)?;
        let factor = rng.uniform(self.min, self.max);
        let (h, w) = sample.dim();
        let scaled = |side: usize| ((side as f64 * factor).round() as usize).max(1);
        resize_sample(sample, scaled(h), scaled(w))
    }
}

/// Resizes image (bilinear) and label (nearest) to a fixed size, e.g. for evaluation at a set
/// input size. Deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resize {
    height: usize,
    width: usize,
}

impl Resize {
    /// To `height` x `width` (both positive).
    pub fn new(height: usize, width: usize) -> Result<Self> {
        check_size("resize", height, width)?;
        Ok(Self { height, width })
    }
}

impl Transform for Resize {
    fn apply(&self, sample: Sample, _rng: &mut SplitMix64) -> Result<Sample> {
        check_label_matches(&sample)?;
        resize_sample(sample, self.height, self.width)
    }
}

/// The mean pixel of the Caffe FCN models (RGB, rounded): padding an image with it gives
/// zeros, near enough, after [`Normalization::Caffe`](crate::transforms::Normalization::Caffe).
pub const CAFFE_MEAN_PIXEL: [u8; 3] = [123, 117, 104];

/// Crops a random `height` x `width` window. A smaller sample is first padded at the bottom
/// and right (as mmsegmentation does): the image with `image_fill`, the label with
/// `label_fill` (the ignore value, 255 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomCrop {
    height: usize,
    width: usize,
    image_fill: [u8; 3],
    label_fill: u16,
}

impl RandomCrop {
    /// A `height` x `width` crop padded with [`CAFFE_MEAN_PIXEL`] and label 255.
    pub fn new(height: usize, width: usize) -> Result<Self> {
        check_size("random crop", height, width)?;
        Ok(Self {
            height,
            width,
            image_fill: CAFFE_MEAN_PIXEL,
            label_fill: 255,
        })
    }

    /// Sets the padding values.
    pub fn with_fill(mut self, image_fill: [u8; 3], label_fill: u16) -> Self {
        self.image_fill = image_fill;
        self.label_fill = label_fill;
        self
    }
}

/// Copies the window at (top, left) of size (height, width) from a row-major `src` of
/// `src_h` x `src_w` cells of `cell` values; cells outside the source get `fill`.
#[allow(clippy::too_many_arguments)]
fn crop_padded<T: Copy>(
    src: &[T],
    (src_h, src_w): (usize, usize),
    cell: usize,
    (top, left): (usize, usize),
    (height, width): (usize, usize),
    fill: &[T],
) -> Vec<T> {
    let mut out = Vec::with_capacity(height * width * cell);
    for y in top..top + height {
        let inside = left.min(src_w)..(left + width).min(src_w);
        if y < src_h {
            out.extend_from_slice(
                &src[(y * src_w + inside.start) * cell..(y * src_w + inside.end) * cell],
            );
        }
        let filled = if y < src_h {
            width - inside.len()
        } else {
            width
        };
        for _ in 0..filled {
            out.extend_from_slice(fill);
        }
    }
    out
}

/// Crops (with padding) image and label to the window at (top, left).
pub(crate) fn crop_sample(
    sample: Sample,
    (top, left): (usize, usize),
    (height, width): (usize, usize),
    image_fill: [u8; 3],
    label_fill: u16,
) -> Result<Sample> {
    check_label_matches(&sample)?;
    let dim = sample.dim();
    let image = crop_padded(
        &contiguous(&sample.image),
        dim,
        3,
        (top, left),
        (height, width),
        &image_fill,
    );
    let image =
        Array3::from_shape_vec((height, width, 3), image).map_err(|source| Error::Shape {
            what: "crop",
            source,
        })?;
    let label = match &sample.label {
        LabelMap::U8(a) => {
            let fill = u8::try_from(label_fill).map_err(|_| {
                Error::invalid(
                    "crop",
                    format!(
                        "label fill {label_fill} does not fit the 8-bit labels of {}",
                        sample.id
                    ),
                )
            })?;
            let v = crop_padded(
                &contiguous(a),
                dim,
                1,
                (top, left),
                (height, width),
                &[fill],
            );
            LabelMap::U8(
                Array2::from_shape_vec((height, width), v).map_err(|source| Error::Shape {
                    what: "crop",
                    source,
                })?,
            )
        }
        LabelMap::U16(a) => {
            let v = crop_padded(
                &contiguous(a),
                dim,
                1,
                (top, left),
                (height, width),
                &[label_fill],
            );
            LabelMap::U16(
                Array2::from_shape_vec((height, width), v).map_err(|source| Error::Shape {
                    what: "crop",
                    source,
                })?,
            )
        }
    };
    Ok(Sample {
        image,
        label,
        ..sample
    })
}

impl Transform for RandomCrop {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        let (h, w) = sample.dim();
        let top = rng.below_usize(h.saturating_sub(self.height) + 1);
        let left = rng.below_usize(w.saturating_sub(self.width) + 1);
        crop_sample(
            sample,
            (top, left),
            (self.height, self.width),
            self.image_fill,
            self.label_fill,
        )
    }
}

/// Mirrors image and label left-right with probability `probability`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HorizontalFlip {
    probability: f64,
}

impl HorizontalFlip {
    /// Flips with probability `probability` in `[0, 1]`.
    pub fn new(probability: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&probability) {
            return Err(Error::NotAFraction {
                what: "horizontal flip",
                parameter: "probability",
                value: probability,
            });
        }
        Ok(Self { probability })
    }
}

/// Mirrors every row of a row-major `height` x `width` map of `cell`-value cells.
fn flip_rows<T: Copy>(values: &mut [T], width: usize, cell: usize) {
    if width == 0 {
        return;
    }
    for row in values.chunks_exact_mut(width * cell) {
        for x in 0..width / 2 {
            for c in 0..cell {
                row.swap(x * cell + c, (width - 1 - x) * cell + c);
            }
        }
    }
}

fn flip_array<T: Copy, D: ndarray::Dimension>(
    array: ndarray::Array<T, D>,
    width: usize,
    cell: usize,
) -> ndarray::Array<T, D> {
    let mut array = array.as_standard_layout().into_owned();
    if let Some(values) = array.as_slice_mut() {
        flip_rows(values, width, cell);
    }
    array
}

impl Transform for HorizontalFlip {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        check_label_matches(&sample)?;
        if !rng.chance(self.probability) {
            return Ok(sample);
        }
        let (_, w) = sample.dim();
        let label = match sample.label {
            LabelMap::U8(a) => LabelMap::U8(flip_array(a, w, 1)),
            LabelMap::U16(a) => LabelMap::U16(flip_array(a, w, 1)),
        };
        Ok(Sample {
            image: flip_array(sample.image, w, 3),
            label,
            ..sample
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::photometric::PhotometricJitter;

    fn sample(h: usize, w: usize) -> Sample {
        let image = Array3::from_shape_fn((h, w, 3), |(y, x, c)| (y * 16 + x * 3 + c) as u8);
        let label = LabelMap::U8(Array2::from_shape_fn((h, w), |(y, x)| (y * w + x) as u8));
        Sample {
            image,
            label,
            id: "s".into(),
            image_path: None,
            label_path: None,
        }
    }

    #[test]
    fn crop_pads_label_with_fill_and_keeps_values() {
        let s = sample(3, 4);
        let out = crop_sample(s.clone(), (1, 2), (4, 4), [9, 9, 9], 255).unwrap();
        let LabelMap::U8(l) = &out.label else {
            panic!()
        };
        assert_eq!(l[[0, 0]], 6); // (1, 2) of the source
        assert_eq!(l[[0, 1]], 7);
        assert_eq!(l[[0, 2]], 255);
        assert_eq!(l[[3, 0]], 255);
        assert_eq!(out.image[[0, 2, 1]], 9);
        assert_eq!(out.image[[0, 0, 0]], s.image[[1, 2, 0]]);
        // A 16-bit fill cannot go into 8-bit labels.
        assert!(crop_sample(s, (0, 0), (5, 5), [0; 3], 300).is_err());
    }

    #[test]
    fn flip_twice_is_identity() {
        let s = sample(3, 5);
        let flip = HorizontalFlip::new(1.0).unwrap();
        let mut rng = SplitMix64::new(0);
        let once = flip.apply(s.clone(), &mut rng).unwrap();
        assert_eq!(once.image[[0, 0, 0]], s.image[[0, 4, 0]]);
        assert_eq!(once.label.get(2, 1), s.label.get(2, 3));
        let twice = flip.apply(once, &mut rng).unwrap();
        assert_eq!(twice, s);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(RandomScale::new(0.0, 1.0).is_err());
        assert!(RandomScale::new(2.0, 1.0).is_err());
        assert!(RandomCrop::new(0, 3).is_err());
        assert!(HorizontalFlip::new(1.5).is_err());
        assert!(PhotometricJitter::new(2.0, 0.0, 0.0).is_err());
        assert!(Resize::new(3, 0).is_err());
        assert!(Resize::new(3, 100_000).is_err());
        // A huge scale factor is refused when applied, not allocated.
        let mut rng = SplitMix64::new(0);
        let huge = RandomScale::new(1e6, 1e6).unwrap();
        assert!(huge.apply(sample(4, 4), &mut rng).is_err());
    }

    #[test]
    fn mismatched_label_is_an_error_not_a_panic() {
        let mut s = sample(4, 4);
        s.label = LabelMap::U8(Array2::zeros((3, 4)));
        let mut rng = SplitMix64::new(0);
        assert!(
            RandomCrop::new(2, 2)
                .unwrap()
                .apply(s.clone(), &mut rng)
                .is_err()
        );
        assert!(Resize::new(2, 2).unwrap().apply(s, &mut rng).is_err());
    }
}
