//! Any bytes as a COCO compressed RLE string (the first two bytes pick the mask size): the
//! string codec, area, box and decoder never panic, and what decodes is consistent.
#![no_main]

use fcn_data::coco::Rle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [height, width, text @ ..] = data else {
        return;
    };
    let (h, w) = (usize::from(*height % 64), usize::from(*width % 64));
    let rle = Rle::from_compressed(text, h, w);
    let _ = rle.area();
    let _ = rle.to_bbox();
    // The string form reads back to the same counts while deltas stay below 2^29 (beyond,
    // pycocotools' own reader shifts an `int` past its width, and so does ours on purpose).
    if rle.counts.iter().all(|&c| c < 1 << 29) {
        assert_eq!(Rle::from_compressed(rle.to_compressed(), h, w), rle);
    }
    if let Ok(mask) = rle.decode() {
        assert_eq!(mask.dim(), (h, w));
        let encoded = Rle::encode(mask.view());
        assert_eq!(encoded.area(), rle.area());
        assert_eq!(encoded.decode().ok(), Some(mask));
        let column_major = rle.decode_column_major().ok();
        assert_eq!(column_major.map(|p| p.len()), Some(h * w));
    }
    let full = Rle::new(h, w, vec![0, (h * w) as u32]);
    let iou = Rle::iou(&rle, &full, false);
    assert!(iou.is_nan() || iou >= -1.0);
    let _ = Rle::iou(&full, &rle, true);
    let _ = Rle::union(&[rle.clone(), rle.clone()]);
    let _ = Rle::intersection(&[rle, full]);
});
