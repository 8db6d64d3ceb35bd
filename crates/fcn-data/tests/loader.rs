//! The dataset wrappers and the parallel loader: determinism across worker counts, padding,
//! epoch order, error propagation and clean shutdown.

use fcn_data::loader::{Batch, Loader, LoaderConfig, Sampling, Shard};
use fcn_data::synthetic::SyntheticTransit;
use fcn_data::taxonomy::transit_classes;
use fcn_data::transforms::{
    Compose, HorizontalFlip, Normalization, PhotometricJitter, RandomCrop, RandomScale, SplitMix64,
    Transform,
};
use fcn_data::{
    ClassSet, Concat, Dataset, DatasetExt, Error, LabelMap, Result, Sample, ShardSampler,
};
use ndarray::{Array2, Array3};

/// Samples of varying size whose pixels and labels encode their index.
struct Varying {
    len: usize,
    classes: ClassSet,
}

impl Varying {
    fn new(len: usize) -> Self {
        Self {
            len,
            classes: transit_classes(),
        }
    }
}

impl Dataset for Varying {
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
        let (h, w) = (6 + index % 5, 7 + index % 3);
        Ok(Sample {
            image: Array3::from_elem((h, w, 3), index as u8),
            label: LabelMap::U8(Array2::from_elem((h, w), (index % 20) as u8)),
            id: format!("v{index}"),
            image_path: None,
            label_path: None,
        })
    }
    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

fn augment() -> Compose {
    Compose::new()
        .then(RandomScale::new(0.75, 1.5).unwrap())
        .then(HorizontalFlip::new(0.5).unwrap())
        .then(PhotometricJitter::new(0.3, 0.3, 0.3).unwrap())
        .then(RandomCrop::new(40, 48).unwrap())
}

#[test]
fn batches_are_identical_for_1_and_4_workers() {
    for (sampling, per_epoch) in [
        (Sampling::Shuffle, 4),
        (Sampling::WithReplacement { samples: 13 }, 5),
    ] {
        let run = |workers: usize| {
            let data = SyntheticTransit::train(12, 48, 64, 9).unwrap();
            let config = LoaderConfig {
                batch_size: 3,
                workers,
                prefetch: 5,
                sampling,
                seed: 77,
                ..LoaderConfig::default()
            };
            let loader = Loader::new(data, augment(), config).unwrap();
            (0..2)
                .flat_map(|epoch| loader.epoch(epoch).collect::<Vec<_>>())
                .map(|b| b.unwrap())
                .collect::<Vec<_>>()
        };
        let one = run(1);
        let four = run(4);
        assert_eq!(one.len(), 2 * per_epoch);
        assert_eq!(one, four, "{sampling:?}");
        // Epochs differ (new order and new augmentation).
        assert_ne!(one[0], one[one.len() / 2]);
    }
}

#[test]
fn an_epoch_resumed_mid_way_yields_the_same_remaining_batches() {
    let data = SyntheticTransit::train(10, 32, 40, 3).unwrap();
    let config = LoaderConfig {
        batch_size: 3,
        workers: 2,
        sampling: Sampling::Shuffle,
        seed: 5,
        ..LoaderConfig::default()
    };
    let loader = Loader::new(data, augment(), config).unwrap();
    let all: Vec<_> = loader.epoch(1).map(|b| b.unwrap()).collect();
    assert_eq!(all.len(), 4);
    for first in 0..=5 {
        let epoch = loader.epoch_from(1, first);
        assert_eq!(epoch.total(), 4);
        let rest: Vec<_> = epoch.map(|b| b.unwrap()).collect();
        assert_eq!(rest, all[first.min(4)..], "from batch {first}");
    }
}

#[test]
fn batches_pad_to_the_largest_sample_with_ignore_and_zero() {
    let config = LoaderConfig {
        batch_size: 4,
        workers: 2,
        normalization: Normalization::ImageNet,
        ..LoaderConfig::default()
    };
    let loader = Loader::new(Varying::new(8), Compose::new(), config).unwrap();
    let batches: Vec<_> = loader.epoch(0).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 2);
    let first = &batches[0];
    // Samples 0..4 are 6x7, 7x8, 8x9, 9x7: padded to 9x9.
    assert_eq!(first.shape, [4, 3, 9, 9]);
    assert_eq!(first.indices, vec![0, 1, 2, 3]);
    assert_eq!(first.ids, vec!["v0", "v1", "v2", "v3"]);
    assert_eq!(first.sizes, vec![(6, 7), (7, 8), (8, 9), (9, 7)]);
    let label = first.label(1);
    assert_eq!(label[0], 1);
    assert_eq!(label[6 * 9 + 7], 1); // inside the 7x8 sample
    assert_eq!(label[6 * 9 + 8], 255); // right padding
    assert_eq!(label[8 * 9], 255); // bottom padding
    let image = first.image(1);
    let expected = (1.0f32 / 255.0 - 0.485) / 0.229;
    assert_eq!(image[0], expected);
    assert_eq!(image[6 * 9 + 8], 0.0);
    assert_eq!(image[2 * 81 + 8 * 9], 0.0);
    assert!(first.image(4).is_empty());
}

#[test]
fn epochs_shuffle_and_sampling_counts_batches() {
    let config = LoaderConfig {
        batch_size: 4,
        sampling: Sampling::Shuffle,
        seed: 3,
        ..LoaderConfig::default()
    };
    let loader = Loader::new(Varying::new(10), Compose::new(), config.clone()).unwrap();
    let mut e0 = loader.epoch_order(0);
    let e1 = loader.epoch_order(1);
    assert_ne!(e0, e1);
    assert_eq!(e0, loader.epoch_order(0));
    e0.sort();
    assert_eq!(e0, (0..10).collect::<Vec<_>>());
    assert_eq!(loader.batches_per_epoch(), 3);
    let seen: Vec<usize> = loader.epoch(1).flat_map(|b| b.unwrap().indices).collect();
    assert_eq!(seen, e1);

    let drop_last = LoaderConfig {
        drop_last: true,
        sampling: Sampling::WithReplacement { samples: 11 },
        ..config
    };
    let loader = Loader::new(Varying::new(10), Compose::new(), drop_last).unwrap();
    assert_eq!(loader.batches_per_epoch(), 2);
    let batches: Vec<_> = loader.epoch(0).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|b| b.len() == 4));
    assert_eq!(loader.epoch_order(0).len(), 11);
}

#[test]
fn a_failing_sample_is_reported_with_its_index_and_the_epoch_goes_on() {
    let data = Varying::new(9).map(|s| {
        if s.id == "v4" {
            Err(Error::invalid("test", "sample 4 is broken"))
        } else {
            Ok(s)
        }
    });
    let config = LoaderConfig {
        batch_size: 2,
        workers: 3,
        ..LoaderConfig::default()
    };
    let loader = Loader::new(data, Compose::new(), config).unwrap();
    let results: Vec<_> = loader.epoch(5).collect();
    assert_eq!(results.len(), 5);
    for (k, r) in results.iter().enumerate() {
        if k == 2 {
            let Err(Error::Sample {
                index,
                epoch,
                source,
            }) = r
            else {
                panic!("batch 2 should fail: {r:?}")
            };
            assert_eq!((*index, *epoch), (4, 5));
            assert!(source.to_string().contains("sample 4 is broken"));
        } else {
            assert!(r.is_ok(), "batch {k}");
        }
    }
}

struct Panics;

impl Transform for Panics {
    fn apply(&self, sample: Sample, _rng: &mut SplitMix64) -> Result<Sample> {
        if sample.id == "v2" {
            panic!("transform bug");
        }
        Ok(sample)
    }
}

#[test]
fn a_panicking_transform_becomes_an_error_not_a_hang() {
    let loader = Loader::new(Varying::new(4), Panics, LoaderConfig::default()).unwrap();
    let results: Vec<_> = loader.epoch(0).collect();
    assert_eq!(results.len(), 4);
    assert!(
        matches!(&results[2], Err(Error::WorkerPanicked { panic, .. }) if panic.contains("transform bug"))
    );
    assert!(results[3].is_ok());
}

#[test]
fn dropping_an_epoch_early_stops_its_threads() {
    let data = SyntheticTransit::train(64, 32, 32, 1).unwrap();
    let config = LoaderConfig {
        workers: 4,
        prefetch: 8,
        ..LoaderConfig::default()
    };
    let loader = Loader::new(data, Compose::new(), config).unwrap();
    for _ in 0..3 {
        let mut epoch = loader.epoch(0);
        assert_eq!(epoch.total(), 64);
        assert!(epoch.next().unwrap().is_ok());
        drop(epoch); // joins the workers; the test would hang otherwise
    }
    drop(loader);
}

#[test]
fn bad_configurations_are_refused() {
    let zero_batch = LoaderConfig {
        batch_size: 0,
        ..LoaderConfig::default()
    };
    assert!(Loader::new(Varying::new(3), Compose::new(), zero_batch).is_err());
    let empty_replacement = LoaderConfig {
        sampling: Sampling::WithReplacement { samples: 3 },
        ..LoaderConfig::default()
    };
    assert!(Loader::new(Varying::new(0), Compose::new(), empty_replacement).is_err());
}

#[test]
fn wrappers_compose() {
    let base = Varying::new(10);
    let subset = Varying::new(10).subset(vec![9, 0, 9]).unwrap();
    assert_eq!(subset.len(), 3);
    assert_eq!(subset.get(0).unwrap(), base.get(9).unwrap());
    assert_eq!(subset.get(2).unwrap().id, "v9");
    assert!(matches!(
        subset.get(3),
        Err(Error::IndexOutOfRange { index: 3, len: 3 })
    ));
    assert!(matches!(
        Varying::new(10).subset(vec![10]),
        Err(Error::IndexOutOfRange { index: 10, len: 10 })
    ));

    let shuffled = Varying::new(10).shuffled(4);
    let mut ids: Vec<String> = (0..10).map(|i| shuffled.get(i).unwrap().id).collect();
    assert_eq!(
        ids,
        Varying::new(10)
            .shuffled(4)
            .order()
            .iter()
            .map(|i| format!("v{i}"))
            .collect::<Vec<_>>()
    );
    assert_ne!(shuffled.order(), Varying::new(10).shuffled(5).order());
    ids.sort();
    let mut all: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    all.sort();
    assert_eq!(ids, all);

    let mapped = Varying::new(3).map(|mut s| {
        s.id.push_str("-mapped");
        Ok(s)
    });
    assert_eq!(mapped.get(2).unwrap().id, "v2-mapped");

    let concat = Concat::new(vec![Varying::new(2), Varying::new(0), Varying::new(3)]).unwrap();
    assert_eq!(concat.len(), 5);
    assert_eq!(concat.get(1).unwrap().id, "v1");
    assert_eq!(concat.get(2).unwrap().id, "v0");
    assert_eq!(concat.get(4).unwrap().id, "v2");
    assert!(concat.get(5).is_err());
    assert!(Concat::<Varying>::new(vec![]).is_err());

    // Different class counts cannot be concatenated.
    let two_classes = Varying {
        len: 1,
        classes: ClassSet::with_voc_colors(["a", "b"]).unwrap(),
    };
    let Err(err) = Concat::new(vec![Varying::new(1), two_classes]) else {
        panic!("class counts differ")
    };
    assert!(err.to_string().contains("2 classes"), "{err}");

    // Sharding: every index once across ranks, equal shares (padded).
    let mut seen = vec![];
    for rank in 0..3 {
        let shard = Varying::new(10).shard(rank, 3).unwrap();
        assert_eq!(shard.len(), 4);
        seen.extend(shard.indices().to_vec());
    }
    seen.sort();
    assert_eq!(seen, vec![0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(
        ShardSampler::new(10, 1, 3).unwrap().indices(0),
        vec![1, 4, 7, 0]
    );
    assert!(Varying::new(10).shard(3, 3).is_err());
}

#[test]
fn shards_of_a_global_batch_are_the_whole_batch_split_in_order() {
    let make = |batch_size: usize, shard: Shard, drop_last: bool| {
        let data = SyntheticTransit::train(11, 40, 48, 5).unwrap();
        let config = LoaderConfig {
            batch_size,
            workers: 2,
            sampling: Sampling::Shuffle,
            seed: 21,
            drop_last,
            shard,
            ..LoaderConfig::default()
        };
        Loader::new(data, augment(), config).unwrap()
    };
    let whole = make(4, Shard::WHOLE, true);
    let shards = [0, 1].map(|index| make(2, Shard { index, count: 2 }, true));
    assert_eq!(whole.batches_per_epoch(), 2);
    assert_eq!(shards[0].global_batch_size(), 4);
    assert_eq!(shards[1].batches_per_epoch(), 2);
    for epoch in 0..2 {
        let whole: Vec<Batch> = whole.epoch(epoch).map(|b| b.unwrap()).collect();
        let parts: Vec<Vec<Batch>> = shards
            .iter()
            .map(|s| s.epoch(epoch).map(|b| b.unwrap()).collect())
            .collect();
        assert_eq!(parts[0].len(), whole.len());
        assert_eq!(parts[1].len(), whole.len());
        for (k, w) in whole.iter().enumerate() {
            // Same samples, same augmentation, split at the per-rank batch size.
            let (a, b) = (&parts[0][k], &parts[1][k]);
            assert_eq!([a.indices.clone(), b.indices.clone()].concat(), w.indices);
            assert_eq!([a.images.clone(), b.images.clone()].concat(), w.images);
            assert_eq!([a.labels.clone(), b.labels.clone()].concat(), w.labels);
        }
        // A resumed shard continues at the same global batch.
        let resumed: Vec<Batch> = shards[1].epoch_from(epoch, 1).map(|b| b.unwrap()).collect();
        assert_eq!(resumed, parts[1][1..]);
    }
    // Without drop_last, 11 = 4 + 4 + 3: the last global batch gives shard 0 two, shard 1 one.
    let last = |index| {
        let s = make(2, Shard { index, count: 2 }, false);
        s.epoch(0).map(|b| b.unwrap().len()).collect::<Vec<_>>()
    };
    assert_eq!(last(0), vec![2, 2, 2]);
    assert_eq!(last(1), vec![2, 2, 1]);
    let bad = LoaderConfig {
        shard: Shard { index: 2, count: 2 },
        ..LoaderConfig::default()
    };
    let err = Loader::new(
        SyntheticTransit::train(2, 16, 16, 1).unwrap(),
        Compose::new(),
        bad,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("shard"), "{err}");
}
