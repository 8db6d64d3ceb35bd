//! Autograd: finite-difference checks through every recorded operation, accumulation over
//! micro-batches, and misuse errors.

use fcn_core::{
    Arch, Conv2d, ConvTranspose2d, DropoutMode, Fcn, FcnConfig, Gradients, Init, Mode, Module,
    Param, ParamKind, Reduction, SplitMix64, Tape, Var,
};
use fcn_tensor::{Tensor, ops};

fn random(shape: &[usize], seed: u64, scale: f64) -> Tensor {
    let mut rng = SplitMix64::new(seed);
    let n = shape.iter().product();
    Tensor::from_vec(
        (0..n).map(|_| (rng.next_normal() * scale) as f32).collect(),
        shape,
    )
    .unwrap()
}

/// A small graph using every tape operation: conv + ReLU, pool, transposed conv, crop, add,
/// scale, dropout (fixed seed), plain ReLU and the loss.
struct Net {
    conv: Conv2d,
    side: Conv2d,
    up: ConvTranspose2d,
}

impl Net {
    fn new() -> Self {
        let mut conv = Conv2d::new(
            "conv",
            2,
            4,
            3,
            ops::Conv2d::padded(1),
            Init::KaimingNormal,
            1,
        )
        .unwrap();
        conv.bias.as_mut().unwrap().value = random(&[4], 9, 0.1);
        let mut side = Conv2d::new(
            "side",
            4,
            3,
            1,
            ops::Conv2d::default(),
            Init::Normal(0.3),
            2,
        )
        .unwrap();
        side.bias.as_mut().unwrap().value = random(&[3], 10, 0.1);
        let mut up = ConvTranspose2d::bilinear("up", 3, 4, 2)
            .unwrap()
            .learnable();
        up.weight.value = random(&[3, 3, 4, 4], 11, 0.3);
        Self { conv, side, up }
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v: Vec<&mut Param> = vec![&mut self.conv.weight];
        v.push(self.conv.bias.as_mut().unwrap());
        v.push(&mut self.side.weight);
        v.push(self.side.bias.as_mut().unwrap());
        v.push(&mut self.up.weight);
        v
    }

    fn loss(&self, tape: &mut Tape, x: &Var, target: &[i64]) -> Var {
        let h = self.conv.forward_relu(tape, x).unwrap();
        let h = tape.dropout(&h, 0.3, DropoutMode::Element, 77).unwrap();
        let pooled = tape.max_pool2d(&h, fcn_tensor::ops::Pool2d::FCN).unwrap();
        let s = self.side.forward(tape, &pooled).unwrap();
        let s = tape.scale(&s, 0.7).unwrap();
        let u = self.up.forward(tape, &s).unwrap();
        let c = tape.crop(&u, [1, 1], [6, 6]).unwrap();
        let direct = self.side.forward(tape, &h).unwrap();
        let direct = tape.relu(&direct).unwrap();
        let direct = tape.crop(&direct, [0, 1], [6, 6]).unwrap();
        let sum = tape.add(&c, &direct).unwrap();
        tape.softmax_cross_entropy(&sum, target, 255, None, Reduction::Mean)
            .unwrap()
    }
}

#[test]
fn gradients_match_finite_differences() {
    let mut net = Net::new();
    let input = random(&[2, 2, 7, 8], 3, 1.0);
    let mut rng = SplitMix64::new(4);
    let target: Vec<i64> = (0..2 * 36)
        .map(|i| {
            if i % 11 == 0 {
                255
            } else {
                (rng.next_u64() % 3) as i64
            }
        })
        .collect();
    let mut tape = Tape::new();
    let x = tape.constant(input.clone());
    let loss = net.loss(&mut tape, &x, &target);
    let grads = tape.backward(&loss).unwrap();
    let analytic: Vec<Vec<f32>> = net
        .params_mut()
        .iter()
        .map(|p| grads.get(p).unwrap().data().to_vec())
        .collect();
    let eval = |net: &Net| {
        let mut tape = Tape::inference();
        let x = tape.constant(input.clone());
        f64::from(net.loss(&mut tape, &x, &target).value().data()[0])
    };
    let eps = 1e-3f32;
    let mut compared = 0;
    for (pi, grad) in analytic.iter().enumerate() {
        for i in (0..grad.len()).step_by(grad.len() / 10 + 1) {
            let original = net.params_mut()[pi].value.data()[i];
            let set = |net: &mut Net, v: f32| {
                let p = &mut net.params_mut()[pi];
                let mut data = p.value.data().to_vec();
                data[i] = v;
                p.value = Tensor::from_vec(data, p.value.shape()).unwrap();
            };
            set(&mut net, original + eps);
            let plus = eval(&net);
            set(&mut net, original - eps);
            let minus = eval(&net);
            set(&mut net, original);
            let numeric = (plus - minus) / (2.0 * f64::from(eps));
            let a = f64::from(grad[i]);
            assert!(
                (a - numeric).abs() <= 2e-3 + 2e-2 * numeric.abs(),
                "parameter {pi} value {i}: analytic {a}, numeric {numeric}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 30);
}

#[test]
fn micro_batches_accumulate_to_the_full_batch() {
    let mut model = Fcn::new(
        FcnConfig::new(Arch::Fcn8sAtOnce, 3).with_width_divisor(32),
        7,
    )
    .unwrap();
    // Non-zero score layers so every parameter gets a gradient.
    model.visit_params_mut(&mut |p| {
        if p.name.starts_with("score") && p.kind == ParamKind::Weight {
            p.value = random(p.value.shape(), 5, 0.1);
        }
    });
    let input = random(&[2, 3, 20, 24], 8, 50.0);
    let target: Vec<i64> = (0..2 * 20 * 24).map(|i| (i % 3) as i64).collect();
    let grads_of = |x: Tensor, t: &[i64]| {
        let mut tape = Tape::new();
        let x = tape.constant(x);
        let y = model.forward(&mut tape, &x, Mode::Eval).unwrap();
        let loss = tape
            .softmax_cross_entropy(&y, t, 255, None, Reduction::SumOverBatch)
            .unwrap();
        tape.backward(&loss).unwrap()
    };
    let full = grads_of(input.clone(), &target);
    let half = input.len() / 2;
    let first = Tensor::from_vec(input.data()[..half].to_vec(), &[1, 3, 20, 24]).unwrap();
    let second = Tensor::from_vec(input.data()[half..].to_vec(), &[1, 3, 20, 24]).unwrap();
    let mut acc = Gradients::default();
    acc.accumulate(grads_of(first, &target[..480])).unwrap();
    acc.accumulate(grads_of(second, &target[480..])).unwrap();
    acc.scale(0.5).unwrap();
    assert_eq!(acc.len(), full.len());
    assert!(full.len() >= 30);
    for p in model.params() {
        if let Some(g) = full.get(p) {
            let a = acc.get(p).unwrap();
            let scale = g.data().iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            for (x, y) in a.data().iter().zip(g.data()) {
                assert!((x - y).abs() <= 1e-4 * scale, "{}", p.name);
            }
        }
    }
}

#[test]
fn frozen_parameters_get_no_gradient_and_misuse_is_an_error() {
    let model = Fcn::new(FcnConfig::new(Arch::Fcn32s, 2).with_width_divisor(32), 1).unwrap();
    let mut tape = Tape::new();
    let x = tape.constant(Tensor::full(&[1, 3, 8, 8], 1.0));
    let y = model
        .forward(&mut tape, &x, Mode::Train { seed: 3 })
        .unwrap();
    let loss = tape
        .softmax_cross_entropy(&y, &[0; 64], 255, None, Reduction::Mean)
        .unwrap();
    // A value that is not a scalar cannot be differentiated.
    let mut other = Tape::new();
    let err = Tape::new().backward(&y).unwrap_err();
    assert!(err.to_string().contains("scalar"), "{err}");
    // A value from another tape cannot be used.
    let err = other.relu(&y).unwrap_err();
    assert!(err.to_string().contains("another tape"), "{err}");
    let grads = tape.backward(&loss).unwrap();
    let upscore = model
        .params()
        .into_iter()
        .find(|p| p.name == "upscore.weight")
        .unwrap();
    assert!(!upscore.trainable && grads.get(upscore).is_none());
    let score = model
        .params()
        .into_iter()
        .find(|p| p.name == "score_fr.weight")
        .unwrap();
    assert!(grads.get(score).is_some());
}
