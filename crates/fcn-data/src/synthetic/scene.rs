//! A scene's layout (road, tracks, sides, objects placed in metres) and the painting of
//! everything but the objects, back to front.

use fcn_common::SplitMix64;

use super::camera::Camera;
use super::canvas::{Canvas, Paint};
use super::colors::*;
use super::labels::*;
use crate::taxonomy::TRANSIT_IGNORE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Street,
    TramStreet,
    Rail,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Object {
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
pub(super) enum Fixture {
    Nothing,
    Lamp,
    TrafficLight,
    Sign,
    Catenary,
}

pub(super) struct Scene {
    pub(super) camera: Camera,
    pub(super) kind: Kind,
    /// Road edges (X, metres), if there is a road.
    pub(super) road: Option<(f32, f32)>,
    pub(super) sidewalk_width: f32,
    /// Track centre lines (X).
    pub(super) tracks: Vec<f32>,
    pub(super) far: f32,
    pub(super) objects: Vec<(f32, Object)>,
    pub(super) left_side: Side,
    pub(super) right_side: Side,
}

/// What lines each side of the scene beyond the sidewalk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Buildings,
    Wall,
    Fence,
    Open,
}

impl Scene {
    pub(super) fn random(rng: &mut SplitMix64, width: f32, height: f32) -> Self {
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
    pub(super) fn core(&self) -> (f32, f32) {
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

    pub(super) fn place_objects(&mut self, rng: &mut SplitMix64, height: f32) {
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

    pub(super) fn paint(&mut self, canvas: &mut Canvas, rng: &mut SplitMix64) {
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

    pub(super) fn paint_sky(&self, canvas: &mut Canvas, rng: &mut SplitMix64) {
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
    pub(super) fn paint_skyline(&self, canvas: &mut Canvas, rng: &mut SplitMix64) {
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
    pub(super) fn ground_quad(
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

    pub(super) fn paint_ground(&self, canvas: &mut Canvas, rng: &mut SplitMix64) {
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

    pub(super) fn paint_track(
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
    pub(super) fn paint_side(
        &self,
        canvas: &mut Canvas,
        rng: &mut SplitMix64,
        side: Side,
        edge: f32,
    ) {
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

    pub(super) fn paint_facades(&self, canvas: &mut Canvas, rng: &mut SplitMix64, edge: f32) {
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
}
