//! Painting the objects of a scene: vehicles, people, riders, poles and what they carry,
//! trees and bushes.

use fcn_common::SplitMix64;

use super::canvas::{Canvas, Paint};
use super::colors::*;
use super::labels::*;
use super::scene::{Fixture, Object, Scene};

impl Scene {
    pub(super) fn paint_object(
        &self,
        canvas: &mut Canvas,
        rng: &mut SplitMix64,
        z: f32,
        object: Object,
    ) {
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
    pub(super) fn paint_person(
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
    pub(super) fn paint_two_wheeler(
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

    pub(super) fn paint_pole(
        &self,
        canvas: &mut Canvas,
        rng: &mut SplitMix64,
        z: f32,
        x: f32,
        top: Fixture,
    ) {
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
