//! Any bytes as a COCO polygon (the first two bytes pick the mask size, then 3 bytes per
//! coordinate, or 9 for a raw `f64` that may be NaN or huge): the rasteriser returns an error
//! or a mask whose runs cover it exactly, never a panic.
#![no_main]

use fcn_data::coco::{Rle, Segmentation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [height, width, rest @ ..] = data else {
        return;
    };
    let (h, w) = (usize::from(*height % 80) + 1, usize::from(*width % 80) + 1);
    let mut coordinates = Vec::new();
    let mut bytes = rest;
    while let [flag, tail @ ..] = bytes {
        if flag & 0x80 != 0 && tail.len() >= 8 {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&tail[..8]);
            coordinates.push(f64::from_le_bytes(raw));
            bytes = &tail[8..];
        } else if let [high, low, tail2 @ ..] = tail {
            // Eighths of a pixel over -4096..4096: fractions, negatives, far outside the mask.
            coordinates.push(f64::from(i16::from_le_bytes([*low, *high])) / 8.0);
            bytes = tail2;
        } else {
            break;
        }
    }
    if let Ok(rle) = Rle::from_polygon(&coordinates, h, w) {
        assert_eq!((rle.h, rle.w), (h, w));
        assert!(rle.validate().is_ok(), "runs must cover the mask: {rle:?}");
        let mask = rle.decode().ok();
        assert_eq!(mask.map(|m| m.dim()), Some((h, w)));
        assert!(rle.area() as usize <= h * w);
    }
    // The same coordinates as a polygon list, split in two parts, through annToRLE's path.
    let middle = coordinates.len() / 2;
    let parts = vec![
        coordinates[..middle].to_vec(),
        coordinates[middle..].to_vec(),
    ];
    if let Ok(rle) = Segmentation::Polygons(parts).to_rle(h, w) {
        assert!(rle.validate().is_ok());
    }
});
