//! Times fcn-data's input pipeline; `benches/pipeline_vs_pil.py` runs it beside PIL + numpy.
//!
//! ```text
//! pipeline_speed make DIR COUNT           write COUNT synthetic 500x375 JPEGs + label PNGs
//! pipeline_speed files DIR WORKERS REPEATS JPEG decode + label PNG decode + 321x321 random
//!                                          crop + Caffe normalisation, batched by the loader
//! pipeline_speed synth SIDE COUNT         time the synthetic generator at SIDE x SIDE
//! ```
//! Each timing mode prints one JSON object on stdout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use fcn_data::loader::{Loader, LoaderConfig, Sampling};
use fcn_data::synthetic::SyntheticTransit;
use fcn_data::taxonomy::transit_classes;
use fcn_data::transforms::{Compose, Normalization, RandomCrop};
use fcn_data::{ClassSet, Dataset, Error, LabelMap, Result, Sample, read_label_png, read_rgb};

/// `NAME.jpg` + `NAME.png` pairs in a folder.
struct Pairs {
    pairs: Vec<(PathBuf, PathBuf)>,
    classes: ClassSet,
}

impl Dataset for Pairs {
    fn len(&self) -> usize {
        self.pairs.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        let (image_path, label_path) = self.pairs.get(index).ok_or(Error::IndexOutOfRange {
            index,
            len: self.pairs.len(),
        })?;
        Ok(Sample {
            image: read_rgb(image_path)?,
            label: read_label_png(label_path)?,
            id: index.to_string(),
            image_path: Some(image_path.clone()),
            label_path: Some(label_path.clone()),
        })
    }
    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

fn pairs(dir: &Path) -> Result<Pairs> {
    let mut pairs = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::read(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::read(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "jpg") {
            pairs.push((path.clone(), path.with_extension("png")));
        }
    }
    pairs.sort();
    Ok(Pairs {
        pairs,
        classes: transit_classes(),
    })
}

fn make(dir: &Path, count: usize) -> Result<()> {
    let data = SyntheticTransit::new(count, 375, 500, 2024)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::read(dir, e))?;
    for i in 0..count {
        let sample = data.get(i)?;
        let (h, w) = sample.dim();
        let rgb =
            image::RgbImage::from_raw(w as u32, h as u32, sample.image.iter().copied().collect())
                .ok_or_else(|| Error::invalid("image", "wrong size"))?;
        let LabelMap::U8(label) = &sample.label else {
            return Err(Error::invalid("label", "synthetic labels are 8-bit"));
        };
        let gray = image::GrayImage::from_raw(w as u32, h as u32, label.iter().copied().collect())
            .ok_or_else(|| Error::invalid("label", "wrong size"))?;
        let jpg = dir.join(format!("{i:04}.jpg"));
        let mut file = std::fs::File::create(&jpg).map_err(|e| Error::read(&jpg, e))?;
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 90)
            .encode_image(&rgb)
            .map_err(|source| Error::Image {
                path: jpg.clone(),
                source,
            })?;
        let png = dir.join(format!("{i:04}.png"));
        gray.save(&png).map_err(|source| Error::Image {
            path: png.clone(),
            source,
        })?;
    }
    Ok(())
}

fn files(dir: &Path, workers: usize, repeats: usize) -> Result<()> {
    let data = pairs(dir)?;
    let count = data.len();
    let transform = Compose::new().then(RandomCrop::new(321, 321)?);
    let config = LoaderConfig {
        batch_size: 4,
        workers,
        prefetch: 2 * workers,
        sampling: Sampling::Sequential,
        normalization: Normalization::Caffe,
        ..LoaderConfig::default()
    };
    let loader = Loader::new(data, transform, config)?;
    let mut best = f64::INFINITY;
    let mut checksum = 0f64;
    for repeat in 0..repeats {
        let start = Instant::now();
        for batch in loader.epoch(repeat as u64) {
            let batch = batch?;
            checksum += f64::from(batch.images[0]);
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{{\"images\": {count}, \"workers\": {workers}, \"best_seconds\": {best:.6}, \"images_per_second\": {:.1}, \"checksum\": {checksum:.3}}}",
        count as f64 / best
    );
    Ok(())
}

fn synth(side: usize, count: usize) -> Result<()> {
    let data = SyntheticTransit::train(count, side, side, 1)?;
    let start = Instant::now();
    let mut pixels = 0usize;
    for i in 0..count {
        pixels += data.get(i)?.label.dim().0;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"side\": {side}, \"samples\": {count}, \"ms_per_sample\": {:.4}, \"rows\": {pixels}}}",
        seconds * 1e3 / count as f64
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|s| s.parse::<usize>().ok());
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("make"), Some(dir)) => make(Path::new(dir), number(2).unwrap_or(32)),
        (Some("files"), Some(dir)) => files(
            Path::new(dir),
            number(2).unwrap_or(2),
            number(3).unwrap_or(3),
        ),
        (Some("synth"), Some(_)) => synth(number(1).unwrap_or(128), number(2).unwrap_or(500)),
        _ => {
            eprintln!(
                "usage: pipeline_speed make DIR COUNT | files DIR WORKERS REPEATS | synth SIDE COUNT"
            );
            std::process::exit(2);
        }
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
        std::process::exit(1);
    }
}
