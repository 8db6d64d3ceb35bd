//! Any bytes given as a label PNG: an error or a map of consistent size, never a panic or a
//! runaway allocation.
#![no_main]

use std::path::Path;

use fcn_data::{LabelMap, decode_label_png};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = decode_label_png(data, Path::new("fuzz.png")) {
        let (h, w) = map.dim();
        match map {
            LabelMap::U8(a) => assert_eq!(a.len(), h * w),
            LabelMap::U16(a) => assert_eq!(a.len(), h * w),
        }
    }
});
