//! Times COCO mask decoding on a workload file written by `benches/coco_vs_pycocotools.py`:
//! polygon annotations -> mask (pycocotools' `annToMask` path: rasterise, union, decode) and
//! compressed RLE string -> mask. Prints one JSON line of seconds per annotation (best of the
//! repeats), single-threaded.
//!
//! ```sh
//! cargo run --release -p fcn-data --example coco_speed -- WORKLOAD.json [REPEATS]
//! ```

use std::hint::black_box;
use std::time::Instant;

use fcn_data::coco::{Rle, Segmentation};
use serde::Deserialize;

#[derive(Deserialize)]
struct Workload {
    h: usize,
    w: usize,
    /// One annotation = a list of polygons.
    polygons: Vec<Vec<Vec<f64>>>,
    /// Compressed RLE strings of masks of `h` x `w`.
    strings: Vec<String>,
}

fn best_of<F>(repeats: usize, mut run: F) -> fcn_data::Result<(f64, usize)>
where
    F: FnMut() -> fcn_data::Result<usize>,
{
    let mut best = f64::INFINITY;
    let mut checksum = 0;
    for _ in 0..repeats {
        let start = Instant::now();
        checksum = run()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok((best, checksum))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: coco_speed WORKLOAD.json [REPEATS]")?;
    let repeats: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let workload: Workload = serde_json::from_slice(&std::fs::read(&path)?)?;
    let (h, w) = (workload.h, workload.w);
    let segmentations: Vec<Segmentation> = workload
        .polygons
        .into_iter()
        .map(Segmentation::Polygons)
        .collect();

    let (polygon_seconds, polygon_pixels) = best_of(repeats, || {
        let mut pixels = 0;
        for segmentation in &segmentations {
            let mask = segmentation.to_rle(h, w)?.decode()?;
            pixels += usize::from(black_box(&mask)[[h / 2, w / 2]]);
        }
        Ok(pixels)
    })?;
    let (string_seconds, string_pixels) = best_of(repeats, || {
        let mut pixels = 0;
        for text in &workload.strings {
            let mask = Rle::from_compressed(text, h, w).decode()?;
            pixels += usize::from(black_box(&mask)[[h / 2, w / 2]]);
        }
        Ok(pixels)
    })?;
    println!(
        "{{\"polygon_to_mask_s\": {:.9}, \"rle_string_to_mask_s\": {:.9}, \"polygons\": {}, \"strings\": {}, \"checksum\": {}}}",
        polygon_seconds / segmentations.len() as f64,
        string_seconds / workload.strings.len() as f64,
        segmentations.len(),
        workload.strings.len(),
        polygon_pixels + string_pixels,
    );
    Ok(())
}
