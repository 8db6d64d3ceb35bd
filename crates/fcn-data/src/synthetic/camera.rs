//! The pinhole camera scenes are seen through.

/// A level pinhole camera `height` metres above flat ground; world X is to the right, Y up,
/// Z away from the camera (metres).
#[derive(Debug, Clone, Copy)]
pub(super) struct Camera {
    pub(super) horizon: f32,
    pub(super) vanish_x: f32,
    pub(super) focal: f32,
    pub(super) height: f32,
}

impl Camera {
    pub(super) fn project(&self, x: f32, y: f32, z: f32) -> (f32, f32) {
        let z = z.max(0.05);
        (
            self.vanish_x + self.focal * x / z,
            self.horizon + self.focal * (self.height - y) / z,
        )
    }

    /// Pixels per metre at distance `z`.
    pub(super) fn scale(&self, z: f32) -> f32 {
        self.focal / z.max(0.05)
    }

    /// The distance of the ground seen at image row `row`.
    pub(super) fn ground_z(&self, row: f32) -> f32 {
        self.focal * self.height / (row - self.horizon).max(1e-3)
    }
}
