//! The `Dataset` trait and its composable wrappers.

use crate::classes::ClassSet;
use crate::error::Result;
use crate::sample::Sample;

/// A finite, indexable collection of samples. `get` reads (and decodes) on demand, so it is
/// fallible; implementations are shared between loader threads.
pub trait Dataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample at `index` (`Error::IndexOutOfRange` past the end).
    fn get(&self, index: usize) -> Result<Sample>;

    /// The label space of the samples.
    fn classes(&self) -> &ClassSet;
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        (**self).get(index)
    }
    fn classes(&self) -> &ClassSet {
        (**self).classes()
    }
}

impl<D: Dataset + ?Sized> Dataset for std::sync::Arc<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        (**self).get(index)
    }
    fn classes(&self) -> &ClassSet {
        (**self).classes()
    }
}
