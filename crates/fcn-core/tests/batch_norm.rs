//! BatchNorm2d and the residual-network tape operations (batch normalisation with the fused
//! residual add and ReLU, bilinear resize, channel concatenation, global average pooling):
//! finite differences through a small network, the layer's running statistics and modes, and
//! its parameters and buffers.

use fcn_core::{
    BatchNorm, BatchNorm2d, BufferValue, Buffers, Conv2d, Device, Init, Mode, Module, Param,
    Reduction, SplitMix64, Statistics, Tape, Var,
};
use fcn_tensor::{Tensor, ops};

fn random(shape: &[usize], seed: u64, scale: f64, offset: f64) -> Tensor {
    let mut rng = SplitMix64::new(seed);
    let n = shape.iter().product();
    Tensor::from_vec(
        (0..n)
            .map(|_| (rng.next_normal() * scale + offset) as f32)
            .collect(),
        shape,
    )
    .unwrap()
}

/// conv -> BN + residual + ReLU (fused) -> BN -> resize, beside global average pooling
/// resized back, concatenated -> 1x1 conv -> loss: every new tape operation on one path.
struct Net {
    conv: Conv2d,
    bn1: BatchNorm2d,
    bn2: BatchNorm2d,
    score: Conv2d,
}

impl Net {
    fn new() -> Self {
        let mut conv = Conv2d::new(
            "conv",
            2,
            4,
            3,
            ops::Conv2d::padded(1),
            Init::Normal(0.5),
            1,
        )
        .unwrap();
        conv.bias.as_mut().unwrap().value = random(&[4], 2, 0.3, 0.0);
        let mut bn1 = BatchNorm2d::new("bn1", 4, BatchNorm::default()).unwrap();
        bn1.weight.as_mut().unwrap().value = random(&[4], 3, 0.3, 1.0);
        bn1.bias.as_mut().unwrap().value = random(&[4], 4, 0.3, 0.2);
        let mut bn2 = BatchNorm2d::new("bn2", 4, BatchNorm::default()).unwrap();
        bn2.weight.as_mut().unwrap().value = random(&[4], 5, 0.3, 1.0);
        bn2.bias.as_mut().unwrap().value = random(&[4], 6, 0.3, 0.0);
        let score = Conv2d::new(
            "score",
            8,
            3,
            1,
            ops::Conv2d::default(),
            Init::Normal(0.5),
            7,
        )
        .unwrap();
        Self {
            conv,
            bn1,
            bn2,
            score,
        }
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v = vec![&mut self.conv.weight];
        v.push(self.conv.bias.as_mut().unwrap());
        v.push(self.bn1.weight.as_mut().unwrap());
        v.push(self.bn1.bias.as_mut().unwrap());
        v.push(self.bn2.weight.as_mut().unwrap());
        v.push(self.bn2.bias.as_mut().unwrap());
        v.push(&mut self.score.weight);
        v
    }

    fn loss(&self, tape: &mut Tape, x: &Var, target: &[i64], mode: Mode) -> Var {
        let a = self.conv.forward(tape, x).unwrap();
        let b = self.bn1.forward_relu(tape, &a, mode, Some(&a)).unwrap();
        let c = self.bn2.forward(tape, &b, mode).unwrap();
        let d = tape.resize_bilinear(&c, [9, 7], false).unwrap();
        let pooled = tape.global_avg_pool2d(&c).unwrap();
        let broadcast = tape.resize_bilinear(&pooled, [9, 7], true).unwrap();
        let e = tape.concat_channels(&[&d, &broadcast]).unwrap();
        let logits = self.score.forward(tape, &e).unwrap();
        tape.softmax_cross_entropy(&logits, target, 255, None, Reduction::Mean)
            .unwrap()
    }
}

fn gradients_match_finite_differences(mode: Mode) {
    let mut net = Net::new();
    let input = random(&[2, 2, 6, 5], 8, 1.0, 0.3);
    let mut rng = SplitMix64::new(9);
    let target: Vec<i64> = (0..2 * 63)
        .map(|i| {
            if i % 13 == 0 {
                255
            } else {
                (rng.next_u64() % 3) as i64
            }
        })
        .collect();
    if mode == Mode::Eval {
        // Running statistics away from the start, so that evaluation differs from training.
        for bn in [&mut net.bn1, &mut net.bn2] {
            bn.visit_buffers_mut(&mut |b| match &mut b.value {
                BufferValue::Float(t) if b.name.ends_with("mean") => {
                    *t = random(&[4], 10, 0.5, 0.0)
                }
                BufferValue::Float(t) => *t = random(&[4], 11, 0.2, 1.0),
                BufferValue::Count(_) => {}
            });
        }
    }
    let mut tape = Tape::new();
    let x = tape.constant(input.clone());
    let loss = net.loss(&mut tape, &x, &target, mode);
    let grads = tape.backward(&loss).unwrap();
    let analytic: Vec<Vec<f32>> = net
        .params_mut()
        .iter()
        .map(|p| grads.get(p).unwrap().data().to_vec())
        .collect();
    let eval = |net: &Net| {
        let mut tape = Tape::inference();
        let x = tape.constant(input.clone());
        f64::from(net.loss(&mut tape, &x, &target, mode).value().data()[0])
    };
    // Small: with running statistics some pre-activations sit within 1e-3 of the ReLU's kink.
    let eps = 1e-4f32;
    let mut compared = 0;
    for (pi, grad) in analytic.iter().enumerate() {
        for i in (0..grad.len()).step_by(grad.len() / 8 + 1) {
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
                "{mode:?} parameter {pi} value {i}: analytic {a}, numeric {numeric}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 25, "{compared}");
}

#[test]
fn gradients_through_batch_statistics_match_finite_differences() {
    gradients_match_finite_differences(Mode::Train { seed: 1 });
}

#[test]
fn gradients_through_running_statistics_match_finite_differences() {
    gradients_match_finite_differences(Mode::Eval);
}

#[test]
fn training_updates_running_statistics_and_evaluation_uses_them() {
    let bn = BatchNorm2d::new(
        "layer1.0.bn1",
        3,
        BatchNorm {
            eps: 1e-5,
            momentum: 0.25,
        },
    )
    .unwrap();
    // Parameters are the affine pair only; buffers carry PyTorch's names, in its order.
    let names: Vec<&str> = bn.params().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["layer1.0.bn1.weight", "layer1.0.bn1.bias"]);
    let buffers = bn.buffers();
    let names: Vec<&str> = buffers.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "layer1.0.bn1.running_mean",
            "layer1.0.bn1.running_var",
            "layer1.0.bn1.num_batches_tracked"
        ]
    );
    assert_eq!(buffers[2].value, BufferValue::Count(0));

    let x1 = random(&[4, 3, 5, 5], 20, 2.0, 1.0);
    let x2 = random(&[4, 3, 5, 5], 21, 0.5, -1.0);
    let mut expected_rm = Tensor::zeros(&[3]);
    let mut expected_rv = Tensor::full(&[3], 1.0);
    for (step, x) in [&x1, &x2].into_iter().enumerate() {
        let mut tape = Tape::new();
        let v = tape.constant(x.clone());
        let y = bn.forward(&mut tape, &v, Mode::Train { seed: 0 }).unwrap();
        let reference = ops::batch_norm2d(
            x,
            None,
            None,
            Some((&expected_rm, &expected_rv)),
            Statistics::Batch,
            &bn.config,
        )
        .unwrap();
        assert_eq!(y.value(), &reference.output);
        expected_rm = reference.running_mean.unwrap();
        expected_rv = reference.running_var.unwrap();
        assert_eq!(bn.running_mean().unwrap(), expected_rm);
        assert_eq!(bn.running_var().unwrap(), expected_rv);
        assert_eq!(bn.num_batches_tracked(), step as i64 + 1);
    }
    // Evaluation normalises with the running statistics and leaves them alone.
    let mut tape = Tape::inference();
    let v = tape.constant(x1.clone());
    let y = bn.forward(&mut tape, &v, Mode::Eval).unwrap();
    let reference = ops::batch_norm2d(
        &x1,
        None,
        None,
        Some((&expected_rm, &expected_rv)),
        Statistics::Running,
        &bn.config,
    )
    .unwrap();
    assert_eq!(y.value(), &reference.output);
    assert_eq!(bn.num_batches_tracked(), 2);
    assert_eq!(bn.running_mean().unwrap(), expected_rm);
    // A clone carries the buffers; moving buffers to the CPU keeps them.
    let mut copy = bn.clone();
    copy.buffers_to_device(Device::Cpu).unwrap();
    assert_eq!(copy.buffers(), bn.buffers());
}

#[test]
fn layers_without_affine_and_misuse() {
    let bn = BatchNorm2d::new("bn", 2, BatchNorm::default())
        .unwrap()
        .without_affine();
    assert!(bn.params().is_empty());
    let mut tape = Tape::new();
    let x = tape.constant(random(&[2, 2, 3, 3], 30, 1.0, 0.0));
    let y = bn.forward(&mut tape, &x, Mode::Train { seed: 0 }).unwrap();
    // Nothing trainable upstream: nothing recorded.
    assert!(!y.requires_grad());
    assert!(tape.is_empty());
    assert!(BatchNorm2d::new("bn", 0, BatchNorm::default()).is_err());
    // A buffer replaced by a count is an error value, not a panic.
    let mut broken = BatchNorm2d::new("bn", 2, BatchNorm::default()).unwrap();
    broken.visit_buffers_mut(&mut |b| b.value = BufferValue::Count(1));
    assert!(broken.forward(&mut tape, &x, Mode::Eval).is_err());
    // One value per channel cannot give batch statistics.
    let one = tape.constant(Tensor::zeros(&[1, 2, 1, 1]));
    assert!(
        bn.forward(&mut tape, &one, Mode::Train { seed: 0 })
            .is_err()
    );
}
