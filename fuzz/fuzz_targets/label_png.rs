//! Any bytes given as a label PNG: an error or a map of consistent size, never a panic or a
//! runaway allocation.
#![no_main]

use std::path::Path;

use fcn::label_png::{LabelData, decode_label_png};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = decode_label_png(data, Path::new("fuzz.png")) {
        let pixels = map.width as usize * map.height as usize;
        match map.data {
            LabelData::U8(v) => assert_eq!(v.len(), pixels),
            LabelData::U16(v) => assert_eq!(v.len(), pixels),
        }
    }
});
