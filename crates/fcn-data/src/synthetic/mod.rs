//! Seeded synthetic street and rail scenes, labelled in the transit taxonomy, made without any
//! file.
//!
//! Sample `i` of a [`SyntheticTransit`] depends only on the generator's seed and `i`, so a
//! dataset of any length costs nothing until read, and every machine and thread count sees the
//! same pixels. A scene is laid out in metres in front of a pinhole camera (random height, focal
//! length, horizon and vanishing point) and painted back to front, so perspective (objects lower
//! in the frame are bigger), scale variation and occlusion come from the geometry:
//!
//! - sky (gradient: clear, overcast or dusk; clouds), a far skyline of buildings and trees;
//! - ground: terrain (grass, dirt, gravel), road with lane markings and crossings, sidewalks,
//!   rail tracks (two rails and sleepers receding to the vanishing point; on ballast in rail
//!   scenes, embedded in the road in tram scenes);
//! - facades with windows, walls and fences along the sides;
//! - cars, trucks, buses, trams and trains, people, riders on bicycles and motorcycles, parked
//!   bicycles, poles, traffic lights, traffic signs, trees and bushes;
//! - an ego-vehicle bonnet labelled ignore (255) in some frames.
//!
//! To make colour alone a poor cue, class colours overlap on purpose: road, building, wall,
//! pole, sidewalk, ballast and overcast sky are all greys; vehicles take random colours; every
//! surface carries texture noise; and every image gets a random global gain, colour cast,
//! brightness gradient and sensor noise.
//!
//! ```
//! use fcn_data::synthetic::SyntheticTransit;
//! use fcn_data::{Dataset, LabelMap};
//!
//! let train = SyntheticTransit::train(100, 128, 128, 42)?;
//! let sample = train.get(3)?;
//! assert_eq!(sample.dim(), (128, 128));
//! assert_eq!(sample, train.get(3)?); // deterministic
//! let LabelMap::U8(label) = &sample.label else { unreachable!() };
//! assert!(label.iter().all(|&v| v < 20 || v == 255));
//! # Ok::<(), fcn_data::Error>(())
//! ```

mod camera;
mod canvas;
mod colors;
mod label_pairs;
mod labels;
mod objects;
mod scene;

use ndarray::{Array2, Array3};

use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::sample::{LabelMap, Sample};
use crate::taxonomy::transit_classes;
use fcn_common::SplitMix64;

use canvas::Canvas;
pub use label_pairs::{LabelPair, label_pair};
use scene::Scene;

/// A seeded, endless-in-principle dataset of synthetic transit scenes (see the module docs).
#[derive(Debug, Clone)]
pub struct SyntheticTransit {
    len: usize,
    height: usize,
    width: usize,
    seed: u64,
    classes: ClassSet,
}

impl SyntheticTransit {
    /// The smallest side accepted, in pixels.
    pub const MIN_SIDE: usize = 16;
    /// The largest side accepted, in pixels.
    pub const MAX_SIDE: usize = 4096;

    /// `len` scenes of `height` x `width` pixels from `seed`.
    pub fn new(len: usize, height: usize, width: usize, seed: u64) -> Result<Self> {
        let range = Self::MIN_SIDE..=Self::MAX_SIDE;
        if !range.contains(&height) || !range.contains(&width) {
            return Err(Error::SizeOutOfRange {
                what: "synthetic scene size",
                height,
                width,
                min: Self::MIN_SIDE,
                max: Self::MAX_SIDE,
            });
        }
        Ok(Self {
            len,
            height,
            width,
            seed,
            classes: transit_classes(),
        })
    }

    /// The training split for `seed`: generator seed `2 * seed` (even), so it never shares a
    /// scene stream with [`val`](Self::val) of any seed.
    pub fn train(len: usize, height: usize, width: usize, seed: u64) -> Result<Self> {
        Self::new(len, height, width, seed.wrapping_mul(2))
    }

    /// The validation split for `seed`: generator seed `2 * seed + 1` (odd).
    pub fn val(len: usize, height: usize, width: usize, seed: u64) -> Result<Self> {
        Self::new(len, height, width, seed.wrapping_mul(2) | 1)
    }

    /// The generator seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// (height, width) of every scene.
    pub fn size(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// Scene `index` (any index: the length only bounds [`Dataset::get`]).
    pub fn generate(&self, index: usize) -> Sample {
        let mut rng = SplitMix64::from_keys(&[self.seed, index as u64]);
        let mut canvas = Canvas::new(self.width, self.height, rng.next_u64() as u32);
        let mut scene = Scene::random(&mut rng, self.width as f32, self.height as f32);
        scene.paint(&mut canvas, &mut rng);
        let (image, label) = canvas.finish(&mut rng);
        let image = Array3::from_shape_vec((self.height, self.width, 3), image)
            .unwrap_or_else(|_| Array3::zeros((self.height, self.width, 3)));
        let label = Array2::from_shape_vec((self.height, self.width), label)
            .unwrap_or_else(|_| Array2::zeros((self.height, self.width)));
        Sample {
            image,
            label: LabelMap::U8(label),
            id: format!("synthetic-{:016x}-{index:08}", self.seed),
            image_path: None,
            label_path: None,
        }
    }
}

impl Dataset for SyntheticTransit {
    fn len(&self) -> usize {
        self.len
    }
    fn get(&self, index: usize) -> Result<Sample> {
        if index >= self.len {
            return Err(Error::IndexOutOfRange {
                index,
                len: self.len,
            });
        }
        Ok(self.generate(index))
    }
    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_sizes_are_refused() {
        assert!(SyntheticTransit::new(1, 8, 64, 0).is_err());
        assert!(SyntheticTransit::new(1, 64, 100_000, 0).is_err());
    }
}
