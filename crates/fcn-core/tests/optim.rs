//! Optimizers and schedules against their formulas.

use fcn_core::{
    Arch, Fcn, FcnConfig, Gradients, Lars, LrSchedule, Module, Optimizer, Param, ParamKind, Sgd,
};
use fcn_tensor::Tensor;

/// A module of two parameters: a weight and a bias.
struct Two {
    w: Param,
    b: Param,
}

impl Module for Two {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        f(&self.w);
        f(&self.b);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.w);
        f(&mut self.b);
    }
}

fn two() -> Two {
    Two {
        w: Param::new(
            "w",
            Tensor::from_vec(vec![1.0, -2.0, 0.5], &[3]).unwrap(),
            ParamKind::Weight,
        ),
        b: Param::new(
            "b",
            Tensor::from_vec(vec![0.3], &[1]).unwrap(),
            ParamKind::Bias,
        ),
    }
}

fn grads(m: &Two, step: usize) -> Gradients {
    let mut g = Gradients::default();
    let s = step as f32 + 1.0;
    g.set(
        &m.w,
        Tensor::from_vec(vec![0.1 * s, -0.4, 0.25 * s], &[3]).unwrap(),
    );
    g.set(&m.b, Tensor::from_vec(vec![-0.2 * s], &[1]).unwrap());
    g
}

#[test]
#[allow(clippy::needless_range_loop)]
fn sgd_is_pytorchs_update_with_the_reference_groups() {
    let mut m = two();
    let mut sgd = Sgd::new(0.9, 0.01).unwrap();
    // Reference in f64: weights lr x1 with decay, bias lr x2 without.
    let mut w = [1.0f64, -2.0, 0.5];
    let mut b = 0.3f64;
    let (mut vw, mut vb) = ([0.0f64; 3], 0.0f64);
    for (step, lr) in [0.1f64, 0.05, 0.02].into_iter().enumerate() {
        let g = grads(&m, step);
        let gw = g.get(&m.w).unwrap().data().to_vec();
        let gb = g.get(&m.b).unwrap().data()[0];
        sgd.step(&mut m, &g, lr as f32).unwrap();
        for i in 0..3 {
            vw[i] = 0.9 * vw[i] + (f64::from(gw[i]) + 0.01 * w[i]);
            w[i] -= lr * vw[i];
        }
        vb = 0.9 * vb + f64::from(gb);
        b -= 2.0 * lr * vb;
    }
    for i in 0..3 {
        assert!((f64::from(m.w.value.data()[i]) - w[i]).abs() < 1e-6);
    }
    assert!((f64::from(m.b.value.data()[0]) - b).abs() < 1e-6);
}

#[test]
fn frozen_parameters_do_not_move_and_state_round_trips() {
    let mut m = two();
    m.b = m.b.clone().frozen();
    let mut sgd = Sgd::fcn_reference();
    let g = grads(&m, 0);
    sgd.step(&mut m, &g, 0.1).unwrap();
    assert_eq!(m.b.value.data(), [0.3]);
    // Resuming from saved state gives the same next update as going on.
    let mut resumed = Sgd::fcn_reference();
    resumed.load_state(sgd.state()).unwrap();
    let mut m2 = Two {
        w: m.w.clone(),
        b: m.b.clone(),
    };
    let (g, g2) = (grads(&m, 1), grads(&m2, 1));
    sgd.step(&mut m, &g, 0.1).unwrap();
    resumed.step(&mut m2, &g2, 0.1).unwrap();
    assert_eq!(m.w.value, m2.w.value);
    assert!(Sgd::new(1.0, 0.0).is_err());
}

#[test]
fn lars_follows_the_paper() {
    let mut m = two();
    let mut lars = Lars::new(0.9, 5e-4, 0.001).unwrap();
    let g = grads(&m, 0);
    let gw: Vec<f64> = g
        .get(&m.w)
        .unwrap()
        .data()
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let w0: Vec<f64> = m.w.value.data().iter().map(|&v| f64::from(v)).collect();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let local = 0.001 * norm(&w0) / (norm(&gw) + 5e-4 * norm(&w0));
    assert!((f64::from(lars.local_rate(&m.w, g.get(&m.w).unwrap()).unwrap()) - local).abs() < 1e-9);
    assert_eq!(lars.local_rate(&m.b, g.get(&m.b).unwrap()).unwrap(), 1.0);
    lars.step(&mut m, &g, 2.0).unwrap();
    for i in 0..3 {
        let v = 2.0 * local * (gw[i] + 5e-4 * w0[i]);
        assert!((f64::from(m.w.value.data()[i]) - (w0[i] - v)).abs() < 1e-6);
    }
    // Bias: no trust ratio, lr x2, no decay.
    let gb = f64::from(g.get(&m.b).unwrap().data()[0]);
    assert!((f64::from(m.b.value.data()[0]) - (0.3 - 2.0 * 2.0 * gb)).abs() < 1e-6);
    // Zero weights: the ratio is 1.
    let zero = Param::new("z", Tensor::zeros(&[2]), ParamKind::Weight);
    assert_eq!(
        lars.local_rate(&zero, &Tensor::full(&[2], 1.0)).unwrap(),
        1.0
    );
}

#[test]
fn schedules_give_their_formulas() {
    assert_eq!(LrSchedule::Fixed { base: 1e-10 }.at(99_999), 1e-10);
    let step = LrSchedule::Step {
        base: 0.1,
        every: 10,
        gamma: 0.5,
    };
    assert_eq!(step.at(9), 0.1);
    assert_eq!(step.at(10), 0.05);
    assert_eq!(step.at(25), 0.025);
    let poly = LrSchedule::Poly {
        base: 0.02,
        total: 100,
        power: 0.9,
    };
    assert!((poly.at(50) - 0.02 * 0.5f32.powf(0.9)).abs() < 1e-8);
    assert_eq!(poly.at(100), 0.0);
    let cos = LrSchedule::Cosine {
        base: 1e-3,
        total: 10,
        min: 1e-5,
    };
    assert_eq!(cos.at(0), 1e-3);
    assert!((cos.at(10) - 1e-5).abs() < 1e-9);
    assert!((cos.at(5) - (1e-5 + (1e-3 - 1e-5) / 2.0)).abs() < 1e-8);
    // Linear warm-up (t * base + (W - t) * start) / W.
    let fixed = LrSchedule::Fixed { base: 1.0 };
    assert_eq!(fixed.at_with_warmup(0, 4, 0.2), 0.2);
    assert!((fixed.at_with_warmup(1, 4, 0.2) - 0.4).abs() < 1e-7);
    assert_eq!(fixed.at_with_warmup(4, 4, 0.2), 1.0);
}

#[test]
fn a_training_step_lowers_the_loss() {
    use fcn_core::{Mode, Reduction, Tape};
    let mut model = Fcn::new(FcnConfig::new(Arch::Fcn8s, 3).with_width_divisor(16), 11).unwrap();
    let x = Tensor::from_vec(
        (0..3 * 24 * 24)
            .map(|i| (i * 37 % 101) as f32 - 50.0)
            .collect(),
        &[1, 3, 24, 24],
    )
    .unwrap();
    // Left half class 1, right half class 2.
    let target: Vec<i64> = (0..24 * 24)
        .map(|i| if i % 24 < 12 { 1 } else { 2 })
        .collect();
    let mut sgd = Sgd::new(0.9, 0.0).unwrap();
    let mut losses = Vec::new();
    for _ in 0..5 {
        let mut tape = Tape::new();
        let input = tape.constant(x.clone());
        let y = model.forward(&mut tape, &input, Mode::Eval).unwrap();
        let loss = tape
            .softmax_cross_entropy(&y, &target, 255, None, Reduction::Mean)
            .unwrap();
        losses.push(loss.value().data()[0]);
        let g = tape.backward(&loss).unwrap();
        sgd.step(&mut model, &g, 1e-4).unwrap();
    }
    assert!(losses[4] < losses[0] * 0.9, "{losses:?}");
}

#[test]
#[allow(clippy::needless_range_loop)]
fn adam_is_pytorchs_update_and_resumes_exactly() {
    let mut m = two();
    let mut adam = fcn_core::Adam::new(0.01).unwrap();
    let mut w = [1.0f64, -2.0, 0.5];
    let (mut mw, mut vw) = ([0.0f64; 3], [0.0f64; 3]);
    for step in 0..3 {
        let g = grads(&m, step);
        let gw = g.get(&m.w).unwrap().data().to_vec();
        adam.step(&mut m, &g, 0.1).unwrap();
        let t = step as i32 + 1;
        for i in 0..3 {
            let gi = f64::from(gw[i]) + 0.01 * w[i];
            mw[i] = 0.9 * mw[i] + 0.1 * gi;
            vw[i] = 0.999 * vw[i] + 0.001 * gi * gi;
            let mhat = mw[i] / (1.0 - 0.9f64.powi(t));
            let vhat = vw[i] / (1.0 - 0.999f64.powi(t));
            w[i] -= 0.1 * mhat / (vhat.sqrt() + 1e-8);
        }
    }
    for i in 0..3 {
        assert!((f64::from(m.w.value.data()[i]) - w[i]).abs() < 1e-5, "{i}");
    }
    let mut resumed = fcn_core::Adam::new(0.01).unwrap();
    resumed.load_state(adam.state()).unwrap();
    assert_eq!(resumed.steps(), 3);
    let mut m2 = Two {
        w: m.w.clone(),
        b: m.b.clone(),
    };
    let (g, g2) = (grads(&m, 3), grads(&m2, 3));
    adam.step(&mut m, &g, 0.1).unwrap();
    resumed.step(&mut m2, &g2, 0.1).unwrap();
    assert_eq!(m.w.value, m2.w.value);
    assert_eq!(m.b.value, m2.b.value);
}
