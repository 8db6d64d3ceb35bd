//! The canvas scenes are painted on: textured paint, filled shapes, and the final lighting and
//! sensor noise.

use fcn_common::SplitMix64;

use super::labels::SKY;

/// A colour with texture: `grain` is per-pixel noise, `blotch` noise over 4x4 blocks (both in
/// 0..255 units, applied to all channels alike), `key` decorrelates surfaces.
#[derive(Debug, Clone, Copy)]
pub(super) struct Paint {
    pub(super) color: [f32; 3],
    pub(super) grain: f32,
    pub(super) blotch: f32,
    pub(super) key: u32,
}

pub(super) fn hash(x: u32, y: u32, key: u32) -> u32 {
    let mut h = x.wrapping_mul(0x8da6_b343) ^ y.wrapping_mul(0xd816_3841) ^ key;
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297a_2d39);
    h ^ (h >> 15)
}

/// A value in [-0.5, 0.5).
pub(super) fn noise(x: u32, y: u32, key: u32) -> f32 {
    (hash(x, y, key) >> 8) as f32 * (1.0 / (1u32 << 24) as f32) - 0.5
}

pub(super) struct Canvas {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) rgb: Vec<f32>,
    pub(super) label: Vec<u8>,
    pub(super) key: u32,
}

impl Canvas {
    pub(super) fn new(width: usize, height: usize, key: u32) -> Self {
        Self {
            width,
            height,
            rgb: vec![0.0; width * height * 3],
            label: vec![SKY; width * height],
            key,
        }
    }

    pub(super) fn put(&mut self, x: usize, y: usize, paint: &Paint, label: u8) {
        let key = paint.key ^ self.key;
        let mut shade = 0.0;
        if paint.grain > 0.0 {
            shade += paint.grain * noise(x as u32, y as u32, key);
        }
        if paint.blotch > 0.0 {
            shade += paint.blotch * noise((x >> 2) as u32, (y >> 2) as u32, key ^ 0x5bd1_e995);
        }
        let i = y * self.width + x;
        let px = &mut self.rgb[i * 3..i * 3 + 3];
        for (p, c) in px.iter_mut().zip(paint.color) {
            *p = c + shade;
        }
        self.label[i] = label;
    }

    /// Pixel rows whose centres lie in [y0, y1), clipped to the canvas.
    pub(super) fn rows(&self, y0: f32, y1: f32) -> std::ops::Range<usize> {
        let first = (y0 - 0.5).ceil().max(0.0);
        let end = (y1 - 0.5).ceil().clamp(0.0, self.height as f32);
        if first.partial_cmp(&end) != Some(std::cmp::Ordering::Less) {
            return 0..0;
        }
        first as usize..end as usize
    }

    /// Pixel columns whose centres lie in [x0, x1), clipped.
    pub(super) fn cols(&self, x0: f32, x1: f32) -> std::ops::Range<usize> {
        let first = (x0 - 0.5).ceil().max(0.0);
        let end = (x1 - 0.5).ceil().clamp(0.0, self.width as f32);
        if first.partial_cmp(&end) != Some(std::cmp::Ordering::Less) {
            return 0..0;
        }
        first as usize..end as usize
    }

    pub(super) fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, paint: &Paint, label: u8) {
        let (x0, x1) = (x0.min(x1), x0.max(x1));
        let (y0, y1) = (y0.min(y1), y0.max(y1));
        for y in self.rows(y0, y1) {
            for x in self.cols(x0, x1) {
                self.put(x, y, paint, label);
            }
        }
    }

    /// A convex polygon (scan-line fill, pixel centres).
    pub(super) fn polygon(&mut self, points: &[(f32, f32)], paint: &Paint, label: u8) {
        let y_min = points.iter().map(|p| p.1).fold(f32::INFINITY, f32::min);
        let y_max = points.iter().map(|p| p.1).fold(f32::NEG_INFINITY, f32::max);
        for y in self.rows(y_min, y_max) {
            let yc = y as f32 + 0.5;
            let (mut left, mut right) = (f32::INFINITY, f32::NEG_INFINITY);
            for (k, &a) in points.iter().enumerate() {
                let b = points[(k + 1) % points.len()];
                let (lo, hi) = if a.1 < b.1 { (a, b) } else { (b, a) };
                if yc < lo.1 || yc >= hi.1 || hi.1 == lo.1 {
                    continue;
                }
                let x = lo.0 + (yc - lo.1) * (hi.0 - lo.0) / (hi.1 - lo.1);
                left = left.min(x);
                right = right.max(x);
            }
            if left < right {
                for x in self.cols(left, right) {
                    self.put(x, y, paint, label);
                }
            }
        }
    }

    /// An axis-aligned ellipse; with `ring < 1` only the band between `ring` and 1 of the
    /// normalised radius (a wheel).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ellipse(
        &mut self,
        cx: f32,
        cy: f32,
        rx: f32,
        ry: f32,
        ring: f32,
        paint: &Paint,
        label: u8,
    ) {
        let (rx, ry) = (rx.max(0.5), ry.max(0.5));
        let inner = ring * ring;
        for y in self.rows(cy - ry, cy + ry) {
            let dy = (y as f32 + 0.5 - cy) / ry;
            let half = rx * (1.0 - dy * dy).max(0.0).sqrt();
            for x in self.cols(cx - half, cx + half) {
                if ring < 1.0 && ring > 0.0 {
                    let dx = (x as f32 + 0.5 - cx) / rx;
                    if dx * dx + dy * dy < inner {
                        continue;
                    }
                }
                self.put(x, y, paint, label);
            }
        }
    }

    /// A straight stroke of `thickness` pixels (at least one).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn line(
        &mut self,
        a: (f32, f32),
        b: (f32, f32),
        thickness: f32,
        paint: &Paint,
        label: u8,
    ) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = (dx * dx + dy * dy).sqrt().max(1e-3);
        let t = thickness.max(1.0) * 0.5;
        let (nx, ny) = (-dy / len * t, dx / len * t);
        self.polygon(
            &[
                (a.0 + nx, a.1 + ny),
                (b.0 + nx, b.1 + ny),
                (b.0 - nx, b.1 - ny),
                (a.0 - nx, a.1 - ny),
            ],
            paint,
            label,
        );
    }

    /// Global lighting (gain, colour cast, vertical gradient) and sensor noise, to bytes.
    pub(super) fn finish(self, rng: &mut SplitMix64) -> (Vec<u8>, Vec<u8>) {
        let gain = rng.uniform(0.55, 1.35) as f32;
        let cast = [0, 1, 2].map(|_| gain * rng.uniform(0.82, 1.18) as f32);
        let gradient = rng.uniform(-0.35, 0.35) as f32;
        let offset = rng.uniform(-20.0, 20.0) as f32;
        let sensor = rng.uniform(2.0, 14.0) as f32;
        let key = self.key ^ 0x68e3_1da4;
        let mut out = vec![0u8; self.rgb.len()];
        for y in 0..self.height {
            let light = 1.0 + gradient * (y as f32 / self.height as f32 - 0.5);
            for x in 0..self.width {
                let n = sensor * noise(x as u32, y as u32, key);
                let i = (y * self.width + x) * 3;
                for c in 0..3 {
                    let v = self.rgb[i + c] * cast[c] * light + offset + n;
                    out[i + c] = v.clamp(0.0, 255.0) as u8;
                }
            }
        }
        (out, self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::labels::{CAR, ROAD};

    #[test]
    fn polygon_fill_covers_pixel_centres() {
        let mut canvas = Canvas::new(8, 8, 0);
        let p = Paint {
            color: [1.0; 3],
            grain: 0.0,
            blotch: 0.0,
            key: 0,
        };
        canvas.polygon(&[(2.0, 2.0), (6.0, 2.0), (6.0, 5.0), (2.0, 5.0)], &p, ROAD);
        let filled = canvas.label.iter().filter(|&&l| l == ROAD).count();
        assert_eq!(filled, 4 * 3);
        canvas.rect(-100.0, -100.0, 100.0, 1.0, &p, CAR);
        assert_eq!(canvas.label.iter().filter(|&&l| l == CAR).count(), 8);
    }
}
