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

use ndarray::{Array2, Array3};

use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::sample::{LabelMap, Sample};
use crate::taxonomy::{TRANSIT_IGNORE, transit_classes};
use fcn_common::SplitMix64;

// Transit class indices (see `taxonomy::TRANSIT_CLASSES`).
const ROAD: u8 = 0;
const SIDEWALK: u8 = 1;
const BUILDING: u8 = 2;
const WALL: u8 = 3;
const FENCE: u8 = 4;
const POLE: u8 = 5;
const TRAFFIC_LIGHT: u8 = 6;
const TRAFFIC_SIGN: u8 = 7;
const VEGETATION: u8 = 8;
const TERRAIN: u8 = 9;
const SKY: u8 = 10;
const PERSON: u8 = 11;
const RIDER: u8 = 12;
const CAR: u8 = 13;
const TRUCK: u8 = 14;
const BUS: u8 = 15;
const TRAIN: u8 = 16;
const MOTORCYCLE: u8 = 17;
const BICYCLE: u8 = 18;
const RAIL_TRACK: u8 = 19;

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
            return Err(Error::invalid(
                "synthetic scene size",
                format!(
                    "each side must be in {}..={}, got {height}x{width}",
                    Self::MIN_SIDE,
                    Self::MAX_SIDE
                ),
            ));
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

// ---------------------------------------------------------------------------------------------
// Painting
// ---------------------------------------------------------------------------------------------

/// A colour with texture: `grain` is per-pixel noise, `blotch` noise over 4x4 blocks (both in
/// 0..255 units, applied to all channels alike), `key` decorrelates surfaces.
#[derive(Debug, Clone, Copy)]
struct Paint {
    color: [f32; 3],
    grain: f32,
    blotch: f32,
    key: u32,
}

fn hash(x: u32, y: u32, key: u32) -> u32 {
    let mut h = x.wrapping_mul(0x8da6_b343) ^ y.wrapping_mul(0xd816_3841) ^ key;
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297a_2d39);
    h ^ (h >> 15)
}

/// A value in [-0.5, 0.5).
fn noise(x: u32, y: u32, key: u32) -> f32 {
    (hash(x, y, key) >> 8) as f32 * (1.0 / (1u32 << 24) as f32) - 0.5
}

struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<f32>,
    label: Vec<u8>,
    key: u32,
}

impl Canvas {
    fn new(width: usize, height: usize, key: u32) -> Self {
        Self {
            width,
            height,
            rgb: vec![0.0; width * height * 3],
            label: vec![SKY; width * height],
            key,
        }
    }

    fn put(&mut self, x: usize, y: usize, paint: &Paint, label: u8) {
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
    fn rows(&self, y0: f32, y1: f32) -> std::ops::Range<usize> {
        let first = (y0 - 0.5).ceil().max(0.0);
        let end = (y1 - 0.5).ceil().clamp(0.0, self.height as f32);
        if first.partial_cmp(&end) != Some(std::cmp::Ordering::Less) {
            return 0..0;
        }
        first as usize..end as usize
    }

    /// Pixel columns whose centres lie in [x0, x1), clipped.
    fn cols(&self, x0: f32, x1: f32) -> std::ops::Range<usize> {
        let first = (x0 - 0.5).ceil().max(0.0);
        let end = (x1 - 0.5).ceil().clamp(0.0, self.width as f32);
        if first.partial_cmp(&end) != Some(std::cmp::Ordering::Less) {
            return 0..0;
        }
        first as usize..end as usize
    }

    fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, paint: &Paint, label: u8) {
        let (x0, x1) = (x0.min(x1), x0.max(x1));
        let (y0, y1) = (y0.min(y1), y0.max(y1));
        for y in self.rows(y0, y1) {
            for x in self.cols(x0, x1) {
                self.put(x, y, paint, label);
            }
        }
    }

    /// A convex polygon (scan-line fill, pixel centres).
    fn polygon(&mut self, points: &[(f32, f32)], paint: &Paint, label: u8) {
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
    fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, ring: f32, paint: &Paint, label: u8) {
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
    fn line(&mut self, a: (f32, f32), b: (f32, f32), thickness: f32, paint: &Paint, label: u8) {
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
    fn finish(self, rng: &mut SplitMix64) -> (Vec<u8>, Vec<u8>) {
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

// ---------------------------------------------------------------------------------------------
// Camera and scene
// ---------------------------------------------------------------------------------------------

/// A level pinhole camera `height` metres above flat ground; world X is to the right, Y up,
/// Z away from the camera (metres).
#[derive(Debug, Clone, Copy)]
struct Camera {
    horizon: f32,
    vanish_x: f32,
    focal: f32,
    height: f32,
}

impl Camera {
    fn project(&self, x: f32, y: f32, z: f32) -> (f32, f32) {
        let z = z.max(0.05);
        (
            self.vanish_x + self.focal * x / z,
            self.horizon + self.focal * (self.height - y) / z,
        )
    }

    /// Pixels per metre at distance `z`.
    fn scale(&self, z: f32) -> f32 {
        self.focal / z.max(0.05)
    }

    /// The distance of the ground seen at image row `row`.
    fn ground_z(&self, row: f32) -> f32 {
        self.focal * self.height / (row - self.horizon).max(1e-3)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Street,
    TramStreet,
    Rail,
}

fn pick<T: Copy>(rng: &mut SplitMix64, items: &[T]) -> T {
    items[rng.below_usize(items.len())]
}

fn gray(rng: &mut SplitMix64, low: f64, high: f64) -> [f32; 3] {
    let v = rng.uniform(low, high) as f32;
    let tint = [0, 1, 2].map(|_| rng.uniform(-6.0, 6.0) as f32);
    [v + tint[0], v + tint[1], v + tint[2]]
}

fn jitter(rng: &mut SplitMix64, color: [f32; 3], amount: f64) -> [f32; 3] {
    color.map(|c| c + rng.uniform(-amount, amount) as f32)
}

/// A random vehicle colour: greys as often as colours, as on real roads.
fn vehicle_color(rng: &mut SplitMix64) -> [f32; 3] {
    if rng.chance(0.5) {
        gray(rng, 20.0, 230.0)
    } else {
        let base = pick(
            rng,
            &[
                [180.0, 30.0, 30.0],
                [30.0, 60.0, 150.0],
                [220.0, 200.0, 40.0],
                [40.0, 110.0, 60.0],
                [230.0, 230.0, 225.0],
                [120.0, 80.0, 50.0],
                [200.0, 110.0, 30.0],
                [90.0, 150.0, 190.0],
            ],
        );
        jitter(rng, base, 30.0)
    }
}

fn building_color(rng: &mut SplitMix64) -> [f32; 3] {
    if rng.chance(0.55) {
        gray(rng, 60.0, 210.0)
    } else {
        let base = pick(
            rng,
            &[
                [170.0, 90.0, 70.0],
                [200.0, 180.0, 140.0],
                [150.0, 130.0, 110.0],
                [210.0, 200.0, 170.0],
                [120.0, 130.0, 140.0],
                [180.0, 150.0, 120.0],
            ],
        );
        jitter(rng, base, 25.0)
    }
}

fn foliage_color(rng: &mut SplitMix64) -> [f32; 3] {
    let base = pick(
        rng,
        &[
            [60.0, 110.0, 40.0],
            [90.0, 130.0, 50.0],
            [40.0, 80.0, 40.0],
            [120.0, 120.0, 60.0],
            [150.0, 110.0, 50.0],
        ],
    );
    jitter(rng, base, 25.0)
}

fn terrain_color(rng: &mut SplitMix64) -> [f32; 3] {
    let base = pick(
        rng,
        &[
            [90.0, 130.0, 60.0],
            [130.0, 140.0, 70.0],
            [130.0, 110.0, 80.0],
            [150.0, 140.0, 120.0],
            [110.0, 105.0, 100.0],
        ],
    );
    jitter(rng, base, 25.0)
}

fn skin_color(rng: &mut SplitMix64) -> [f32; 3] {
    let base = pick(
        rng,
        &[
            [230.0, 190.0, 160.0],
            [190.0, 140.0, 100.0],
            [120.0, 80.0, 50.0],
            [80.0, 55.0, 40.0],
        ],
    );
    jitter(rng, base, 15.0)
}

fn paint(color: [f32; 3], grain: f32, blotch: f32, rng: &mut SplitMix64) -> Paint {
    Paint {
        color,
        grain,
        blotch,
        key: rng.next_u64() as u32,
    }
}

/// Something standing on the ground at distance `z`, drawn back to front.
#[derive(Debug, Clone, Copy)]
enum Object {
    Car { x: f32, side_view: bool },
    Truck { x: f32 },
    Bus { x: f32 },
    Tram { x: f32 },
    Person { x: f32 },
    Rider { x: f32, motorcycle: bool },
    ParkedBicycle { x: f32 },
    Pole { x: f32, top: Fixture },
    Tree { x: f32 },
    Bush { x: f32 },
}

/// What a pole carries.
#[derive(Debug, Clone, Copy)]
enum Fixture {
    Nothing,
    Lamp,
    TrafficLight,
    Sign,
    Catenary,
}

struct Scene {
    camera: Camera,
    kind: Kind,
    /// Road edges (X, metres), if there is a road.
    road: Option<(f32, f32)>,
    sidewalk_width: f32,
    /// Track centre lines (X).
    tracks: Vec<f32>,
    far: f32,
    objects: Vec<(f32, Object)>,
    left_side: Side,
    right_side: Side,
}

/// What lines each side of the scene beyond the sidewalk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Buildings,
    Wall,
    Fence,
    Open,
}

impl Scene {
    fn random(rng: &mut SplitMix64, width: f32, height: f32) -> Self {
        let kind = pick(
            rng,
            &[Kind::Street, Kind::Street, Kind::TramStreet, Kind::Rail],
        );
        let camera = Camera {
            horizon: height * rng.uniform(0.3, 0.55) as f32,
            vanish_x: width * rng.uniform(0.3, 0.7) as f32,
            focal: width * rng.uniform(0.6, 1.4) as f32,
            height: rng.uniform(1.2, 3.0) as f32,
        };
        let far = rng.uniform(60.0, 160.0) as f32;
        let (road, tracks) = match kind {
            Kind::Street => {
                let left = -rng.uniform(3.0, 10.0) as f32;
                (Some((left, rng.uniform(3.0, 10.0) as f32)), vec![])
            }
            Kind::TramStreet => {
                let left = -rng.uniform(5.0, 10.0) as f32;
                let right = rng.uniform(5.0, 10.0) as f32;
                let track = rng.uniform(f64::from(left) + 2.0, f64::from(right) - 2.0) as f32;
                let mut tracks = vec![track];
                if rng.chance(0.5) && track + 3.2 < right - 1.0 {
                    tracks.push(track + 3.2);
                }
                (Some((left, right)), tracks)
            }
            Kind::Rail => {
                let first = rng.uniform(-4.0, 1.5) as f32;
                let count = 1 + rng.below_usize(3);
                let tracks = (0..count).map(|k| first + 4.5 * k as f32).collect();
                let road = if rng.chance(0.3) {
                    Some((
                        first + 4.5 * count as f32 + 2.0,
                        first + 4.5 * count as f32 + 9.0,
                    ))
                } else {
                    None
                };
                (road, tracks)
            }
        };
        let sides = [
            Side::Buildings,
            Side::Buildings,
            Side::Wall,
            Side::Fence,
            Side::Open,
        ];
        let mut scene = Scene {
            camera,
            kind,
            road,
            sidewalk_width: rng.uniform(1.5, 4.5) as f32,
            tracks,
            far,
            objects: Vec::new(),
            left_side: pick(rng, &sides),
            right_side: pick(rng, &sides),
        };
        if kind == Kind::Rail {
            // Rail lines run through fields and behind fences more than past facades.
            for side in [&mut scene.left_side, &mut scene.right_side] {
                if *side == Side::Buildings && rng.chance(0.5) {
                    *side = Side::Open;
                }
            }
        }
        scene.place_objects(rng, height);
        scene
    }

    /// The X extent of the ground the scene lays out: road (or tracks) and sidewalks.
    fn core(&self) -> (f32, f32) {
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        if let Some((l, r)) = self.road {
            lo = lo.min(l - self.sidewalk_width);
            hi = hi.max(r + self.sidewalk_width);
        }
        for &t in &self.tracks {
            lo = lo.min(t - 2.5);
            hi = hi.max(t + 2.5);
        }
        (lo, hi)
    }

    fn place_objects(&mut self, rng: &mut SplitMix64, height: f32) {
        let near = self.camera.ground_z(height) * 0.8;
        let z_in = |rng: &mut SplitMix64, max: f32| {
            // Uniform in 1/z: as many objects near as far on screen.
            let (a, b) = (1.0 / near, 1.0 / max.max(near + 1.0));
            1.0 / rng.uniform(f64::from(b), f64::from(a)) as f32
        };
        let far = self.far.min(70.0);
        let (core_lo, core_hi) = self.core();
        if let Some((left, right)) = self.road {
            for _ in 0..rng.below_usize(7) {
                let x = rng.uniform(f64::from(left) + 1.0, f64::from(right) - 1.0) as f32;
                let z = z_in(rng, far);
                let object = match rng.below_usize(10) {
                    0 | 1 => Object::Truck { x },
                    2 | 3 => Object::Bus { x },
                    4 => Object::Rider {
                        x,
                        motorcycle: rng.chance(0.5),
                    },
                    _ => Object::Car {
                        x,
                        side_view: rng.chance(0.25),
                    },
                };
                self.objects.push((z, object));
            }
            for _ in 0..rng.below_usize(8) {
                let on_left = rng.chance(0.5);
                let x = if on_left {
                    left - rng.uniform(0.3, f64::from(self.sidewalk_width) - 0.3) as f32
                } else {
                    right + rng.uniform(0.3, f64::from(self.sidewalk_width) - 0.3) as f32
                };
                let z = z_in(rng, far);
                let object = match rng.below_usize(8) {
                    0 => Object::ParkedBicycle { x },
                    1 => Object::Rider {
                        x,
                        motorcycle: false,
                    },
                    _ => Object::Person { x },
                };
                self.objects.push((z, object));
            }
            // Street furniture at the kerbs, evenly spaced.
            let spacing = rng.uniform(12.0, 30.0) as f32;
            let mut z = near + rng.uniform(0.0, f64::from(spacing)) as f32;
            while z < far {
                let x = if rng.chance(0.5) {
                    left - 0.4
                } else {
                    right + 0.4
                };
                let top = pick(
                    rng,
                    &[
                        Fixture::Nothing,
                        Fixture::Lamp,
                        Fixture::Lamp,
                        Fixture::TrafficLight,
                        Fixture::Sign,
                        Fixture::Sign,
                    ],
                );
                self.objects.push((z, Object::Pole { x, top }));
                if rng.chance(0.4) {
                    let tree_x = x + if x < 0.0 { -1.0 } else { 1.0 };
                    self.objects
                        .push((z + spacing * 0.5, Object::Tree { x: tree_x }));
                }
                z += spacing;
            }
        }
        for &track in &self.tracks.clone() {
            if rng.chance(0.55) {
                let z = z_in(rng, far);
                self.objects.push((z, Object::Tram { x: track }));
            }
            if self.kind == Kind::Rail {
                // Catenary masts beside the track.
                let spacing = rng.uniform(25.0, 50.0) as f32;
                let mut z = near + rng.uniform(0.0, f64::from(spacing)) as f32;
                while z < far {
                    self.objects.push((
                        z,
                        Object::Pole {
                            x: track - 2.4,
                            top: Fixture::Catenary,
                        },
                    ));
                    z += spacing;
                }
            }
        }
        // Vegetation and people in the open ground beyond the core.
        for _ in 0..rng.below_usize(6) {
            let x = if rng.chance(0.5) {
                core_lo - rng.uniform(1.0, 12.0) as f32
            } else {
                core_hi + rng.uniform(1.0, 12.0) as f32
            };
            let z = z_in(rng, far);
            let object = match rng.below_usize(4) {
                0 => Object::Tree { x },
                1 => Object::Person { x },
                _ => Object::Bush { x },
            };
            self.objects.push((z, object));
        }
        // Back to front.
        self.objects.sort_by(|a, b| b.0.total_cmp(&a.0));
    }

    fn paint(&mut self, canvas: &mut Canvas, rng: &mut SplitMix64) {
        self.paint_sky(canvas, rng);
        self.paint_skyline(canvas, rng);
        self.paint_ground(canvas, rng);
        let (core_lo, core_hi) = self.core();
        let left_edge = core_lo - rng.uniform(0.0, 4.0) as f32;
        let right_edge = core_hi + rng.uniform(0.0, 4.0) as f32;
        self.paint_side(canvas, rng, self.left_side, left_edge);
        self.paint_side(canvas, rng, self.right_side, right_edge);
        let objects = std::mem::take(&mut self.objects);
        for &(z, object) in &objects {
            self.paint_object(canvas, rng, z, object);
        }
        if rng.chance(0.25) {
            // The ego vehicle's bonnet: neither scene nor class.
            let w = canvas.width as f32;
            let h = canvas.height as f32;
            let color = vehicle_color(rng);
            let bonnet = paint(color, 4.0, 6.0, rng);
            let depth = h * rng.uniform(0.06, 0.14) as f32;
            canvas.ellipse(
                w * 0.5,
                h + depth * 0.6,
                w * 0.8,
                depth * 1.6,
                0.0,
                &bonnet,
                TRANSIT_IGNORE,
            );
        }
    }

    fn paint_sky(&self, canvas: &mut Canvas, rng: &mut SplitMix64) {
        let (top, bottom) = match rng.below_usize(3) {
            0 => (
                jitter(rng, [60.0, 110.0, 190.0], 25.0),
                jitter(rng, [170.0, 200.0, 230.0], 20.0),
            ),
            1 => {
                let t = gray(rng, 120.0, 200.0);
                (t, t.map(|c| c + 20.0))
            }
            _ => (
                jitter(rng, [80.0, 70.0, 120.0], 20.0),
                jitter(rng, [230.0, 150.0, 90.0], 25.0),
            ),
        };
        let horizon = self.camera.horizon.max(1.0);
        let key = rng.next_u64() as u32;
        for y in canvas.rows(0.0, self.camera.horizon + 1.0) {
            let t = (y as f32 / horizon).min(1.0);
            let color = [0, 1, 2].map(|c| top[c] + (bottom[c] - top[c]) * t);
            let row_paint = Paint {
                color,
                grain: 3.0,
                blotch: 0.0,
                key,
            };
            for x in 0..canvas.width {
                canvas.put(x, y, &row_paint, SKY);
            }
        }
        for _ in 0..rng.below_usize(6) {
            let cloud = paint(gray(rng, 190.0, 250.0), 6.0, 12.0, rng);
            let cx = rng.uniform(0.0, canvas.width as f64) as f32;
            let cy = rng.uniform(0.0, f64::from(self.camera.horizon) * 0.8) as f32;
            let rx = canvas.width as f32 * rng.uniform(0.05, 0.2) as f32;
            for k in 0..3 {
                let dx = (k as f32 - 1.0) * rx * 0.6;
                let ry = rx * rng.uniform(0.25, 0.45) as f32;
                canvas.ellipse(cx + dx, cy, rx * 0.7, ry, 0.0, &cloud, SKY);
            }
        }
    }

    /// Distant blocks and tree lines standing on the horizon.
    fn paint_skyline(&self, canvas: &mut Canvas, rng: &mut SplitMix64) {
        let z = self.far;
        let mut x = -z * 1.5;
        while x < z * 1.5 {
            let width = rng.uniform(8.0, 40.0) as f32;
            let (label, color, tall) = if rng.chance(0.35) {
                (VEGETATION, foliage_color(rng), rng.uniform(6.0, 15.0))
            } else if self.kind == Kind::Rail && rng.chance(0.5) {
                (TERRAIN, terrain_color(rng), 0.0)
            } else {
                (BUILDING, building_color(rng), rng.uniform(8.0, 60.0))
            };
            if tall > 0.0 {
                let (x0, y0) = self.camera.project(x, tall as f32, z);
                let (x1, y1) = self.camera.project(x + width, 0.0, z);
                let p = paint(color, 5.0, 8.0, rng);
                if label == VEGETATION {
                    let (cx, cy) = ((x0 + x1) * 0.5, (y0 + y1) * 0.5);
                    canvas.ellipse(cx, cy, (x1 - x0) * 0.6, (y1 - y0) * 0.6, 0.0, &p, label);
                } else {
                    canvas.rect(x0, y0, x1, y1 + 1.0, &p, label);
                }
            }
            x += width;
        }
    }

    /// A ground patch between two X values from `z0` to `z1`.
    #[allow(clippy::too_many_arguments)]
    fn ground_quad(
        &self,
        canvas: &mut Canvas,
        x0: f32,
        x1: f32,
        z0: f32,
        z1: f32,
        p: &Paint,
        label: u8,
    ) {
        let c = &self.camera;
        canvas.polygon(
            &[
                c.project(x0, 0.0, z0),
                c.project(x1, 0.0, z0),
                c.project(x1, 0.0, z1),
                c.project(x0, 0.0, z1),
            ],
            p,
            label,
        );
    }

    fn paint_ground(&self, canvas: &mut Canvas, rng: &mut SplitMix64) {
        let near = 0.3;
        let far = self.far;
        let terrain = paint(terrain_color(rng), 14.0, 18.0, rng);
        canvas.rect(
            0.0,
            self.camera.horizon,
            canvas.width as f32,
            canvas.height as f32,
            &terrain,
            TERRAIN,
        );
        if let Some((left, right)) = self.road {
            let walk_color = if rng.chance(0.6) {
                gray(rng, 100.0, 190.0)
            } else {
                jitter(rng, [170.0, 120.0, 110.0], 25.0)
            };
            let walk = paint(walk_color, 10.0, 10.0, rng);
            let sw = self.sidewalk_width;
            self.ground_quad(canvas, left - sw, left, near, far, &walk, SIDEWALK);
            self.ground_quad(canvas, right, right + sw, near, far, &walk, SIDEWALK);
            let asphalt = paint(gray(rng, 50.0, 140.0), 12.0, 8.0, rng);
            self.ground_quad(canvas, left, right, near, far, &asphalt, ROAD);
            let marking = paint(gray(rng, 190.0, 245.0), 6.0, 0.0, rng);
            // Dashed lane lines every ~3.5 m across the road.
            let mut lane = left + 3.5;
            while lane < right - 1.0 {
                let mut z = 1.0 + rng.uniform(0.0, 9.0) as f32;
                while z < far {
                    self.ground_quad(canvas, lane - 0.08, lane + 0.08, z, z + 3.0, &marking, ROAD);
                    z += 9.0;
                }
                lane += 3.5;
            }
            if rng.chance(0.3) {
                // A zebra crossing.
                let z = rng.uniform(6.0, 25.0) as f32;
                let mut x = left + 0.3;
                while x < right - 0.5 {
                    self.ground_quad(canvas, x, x + 0.5, z, z + 4.0, &marking, ROAD);
                    x += 1.0;
                }
            }
        }
        for &track in &self.tracks {
            self.paint_track(canvas, rng, track, near, far);
        }
    }

    fn paint_track(
        &self,
        canvas: &mut Canvas,
        rng: &mut SplitMix64,
        track: f32,
        near: f32,
        far: f32,
    ) {
        let embedded = self.kind == Kind::TramStreet;
        let gauge = 0.7175;
        if !embedded {
            let ballast = paint(gray(rng, 80.0, 150.0), 24.0, 10.0, rng);
            self.ground_quad(
                canvas,
                track - 2.0,
                track - 1.2,
                near,
                far,
                &ballast,
                TERRAIN,
            );
            self.ground_quad(
                canvas,
                track + 1.2,
                track + 2.0,
                near,
                far,
                &ballast,
                TERRAIN,
            );
        }
        let bed_color = if embedded {
            gray(rng, 70.0, 140.0)
        } else {
            gray(rng, 80.0, 150.0)
        };
        let bed = paint(bed_color, 20.0, 10.0, rng);
        self.ground_quad(
            canvas,
            track - 1.2,
            track + 1.2,
            near,
            far,
            &bed,
            RAIL_TRACK,
        );
        if !embedded {
            let sleeper_color = if rng.chance(0.5) {
                jitter(rng, [100.0, 75.0, 55.0], 15.0)
            } else {
                gray(rng, 120.0, 180.0)
            };
            let sleeper = paint(sleeper_color, 8.0, 0.0, rng);
            let mut z = near + rng.uniform(0.0, 0.6) as f32;
            while z < far && self.camera.scale(z) * 0.25 > 0.5 {
                self.ground_quad(
                    canvas,
                    track - 1.2,
                    track + 1.2,
                    z,
                    z + 0.25,
                    &sleeper,
                    RAIL_TRACK,
                );
                z += 0.6;
            }
        }
        let steel = paint(gray(rng, 120.0, 220.0), 8.0, 0.0, rng);
        for side in [-1.0, 1.0] {
            let x = track + side * gauge;
            let c = &self.camera;
            let a = c.project(x, 0.0, near.max(c.ground_z(canvas.height as f32) * 0.9));
            let b = c.project(x, 0.0, far);
            let thickness = c.scale(c.ground_z(canvas.height as f32)) * 0.07;
            canvas.line(a, b, thickness, &steel, RAIL_TRACK);
        }
    }

    /// Facades, a wall, a fence or nothing along one side, starting at X = `edge`.
    fn paint_side(&self, canvas: &mut Canvas, rng: &mut SplitMix64, side: Side, edge: f32) {
        let c = self.camera;
        let face = |x: f32, z0: f32, z1: f32, y0: f32, y1: f32| {
            [
                c.project(x, y0, z0),
                c.project(x, y0, z1),
                c.project(x, y1, z1),
                c.project(x, y1, z0),
            ]
        };
        match side {
            Side::Open => {
                if rng.chance(0.6) {
                    // A hedge or tree line.
                    let p = paint(foliage_color(rng), 20.0, 25.0, rng);
                    let tall = rng.uniform(1.0, 6.0) as f32;
                    canvas.polygon(&face(edge, 0.5, self.far, 0.0, tall), &p, VEGETATION);
                }
            }
            Side::Wall | Side::Fence => {
                let tall = rng.uniform(1.0, 3.0) as f32;
                if side == Side::Wall {
                    let p = paint(building_color(rng), 10.0, 12.0, rng);
                    canvas.polygon(&face(edge, 0.5, self.far, 0.0, tall), &p, WALL);
                } else {
                    let p = paint(gray(rng, 40.0, 200.0), 6.0, 0.0, rng);
                    let mut z = 0.8f32;
                    while z < self.far {
                        let a = c.project(edge, 0.0, z);
                        let b = c.project(edge, tall, z);
                        canvas.line(a, b, c.scale(z) * 0.08, &p, FENCE);
                        z += 2.5;
                    }
                    for k in 1..=3 {
                        let y = tall * k as f32 / 3.0;
                        let a = c.project(edge, y, 0.8);
                        let b = c.project(edge, y, self.far);
                        canvas.line(a, b, c.scale(2.0) * 0.04, &p, FENCE);
                    }
                }
                // Buildings may still rise behind.
                if rng.chance(0.5) {
                    self.paint_facades(canvas, rng, edge + edge.signum() * 6.0);
                }
            }
            Side::Buildings => self.paint_facades(canvas, rng, edge),
        }
    }

    fn paint_facades(&self, canvas: &mut Canvas, rng: &mut SplitMix64, edge: f32) {
        let c = self.camera;
        let mut z = 0.5f32;
        while z < self.far {
            let length = rng.uniform(8.0, 30.0) as f32;
            let tall = rng.uniform(6.0, 30.0) as f32;
            let z1 = (z + length).min(self.far);
            let wall = paint(building_color(rng), 10.0, 14.0, rng);
            let quad = |z0: f32, z1: f32, y0: f32, y1: f32| {
                [
                    c.project(edge, y0, z0),
                    c.project(edge, y0, z1),
                    c.project(edge, y1, z1),
                    c.project(edge, y1, z0),
                ]
            };
            canvas.polygon(&quad(z, z1, 0.0, tall), &wall, BUILDING);
            let glass_color = if rng.chance(0.5) {
                gray(rng, 20.0, 90.0)
            } else {
                jitter(rng, [110.0, 150.0, 190.0], 30.0)
            };
            let glass = paint(glass_color, 6.0, 10.0, rng);
            let (step_z, step_y) = (rng.uniform(2.5, 4.5) as f32, rng.uniform(2.8, 3.6) as f32);
            let mut wz = z + 0.8;
            while wz + 1.2 < z1 && c.scale(wz) * 1.2 > 1.5 {
                let mut wy = 1.0;
                while wy + 1.5 < tall {
                    canvas.polygon(&quad(wz, wz + 1.2, wy, wy + 1.5), &glass, BUILDING);
                    wy += step_y;
                }
                wz += step_z;
            }
            z = z1 + rng.uniform(0.0, 3.0) as f32;
        }
    }

    fn paint_object(&self, canvas: &mut Canvas, rng: &mut SplitMix64, z: f32, object: Object) {
        let c = self.camera;
        // A rectangle in the plane at distance z, in metres: X from x0 to x1, height y0 to y1.
        let rect =
            |canvas: &mut Canvas, x0: f32, x1: f32, y0: f32, y1: f32, p: &Paint, label: u8| {
                let (a, b) = (c.project(x0, y1, z), c.project(x1, y0, z));
                canvas.rect(a.0, a.1, b.0, b.1, p, label);
            };
        let disc =
            |canvas: &mut Canvas, x: f32, y: f32, r: f32, ring: f32, p: &Paint, label: u8| {
                let (cx, cy) = c.project(x, y, z);
                let r = r * c.scale(z);
                canvas.ellipse(cx, cy, r, r, ring, p, label);
            };
        let tyre = paint(gray(rng, 15.0, 45.0), 4.0, 0.0, rng);
        match object {
            Object::Car { x, side_view } => {
                let body = paint(vehicle_color(rng), 5.0, 4.0, rng);
                let glass = paint(gray(rng, 20.0, 100.0), 4.0, 6.0, rng);
                let half = if side_view { 2.2 } else { 0.9 };
                rect(canvas, x - half, x + half, 0.35, 1.0, &body, CAR);
                let cabin = (half * 0.75, if side_view { 0.5 } else { 0.75 });
                rect(canvas, x - cabin.0, x + cabin.0, 1.0, 1.5, &body, CAR);
                rect(
                    canvas,
                    x - cabin.0 + 0.1,
                    x + cabin.0 - 0.1,
                    1.05,
                    1.42,
                    &glass,
                    CAR,
                );
                if side_view {
                    for dx in [-1.4, 1.4] {
                        disc(canvas, x + dx, 0.33, 0.33, 0.0, &tyre, CAR);
                    }
                } else {
                    rect(
                        canvas,
                        x - half + 0.05,
                        x - half + 0.35,
                        0.0,
                        0.4,
                        &tyre,
                        CAR,
                    );
                    rect(
                        canvas,
                        x + half - 0.35,
                        x + half - 0.05,
                        0.0,
                        0.4,
                        &tyre,
                        CAR,
                    );
                    let lamp = paint(jitter(rng, [200.0, 30.0, 30.0], 20.0), 4.0, 0.0, rng);
                    rect(
                        canvas,
                        x - half + 0.1,
                        x - half + 0.4,
                        0.75,
                        0.9,
                        &lamp,
                        CAR,
                    );
                    rect(
                        canvas,
                        x + half - 0.4,
                        x + half - 0.1,
                        0.75,
                        0.9,
                        &lamp,
                        CAR,
                    );
                }
            }
            Object::Truck { x } => {
                let cargo = paint(vehicle_color(rng), 6.0, 8.0, rng);
                let cab = paint(vehicle_color(rng), 5.0, 4.0, rng);
                rect(canvas, x - 1.25, x + 1.25, 0.5, 3.6, &cargo, TRUCK);
                rect(canvas, x - 1.2, x + 1.2, 0.0, 0.9, &cab, TRUCK);
                rect(canvas, x - 1.1, x - 0.6, 0.0, 0.5, &tyre, TRUCK);
                rect(canvas, x + 0.6, x + 1.1, 0.0, 0.5, &tyre, TRUCK);
            }
            Object::Bus { x } => {
                let body = paint(vehicle_color(rng), 5.0, 6.0, rng);
                let glass = paint(gray(rng, 20.0, 110.0), 4.0, 8.0, rng);
                rect(canvas, x - 1.25, x + 1.25, 0.3, 3.1, &body, BUS);
                rect(canvas, x - 1.1, x + 1.1, 1.9, 2.9, &glass, BUS);
                rect(canvas, x - 1.2, x - 0.7, 0.0, 0.5, &tyre, BUS);
                rect(canvas, x + 0.7, x + 1.2, 0.0, 0.5, &tyre, BUS);
            }
            Object::Tram { x } => {
                let body = paint(vehicle_color(rng), 5.0, 6.0, rng);
                let glass = paint(gray(rng, 20.0, 110.0), 4.0, 8.0, rng);
                rect(canvas, x - 1.3, x + 1.3, 0.3, 3.5, &body, TRAIN);
                rect(canvas, x - 1.15, x + 1.15, 1.8, 3.1, &glass, TRAIN);
                rect(canvas, x - 1.0, x + 1.0, 0.0, 0.35, &tyre, TRAIN);
                // Pantograph: a thin frame above the roof.
                let frame = paint(gray(rng, 40.0, 120.0), 2.0, 0.0, rng);
                let a = c.project(x - 0.6, 3.5, z);
                let b = c.project(x, 4.5, z);
                let d = c.project(x + 0.6, 3.5, z);
                let t = c.scale(z) * 0.06;
                canvas.line(a, b, t, &frame, TRAIN);
                canvas.line(b, d, t, &frame, TRAIN);
            }
            Object::Person { x } => self.paint_person(canvas, rng, z, x, 0.0, PERSON),
            Object::Rider { x, motorcycle } => {
                let (label, wheel) = if motorcycle {
                    (MOTORCYCLE, 0.32)
                } else {
                    (BICYCLE, 0.34)
                };
                let frame_color = if motorcycle {
                    vehicle_color(rng)
                } else {
                    gray(rng, 20.0, 200.0)
                };
                let frame = paint(frame_color, 4.0, 0.0, rng);
                self.paint_two_wheeler(canvas, z, x, wheel, motorcycle, &frame, &tyre, label);
                self.paint_person(canvas, rng, z, x, 0.55, RIDER);
            }
            Object::ParkedBicycle { x } => {
                let frame = paint(vehicle_color(rng), 4.0, 0.0, rng);
                self.paint_two_wheeler(canvas, z, x, 0.34, false, &frame, &tyre, BICYCLE);
            }
            Object::Pole { x, top } => self.paint_pole(canvas, rng, z, x, top),
            Object::Tree { x } => {
                let trunk = paint(jitter(rng, [90.0, 70.0, 50.0], 20.0), 8.0, 6.0, rng);
                let crown = paint(foliage_color(rng), 22.0, 30.0, rng);
                let tall = rng.uniform(4.0, 9.0) as f32;
                rect(
                    canvas,
                    x - 0.15,
                    x + 0.15,
                    0.0,
                    tall * 0.6,
                    &trunk,
                    VEGETATION,
                );
                for k in 0..4 {
                    let dx = rng.uniform(-1.0, 1.0) as f32 * tall * 0.15;
                    let dy = tall * (0.6 + 0.1 * k as f32);
                    disc(
                        canvas,
                        x + dx,
                        dy,
                        tall * rng.uniform(0.15, 0.3) as f32,
                        0.0,
                        &crown,
                        VEGETATION,
                    );
                }
            }
            Object::Bush { x } => {
                let leaves = paint(foliage_color(rng), 22.0, 30.0, rng);
                let r = rng.uniform(0.4, 1.2) as f32;
                disc(canvas, x, r * 0.7, r, 0.0, &leaves, VEGETATION);
            }
        }
    }

    /// A standing person (or a rider, lifted by `seat` metres), seen from the front or back.
    #[allow(clippy::too_many_arguments)]
    fn paint_person(
        &self,
        canvas: &mut Canvas,
        rng: &mut SplitMix64,
        z: f32,
        x: f32,
        seat: f32,
        label: u8,
    ) {
        let c = self.camera;
        let tall = rng.uniform(1.5, 1.9) as f32;
        let shirt = paint(vehicle_color(rng), 8.0, 4.0, rng);
        let trousers = paint(gray(rng, 20.0, 150.0), 6.0, 4.0, rng);
        let skin = paint(skin_color(rng), 4.0, 0.0, rng);
        let scale = c.scale(z);
        let rect = |canvas: &mut Canvas, x0: f32, x1: f32, y0: f32, y1: f32, p: &Paint| {
            let (a, b) = (c.project(x0, y1, z), c.project(x1, y0, z));
            canvas.rect(a.0, a.1, b.0.max(a.0 + 1.0), b.1, p, label);
        };
        let hip = seat + tall * 0.47;
        if seat == 0.0 {
            let stride = rng.uniform(0.0, 0.15) as f32;
            rect(
                canvas,
                x - 0.17 - stride,
                x - 0.03 - stride,
                0.0,
                hip,
                &trousers,
            );
            rect(
                canvas,
                x + 0.03 + stride,
                x + 0.17 + stride,
                0.0,
                hip,
                &trousers,
            );
        } else {
            rect(canvas, x - 0.17, x + 0.17, seat, hip, &trousers);
        }
        let shoulder = seat + tall * 0.82;
        rect(canvas, x - 0.21, x + 0.21, hip, shoulder, &shirt);
        rect(canvas, x - 0.29, x - 0.21, hip + 0.05, shoulder, &shirt);
        rect(canvas, x + 0.21, x + 0.29, hip + 0.05, shoulder, &shirt);
        let (hx, hy) = c.project(x, seat + tall * 0.91, z);
        canvas.ellipse(hx, hy, 0.1 * scale, 0.12 * scale, 0.0, &skin, label);
    }

    #[allow(clippy::too_many_arguments)]
    fn paint_two_wheeler(
        &self,
        canvas: &mut Canvas,
        z: f32,
        x: f32,
        wheel: f32,
        motorcycle: bool,
        frame: &Paint,
        tyre: &Paint,
        label: u8,
    ) {
        let c = self.camera;
        let scale = c.scale(z);
        // Seen from the side, so a rider is recognisable by the two wheels.
        let ring = if motorcycle { 0.45 } else { 0.8 };
        for dx in [-0.55, 0.55] {
            let (cx, cy) = c.project(x + dx, wheel, z);
            canvas.ellipse(cx, cy, wheel * scale, wheel * scale, ring, tyre, label);
        }
        let back = c.project(x - 0.55, wheel, z);
        let front = c.project(x + 0.55, wheel, z);
        let seat = c.project(x - 0.1, wheel + 0.45, z);
        let bar = c.project(x + 0.4, wheel + 0.55, z);
        let t = scale * if motorcycle { 0.2 } else { 0.05 };
        canvas.line(back, seat, t, frame, label);
        canvas.line(seat, bar, t, frame, label);
        canvas.line(bar, front, t, frame, label);
        canvas.line(back, front, t, frame, label);
    }

    fn paint_pole(&self, canvas: &mut Canvas, rng: &mut SplitMix64, z: f32, x: f32, top: Fixture) {
        let c = self.camera;
        let scale = c.scale(z);
        let metal = paint(gray(rng, 60.0, 180.0), 6.0, 0.0, rng);
        let tall = match top {
            Fixture::Sign => rng.uniform(2.3, 3.2),
            Fixture::TrafficLight => rng.uniform(3.0, 4.5),
            Fixture::Catenary => rng.uniform(6.0, 7.5),
            _ => rng.uniform(5.0, 9.0),
        } as f32;
        let half = rng.uniform(0.06, 0.14) as f32;
        let (a, b) = (c.project(x - half, tall, z), c.project(x + half, 0.0, z));
        canvas.rect(a.0, a.1, b.0.max(a.0 + 1.0), b.1, &metal, POLE);
        let inward = if x < 0.0 { 1.0 } else { -1.0 };
        match top {
            Fixture::Nothing => {}
            Fixture::Lamp => {
                let end = c.project(x + inward * 1.5, tall, z);
                canvas.line(c.project(x, tall, z), end, scale * 0.1, &metal, POLE);
                canvas.rect(
                    end.0 - 0.25 * scale,
                    end.1,
                    end.0 + 0.25 * scale,
                    end.1 + 0.12 * scale,
                    &metal,
                    POLE,
                );
            }
            Fixture::Catenary => {
                let end = c.project(x + 3.0, tall - 0.3, z);
                canvas.line(c.project(x, tall - 0.3, z), end, scale * 0.08, &metal, POLE);
            }
            Fixture::TrafficLight => {
                let housing = paint(gray(rng, 20.0, 80.0), 4.0, 0.0, rng);
                let (a, b) = (
                    c.project(x - 0.18, tall + 0.9, z),
                    c.project(x + 0.18, tall, z),
                );
                canvas.rect(a.0, a.1, b.0.max(a.0 + 1.0), b.1, &housing, TRAFFIC_LIGHT);
                let lit = rng.below_usize(3);
                for k in 0..3 {
                    let color = if k == lit {
                        [
                            [230.0, 40.0, 30.0],
                            [240.0, 180.0, 30.0],
                            [40.0, 220.0, 90.0],
                        ][k]
                    } else {
                        gray(rng, 30.0, 70.0)
                    };
                    let lamp = paint(color, 4.0, 0.0, rng);
                    let (cx, cy) = c.project(x, tall + 0.75 - 0.3 * k as f32, z);
                    canvas.ellipse(cx, cy, 0.1 * scale, 0.1 * scale, 0.0, &lamp, TRAFFIC_LIGHT);
                }
            }
            Fixture::Sign => {
                let back_side = rng.chance(0.25);
                let face_color = if back_side {
                    gray(rng, 80.0, 180.0)
                } else {
                    pick(
                        rng,
                        &[
                            [200.0, 30.0, 30.0],
                            [30.0, 70.0, 170.0],
                            [230.0, 230.0, 230.0],
                            [230.0, 190.0, 30.0],
                        ],
                    )
                };
                let face = paint(face_color, 5.0, 0.0, rng);
                let (cx, cy) = c.project(x, tall + 0.35, z);
                let r = 0.35 * scale;
                match rng.below_usize(3) {
                    0 => canvas.ellipse(cx, cy, r, r, 0.0, &face, TRAFFIC_SIGN),
                    1 => canvas.polygon(
                        &[(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)],
                        &face,
                        TRAFFIC_SIGN,
                    ),
                    _ => canvas.rect(cx - r, cy - r, cx + r, cy + r, &face, TRAFFIC_SIGN),
                }
                if !back_side && rng.chance(0.7) {
                    let inner = paint(gray(rng, 200.0, 250.0), 4.0, 0.0, rng);
                    canvas.ellipse(cx, cy, r * 0.6, r * 0.6, 0.0, &inner, TRAFFIC_SIGN);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bad_sizes_are_refused() {
        assert!(SyntheticTransit::new(1, 8, 64, 0).is_err());
        assert!(SyntheticTransit::new(1, 64, 100_000, 0).is_err());
    }
}
