//! Training with Winograd convolutions: 20 steps give the GEMM path's losses to 1e-3.
//!
//! The algorithm is chosen per run with `ops::with_conv_algo`, which applies to the calling
//! thread only: `set_conv_algo` is process-wide and would change the results of the tests
//! running beside these (the exact-resume test compares two runs bit for bit). The runs
//! therefore keep each micro-batch on this thread (`batch_split = 1`), and the count of
//! Winograd convolutions shows that the algorithm took effect.

use std::sync::atomic::AtomicBool;

use fcn_core::tensor::ops::{self, ConvAlgo};
use fcn_train::{Event, Run, TrainConfig};

/// FCN-8s at width / 8 on 64x64 synthetic scenes: conv3 (32 channels on 66x66, after the
/// padding of 100) and conv4 (64 channels on 33x33) are in `Auto`'s Winograd range.
fn tiny() -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model.width_divisor = 8;
    c.data.synthetic_train = 20;
    c.data.synthetic_val = 1;
    c.data.synthetic_height = 64;
    c.data.synthetic_width = 64;
    c.train.iterations = 20;
    c.train.batch_size = 1;
    c.train.batch_split = 1;
    c.train.eval_every = 0;
    c.train.checkpoint_every = 20;
    c.train.predictions = 0;
    // At the default 1e-3 the loss of batch 1 jumps (3.0 to 4.9 at step 4), which amplifies
    // any rounding difference past 1e-3 by step 10; at 1e-4 it decreases steadily, and the
    // largest difference measured over the 20 steps was 1.8e-4 (F(4x4)).
    c.optim.lr /= 10.0;
    c
}

/// The 20 step losses of a run of [`tiny`] by `algo`, and how many convolutions took
/// Winograd meanwhile.
fn losses(algo: ConvAlgo) -> (Vec<f32>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let before = ops::winograd_convolutions();
    let losses = ops::with_conv_algo(algo, || {
        let mut run = Run::create(tiny(), &dir.path().join("run")).unwrap();
        let mut losses = Vec::new();
        run.train(&AtomicBool::new(false), |e| {
            if let Event::Step { loss, .. } = e {
                losses.push(*loss);
            }
        })
        .unwrap();
        losses
    });
    (losses, ops::winograd_convolutions() - before)
}

#[test]
fn twenty_steps_by_winograd_give_the_gemm_losses() {
    // The layers of `tiny` that `Auto` runs by F(4x4) (conv3_2 .. conv4_3, forward).
    let config = tiny();
    let side = config.data.synthetic_height + 2 * 100 - 2;
    let c3 = 256 / config.model.width_divisor;
    // Two ceil-mode poolings.
    let conv3 = side.div_ceil(2).div_ceil(2);
    assert_eq!(ConvAlgo::choice(c3, c3, conv3, conv3), ConvAlgo::Winograd4);

    let (gemm, _) = losses(ConvAlgo::Gemm);
    assert_eq!(gemm.len(), 20);
    assert!(gemm.iter().all(|l| l.is_finite()));
    for algo in [ConvAlgo::Auto, ConvAlgo::Winograd4] {
        let (other, winograd) = losses(algo);
        assert!(winograd > 0, "{algo}: no convolution took Winograd");
        assert_eq!(other.len(), gemm.len());
        for (step, (a, b)) in gemm.iter().zip(&other).enumerate() {
            let relative = (a - b).abs() / a.abs().max(f32::MIN_POSITIVE);
            assert!(
                relative <= 1e-3,
                "{algo}, step {}: {a} against {b}",
                step + 1
            );
        }
    }
}
