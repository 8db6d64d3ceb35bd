//! Run-length encoded binary masks, bit-exact with pycocotools' `maskApi.c`.
//!
//! Runs are taken over the mask in column-major (Fortran) order and alternate zeros, ones,
//! zeros, ... starting with zeros, so a mask whose first pixel is set starts with a count of 0.
//! Counts are `u32` and arithmetic on them wraps as C's `unsigned int` does, so malformed RLEs
//! give the same areas and boxes as pycocotools; only [`Rle::decode`] checks that the counts
//! cover the mask.

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};

/// A run-length encoded `h` x `w` binary mask (pycocotools' `RLE`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rle {
    /// Height in pixels.
    pub h: usize,
    /// Width in pixels.
    pub w: usize,
    /// Run lengths over the column-major pixels, alternating zeros and ones, zeros first.
    pub counts: Vec<u32>,
}

impl Rle {
    /// An RLE from its parts, unchecked (pycocotools' `rleInit`, used for uncompressed RLE).
    pub fn new(h: usize, w: usize, counts: Vec<u32>) -> Self {
        Self { h, w, counts }
    }

    /// Encodes a mask given row-major as height x width; any non-zero value is foreground.
    /// The trailing run is always emitted (`rleEncode`): all zeros on 2x3 is `[6]`.
    pub fn encode(mask: ArrayView2<'_, u8>) -> Self {
        let (h, w) = mask.dim();
        let mut counts = Vec::new();
        let mut current = false;
        let mut run: u32 = 0;
        for column in mask.columns() {
            for &value in column {
                let is_set = value != 0;
                if is_set != current {
                    counts.push(run);
                    run = 0;
                    current = is_set;
                }
                run = run.wrapping_add(1);
            }
        }
        counts.push(run);
        Self { h, w, counts }
    }

    /// The number of pixels, `h * w`.
    pub fn pixels(&self) -> usize {
        self.h.saturating_mul(self.w)
    }

    /// The sum of the counts (in 64 bits: it does not wrap).
    pub fn counts_sum(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// Checks that the counts cover exactly `h * w` pixels, as every RLE made by pycocotools
    /// does. pycocotools 2.0.11 refuses counts that overrun the mask and leaves the rest of the
    /// mask uninitialised when they fall short; both are refused here.
    pub fn validate(&self) -> Result<()> {
        let sum = self.counts_sum();
        let pixels = (self.h as u64).saturating_mul(self.w as u64);
        if sum != pixels {
            let relation = if sum > pixels {
                "overrun"
            } else {
                "fall short of"
            };
            return Err(Error::invalid(
                "RLE",
                format!(
                    "counts sum to {sum}, which {relation} the {}x{} = {pixels} pixels of the mask",
                    self.h, self.w
                ),
            ));
        }
        Ok(())
    }

    /// The foreground runs as `(start, length)` in column-major pixel indices, zero-length runs
    /// skipped. Only meaningful after [`validate`](Self::validate).
    pub fn foreground_runs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut position = 0usize;
        self.counts
            .iter()
            .enumerate()
            .filter_map(move |(index, &count)| {
                let start = position;
                position += count as usize;
                (index % 2 == 1 && count > 0).then_some((start, count as usize))
            })
    }

    /// Decodes to a row-major height x width mask of 0 and 1 (`rleDecode`). Counts that do not
    /// cover exactly `h * w` pixels are an `InvalidArgument` error.
    pub fn decode(&self) -> Result<Array2<u8>> {
        self.validate()?;
        let (h, w) = (self.h, self.w);
        let mut mask = Array2::<u8>::zeros((h, w));
        if let Some(pixels) = mask.as_slice_mut() {
            for (start, length) in self.foreground_runs() {
                for_each_run_pixel(h, w, start, length, |index| pixels[index] = 1);
            }
        }
        Ok(mask)
    }

    /// Decodes to a column-major (Fortran-order) vector of `h * w` bytes, pycocotools' own
    /// memory layout.
    pub fn decode_column_major(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut pixels = Vec::with_capacity(self.pixels());
        let mut value = 0u8;
        for &count in &self.counts {
            pixels.resize(pixels.len() + count as usize, value);
            value ^= 1;
        }
        Ok(pixels)
    }

    /// The foreground area, the sum of the odd-indexed counts (`rleArea`, wrapping like C's
    /// `unsigned int`).
    pub fn area(&self) -> u32 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .fold(0u32, |sum, &c| sum.wrapping_add(c))
    }

    /// The bounding box `[x, y, width, height]` of the foreground (`rleToBbox`); all zeros for
    /// an empty mask.
    pub fn to_bbox(&self) -> [f64; 4] {
        // `uint` arithmetic throughout, as in maskApi.c.
        let h = self.h as u32;
        let w = self.w as u32;
        let m = self.counts.len() / 2 * 2;
        if m == 0 || h == 0 {
            // pycocotools divides by h = 0 here; an empty box is the only sane answer.
            return [0.0; 4];
        }
        let (mut xs, mut ys, mut xe, mut ye) = (w, h, 0u32, 0u32);
        let mut end = 0u32;
        for (j, &count) in self.counts[..m].iter().enumerate() {
            let start = end;
            end = end.wrapping_add(count);
            if j % 2 == 0 || count == 0 {
                continue;
            }
            let y_start = start % h;
            let x_start = (start - y_start) / h;
            let last = end.wrapping_sub(1);
            let y_end = last % h;
            let x_end = (last - y_end) / h;
            xs = xs.min(x_start);
            xe = xe.max(x_end);
            if x_start < x_end {
                ys = 0;
                ye = h - 1;
            } else {
                ys = ys.min(y_start);
                ye = ye.max(y_end);
            }
        }
        [
            f64::from(xs),
            f64::from(ys),
            f64::from(xe.wrapping_sub(xs).wrapping_add(1)),
            f64::from(ye.wrapping_sub(ys).wrapping_add(1)),
        ]
    }

    /// The union (`intersect = false`) or intersection of masks of one size (`rleMerge`).
    /// One RLE is returned as is; none, or masks of different sizes, are an error (pycocotools
    /// returns an empty 0x0 RLE for those).
    pub fn merge(rles: &[Rle], intersect: bool) -> Result<Rle> {
        let Some(first) = rles.first() else {
            return Err(Error::invalid("RLE merge", "no masks to merge"));
        };
        let (h, w) = (first.h, first.w);
        if let Some(other) = rles.iter().find(|r| r.h != h || r.w != w) {
            return Err(Error::invalid(
                "RLE merge",
                format!(
                    "masks of different sizes: {h}x{w} and {}x{}",
                    other.h, other.w
                ),
            ));
        }
        let mut merged = first.counts.clone();
        for other in &rles[1..] {
            merged = merge_two(&merged, &other.counts, intersect);
        }
        Ok(Rle::new(h, w, merged))
    }

    /// The union of masks of one size.
    pub fn union(rles: &[Rle]) -> Result<Rle> {
        Self::merge(rles, false)
    }

    /// The intersection of masks of one size.
    pub fn intersection(rles: &[Rle]) -> Result<Rle> {
        Self::merge(rles, true)
    }

    /// The intersection over union of a detection and a ground-truth mask (`rleIou`). For a
    /// crowd ground truth the union is the detection's area. As in pycocotools the boxes are
    /// compared first (no box overlap: 0), masks of different sizes give -1, and no
    /// intersection gives 0.
    pub fn iou(detection: &Rle, ground_truth: &Rle, crowd: bool) -> f64 {
        let overlap = bbox_iou(detection.to_bbox(), ground_truth.to_bbox(), crowd);
        if overlap <= 0.0 {
            return overlap;
        }
        if (detection.h, detection.w) != (ground_truth.h, ground_truth.w) {
            return -1.0;
        }
        let (a, b) = (&detection.counts, &ground_truth.counts);
        let (mut ca, mut cb) = (
            a.first().copied().unwrap_or(0),
            b.first().copied().unwrap_or(0),
        );
        let (mut va, mut vb) = (false, false);
        let (mut ia, mut ib) = (1usize, 1usize);
        let (mut intersection, mut union) = (0u32, 0u32);
        loop {
            let c = ca.min(cb);
            if va || vb {
                union = union.wrapping_add(c);
                if va && vb {
                    intersection = intersection.wrapping_add(c);
                }
            }
            let mut advanced = c > 0;
            ca -= c;
            if ca == 0 && ia < a.len() {
                ca = a[ia];
                ia += 1;
                va = !va;
                advanced = true;
            }
            cb -= c;
            if cb == 0 && ib < b.len() {
                cb = b[ib];
                ib += 1;
                vb = !vb;
                advanced = true;
            }
            // Counts that do not sum alike make the C loop spin; stop where one side ends.
            if ca.wrapping_add(cb) == 0 || !advanced {
                break;
            }
        }
        if intersection == 0 {
            union = 1;
        } else if crowd {
            union = detection.area();
        }
        f64::from(intersection) / f64::from(union)
    }

    /// The compressed string form (`rleToString`): each count, or from the fourth count on its
    /// difference with the count two places back, in 5-bit groups, ASCII 48..111.
    /// (pycocotools allocates 6 characters per count and overflows that buffer for deltas of
    /// 2^29 or more; this has no such limit.)
    pub fn to_compressed(&self) -> String {
        let mut text = String::with_capacity(self.counts.len() * 2);
        for (i, &count) in self.counts.iter().enumerate() {
            let mut x = i64::from(count);
            if i > 2 {
                x -= i64::from(self.counts[i - 2]);
            }
            loop {
                let mut chunk = (x & 0x1f) as u8;
                x >>= 5;
                let more = if chunk & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    chunk |= 0x20;
                }
                text.push(char::from(chunk + 48));
                if !more {
                    break;
                }
            }
        }
        text
    }

    /// Parses the compressed string form (`rleFrString`). Like pycocotools it accepts any
    /// bytes (each is read as `(byte - 48) mod 64`) and stops at a NUL byte; counts are not
    /// checked here (see [`validate`](Self::validate)).
    ///
    /// Where `maskApi.c` is undefined, it is followed as compiled on x86-64: a number of more
    /// than 6 chunks shifts a 32-bit `int` by 35 or more bits, which wraps the shift modulo 32
    /// (so pycocotools misreads its own strings for count deltas of 2^29 or more, and so does
    /// this, on purpose); a string that ends inside a number reads the terminating NUL as its
    /// last chunk (pycocotools then reads past the end of the string; this stops).
    pub fn from_compressed(text: impl AsRef<[u8]>, h: usize, w: usize) -> Self {
        let bytes = text.as_ref();
        let bytes = match bytes.iter().position(|&b| b == 0) {
            Some(end) => &bytes[..end],
            None => bytes,
        };
        let mut counts: Vec<u32> = Vec::with_capacity(bytes.len());
        let mut chars = bytes.iter();
        while chars.len() > 0 {
            let mut x: i64 = 0;
            let mut k: u32 = 0;
            loop {
                // A string that ends inside a number: C reads its terminating NUL as the
                // last chunk (it is 0x10 after the offset, so the number ends, negative).
                let byte = chars.next().copied().unwrap_or(0);
                let c = byte.wrapping_sub(48);
                // C shifts an `int` here: shifts of 32 or more wrap modulo 32 on x86, as
                // `wrapping_shl` does, and the `int` is sign-extended into the `long`.
                x |= i64::from(i32::from(c & 0x1f).wrapping_shl(5 * k));
                let more = c & 0x20 != 0;
                k += 1;
                if !more {
                    if c & 0x10 != 0 {
                        x |= i64::from((-1i32).wrapping_shl(5 * k));
                    }
                    break;
                }
            }
            let m = counts.len();
            if m > 2 {
                x = x.wrapping_add(i64::from(counts[m - 2]));
            }
            counts.push(x as u32);
        }
        Self { h, w, counts }
    }

    /// The RLE of a box `[x, y, width, height]` (`rleFrBbox`: the box's polygon rasterised).
    pub fn from_bbox(bbox: [f64; 4], h: usize, w: usize) -> Result<Self> {
        let [xs, ys, bw, bh] = bbox;
        let (xe, ye) = (xs + bw, ys + bh);
        Self::from_polygon(&[xs, ys, xs, ye, xe, ye, xe, ys], h, w)
    }
}

/// The intersection over union of two boxes `[x, y, width, height]` (`bbIou`); for a crowd
/// ground truth the union is the detection's area.
pub fn bbox_iou(detection: [f64; 4], ground_truth: [f64; 4], crowd: bool) -> f64 {
    let [dx, dy, dw, dh] = detection;
    let [gx, gy, gw, gh] = ground_truth;
    let width = (dw + dx).min(gw + gx) - dx.max(gx);
    if width <= 0.0 {
        return 0.0;
    }
    let height = (dh + dy).min(gh + gy) - dy.max(gy);
    if height <= 0.0 {
        return 0.0;
    }
    let intersection = width * height;
    let detection_area = dw * dh;
    let union = if crowd {
        detection_area
    } else {
        detection_area + gw * gh - intersection
    };
    intersection / union
}

/// Calls `visit` with the row-major index of every pixel of a run of `length` column-major
/// pixels from `start`, in an `h` x `w` mask (the run must lie inside it).
#[inline]
pub(crate) fn for_each_run_pixel(
    h: usize,
    w: usize,
    start: usize,
    length: usize,
    mut visit: impl FnMut(usize),
) {
    let end = start + length;
    let mut index = start;
    while index < end {
        let column = index / h;
        let row = index % h;
        let rows_here = (h - row).min(end - index);
        for r in row..row + rows_here {
            visit(r * w + column);
        }
        index += rows_here;
    }
}

/// `rleMerge` of two count lists, ported step by step. Counts that do not sum alike (which
/// makes the C loop spin forever) end the merge when one side runs out.
fn merge_two(a: &[u32], b: &[u32], intersect: bool) -> Vec<u32> {
    let mut counts = Vec::with_capacity(a.len() + b.len());
    let (mut ca, mut cb) = (
        a.first().copied().unwrap_or(0),
        b.first().copied().unwrap_or(0),
    );
    let (mut va, mut vb, mut v) = (false, false, false);
    let (mut ia, mut ib) = (1usize, 1usize);
    let mut cc: u32 = 0;
    loop {
        let c = ca.min(cb);
        cc = cc.wrapping_add(c);
        let mut advanced = c > 0;
        ca -= c;
        if ca == 0 && ia < a.len() {
            ca = a[ia];
            ia += 1;
            va = !va;
            advanced = true;
        }
        cb -= c;
        if cb == 0 && ib < b.len() {
            cb = b[ib];
            ib += 1;
            vb = !vb;
            advanced = true;
        }
        let remaining = ca.wrapping_add(cb);
        let previous = v;
        v = if intersect { va && vb } else { va || vb };
        if v != previous || remaining == 0 || !advanced {
            counts.push(cc);
            cc = 0;
        }
        if remaining == 0 || !advanced {
            break;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn encode_is_column_major_and_starts_with_zeros() {
        let mask = array![[0u8, 1, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1]];
        let rle = Rle::encode(mask.view());
        assert_eq!(rle.counts, vec![2, 5, 1, 1, 2, 1]);
        assert_eq!(rle.to_compressed(), "251L10");
        assert_eq!(rle.decode().unwrap(), mask);
        assert_eq!(
            Rle::encode(Array2::<u8>::ones((2, 3)).view()).counts,
            vec![0, 6]
        );
        assert_eq!(
            Rle::encode(Array2::<u8>::zeros((2, 3)).view()).counts,
            vec![6]
        );
    }

    #[test]
    fn string_codec_round_trips_the_documented_vectors() {
        for (counts, text) in [
            (vec![5u32, 10, 15, 20, 25, 30, 1], "5:?:::XO"),
            (vec![0, 100, 5000, 3, 1], "0T3Xl4oLiSK"),
            (vec![1_000_000, 48_575], "Pb`n0o]_1"),
        ] {
            let rle = Rle::new(1, 1, counts.clone());
            assert_eq!(rle.to_compressed(), text);
            assert_eq!(Rle::from_compressed(text, 1, 1).counts, counts);
        }
    }

    #[test]
    fn decode_refuses_counts_that_overrun_or_fall_short() {
        assert!(Rle::new(2, 3, vec![3, 4]).decode().is_err());
        assert!(Rle::new(2, 3, vec![3, 2]).decode().is_err());
        assert!(Rle::new(2, 3, vec![3, 3]).decode().is_ok());
    }

    #[test]
    fn merge_refuses_different_sizes_and_nothing() {
        assert!(Rle::union(&[]).is_err());
        let a = Rle::new(2, 3, vec![6]);
        let b = Rle::new(3, 2, vec![6]);
        assert!(Rle::union(&[a, b]).is_err());
    }

    #[test]
    fn merge_of_mismatched_sums_terminates() {
        let a = Rle::new(2, 3, vec![1, 1]);
        let b = Rle::new(2, 3, vec![0, 6]);
        let merged = Rle::union(&[a, b]).unwrap();
        assert!(merged.counts_sum() <= 6);
    }
}
