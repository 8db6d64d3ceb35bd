//! Seeded transforms applied to an image and its label map together, and the two input
//! normalisations of FCN models.
//!
//! Labels are never interpolated: every geometric transform moves label values with nearest
//! neighbour sampling, and padding fills labels with the ignore value. Randomness comes from an
//! explicit [`SplitMix64`] generator that the caller seeds (the [`loader`](crate::loader) seeds
//! it from the run's seed, the epoch and the sample's position), never from thread timing.
//!
//! Resizing matches Pillow exactly: [`resize_bilinear`] is `Image.resize(size, BILINEAR)`
//! (Pillow's separable, antialiased convolution with its 22-bit fixed-point coefficients) and
//! [`resize_nearest`] is `Image.resize(size, NEAREST)`. Both are checked against Pillow by the
//! golden tests (`tests/golden/make_transforms.py`).
//!
//! ```
//! use fcn_data::synthetic::SyntheticTransit;
//! use fcn_data::transforms::{Compose, HorizontalFlip, Normalization, RandomCrop, SplitMix64};
//! use fcn_data::Dataset;
//!
//! let data = SyntheticTransit::train(1, 96, 128, 7)?;
//! let pipeline = Compose::new()
//!     .then(HorizontalFlip::new(0.5)?)
//!     .then(RandomCrop::new(64, 64)?);
//! let mut rng = SplitMix64::from_keys(&[7, 0, 0]);
//! let sample = pipeline.apply(data.get(0)?, &mut rng)?;
//! assert_eq!(sample.dim(), (64, 64));
//! let chw = Normalization::Caffe.to_chw(&sample.image)?;
//! assert_eq!(chw.dim(), (3, 64, 64));
//! # Ok::<(), fcn_data::Error>(())
//! ```

use std::borrow::Cow;

use ndarray::{Array2, Array3};

use crate::error::{Error, Result};
use crate::sample::{LabelMap, Sample};

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

/// A small, fast, seedable generator (SplitMix64, Steele et al. 2014). Its stream depends only
/// on the seed, so runs are reproducible on every machine and thread count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function: a bijective mix of 64 bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator whose seed is a hash of several keys, e.g. `[seed, epoch, index]`: streams
    /// for different key lists are unrelated.
    pub fn from_keys(keys: &[u64]) -> Self {
        let mut state: u64 = 0x243f_6a88_85a3_08d3; // pi: any fixed start
        for &key in keys {
            state = mix64(state.wrapping_add(GOLDEN_GAMMA) ^ key);
        }
        Self { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// A uniform value in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform value in `[low, high)` (`low` when the range is empty).
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// A uniform integer in `0..n` (0 when `n` is 0). Multiply-high mapping: the bias is below
    /// `n / 2^64`.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The transform trait and composition
// ---------------------------------------------------------------------------------------------

/// A transform of a sample (image and label map together). Random transforms draw from `rng`
/// only, so the same generator state gives the same output.
pub trait Transform: Send + Sync {
    /// Transforms `sample`.
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample>;
}

impl<T: Transform + ?Sized> Transform for Box<T> {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        (**self).apply(sample, rng)
    }
}

impl<T: Transform + ?Sized> Transform for std::sync::Arc<T> {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        (**self).apply(sample, rng)
    }
}

/// Transforms applied in order. An empty `Compose` is the identity.
#[derive(Default)]
pub struct Compose {
    steps: Vec<Box<dyn Transform>>,
}

impl Compose {
    /// The identity pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a step.
    pub fn then(mut self, step: impl Transform + 'static) -> Self {
        self.steps.push(Box::new(step));
        self
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the pipeline (same as [`Transform::apply`], without importing the trait).
    pub fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        self.steps
            .iter()
            .try_fold(sample, |sample, step| step.apply(sample, rng))
    }
}

impl Transform for Compose {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        Compose::apply(self, sample, rng)
    }
}

impl std::fmt::Debug for Compose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compose")
            .field("steps", &self.steps.len())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Resampling (Pillow-exact)
// ---------------------------------------------------------------------------------------------

/// Pillow's fixed-point precision for 8-bit resampling (`PRECISION_BITS = 32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

/// The pixels of `image` as one row-major slice, copying only if the array is not contiguous.
fn contiguous<T: Copy, D: ndarray::Dimension>(array: &ndarray::Array<T, D>) -> Cow<'_, [T]> {
    match array.as_slice() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(array.iter().copied().collect()),
    }
}

/// Output sizes must be positive and at most [`MAX_IMAGE_SIDE`](crate::MAX_IMAGE_SIDE) a side,
/// so a bad scale range cannot ask for gigabytes.
fn check_size(what: &'static str, height: usize, width: usize) -> Result<()> {
    let limit = crate::MAX_IMAGE_SIDE as usize;
    if height == 0 || width == 0 || height > limit || width > limit {
        return Err(Error::invalid(
            what,
            format!("size must be in 1..={limit} a side, got {height}x{width}"),
        ));
    }
    Ok(())
}

/// Bounds and fixed-point weights of Pillow's bilinear (triangle) filter for one axis, as in
/// `precompute_coeffs` + `normalize_coeffs_8bpc` of Pillow's `Resample.c`.
struct Coefficients {
    /// Per output position: first input index and number of taps.
    bounds: Vec<(usize, usize)>,
    /// `ksize` weights per output position.
    weights: Vec<i32>,
    ksize: usize,
}

fn bilinear_coefficients(in_size: usize, out_size: usize) -> Coefficients {
    // Pillow computes the box as C floats and the rest in doubles.
    let scale = f64::from(in_size as f32) / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // the bilinear filter's support is 1
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut taps = vec![0f64; ksize];
    for (out, row) in weights.chunks_exact_mut(ksize).enumerate() {
        let center = (out as f64 + 0.5) * scale;
        let inverse = 1.0 / filter_scale;
        // `(int)` in C truncates toward zero; the values here are > -1, so this is max(.., 0).
        let first = ((center - support + 0.5) as i64).max(0) as usize;
        let end = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let count = end.saturating_sub(first).min(ksize);
        let mut total = 0.0;
        for (k, tap) in taps.iter_mut().enumerate().take(count) {
            let x = ((k + first) as f64 - center + 0.5) * inverse;
            let w = (1.0 - x.abs()).max(0.0);
            *tap = w;
            total += w;
        }
        for (k, slot) in row.iter_mut().enumerate().take(count) {
            let w = if total != 0.0 {
                taps[k] / total
            } else {
                taps[k]
            };
            let fixed = w * f64::from(1u32 << PRECISION_BITS);
            *slot = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.push((first, count));
    }
    Coefficients {
        bounds,
        weights,
        ksize,
    }
}

fn clip8(value: i64) -> u8 {
    (value >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes an RGB image to `height` x `width` exactly as Pillow's
/// `Image.resize((width, height), Image.BILINEAR)`: a separable triangle filter widened by the
/// scale factor when shrinking (antialiased), one pass per axis that changes, each rounded to
/// 8 bits with Pillow's fixed-point arithmetic. Like Pillow 13, the vertical pass goes first
/// when the height shrinks and the width grows (fewer rows to widen), else the horizontal one.
pub fn resize_bilinear(image: &Array3<u8>, height: usize, width: usize) -> Result<Array3<u8>> {
    check_size("resize", height, width)?;
    let (in_h, in_w, channels) = image.dim();
    if in_h == 0 || in_w == 0 {
        return Err(Error::invalid("resize", "the image is empty"));
    }
    let pixels = contiguous(image);
    let out = if height < in_h && width > in_w {
        let rows = vertical_pass(&pixels, in_h, in_w * channels, height);
        horizontal_pass(&rows, height, in_w, channels, width).into_owned()
    } else {
        let columns = horizontal_pass(&pixels, in_h, in_w, channels, width);
        vertical_pass(&columns, in_h, width * channels, height).into_owned()
    };
    Array3::from_shape_vec((height, width, channels), out)
        .map_err(|e| Error::invalid("resize", e.to_string()))
}

/// Resamples each of `rows` rows of `in_w` cells of `channels` bytes to `out_w` cells
/// (`ImagingResampleHorizontal_8bpc`); no work if the width does not change.
fn horizontal_pass<'a>(
    pixels: &'a [u8],
    rows: usize,
    in_w: usize,
    channels: usize,
    out_w: usize,
) -> Cow<'a, [u8]> {
    if out_w == in_w {
        return Cow::Borrowed(pixels);
    }
    let c = bilinear_coefficients(in_w, out_w);
    let mut out = vec![0u8; rows * out_w * channels];
    for y in 0..rows {
        let src = &pixels[y * in_w * channels..(y + 1) * in_w * channels];
        let dst = &mut out[y * out_w * channels..(y + 1) * out_w * channels];
        for (x, &(first, count)) in c.bounds.iter().enumerate() {
            let k = &c.weights[x * c.ksize..x * c.ksize + count];
            for ch in 0..channels {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for (t, &w) in k.iter().enumerate() {
                    acc += i64::from(src[(first + t) * channels + ch]) * i64::from(w);
                }
                dst[x * channels + ch] = clip8(acc);
            }
        }
    }
    Cow::Owned(out)
}

/// Resamples `in_h` rows of `row_len` bytes to `out_h` rows (`ImagingResampleVertical_8bpc`);
/// no work if the height does not change.
fn vertical_pass<'a>(pixels: &'a [u8], in_h: usize, row_len: usize, out_h: usize) -> Cow<'a, [u8]> {
    if out_h == in_h {
        return Cow::Borrowed(pixels);
    }
    let c = bilinear_coefficients(in_h, out_h);
    let mut out = vec![0u8; out_h * row_len];
    let mut acc = vec![0i64; row_len];
    for (y, &(first, count)) in c.bounds.iter().enumerate() {
        acc.fill(1 << (PRECISION_BITS - 1));
        let k = &c.weights[y * c.ksize..y * c.ksize + count];
        for (t, &w) in k.iter().enumerate() {
            let src = &pixels[(first + t) * row_len..(first + t + 1) * row_len];
            for (a, &v) in acc.iter_mut().zip(src) {
                *a += i64::from(v) * i64::from(w);
            }
        }
        for (d, &a) in out[y * row_len..(y + 1) * row_len].iter_mut().zip(&acc) {
            *d = clip8(a);
        }
    }
    Cow::Owned(out)
}

/// Source index of each output position under Pillow's NEAREST resize: the affine transform
/// `in = (out + 0.5) * in_size / out_size`, accumulated in doubles and truncated, exactly as
/// `ImagingScaleAffine` does (so rounding ties fall the same way).
fn nearest_indices(in_size: usize, out_size: usize) -> Vec<usize> {
    let step = f64::from(in_size as f32) / out_size as f64;
    let mut position = step * 0.5;
    (0..out_size)
        .map(|_| {
            let index = (position as usize).min(in_size - 1);
            position += step;
            index
        })
        .collect()
}

/// Resizes a 2-D map to `height` x `width` with Pillow's `Image.NEAREST` (no interpolation:
/// every output value is an input value).
pub fn resize_nearest<T: Copy>(map: &Array2<T>, height: usize, width: usize) -> Result<Array2<T>> {
    check_size("resize", height, width)?;
    let (in_h, in_w) = map.dim();
    if in_h == 0 || in_w == 0 {
        return Err(Error::invalid("resize", "the map is empty"));
    }
    let rows = nearest_indices(in_h, height);
    let cols = nearest_indices(in_w, width);
    let values = contiguous(map);
    let mut out = Vec::with_capacity(height * width);
    for &r in &rows {
        let row = &values[r * in_w..(r + 1) * in_w];
        out.extend(cols.iter().map(|&c| row[c]));
    }
    Array2::from_shape_vec((height, width), out)
        .map_err(|e| Error::invalid("resize", e.to_string()))
}

/// Resizes a label map with [`resize_nearest`].
pub fn resize_label(label: &LabelMap, height: usize, width: usize) -> Result<LabelMap> {
    Ok(match label {
        LabelMap::U8(a) => LabelMap::U8(resize_nearest(a, height, width)?),
        LabelMap::U16(a) => LabelMap::U16(resize_nearest(a, height, width)?),
    })
}

fn resize_sample(sample: Sample, height: usize, width: usize) -> Result<Sample> {
    if sample.dim() == (height, width) && sample.label.dim() == (height, width) {
        return Ok(sample);
    }
    Ok(Sample {
        image: resize_bilinear(&sample.image, height, width)?,
        label: resize_label(&sample.label, height, width)?,
        ..sample
    })
}

fn check_label_matches(sample: &Sample) -> Result<()> {
    if sample.label.dim() != sample.dim() {
        return Err(Error::SizeMismatch {
            image: sample
                .image_path
                .clone()
                .unwrap_or_else(|| sample.id.clone().into()),
            image_size: sample.dim(),
            label: sample
                .label_path
                .clone()
                .unwrap_or_else(|| sample.id.clone().into()),
            label_size: sample.label.dim(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Geometric transforms
// ---------------------------------------------------------------------------------------------

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
/// zeros, near enough, after [`Normalization::Caffe`].
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
    let image = Array3::from_shape_vec((height, width, 3), image)
        .map_err(|e| Error::invalid("crop", e.to_string()))?;
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
                Array2::from_shape_vec((height, width), v)
                    .map_err(|e| Error::invalid("crop", e.to_string()))?,
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
                Array2::from_shape_vec((height, width), v)
                    .map_err(|e| Error::invalid("crop", e.to_string()))?,
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
        let top = rng.below(h.saturating_sub(self.height) + 1);
        let left = rng.below(w.saturating_sub(self.width) + 1);
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
            return Err(Error::invalid(
                "horizontal flip",
                format!("probability must be in [0, 1], got {probability}"),
            ));
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

// ---------------------------------------------------------------------------------------------
// Photometric jitter
// ---------------------------------------------------------------------------------------------

/// Random brightness, contrast and saturation, like torchvision's `ColorJitter` (each factor
/// uniform in `[max(0, 1 - s), 1 + s]`; applied in that fixed order, rounding to 8 bits after
/// each). Labels are untouched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhotometricJitter {
    brightness: f32,
    contrast: f32,
    saturation: f32,
}

impl PhotometricJitter {
    /// Strengths in `[0, 1]` (0 disables that part).
    pub fn new(brightness: f32, contrast: f32, saturation: f32) -> Result<Self> {
        for (name, v) in [
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::invalid(
                    "photometric jitter",
                    format!("{name} must be in [0, 1], got {v}"),
                ));
            }
        }
        Ok(Self {
            brightness,
            contrast,
            saturation,
        })
    }
}

/// ITU-R 601 luma, as torchvision's `rgb_to_grayscale`.
fn luma(p: &[f32]) -> f32 {
    0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
}

fn blend(values: &mut [f32], ratio: f32, other: impl Fn(usize, &[f32]) -> f32) {
    for pixel in values.chunks_exact_mut(3) {
        let base = [pixel[0], pixel[1], pixel[2]];
        for c in 0..3 {
            let v = ratio * base[c] + (1.0 - ratio) * other(c, &base);
            pixel[c] = v.clamp(0.0, 255.0).round();
        }
    }
}

impl Transform for PhotometricJitter {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        let mut factor = |strength: f32| {
            if strength == 0.0 {
                None
            } else {
                let s = f64::from(strength);
                Some(rng.uniform((1.0 - s).max(0.0), 1.0 + s) as f32)
            }
        };
        let (b, c, s) = (
            factor(self.brightness),
            factor(self.contrast),
            factor(self.saturation),
        );
        if b.is_none() && c.is_none() && s.is_none() {
            return Ok(sample);
        }
        let dim = sample.image.dim();
        let mut values: Vec<f32> = contiguous(&sample.image)
            .iter()
            .map(|&v| f32::from(v))
            .collect();
        if let Some(b) = b {
            blend(&mut values, b, |_, _| 0.0);
        }
        if let Some(c) = c {
            let pixels = (values.len() / 3).max(1) as f32;
            let mean = values.chunks_exact(3).map(luma).sum::<f32>() / pixels;
            blend(&mut values, c, |_, _| mean);
        }
        if let Some(s) = s {
            blend(&mut values, s, |_, p| luma(p));
        }
        let bytes = values.iter().map(|&v| v as u8).collect();
        let image = Array3::from_shape_vec(dim, bytes)
            .map_err(|e| Error::invalid("jitter", e.to_string()))?;
        Ok(Sample { image, ..sample })
    }
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// The Caffe FCN models' mean pixel, BGR order, on the 0..255 scale (`voc_layers.py`).
pub const CAFFE_MEAN_BGR: [f64; 3] = [104.006_987_93, 116.668_767_62, 122.678_914_34];

/// torchvision's ImageNet mean, RGB order, on the 0..1 scale.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];

/// torchvision's ImageNet standard deviation, RGB order.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How an RGB `u8` image becomes the network's `f32` CHW input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// The original FCN (Caffe VGG16) input: channels reordered to BGR, 0..255 minus
    /// [`CAFFE_MEAN_BGR`], computed as `f32(f64(v) - mean)` like FCN's numpy code.
    Caffe,
    /// torchvision's input: RGB, `(v / 255 - mean) / std` in `f32` with [`IMAGENET_MEAN`] and
    /// [`IMAGENET_STD`].
    ImageNet,
}

impl Normalization {
    /// A 256-entry table per output channel: (source RGB channel, value for each byte).
    fn tables(self) -> [(usize, [f32; 256]); 3] {
        let mut tables = [(0usize, [0f32; 256]); 3];
        for (out_channel, (source, table)) in tables.iter_mut().enumerate() {
            match self {
                Normalization::Caffe => {
                    *source = 2 - out_channel;
                    for (v, t) in table.iter_mut().enumerate() {
                        *t = (v as f64 - CAFFE_MEAN_BGR[out_channel]) as f32;
                    }
                }
                Normalization::ImageNet => {
                    *source = out_channel;
                    for (v, t) in table.iter_mut().enumerate() {
                        *t = (v as f32 / 255.0 - IMAGENET_MEAN[out_channel])
                            / IMAGENET_STD[out_channel];
                    }
                }
            }
        }
        tables
    }

    /// The normalised image, 3 x H x W (`Error::InvalidArgument` unless the image has 3
    /// channels).
    pub fn to_chw(self, image: &Array3<u8>) -> Result<Array3<f32>> {
        let (h, w, _) = image.dim();
        let mut out = vec![0f32; 3 * h * w];
        self.write_chw(image, &mut out, w)?;
        Array3::from_shape_vec((3, h, w), out)
            .map_err(|e| Error::invalid("normalize", e.to_string()))
    }

    /// Writes the normalised image into the top-left corner of a 3 x `out.len() / (3 * width)`
    /// x `width` CHW buffer (whose other cells are left as they are), for padded batches. An
    /// image without 3 channels, or larger than the buffer, is an `Error::InvalidArgument`.
    pub fn write_chw(self, image: &Array3<u8>, out: &mut [f32], width: usize) -> Result<()> {
        let (h, w, channels) = image.dim();
        let plane = out.len() / 3;
        let height = plane.checked_div(width).unwrap_or(0);
        if channels != 3 || w > width || h > height {
            return Err(Error::invalid(
                "normalize",
                format!(
                    "need an H x W x 3 image within {height} x {width}, got {h} x {w} x {channels}"
                ),
            ));
        }
        let pixels = contiguous(image);
        let tables = self.tables();
        for (c, (source, table)) in tables.iter().enumerate() {
            let dst_plane = &mut out[c * plane..c * plane + height * width];
            for y in 0..h {
                let src_row = &pixels[y * w * 3..(y + 1) * w * 3];
                let dst_row = &mut dst_plane[y * width..y * width + w];
                for (d, px) in dst_row.iter_mut().zip(src_row.chunks_exact(3)) {
                    *d = table[usize::from(px[*source])];
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rng_streams_depend_on_keys_only() {
        let a: Vec<u64> = (0..4)
            .map(|_| SplitMix64::from_keys(&[1, 2, 3]).next_u64())
            .collect();
        assert!(a.windows(2).all(|p| p[0] == p[1]));
        let mut x = SplitMix64::from_keys(&[1, 2, 3]);
        let mut y = SplitMix64::from_keys(&[1, 2, 4]);
        assert_ne!(x.next_u64(), y.next_u64());
        let mut r = SplitMix64::new(5);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert_eq!(r.below(0), 0);
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
    fn normalising_needs_three_channels_and_room() {
        let two = Array3::<u8>::zeros((2, 2, 2));
        assert!(Normalization::Caffe.to_chw(&two).is_err());
        let image = Array3::<u8>::zeros((4, 4, 3));
        let mut small = vec![0f32; 3 * 3 * 4];
        assert!(
            Normalization::ImageNet
                .write_chw(&image, &mut small, 4)
                .is_err()
        );
        assert!(
            Normalization::ImageNet
                .write_chw(&image, &mut small, 0)
                .is_err()
        );
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
