//! Deterministic ground-truth / prediction label-map pairs that look like segmentation output,
//! for benchmarks and tests of metrics.
//!
//! Real label maps are long runs of one class with thin void borders; uniformly random pixels
//! would hide the cost (and the tricks) of counting repeated cells. Each ground-truth map is a
//! background class with rectangles and ellipses of other classes, their borders marked void
//! (255) like PASCAL VOC's; the prediction repaints the same shapes a few pixels off, sometimes
//! with the wrong class, and adds blobs that are not there.

use fcn_common::SplitMix64;

/// One ground-truth / prediction pair, row-major `height x width`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPair {
    /// The ground truth, with 255 on shape borders.
    pub target: Vec<u8>,
    /// The prediction, every value a class.
    pub pred: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    class: u8,
    ellipse: bool,
    top: i64,
    left: i64,
    height: i64,
    width: i64,
}

impl Shape {
    /// 2 inside, 1 on the border band, 0 outside.
    fn coverage(&self, y: i64, x: i64, border: i64) -> u8 {
        let inside = |m: i64| {
            let (h, w) = (self.height + 2 * m, self.width + 2 * m);
            let (dy, dx) = (y - (self.top - m), x - (self.left - m));
            if dy < 0 || dx < 0 || dy >= h || dx >= w {
                return false;
            }
            if !self.ellipse {
                return true;
            }
            // Inside the ellipse inscribed in the box, in integer arithmetic.
            let (cy, cx) = (2 * dy + 1 - h, 2 * dx + 1 - w);
            cy * cy * w * w + cx * cx * h * h <= h * h * w * w
        };
        if inside(0) {
            2
        } else if border > 0 && inside(border) {
            1
        } else {
            0
        }
    }

    fn shifted(&self, rng: &mut SplitMix64, by: i64) -> Self {
        let mut jitter = || rng.below(2 * by as u64 + 1) as i64 - by;
        Self {
            top: self.top + jitter(),
            left: self.left + jitter(),
            ..*self
        }
    }
}

fn random_shape(rng: &mut SplitMix64, height: usize, width: usize, num_classes: u8) -> Shape {
    let (h, w) = (height as u64, width as u64);
    let sh = 1 + rng.below(h / 2 + 1);
    let sw = 1 + rng.below(w / 2 + 1);
    Shape {
        class: rng.below(u64::from(num_classes)) as u8,
        ellipse: rng.below(2) == 1,
        top: rng.below(h) as i64 - sh as i64 / 2,
        left: rng.below(w) as i64 - sw as i64 / 2,
        height: sh as i64,
        width: sw as i64,
    }
}

fn paint(shapes: &[Shape], background: u8, height: usize, width: usize, border: i64) -> Vec<u8> {
    let mut map = vec![background; height * width];
    for shape in shapes {
        // Only the shape's bounding box (with its border) can change.
        let y0 = (shape.top - border).clamp(0, height as i64) as usize;
        let y1 = (shape.top + shape.height + border).clamp(0, height as i64) as usize;
        let x0 = (shape.left - border).clamp(0, width as i64) as usize;
        let x1 = (shape.left + shape.width + border).clamp(0, width as i64) as usize;
        for y in y0..y1 {
            for x in x0..x1 {
                match shape.coverage(y as i64, x as i64, border) {
                    2 => map[y * width + x] = shape.class,
                    1 => map[y * width + x] = 255,
                    _ => {}
                }
            }
        }
    }
    map
}

/// A ground-truth / prediction pair over `num_classes` classes (at most 255).
pub fn label_pair(seed: u64, height: usize, width: usize, num_classes: u8) -> LabelPair {
    assert!(num_classes > 0 && height > 0 && width > 0);
    let mut rng = SplitMix64::new(seed);
    let background = rng.below(u64::from(num_classes)) as u8;
    let count = 3 + rng.below(6) as usize;
    let shapes: Vec<Shape> = (0..count)
        .map(|_| random_shape(&mut rng, height, width, num_classes))
        .collect();
    let target = paint(&shapes, background, height, width, 2);

    let mut predicted: Vec<Shape> = shapes
        .iter()
        .map(|s| {
            let mut p = s.shifted(&mut rng, 4);
            if rng.below(5) == 0 {
                p.class = rng.below(u64::from(num_classes)) as u8;
            }
            p
        })
        .collect();
    let extra = rng.below(3) as usize;
    predicted.extend(
        (0..extra).map(|_| random_shape(&mut rng, height / 3 + 1, width / 3 + 1, num_classes)),
    );
    let pred = paint(&predicted, background, height, width, 0);
    LabelPair { target, pred }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_deterministic_and_look_like_segmentation() {
        let a = label_pair(7, 96, 128, 21);
        assert_eq!(a, label_pair(7, 96, 128, 21));
        assert_ne!(a, label_pair(8, 96, 128, 21));
        assert!(a.pred.iter().all(|&p| p < 21));
        assert!(a.target.iter().all(|&t| t < 21 || t == 255));
        let void = a.target.iter().filter(|&&t| t == 255).count();
        assert!(void > 0 && void < a.target.len() / 4, "void pixels: {void}");
        // Coherent: most horizontal neighbours agree.
        let same = a.target.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(same > a.target.len() * 9 / 10);
    }
}
