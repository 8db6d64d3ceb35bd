//! Random colours and paints: greys as often as colours, so colour alone is a poor cue.

use fcn_common::SplitMix64;

use super::canvas::Paint;

pub(super) fn pick<T: Copy>(rng: &mut SplitMix64, items: &[T]) -> T {
    items[rng.below_usize(items.len())]
}

pub(super) fn gray(rng: &mut SplitMix64, low: f64, high: f64) -> [f32; 3] {
    let v = rng.uniform(low, high) as f32;
    let tint = [0, 1, 2].map(|_| rng.uniform(-6.0, 6.0) as f32);
    [v + tint[0], v + tint[1], v + tint[2]]
}

pub(super) fn jitter(rng: &mut SplitMix64, color: [f32; 3], amount: f64) -> [f32; 3] {
    color.map(|c| c + rng.uniform(-amount, amount) as f32)
}

/// A random vehicle colour: greys as often as colours, as on real roads.
pub(super) fn vehicle_color(rng: &mut SplitMix64) -> [f32; 3] {
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

pub(super) fn building_color(rng: &mut SplitMix64) -> [f32; 3] {
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

pub(super) fn foliage_color(rng: &mut SplitMix64) -> [f32; 3] {
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

pub(super) fn terrain_color(rng: &mut SplitMix64) -> [f32; 3] {
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

pub(super) fn skin_color(rng: &mut SplitMix64) -> [f32; 3] {
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

pub(super) fn paint(color: [f32; 3], grain: f32, blotch: f32, rng: &mut SplitMix64) -> Paint {
    Paint {
        color,
        grain,
        blotch,
        key: rng.next_u64() as u32,
    }
}
