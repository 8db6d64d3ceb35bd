//! `fcn bench metrics`: a fixed set of timed cases for the confusion-matrix update.

use std::path::Path;
use std::time::Instant;

use fcn_metrics::{ConfusionMatrix, Label};
use serde::Serialize;

use crate::error::{Result, TrainError};
use fcn_core::SplitMix64;
use fcn_data::synthetic::label_pair;
use fcn_data::write_atomically;

/// Sizes of the benchmark data.
#[derive(Debug, Clone, Copy)]
pub struct MetricsBenchOptions {
    /// Images per case.
    pub images: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Timed repetitions per case (the median is reported).
    pub repeats: usize,
}

impl Default for MetricsBenchOptions {
    fn default() -> Self {
        Self {
            images: 256,
            height: 512,
            width: 512,
            repeats: 7,
        }
    }
}

/// The timing of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseTiming {
    /// The case name.
    pub name: String,
    /// Threads the case ran on.
    pub threads: usize,
    /// Pixels per run.
    pub pixels: u64,
    /// Median seconds per run.
    pub median_s: f64,
    /// Pixels per second at the median, in billions.
    pub gpixels_per_s: f64,
}

/// All cases, and where they ran.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsBench {
    /// The processor, as `/proc/cpuinfo` names it.
    pub cpu: String,
    /// Threads in the pool used by the batch cases.
    pub threads: usize,
    /// The cases.
    pub cases: Vec<CaseTiming>,
}

struct Data<L> {
    pairs: Vec<(Vec<L>, Vec<L>)>,
    num_classes: usize,
}

impl<L: Label> Data<L> {
    fn pixels(&self) -> u64 {
        self.pairs.iter().map(|(p, _)| p.len() as u64).sum()
    }

    fn batch(&self) -> Vec<(&[L], &[L])> {
        self.pairs.iter().map(|(p, t)| (&p[..], &t[..])).collect()
    }
}

fn synthetic(options: &MetricsBenchOptions, num_classes: u8, seed: u64) -> Data<u8> {
    let pairs = (0..options.images as u64)
        .map(|i| {
            let pair = label_pair(seed + i, options.height, options.width, num_classes);
            (pair.pred, pair.target)
        })
        .collect();
    Data {
        pairs,
        num_classes: usize::from(num_classes),
    }
}

/// Uniformly random labels with 1 in 22 void: no runs at all, the worst case for the counter.
fn noise(options: &MetricsBenchOptions, num_classes: u8) -> Data<u8> {
    let mut rng = SplitMix64::new(99);
    let n = u64::from(num_classes);
    let len = options.height * options.width;
    let pairs = (0..options.images)
        .map(|_| {
            let pred = (0..len).map(|_| rng.below(n) as u8).collect();
            let target = (0..len)
                .map(|_| match rng.below(n + 1) {
                    v if v == n => 255,
                    v => v as u8,
                })
                .collect();
            (pred, target)
        })
        .collect();
    Data {
        pairs,
        num_classes: usize::from(num_classes),
    }
}

/// Images in the `i64` case.
const I64_IMAGES: usize = 32;

fn widen<L: Label>(data: &Data<u8>, images: usize, convert: impl Fn(u8) -> L) -> Data<L> {
    let pairs = data
        .pairs
        .iter()
        .take(images)
        .map(|(p, t)| {
            (
                p.iter().map(|&v| convert(v)).collect(),
                t.iter().map(|&v| convert(v)).collect(),
            )
        })
        .collect();
    Data {
        pairs,
        num_classes: data.num_classes,
    }
}

fn time_case(
    name: &str,
    threads: usize,
    pixels: u64,
    repeats: usize,
    mut run: impl FnMut(),
) -> CaseTiming {
    run(); // warm caches and the thread pool
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median_s = times[times.len() / 2];
    CaseTiming {
        name: name.to_owned(),
        threads,
        pixels,
        median_s,
        gpixels_per_s: pixels as f64 / median_s / 1e9,
    }
}

fn single_thread<L: Label>(data: &Data<L>) -> ConfusionMatrix {
    let mut m = ConfusionMatrix::new(data.num_classes).expect("bench class counts are valid");
    for (p, t) in &data.pairs {
        m.update(p, t).expect("bench labels are valid");
    }
    m
}

fn batched<L: Label>(data: &Data<L>) -> ConfusionMatrix {
    let mut m = ConfusionMatrix::new(data.num_classes).expect("bench class counts are valid");
    m.update_batch(&data.batch())
        .expect("bench labels are valid");
    m
}

/// Runs every case. With `dump`, also writes the 21-class data and its matrix there for
/// `benches/metrics_vs_numpy.py`.
pub fn run_metrics_bench(
    options: &MetricsBenchOptions,
    dump: Option<&Path>,
) -> Result<MetricsBench> {
    let threads = rayon::current_num_threads();
    let voc = synthetic(options, 21, 1);
    let ade = synthetic(options, 150, 1);
    let rough = noise(options, 21);
    // Eight times the bytes per pixel: a subset keeps memory bounded.
    let voc_i64 = widen(&voc, I64_IMAGES, |v| {
        if v == 255 { -1i64 } else { i64::from(v) }
    });
    let r = options.repeats;
    let mut cases = vec![
        time_case("u8_21cls_1thread", 1, voc.pixels(), r, || {
            single_thread(&voc);
        }),
        time_case(
            &format!("u8_21cls_batch_{threads}threads"),
            threads,
            voc.pixels(),
            r,
            || {
                batched(&voc);
            },
        ),
        time_case("u8_150cls_1thread", 1, ade.pixels(), r, || {
            single_thread(&ade);
        }),
        time_case("i64_21cls_1thread", 1, voc_i64.pixels(), r, || {
            single_thread(&voc_i64);
        }),
        time_case("u8_21cls_noise_1thread", 1, rough.pixels(), r, || {
            single_thread(&rough);
        }),
    ];
    cases.push(time_case(
        &format!("u8_21cls_noise_batch_{threads}threads"),
        threads,
        rough.pixels(),
        r,
        || {
            batched(&rough);
        },
    ));
    if let Some(dir) = dump {
        dump_data(dir, options, &voc)?;
    }
    Ok(MetricsBench {
        cpu: super::cpu_name(),
        threads,
        cases,
    })
}

fn dump_data(dir: &Path, options: &MetricsBenchOptions, data: &Data<u8>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| TrainError::Io {
        action: "cannot create",
        path: dir.to_owned(),
        source,
    })?;
    let pred: Vec<u8> = data
        .pairs
        .iter()
        .flat_map(|(p, _)| p.iter().copied())
        .collect();
    let target: Vec<u8> = data
        .pairs
        .iter()
        .flat_map(|(_, t)| t.iter().copied())
        .collect();
    write_atomically(&dir.join("pred.u8"), &pred)?;
    write_atomically(&dir.join("target.u8"), &target)?;
    let meta = serde_json::json!({
        "images": options.images,
        "height": options.height,
        "width": options.width,
        "num_classes": data.num_classes,
        "ignore_index": 255,
        "counts": single_thread(data).counts(),
    });
    write_atomically(&dir.join("meta.json"), meta.to_string().as_bytes())?;
    Ok(())
}

impl std::fmt::Display for MetricsBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "cpu: {} ({} threads in the pool)",
            self.cpu, self.threads
        )?;
        writeln!(
            f,
            "{:<32} {:>8} {:>12} {:>10} {:>9}",
            "case", "threads", "pixels", "median ms", "Gpx/s"
        )?;
        for c in &self.cases {
            writeln!(
                f,
                "{:<32} {:>8} {:>12} {:>10.2} {:>9.2}",
                c.name,
                c.threads,
                c.pixels,
                c.median_s * 1e3,
                c.gpixels_per_s
            )?;
        }
        Ok(())
    }
}
