//! The transform trait and composition.

use fcn_common::SplitMix64;

use crate::error::Result;
use crate::sample::Sample;

/// A transform of a sample (image and label map together). Random transforms draw from `rng`
/// only, so the same generator state gives the same output.
pub trait Transform: Send + Sync {
    /// Transforms `sample`.
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample>;
}

impl<T: Transform + ?Sized> Transform for Box<T> {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        (**self).apply(sample, rng)
    }
}

impl<T: Transform + ?Sized> Transform for std::sync::Arc<T> {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        (**self).apply(sample, rng)
    }
}

/// Transforms applied in order. An empty `Compose` is the identity.
#[derive(Default)]
pub struct Compose {
    steps: Vec<Box<dyn Transform>>,
}

impl Compose {
    /// The identity pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a step.
    pub fn then(mut self, step: impl Transform + 'static) -> Self {
        self.steps.push(Box::new(step));
        self
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the pipeline (same as [`Transform::apply`], without importing the trait).
    pub fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        self.steps
            .iter()
            .try_fold(sample, |sample, step| step.apply(sample, rng))
    }
}

impl Transform for Compose {
    fn apply(&self, sample: Sample, rng: &mut SplitMix64) -> Result<Sample> {
        Compose::apply(self, sample, rng)
    }
}

impl std::fmt::Debug for Compose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compose")
            .field("steps", &self.steps.len())
            .finish()
    }
}
