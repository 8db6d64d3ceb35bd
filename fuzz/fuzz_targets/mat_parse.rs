//! Any bytes given as a MAT-file (and as an SBD label): an error naming the file, or a tree
//! whose arrays are consistent; never a panic, a stack overflow or a runaway allocation.
#![no_main]

use std::path::Path;

use fcn_data::mat::{Array, MatFile, Value};
use libfuzzer_sys::fuzz_target;

/// A small decompression limit keeps each run fast; the parser checks it either way.
const LIMIT: usize = 1 << 20;

fn check(array: &Array) {
    match &array.value {
        Value::Numeric { real, imag } => {
            assert_eq!(real.len(), array.len());
            if let Some(imag) = imag {
                assert_eq!(imag.len(), array.len());
            }
        }
        Value::Cell(cells) => {
            assert_eq!(cells.len(), array.len());
            cells.iter().for_each(check);
        }
        Value::Struct { fields, values, .. } => {
            assert_eq!(values.len(), array.len() * fields.len());
            values.iter().for_each(check);
        }
        Value::Char(_) | Value::Sparse { .. } => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.mat");
    match MatFile::parse_with_limit(data, path, LIMIT) {
        Ok(file) => {
            file.variables().iter().for_each(|v| check(&v.array));
            if let Ok(labels) = file.u8_matrix("GTcls.Segmentation") {
                let array = file.lookup("GTcls.Segmentation").map(|a| a.len());
                assert_eq!(array.ok(), Some(labels.len()));
            }
        }
        Err(err) => assert!(err.to_string().contains("fuzz.mat"), "{err}"),
    }
});
