//! Polygon rasterisation, a port of pycocotools' `rleFrPoly` with its exact rounding.
//!
//! The polygon is upsampled by 5, its edges walked with a DDA, and the points where the walk
//! crosses a pixel column's centre line give the column's first and last foreground rows. C's
//! `(int)` truncates toward zero (Rust `as` does the same for in-range values), the arithmetic is
//! in `f64`, and the counts are built as `maskApi.c` builds them, so the RLE is bit-exact.

use crate::coco::rle::Rle;
use crate::error::{Error, Result};

/// The upsampling factor of `rleFrPoly`.
const SCALE: f64 = 5.0;

/// The most upsampled boundary points one polygon may have: about 6.7 million pixels of
/// perimeter. pycocotools has no limit; this one keeps a polygon with absurd coordinates from
/// exhausting memory.
pub const MAX_POLYGON_STEPS: u64 = 1 << 25;

/// `(int)(5 * value + .5)`, refused where C's conversion is undefined (NaN, out of `int` range).
fn scale_and_truncate(value: f64, coordinate: usize) -> Result<i64> {
    let scaled = SCALE * value + 0.5;
    if !(scaled > -2_147_483_649.0 && scaled < 2_147_483_648.0) {
        return Err(Error::invalid(
            "polygon",
            format!("coordinate {coordinate} is {value}, outside what pycocotools can rasterise"),
        ));
    }
    Ok(scaled as i64)
}

/// Collects the column-crossing points of the boundary walk (step 3 of `rleFrPoly`) as
/// column-major pixel indices, point by point as the walk produces them.
struct BoundaryCollector {
    h: usize,
    /// `w - 1` as C computes it with unsigned `siz` (it wraps for `w = 0`).
    last_column: f64,
    previous: Option<(i64, i64)>,
    starts: Vec<u32>,
}

impl BoundaryCollector {
    #[inline]
    fn push(&mut self, u: i64, v: i64) {
        if let Some((previous_u, previous_v)) = self.previous
            && u != previous_u
        {
            let column = if u < previous_u { u } else { u - 1 } as f64;
            let column = (column + 0.5) / SCALE - 0.5;
            if column.floor() == column && column >= 0.0 && column <= self.last_column {
                let row = if v < previous_v { v } else { previous_v } as f64;
                let mut row = (row + 0.5) / SCALE - 0.5;
                if row < 0.0 {
                    row = 0.0;
                } else if row > self.h as f64 {
                    row = self.h as f64;
                }
                let row = row.ceil();
                let index = (column as i64)
                    .wrapping_mul(self.h as i64)
                    .wrapping_add(row as i64);
                self.starts.push(index as u32);
            }
        }
        self.previous = Some((u, v));
    }
}

impl Rle {
    /// Rasterises one polygon `[x1, y1, x2, y2, ...]` onto an `h` x `w` mask exactly as
    /// pycocotools' `frPoly` does (an odd trailing number is ignored, as `len(p)/2` does).
    /// Coordinates whose upsampled value does not fit C's `int`, or a polygon longer than
    /// [`MAX_POLYGON_STEPS`], are an `InvalidArgument` error.
    pub fn from_polygon(xy: &[f64], h: usize, w: usize) -> Result<Rle> {
        let vertices = xy.len() / 2;
        let mut x = Vec::with_capacity(vertices + 1);
        let mut y = Vec::with_capacity(vertices + 1);
        for j in 0..vertices {
            x.push(scale_and_truncate(xy[2 * j], 2 * j)?);
            y.push(scale_and_truncate(xy[2 * j + 1], 2 * j + 1)?);
        }
        if vertices > 0 {
            x.push(x[0]);
            y.push(y[0]);
        }

        let steps: u64 = (0..vertices)
            .map(|j| {
                (x[j] - x[j + 1])
                    .unsigned_abs()
                    .max((y[j] - y[j + 1]).unsigned_abs())
                    + 1
            })
            .sum();
        if steps > MAX_POLYGON_STEPS {
            return Err(Error::invalid(
                "polygon",
                format!(
                    "its upsampled boundary has {steps} points, more than the {MAX_POLYGON_STEPS} allowed"
                ),
            ));
        }

        let mut boundary = BoundaryCollector {
            h,
            last_column: (w as u64).wrapping_sub(1) as f64,
            previous: None,
            starts: Vec::new(),
        };
        for j in 0..vertices {
            walk_edge(x[j], y[j], x[j + 1], y[j + 1], &mut boundary);
        }

        let mut starts = boundary.starts;
        starts.push((h as u64).wrapping_mul(w as u64) as u32);
        starts.sort_unstable();
        Ok(Rle::new(h, w, starts_to_counts(&starts)))
    }
}

/// Step 2 of `rleFrPoly`: the DDA walk of one upsampled edge, in the original direction.
#[inline]
fn walk_edge(mut xs: i64, mut ys: i64, mut xe: i64, mut ye: i64, boundary: &mut BoundaryCollector) {
    let dx = (xe - xs).abs();
    let dy = (ys - ye).abs();
    let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if flip {
        std::mem::swap(&mut xs, &mut xe);
        std::mem::swap(&mut ys, &mut ye);
    }
    if dx >= dy {
        if dx == 0 {
            // A zero-length edge: C computes 0/0 for the slope; the point's row never matters.
            boundary.push(xs, ys);
            return;
        }
        let slope = (ye - ys) as f64 / dx as f64;
        for d in 0..=dx {
            let t = if flip { dx - d } else { d };
            boundary.push(t + xs, (ys as f64 + slope * t as f64 + 0.5) as i64);
        }
    } else {
        let slope = (xe - xs) as f64 / dy as f64;
        for d in 0..=dy {
            let t = if flip { dy - d } else { d };
            boundary.push((xs as f64 + slope * t as f64 + 0.5) as i64, t + ys);
        }
    }
}

/// Step 4 of `rleFrPoly`: sorted run starts (ending with `h * w`) to counts, zero-length runs
/// merged into the next as `maskApi.c` merges them.
fn starts_to_counts(sorted_starts: &[u32]) -> Vec<u32> {
    let mut previous = 0u32;
    let deltas: Vec<u32> = sorted_starts
        .iter()
        .map(|&start| {
            let delta = start.wrapping_sub(previous);
            previous = start;
            delta
        })
        .collect();
    let mut counts = Vec::with_capacity(deltas.len());
    let mut j = 0;
    if let Some(&first) = deltas.first() {
        counts.push(first);
        j = 1;
    }
    while j < deltas.len() {
        if deltas[j] > 0 {
            counts.push(deltas[j]);
            j += 1;
        } else {
            j += 1;
            if j < deltas.len() {
                if let Some(last) = counts.last_mut() {
                    *last = last.wrapping_add(deltas[j]);
                }
                j += 1;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_polygons_match_pycocotools() {
        let square = Rle::from_polygon(&[1.0, 1.0, 4.0, 1.0, 4.0, 4.0, 1.0, 4.0], 6, 7).unwrap();
        assert_eq!(square.counts, vec![7, 3, 3, 3, 3, 3, 20]);
        assert_eq!(square.to_compressed(), "733000a0");
        let clipped =
            Rle::from_polygon(&[-2.0, -2.0, 3.0, -2.0, 3.0, 3.0, -2.0, 3.0], 5, 5).unwrap();
        assert_eq!(clipped.counts, vec![0, 3, 2, 3, 2, 3, 12]);
        let triangle = Rle::from_polygon(&[0.3, 0.7, 5.6, 1.2, 2.2, 5.4], 6, 7).unwrap();
        assert_eq!(triangle.to_compressed(), "7331OO1N=");
    }

    #[test]
    fn empty_and_absurd_polygons() {
        assert_eq!(Rle::from_polygon(&[], 2, 3).unwrap().counts, vec![6]);
        assert!(Rle::from_polygon(&[0.0, 0.0, 1e300, 0.0, 0.0, 1.0], 2, 3).is_err());
        assert!(Rle::from_polygon(&[f64::NAN, 0.0, 1.0, 0.0, 0.0, 1.0], 2, 3).is_err());
        assert!(Rle::from_polygon(&[0.0, 0.0, 4e8, 0.0, 0.0, 1.0], 2, 3).is_err());
    }
}
