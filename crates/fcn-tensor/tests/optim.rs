//! The optimizer updates of `ops` on the CPU against the formulas the optimizers of `fcn-core`
//! used before they became tensor operations, written out here loop for loop: the results must
//! be the same bits, so training results do not change.

use fcn_tensor::ops::{self, AdamStep, MomentumStep};
use fcn_tensor::{Tensor, TensorError};

use crate::common::Rng;

fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}

/// Random values over several decades, zeros included.
fn values(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|i| {
            if i % 17 == 0 {
                0.0
            } else {
                rng.uniform() * 10f32.powi(rng.below(7) as i32 - 3)
            }
        })
        .collect()
}

const SHAPE: [usize; 2] = [37, 29];

#[test]
fn sgd_step_is_the_old_update_bit_for_bit() {
    let n = SHAPE.iter().product();
    let (mut w, mut b) = (values(1, n), values(2, n));
    let mut weight = Tensor::from_vec(w.clone(), &SHAPE).unwrap();
    let mut buffer = Tensor::from_vec(b.clone(), &SHAPE).unwrap();
    for (round, (momentum, decay, rate)) in [(0.99, 5e-4, 1e-3), (0.9, 0.0, 0.1), (0.0, 1e-2, 3.0)]
        .into_iter()
        .enumerate()
    {
        let g = values(10 + round as u64, n);
        // fcn-core's `momentum_update` before this operation existed.
        for ((w, b), &g) in w.iter_mut().zip(b.iter_mut()).zip(&g) {
            *b = momentum * *b + (g + decay * *w);
            *w -= rate * *b;
        }
        let grad = Tensor::from_vec(g, &SHAPE).unwrap();
        let step = MomentumStep {
            momentum,
            weight_decay: decay,
            rate,
        };
        ops::sgd_step(&mut weight, &mut buffer, &grad, &step).unwrap();
        assert_eq!(
            bits(&weight),
            bits(&Tensor::from_vec(w.clone(), &SHAPE).unwrap())
        );
        assert_eq!(
            bits(&buffer),
            bits(&Tensor::from_vec(b.clone(), &SHAPE).unwrap())
        );
    }
}

#[test]
fn lars_step_is_the_old_update_bit_for_bit() {
    let n = SHAPE.iter().product();
    let (mut w, mut v) = (values(3, n), values(4, n));
    let mut weight = Tensor::from_vec(w.clone(), &SHAPE).unwrap();
    let mut velocity = Tensor::from_vec(v.clone(), &SHAPE).unwrap();
    for (round, (momentum, beta, rate)) in
        [(0.9, 5e-4, 2e-3), (0.5, 0.0, 0.7)].into_iter().enumerate()
    {
        let g = values(20 + round as u64, n);
        // fcn-core's LARS loop before this operation existed.
        for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(&g) {
            *v = momentum * *v + rate * (g + beta * *w);
            *w -= *v;
        }
        let grad = Tensor::from_vec(g, &SHAPE).unwrap();
        let step = MomentumStep {
            momentum,
            weight_decay: beta,
            rate,
        };
        ops::lars_step(&mut weight, &mut velocity, &grad, &step).unwrap();
        assert_eq!(
            bits(&weight),
            bits(&Tensor::from_vec(w.clone(), &SHAPE).unwrap())
        );
        assert_eq!(
            bits(&velocity),
            bits(&Tensor::from_vec(v.clone(), &SHAPE).unwrap())
        );
    }
}

#[test]
fn adam_step_is_the_old_update_bit_for_bit() {
    let n = SHAPE.iter().product();
    let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let (mut wv, mut mv, mut vv) = (values(5, n), vec![0.0f32; n], vec![0.0f32; n]);
    let mut weight = Tensor::from_vec(wv.clone(), &SHAPE).unwrap();
    let mut first = Tensor::zeros(&SHAPE);
    let mut second = Tensor::zeros(&SHAPE);
    for t in 1..=4 {
        let (decay, lr) = (0.01f32 * 1.0, 1e-3f32 * 2.0);
        let c1 = 1.0 - f64::from(beta1).powi(t);
        let c2 = 1.0 - f64::from(beta2).powi(t);
        let rate = f64::from(lr);
        let g_values = values(30 + t as u64, n);
        // fcn-core's Adam loop before this operation existed.
        for i in 0..wv.len() {
            let g = g_values[i] + decay * wv[i];
            mv[i] = beta1 * mv[i] + (1.0 - beta1) * g;
            vv[i] = beta2 * vv[i] + (1.0 - beta2) * g * g;
            let denom = (f64::from(vv[i]) / c2).sqrt() + f64::from(eps);
            wv[i] -= (rate * (f64::from(mv[i]) / c1) / denom) as f32;
        }
        let grad = Tensor::from_vec(g_values, &SHAPE).unwrap();
        let step = AdamStep {
            beta1,
            beta2,
            eps,
            weight_decay: decay,
            rate,
            bias_correction1: c1,
            bias_correction2: c2,
        };
        ops::adam_step(&mut weight, &mut first, &mut second, &grad, &step).unwrap();
        assert_eq!(
            bits(&weight),
            bits(&Tensor::from_vec(wv.clone(), &SHAPE).unwrap())
        );
        assert_eq!(
            bits(&first),
            bits(&Tensor::from_vec(mv.clone(), &SHAPE).unwrap())
        );
        assert_eq!(
            bits(&second),
            bits(&Tensor::from_vec(vv.clone(), &SHAPE).unwrap())
        );
    }
}

#[test]
fn sum_squares_is_the_ordered_f64_sum() {
    for len in [0, 1, 4095, 4097, 10_000] {
        let x = values(40 + len as u64, len);
        let expected: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let t = Tensor::from_vec(x, &[len]).unwrap();
        assert_eq!(ops::sum_squares(&t).unwrap().to_bits(), expected.to_bits());
    }
}

#[test]
fn mismatched_shapes_are_errors_and_change_nothing() {
    let mut weight = Tensor::full(&[2, 3], 1.0);
    let mut buffer = Tensor::zeros(&[2, 3]);
    let grad = Tensor::full(&[3, 2], 1.0);
    let step = MomentumStep {
        momentum: 0.9,
        weight_decay: 0.0,
        rate: 0.1,
    };
    for err in [
        ops::sgd_step(&mut weight, &mut buffer, &grad, &step).unwrap_err(),
        ops::lars_step(&mut weight, &mut buffer, &grad, &step).unwrap_err(),
    ] {
        assert!(matches!(err, TensorError::ShapeMismatch { .. }), "{err}");
    }
    let mut short = Tensor::zeros(&[6]);
    let err = ops::adam_step(
        &mut weight,
        &mut buffer,
        &mut short,
        &Tensor::zeros(&[2, 3]),
        &AdamStep {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            rate: 1e-3,
            bias_correction1: 0.1,
            bias_correction2: 0.001,
        },
    )
    .unwrap_err();
    assert!(matches!(err, TensorError::ShapeMismatch { .. }), "{err}");
    assert_eq!(weight, Tensor::full(&[2, 3], 1.0));
    assert_eq!(buffer, Tensor::zeros(&[2, 3]));
}
