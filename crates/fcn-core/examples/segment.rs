//! What a downstream project copies: depend on `fcn-core` alone, build FCN-8s, load weights
//! from safetensors (a PyTorch `state_dict` of pytorch-fcn works the same way) and segment an
//! image.
//!
//!     cargo run --release -p fcn-core --example segment [WEIGHTS.safetensors]
//!
//! Without an argument it saves a freshly initialised narrow model first and loads that, so
//! the example runs anywhere.

use std::path::PathBuf;

use fcn_core::{Arch, Fcn, FcnConfig, Mode, PreprocessExt, Tape, tensor::ops};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let weights = match std::env::args_os().nth(1) {
        Some(path) => PathBuf::from(path),
        None => {
            // Stand-in weights: FCN-8s, 21 VOC classes, backbone widths / 8.
            let model = Fcn::new(FcnConfig::new(Arch::Fcn8s, 21).with_width_divisor(8), 7)?;
            let path = std::env::temp_dir().join("fcn-core-example.safetensors");
            model.save(&path)?;
            path
        }
    };
    // The file's metadata (or, for a plain state_dict, its tensors) says which model it is.
    let model = Fcn::load(&weights, None)?;
    println!(
        "{} with {} classes, {} preprocessing, from {}",
        model.arch(),
        model.num_classes(),
        model.preprocess(),
        weights.display()
    );

    // An RGB image, height x width x 3 bytes: a gradient stands in for a decoded photo.
    let (height, width) = (120, 160);
    let rgb: Vec<u8> = (0..height * width * 3)
        .map(|i| ((i / 3) % width * 255 / width) as u8)
        .collect();
    let input = model.preprocess().apply(&rgb, height, width)?;

    let mut tape = Tape::inference();
    let x = tape.constant(input);
    let scores = model.forward(&mut tape, &x, Mode::Eval)?;
    let labels = ops::argmax_channels(scores.value())?;

    let mut counts = vec![0usize; model.num_classes()];
    for &label in &labels {
        counts[label as usize] += 1;
    }
    println!("scores {:?}; pixels per class {counts:?}", scores.shape());
    Ok(())
}
