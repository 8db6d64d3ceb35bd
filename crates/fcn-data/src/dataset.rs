//! The `Dataset` trait and its composable wrappers.

use crate::classes::ClassSet;
use crate::error::{Error, Result};
use crate::sample::Sample;
use fcn_common::SplitMix64;

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

/// `Error::IndexOutOfRange` unless `index < len`.
pub(crate) fn check_index(index: usize, len: usize) -> Result<()> {
    if index >= len {
        return Err(Error::IndexOutOfRange { index, len });
    }
    Ok(())
}

/// A dataset whose samples pass through a fallible, owning function (see [`DatasetExt::map`]).
pub struct Mapped<D, F> {
    inner: D,
    function: F,
}

impl<D, F> Mapped<D, F>
where
    D: Dataset,
    F: Fn(Sample) -> Result<Sample> + Send + Sync,
{
    /// `inner`'s samples, each passed through `function`.
    pub fn new(inner: D, function: F) -> Self {
        Self { inner, function }
    }

    /// The wrapped dataset.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D, F> Dataset for Mapped<D, F>
where
    D: Dataset,
    F: Fn(Sample) -> Result<Sample> + Send + Sync,
{
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        (self.function)(self.inner.get(index)?)
    }
    fn classes(&self) -> &ClassSet {
        self.inner.classes()
    }
}

impl<D, F> std::fmt::Debug for Mapped<D, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapped").finish_non_exhaustive()
    }
}

/// The samples of a dataset at chosen indices, in the given order (repeats allowed).
#[derive(Debug, Clone)]
pub struct Subset<D> {
    inner: D,
    indices: Vec<usize>,
}

impl<D: Dataset> Subset<D> {
    /// `inner`'s samples at `indices`; an index past `inner`'s end is an
    /// `Error::IndexOutOfRange`.
    pub fn new(inner: D, indices: Vec<usize>) -> Result<Self> {
        let len = inner.len();
        if let Some(&index) = indices.iter().find(|&&i| i >= len) {
            return Err(Error::IndexOutOfRange { index, len });
        }
        Ok(Self { inner, indices })
    }

    /// The indices into the wrapped dataset.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The wrapped dataset.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        check_index(index, self.indices.len())?;
        self.inner.get(self.indices[index])
    }
    fn classes(&self) -> &ClassSet {
        self.inner.classes()
    }
}

/// A seeded permutation of a dataset's samples: the same seed gives the same order.
#[derive(Debug, Clone)]
pub struct Shuffled<D> {
    subset: Subset<D>,
}

impl<D: Dataset> Shuffled<D> {
    /// `inner` in the order of a Fisher-Yates shuffle driven by [`SplitMix64`] seeded with
    /// `seed`.
    pub fn new(inner: D, seed: u64) -> Self {
        let order = permutation(inner.len(), seed);
        Self {
            subset: Subset {
                inner,
                indices: order,
            },
        }
    }

    /// The permutation: sample `i` is `inner.get(order()[i])`.
    pub fn order(&self) -> &[usize] {
        self.subset.indices()
    }
}

impl<D: Dataset> Dataset for Shuffled<D> {
    fn len(&self) -> usize {
        self.subset.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        self.subset.get(index)
    }
    fn classes(&self) -> &ClassSet {
        self.subset.classes()
    }
}

/// A seeded permutation of `0..len`.
pub(crate) fn permutation(len: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    SplitMix64::new(seed).shuffle(&mut order);
    order
}

/// Several datasets one after the other. They must have the same number of classes; the
/// class set reported is the first one's.
#[derive(Debug, Clone)]
pub struct Concat<D> {
    parts: Vec<D>,
    /// `ends[k]`: the concatenated index one past part `k`.
    ends: Vec<usize>,
}

impl<D: Dataset> Concat<D> {
    /// Concatenates `parts` (at least one). Parts whose class count differs from the first's
    /// are an `Error::InvalidArgument`.
    pub fn new(parts: Vec<D>) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::invalid("concatenation", "no datasets given"));
        };
        let classes = first.classes().len();
        let mut ends = Vec::with_capacity(parts.len());
        let mut total = 0usize;
        for (k, part) in parts.iter().enumerate() {
            if part.classes().len() != classes {
                return Err(Error::ClassCountMismatch {
                    part: k,
                    classes: part.classes().len(),
                    expected: classes,
                });
            }
            total = total
                .checked_add(part.len())
                .ok_or_else(|| Error::invalid("concatenation", "total length overflows"))?;
            ends.push(total);
        }
        Ok(Self { parts, ends })
    }

    /// The datasets, in order.
    pub fn parts(&self) -> &[D] {
        &self.parts
    }
}

impl<D: Dataset> Dataset for Concat<D> {
    fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }
    fn get(&self, index: usize) -> Result<Sample> {
        check_index(index, self.len())?;
        // The first part whose end lies past `index`.
        let part = self.ends.partition_point(|&end| end <= index);
        let start = if part == 0 { 0 } else { self.ends[part - 1] };
        self.parts[part].get(index - start)
    }
    fn classes(&self) -> &ClassSet {
        self.parts[0].classes()
    }
}

/// How a [`ShardSampler`] makes every rank's share the same length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardBalance {
    /// Like PyTorch's `DistributedSampler` (default, `drop_last=False`): the index list is
    /// extended by repeating its start until its length divides by the world size, so every
    /// index is used at least once and a few (fewer than `world`) twice.
    Pad,
    /// Like `DistributedSampler(drop_last=True)`: the tail that does not divide by the world
    /// size is dropped, so every used index is used exactly once and up to `world - 1` are
    /// left out.
    Drop,
}

/// Splits the indices `0..len` between the ranks of a distributed run, as PyTorch's
/// `DistributedSampler`: rank `r` of `world` takes positions `r, r + world, r + 2 world, ...`
/// of the (optionally shuffled, then balanced) index list. Every rank gets the same count; the
/// shares are disjoint and, with [`ShardBalance::Pad`], cover every index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSampler {
    len: usize,
    rank: usize,
    world: usize,
    balance: ShardBalance,
    shuffle_seed: Option<u64>,
}

impl ShardSampler {
    /// Rank `rank` of `world` over `len` indices, padded ([`ShardBalance::Pad`]), unshuffled.
    /// `world` must be positive and `rank < world`.
    pub fn new(len: usize, rank: usize, world: usize) -> Result<Self> {
        if world == 0 || rank >= world {
            return Err(Error::ShardOutOfRange {
                index: rank,
                count: world,
            });
        }
        Ok(Self {
            len,
            rank,
            world,
            balance: ShardBalance::Pad,
            shuffle_seed: None,
        })
    }

    /// Sets how shares are balanced.
    pub fn with_balance(mut self, balance: ShardBalance) -> Self {
        self.balance = balance;
        self
    }

    /// Shuffles the index list before splitting, with a permutation seeded by
    /// `(seed, epoch)`; every rank must use the same seed.
    pub fn with_shuffle(mut self, seed: u64) -> Self {
        self.shuffle_seed = Some(seed);
        self
    }

    /// Number of indices each rank gets.
    pub fn share_len(&self) -> usize {
        match self.balance {
            ShardBalance::Pad => self.len.div_ceil(self.world),
            ShardBalance::Drop => self.len / self.world,
        }
    }

    /// This rank's indices for `epoch` (the epoch matters only when shuffling).
    pub fn indices(&self, epoch: u64) -> Vec<usize> {
        let mut all: Vec<usize> = match self.shuffle_seed {
            Some(seed) => {
                let mut order: Vec<usize> = (0..self.len).collect();
                SplitMix64::from_keys(&[seed, epoch]).shuffle(&mut order);
                order
            }
            None => (0..self.len).collect(),
        };
        let total = self.share_len() * self.world;
        if total > all.len() && !all.is_empty() {
            // Repeat the start (cyclically, as PyTorch does when padding exceeds the length).
            let extra: Vec<usize> = all
                .iter()
                .copied()
                .cycle()
                .take(total - all.len())
                .collect();
            all.extend(extra);
        }
        all.truncate(total);
        all.into_iter()
            .skip(self.rank)
            .step_by(self.world)
            .collect()
    }
}

/// Combinators on every [`Dataset`].
pub trait DatasetExt: Dataset + Sized {
    /// Passes every sample through a fallible, owning function.
    fn map<F>(self, function: F) -> Mapped<Self, F>
    where
        F: Fn(Sample) -> Result<Sample> + Send + Sync,
    {
        Mapped::new(self, function)
    }

    /// The samples at `indices` (checked).
    fn subset(self, indices: Vec<usize>) -> Result<Subset<Self>> {
        Subset::new(self, indices)
    }

    /// A seeded permutation.
    fn shuffled(self, seed: u64) -> Shuffled<Self> {
        Shuffled::new(self, seed)
    }

    /// This rank's share for distributed training ([`ShardSampler`] with padding, unshuffled).
    fn shard(self, rank: usize, world: usize) -> Result<Subset<Self>> {
        let indices = ShardSampler::new(self.len(), rank, world)?.indices(0);
        Subset::new(self, indices)
    }
}

impl<D: Dataset> DatasetExt for D {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_index_with_equal_counts() {
        for len in 0..30 {
            for world in 1..6 {
                let mut seen = vec![0usize; len];
                let mut counts = Vec::new();
                for rank in 0..world {
                    let s = ShardSampler::new(len, rank, world).unwrap().with_shuffle(3);
                    let idx = s.indices(2);
                    counts.push(idx.len());
                    for i in idx {
                        seen[i] += 1;
                    }
                }
                assert!(counts.iter().all(|&c| c == len.div_ceil(world)));
                // Padding repeats the list cyclically: with `len >= world` no index is used
                // more than twice.
                let total = len.div_ceil(world) * world;
                // (Shuffled, so compare how often indices are used, not which.)
                let mut cyclic: Vec<usize> = (0..len)
                    .map(|i| (0..total).filter(|k| k % len == i).count())
                    .collect();
                let mut used_counts = seen.clone();
                cyclic.sort();
                used_counts.sort();
                assert_eq!(used_counts, cyclic, "len {len} world {world}");
                assert!(seen.iter().all(|&n| n >= 1 && (len < world || n <= 2)));
                assert_eq!(seen.iter().sum::<usize>(), len.div_ceil(world) * world);
                let mut used = vec![0usize; len];
                for rank in 0..world {
                    let s = ShardSampler::new(len, rank, world)
                        .unwrap()
                        .with_balance(ShardBalance::Drop);
                    assert_eq!(s.indices(0).len(), len / world);
                    for i in s.indices(0) {
                        used[i] += 1;
                    }
                }
                assert!(used.iter().all(|&n| n <= 1));
                assert_eq!(used.iter().sum::<usize>(), len / world * world);
            }
        }
        assert!(ShardSampler::new(5, 2, 2).is_err());
        assert!(ShardSampler::new(5, 0, 0).is_err());
    }

    #[test]
    fn shard_matches_pytorch_distributed_sampler() {
        // DistributedSampler(range(10), num_replicas=4, rank=r, shuffle=False) pads the list
        // to 12 with [0, 1] and takes every 4th entry from r.
        let expect = [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]];
        for (rank, e) in expect.iter().enumerate() {
            assert_eq!(ShardSampler::new(10, rank, 4).unwrap().indices(0), e);
        }
    }
}
