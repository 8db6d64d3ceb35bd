//! Resampling, exactly as Pillow does it.

use std::borrow::Cow;

use ndarray::{Array2, Array3};

use super::pixels::{check_size, contiguous};
use crate::error::{Error, Result};
use crate::sample::{LabelMap, Sample};

/// Pillow's fixed-point precision for 8-bit resampling (`PRECISION_BITS = 32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

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
    Array3::from_shape_vec((height, width, channels), out).map_err(|source| Error::Shape {
        what: "resize",
        source,
    })
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
    Array2::from_shape_vec((height, width), out).map_err(|source| Error::Shape {
        what: "resize",
        source,
    })
}

/// Resizes a label map with [`resize_nearest`].
pub fn resize_label(label: &LabelMap, height: usize, width: usize) -> Result<LabelMap> {
    Ok(match label {
        LabelMap::U8(a) => LabelMap::U8(resize_nearest(a, height, width)?),
        LabelMap::U16(a) => LabelMap::U16(resize_nearest(a, height, width)?),
    })
}

pub(super) fn resize_sample(sample: Sample, height: usize, width: usize) -> Result<Sample> {
    if sample.dim() == (height, width) && sample.label.dim() == (height, width) {
        return Ok(sample);
    }
    Ok(Sample {
        image: resize_bilinear(&sample.image, height, width)?,
        label: resize_label(&sample.label, height, width)?,
        ..sample
    })
}
