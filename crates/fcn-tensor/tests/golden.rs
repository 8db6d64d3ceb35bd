//! Every operation against PyTorch, forward and backward: `golden/make_golden.py` wrote the
//! inputs, outputs and gradients into `golden/golden.safetensors`.

use std::collections::BTreeMap;

use fcn_tensor::Tensor;
use fcn_tensor::ops::{self, Conv2d, ConvTranspose2d, Pool2d, Reduction};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

const GOLDEN: &[u8] = include_bytes!("golden/golden.safetensors");

pub(crate) struct Golden<'a> {
    file: SafeTensors<'a>,
    cases: BTreeMap<String, Value>,
}

fn golden() -> Golden<'static> {
    load(GOLDEN)
}

/// The cases of a golden file written by one of the scripts in `golden/`.
pub(crate) fn load(bytes: &'static [u8]) -> Golden<'static> {
    let (_, metadata) = SafeTensors::read_metadata(bytes).unwrap();
    let cases = metadata
        .metadata()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap()))
        .collect();
    Golden {
        file: SafeTensors::deserialize(bytes).unwrap(),
        cases,
    }
}

impl Golden<'_> {
    pub(crate) fn cases(&self, op: &str) -> Vec<(String, Value)> {
        let found: Vec<_> = self
            .cases
            .iter()
            .filter(|(_, v)| v["op"] == op)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(!found.is_empty(), "no golden cases for {op}");
        found
    }

    pub(crate) fn has(&self, case: &str, name: &str) -> bool {
        self.file.tensor(&format!("{case}.{name}")).is_ok()
    }

    pub(crate) fn tensor(&self, case: &str, name: &str) -> Tensor {
        let view = self.file.tensor(&format!("{case}.{name}")).unwrap();
        assert_eq!(view.dtype(), Dtype::F32, "{case}.{name}");
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Tensor::from_vec(data, view.shape()).unwrap()
    }

    fn ints(&self, case: &str, name: &str) -> Vec<i64> {
        let view = self.file.tensor(&format!("{case}.{name}")).unwrap();
        assert_eq!(view.dtype(), Dtype::I64, "{case}.{name}");
        view.data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }
}

/// Same shape, and every value within `atol + rtol * |reference|` (sums run in another order).
#[track_caller]
fn assert_close(ours: &Tensor, reference: &Tensor, what: &str) {
    const RTOL: f32 = 1e-4;
    const ATOL: f32 = 1e-5;
    assert_eq!(ours.shape(), reference.shape(), "{what}: shape");
    for (i, (&a, &b)) in ours.data().iter().zip(reference.data()).enumerate() {
        assert!(
            (a - b).abs() <= ATOL + RTOL * b.abs(),
            "{what}[{i}]: ours {a}, PyTorch {b}"
        );
    }
}

fn pair(v: &Value, key: &str) -> [usize; 2] {
    let a = v[key].as_array().unwrap_or_else(|| panic!("{key}"));
    [
        a[0].as_u64().unwrap() as usize,
        a[1].as_u64().unwrap() as usize,
    ]
}

#[test]
fn matmul_forward_and_backward() {
    let g = golden();
    for (case, _) in g.cases("matmul") {
        let (a, b) = (g.tensor(&case, "a"), g.tensor(&case, "b"));
        assert_close(&ops::matmul(&a, &b).unwrap(), &g.tensor(&case, "y"), &case);
        let (ga, gb) = ops::matmul_backward(&a, &b, &g.tensor(&case, "gy")).unwrap();
        assert_close(&ga, &g.tensor(&case, "ga"), &format!("{case} ga"));
        assert_close(&gb, &g.tensor(&case, "gb"), &format!("{case} gb"));
    }
}

#[test]
fn conv2d_forward_and_backward() {
    let g = golden();
    for (case, p) in g.cases("conv2d") {
        let params = Conv2d {
            stride: pair(&p, "stride"),
            padding: pair(&p, "padding"),
            dilation: pair(&p, "dilation"),
            groups: p["groups"].as_u64().unwrap() as usize,
        };
        let (x, w) = (g.tensor(&case, "x"), g.tensor(&case, "w"));
        let with_bias = p["has_bias"].as_bool().unwrap();
        let bias = with_bias.then(|| g.tensor(&case, "b"));
        let y = ops::conv2d(&x, &w, bias.as_ref(), &params).unwrap();
        assert_close(&y, &g.tensor(&case, "y"), &case);
        let grads =
            ops::conv2d_backward(&x, &w, &g.tensor(&case, "gy"), &params, with_bias).unwrap();
        assert_close(&grads.input, &g.tensor(&case, "gx"), &format!("{case} gx"));
        assert_close(&grads.weight, &g.tensor(&case, "gw"), &format!("{case} gw"));
        assert_eq!(grads.bias.is_some(), g.has(&case, "gb"));
        if let Some(gb) = grads.bias {
            assert_close(&gb, &g.tensor(&case, "gb"), &format!("{case} gb"));
        }
    }
}

#[test]
fn conv_transpose2d_forward_and_backward() {
    let g = golden();
    for (case, p) in g.cases("conv_transpose2d") {
        let params = ConvTranspose2d {
            stride: pair(&p, "stride"),
            padding: pair(&p, "padding"),
            output_padding: pair(&p, "output_padding"),
            dilation: pair(&p, "dilation"),
            groups: p["groups"].as_u64().unwrap() as usize,
        };
        let (x, w) = (g.tensor(&case, "x"), g.tensor(&case, "w"));
        let with_bias = p["has_bias"].as_bool().unwrap();
        let bias = with_bias.then(|| g.tensor(&case, "b"));
        let y = ops::conv_transpose2d(&x, &w, bias.as_ref(), &params).unwrap();
        assert_close(&y, &g.tensor(&case, "y"), &case);
        let grads =
            ops::conv_transpose2d_backward(&x, &w, &g.tensor(&case, "gy"), &params, with_bias)
                .unwrap();
        assert_close(&grads.input, &g.tensor(&case, "gx"), &format!("{case} gx"));
        assert_close(&grads.weight, &g.tensor(&case, "gw"), &format!("{case} gw"));
        if let Some(gb) = grads.bias {
            assert_close(&gb, &g.tensor(&case, "gb"), &format!("{case} gb"));
        }
    }
}

#[test]
fn max_pool2d_values_indices_and_gradient() {
    let g = golden();
    for (case, p) in g.cases("max_pool2d") {
        let params = Pool2d {
            kernel: pair(&p, "kernel"),
            stride: pair(&p, "stride"),
            padding: pair(&p, "padding"),
            ceil_mode: p["ceil_mode"].as_bool().unwrap(),
        };
        let x = g.tensor(&case, "x");
        let pooled = ops::max_pool2d(&x, &params).unwrap();
        assert_eq!(
            pooled.output,
            g.tensor(&case, "y"),
            "{case}: a max is exact"
        );
        let indices: Vec<i64> = pooled.indices.iter().map(|&i| i64::from(i)).collect();
        assert_eq!(indices, g.ints(&case, "indices"), "{case}: indices");
        let gx = ops::max_pool2d_backward(&g.tensor(&case, "gy"), &pooled).unwrap();
        assert_close(&gx, &g.tensor(&case, "gx"), &format!("{case} gx"));
    }
}

#[test]
fn elementwise_ops() {
    let g = golden();
    for (case, _) in g.cases("relu") {
        let y = ops::relu(&g.tensor(&case, "x")).unwrap();
        assert_eq!(y, g.tensor(&case, "y"));
        assert_eq!(
            ops::relu_backward(&g.tensor(&case, "gy"), &y).unwrap(),
            g.tensor(&case, "gx")
        );
    }
    for (case, _) in g.cases("add") {
        let y = ops::add(&g.tensor(&case, "a"), &g.tensor(&case, "b")).unwrap();
        assert_eq!(y, g.tensor(&case, "y"));
    }
    for (case, p) in g.cases("scale") {
        let factor = p["factor"].as_f64().unwrap() as f32;
        assert_eq!(
            ops::scale(&g.tensor(&case, "x"), factor).unwrap(),
            g.tensor(&case, "y")
        );
        assert_eq!(
            ops::scale(&g.tensor(&case, "gy"), factor).unwrap(),
            g.tensor(&case, "gx")
        );
    }
    for (case, p) in g.cases("crop") {
        let x = g.tensor(&case, "x");
        let (offset, size) = (pair(&p, "offset"), pair(&p, "size"));
        assert_eq!(ops::crop(&x, offset, size).unwrap(), g.tensor(&case, "y"));
        let gx = ops::crop_backward(&g.tensor(&case, "gy"), x.shape(), offset).unwrap();
        assert_eq!(gx, g.tensor(&case, "gx"));
    }
    for (case, _) in g.cases("argmax_channels") {
        let labels: Vec<i64> = ops::argmax_channels(&g.tensor(&case, "x"))
            .unwrap()
            .into_iter()
            .map(i64::from)
            .collect();
        assert_eq!(labels, g.ints(&case, "y"), "{case}");
    }
}

#[test]
fn softmax_cross_entropy_loss_and_gradient() {
    let g = golden();
    for (case, p) in g.cases("softmax_cross_entropy") {
        let reduction = match p["reduction"].as_str().unwrap() {
            "mean" => Reduction::Mean,
            "sum_over_batch" => Reduction::SumOverBatch,
            other => panic!("{other}"),
        };
        let weight: Option<Vec<f32>> = p["weight"]
            .as_array()
            .map(|w| w.iter().map(|v| v.as_f64().unwrap() as f32).collect());
        let ignore = p["ignore_index"].as_i64().unwrap();
        let out = ops::softmax_cross_entropy(
            &g.tensor(&case, "x"),
            &g.ints(&case, "target"),
            ignore,
            weight.as_deref(),
            reduction,
        )
        .unwrap();
        let loss = g.tensor(&case, "loss").data()[0];
        assert!(
            (out.loss - loss).abs() <= 1e-5 * loss.abs().max(1.0),
            "{case}: ours {}, PyTorch {loss}",
            out.loss
        );
        assert_close(&out.grad, &g.tensor(&case, "gx"), &format!("{case} gx"));
    }
}
