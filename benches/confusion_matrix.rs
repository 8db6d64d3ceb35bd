//! Criterion benches of the confusion-matrix update (`cargo bench --bench confusion_matrix`).
//! The same cases against numpy: `python benches/metrics_vs_numpy.py`.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fcn::core::SplitMix64;
use fcn::data::synthetic::label_pair;
use fcn::metrics::ConfusionMatrix;

const SIDE: usize = 512;

fn update(c: &mut Criterion) {
    let mut group = c.benchmark_group("confusion_update");
    group.throughput(Throughput::Elements((SIDE * SIDE) as u64));

    for classes in [21u8, 150] {
        let pair = label_pair(1, SIDE, SIDE, classes);
        group.bench_function(format!("u8_{classes}cls_512x512"), |b| {
            let mut m = ConfusionMatrix::new(usize::from(classes)).unwrap();
            b.iter(|| m.update(&pair.pred, &pair.target).unwrap());
        });
    }

    let pair = label_pair(1, SIDE, SIDE, 21);
    let widen = |v: &[u8]| -> Vec<i64> {
        v.iter()
            .map(|&x| if x == 255 { -1 } else { i64::from(x) })
            .collect()
    };
    let (pred, target) = (widen(&pair.pred), widen(&pair.target));
    group.bench_function("i64_21cls_512x512", |b| {
        let mut m = ConfusionMatrix::new(21).unwrap();
        b.iter(|| m.update(&pred, &target).unwrap());
    });

    let mut rng = SplitMix64::new(5);
    let noise_pred: Vec<u8> = (0..SIDE * SIDE).map(|_| rng.below(21) as u8).collect();
    let noise_target: Vec<u8> = (0..SIDE * SIDE).map(|_| rng.below(21) as u8).collect();
    group.bench_function("u8_21cls_512x512_noise", |b| {
        let mut m = ConfusionMatrix::new(21).unwrap();
        b.iter(|| m.update(&noise_pred, &noise_target).unwrap());
    });
    group.finish();

    let images: Vec<_> = (0..16).map(|i| label_pair(i, SIDE, SIDE, 21)).collect();
    let batch: Vec<(&[u8], &[u8])> = images
        .iter()
        .map(|p| (&p.pred[..], &p.target[..]))
        .collect();
    let mut group = c.benchmark_group("confusion_update_batch");
    group.throughput(Throughput::Elements((16 * SIDE * SIDE) as u64));
    group.bench_function("u8_21cls_16x512x512", |b| {
        let mut m = ConfusionMatrix::new(21).unwrap();
        b.iter(|| m.update_batch(&batch).unwrap());
    });
    group.finish();
}

criterion_group!(benches, update);
criterion_main!(benches);
