//! Interleaved timing of the CPU algorithms for 3x3 stride-1 convolutions (`ops::ConvAlgo`):
//! each repetition runs GEMM, F(2x2) and F(4x4), forward (with bias) and backward-data, one
//! after the other, and the median of each is printed, so that load from other processes hits
//! all three alike (the criterion bench `benches/winograd.rs` times them apart).
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p fcn-tensor --example conv_algo_timing` for the
//! VGG16 shapes of `benches/winograd.rs`, or `... -- C_IN C_OUT SIDE REPS` for one layer (one
//! image, padding 1). GFLOP/s count the direct convolution's `2 * c_in * c_out * 9 * side^2`.
use std::time::Instant;

use fcn_tensor::ops::{self, Conv2d, ConvAlgo};
use fcn_tensor::{Result, Tensor};

/// Uniform values in [-1, 1) from a fixed seed (SplitMix64).
fn random(shape: &[usize], seed: u64) -> Result<Tensor> {
    let mut state = seed;
    let values = (0..shape.iter().product())
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    Tensor::from_vec(values, shape)
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

const ALGOS: [(&str, ConvAlgo); 3] = [
    ("gemm", ConvAlgo::Gemm),
    ("f2", ConvAlgo::Winograd2),
    ("f4", ConvAlgo::Winograd4),
];

/// Times one layer and prints one line per pass: milliseconds and GFLOP/s of each algorithm.
fn time_layer(c_in: usize, c_out: usize, side: usize, reps: usize) -> Result<()> {
    let conv = Conv2d::padded(1);
    let shape = [1, c_in, side, side];
    let x = random(&shape, 1)?;
    let w = random(&[c_out, c_in, 3, 3], 2)?;
    let bias = random(&[c_out], 3)?;
    let gy = random(&[1, c_out, side, side], 4)?;
    let flops = 2.0 * (c_in * c_out * 9 * side * side) as f64;
    let (mut forward, mut backward) = (vec![Vec::new(); 3], vec![Vec::new(); 3]);
    for _ in 0..reps {
        for (i, &(_, algo)) in ALGOS.iter().enumerate() {
            let start = Instant::now();
            std::hint::black_box(ops::conv2d_with_algo(
                &x,
                &w,
                Some(&bias),
                &conv,
                false,
                algo,
            )?);
            forward[i].push(start.elapsed().as_secs_f64() * 1e3);
            let start = Instant::now();
            std::hint::black_box(ops::conv2d_backward_input(&w, &gy, shape, &conv, algo)?);
            backward[i].push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    for (pass, times) in [("forward", forward), ("backward-data", backward)] {
        let mut line = format!("{c_in:>3}->{c_out:<3} {side:>3}x{side:<3} {pass:<13}");
        for ((name, _), times) in ALGOS.iter().zip(times) {
            let ms = median(times);
            line += &format!(" | {name} {ms:8.3} ms {:5.0} GF/s", flops / ms / 1e6);
        }
        println!("{line}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Option<Vec<usize>> = std::env::args().skip(1).map(|a| a.parse().ok()).collect();
    match args.as_deref() {
        Some(&[c_in, c_out, side, reps]) if reps > 0 => return time_layer(c_in, c_out, side, reps),
        Some([]) => {}
        _ => {
            eprintln!("usage: conv_algo_timing [C_IN C_OUT SIDE REPS]");
            std::process::exit(2);
        }
    }
    // The shapes of benches/winograd.rs: width/8 at the main job's geometry, then full width.
    for (c, side, reps) in [
        (8, 326, 11),
        (16, 163, 11),
        (32, 82, 11),
        (64, 41, 21),
        (64, 21, 31),
        (64, 128, 7),
        (128, 64, 7),
        (256, 64, 5),
        (512, 32, 5),
    ] {
        time_layer(c, c, side, reps)?;
    }
    Ok(())
}
