//! State dicts with buffers: a conv + BatchNorm2d module trained a little, saved and loaded
//! back bit for bit; files written by hand and by PyTorch (int64 `num_batches_tracked`);
//! mismatches that name the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fcn_core::{
    BatchNorm, BatchNorm2d, Buffer, Buffers, Conv2d, CoreError, Init, Mode, Module, Optimizer,
    Param, Reduction, Sgd, SplitMix64, StateDict, Strictness, Tape, load_state_dict_with_buffers,
    parse_state_dict, read_state_dict, save_state_dict, state_dict_bytes, state_dict_with_buffers,
};
use fcn_tensor::{Tensor, ops};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

fn random(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = SplitMix64::new(seed);
    let n = shape.iter().product();
    Tensor::from_vec((0..n).map(|_| rng.next_normal() as f32).collect(), shape).unwrap()
}

/// `torch.nn.Sequential(Conv2d(3, 4, 3, padding=1), BatchNorm2d(4))`, with its names.
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm2d,
}

impl ConvBn {
    fn new(seed: u64) -> Self {
        let conv = Conv2d::new(
            "0",
            3,
            4,
            3,
            ops::Conv2d::padded(1),
            Init::Normal(0.5),
            seed,
        )
        .unwrap();
        let bn = BatchNorm2d::new("1", 4, BatchNorm::default()).unwrap();
        Self { conv, bn }
    }

    fn forward(&self, tape: &mut Tape, x: &Tensor, mode: Mode) -> fcn_core::Var {
        let x = tape.constant(x.clone());
        let y = self.conv.forward(tape, &x).unwrap();
        self.bn.forward(tape, &y, mode).unwrap()
    }

    fn eval(&self, x: &Tensor) -> Tensor {
        let mut tape = Tape::inference();
        self.forward(&mut tape, x, Mode::Eval).value().clone()
    }
}

impl Module for ConvBn {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        self.conv.visit_params(f);
        self.bn.visit_params(f);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.conv.visit_params_mut(f);
        self.bn.visit_params_mut(f);
    }
}

impl Buffers for ConvBn {
    fn visit_buffers(&self, f: &mut dyn FnMut(&Buffer)) {
        self.bn.visit_buffers(f);
    }
    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&mut Buffer)) {
        self.bn.visit_buffers_mut(f);
    }
}

/// A module after two SGD steps in training mode: parameters, running statistics and the
/// counter all away from their start.
fn trained() -> ConvBn {
    let mut model = ConvBn::new(1);
    let mut sgd = Sgd::new(0.9, 0.0).unwrap();
    for step in 0..2u64 {
        let x = random(&[2, 3, 5, 5], 10 + step);
        let mut rng = SplitMix64::new(20 + step);
        let target: Vec<i64> = (0..50).map(|_| (rng.next_u64() % 4) as i64).collect();
        let mut tape = Tape::new();
        let logits = model.forward(&mut tape, &x, Mode::Train { seed: step });
        let loss = tape
            .softmax_cross_entropy(&logits, &target, 255, None, Reduction::Mean)
            .unwrap();
        let grads = tape.backward(&loss).unwrap();
        sgd.step(&mut model, &grads, 0.1).unwrap();
    }
    assert_eq!(model.bn.num_batches_tracked(), 2);
    assert_ne!(model.bn.running_mean().unwrap(), Tensor::zeros(&[4]));
    model
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect()
}

fn same_state(a: &ConvBn, b: &ConvBn) {
    let (a, b) = (state_dict_with_buffers(a), state_dict_with_buffers(b));
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>()
    );
    for (name, t) in &a.tensors {
        assert_eq!(t.shape(), b.tensors[name].shape(), "{name}");
        assert_eq!(bits(t), bits(&b.tensors[name]), "{name}");
    }
    assert_eq!(a.counts, b.counts);
}

fn mismatch_problems(error: CoreError) -> Vec<String> {
    match error {
        CoreError::WeightsMismatch { problems, .. } => problems,
        other => panic!("expected a mismatch, got {other}"),
    }
}

/// Safetensors bytes written directly with the safetensors crate.
fn handmade(entries: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(&str, TensorView<'_>)> = entries
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                *name,
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn f32_bytes(t: &Tensor) -> Vec<u8> {
    t.to_vec()
        .unwrap()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// The trained module's state as PyTorch would write it, the counter with `counter`'s dtype
/// and bytes; `skip` leaves one name out.
fn pytorch_style(
    model: &ConvBn,
    counter: (Dtype, Vec<usize>, Vec<u8>),
    skip: Option<&str>,
) -> Vec<u8> {
    let state = state_dict_with_buffers(model);
    let mut entries: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = state
        .tensors
        .iter()
        .map(|(name, t)| (name.as_str(), Dtype::F32, t.shape().to_vec(), f32_bytes(t)))
        .collect();
    entries.push(("1.num_batches_tracked", counter.0, counter.1, counter.2));
    entries.retain(|e| Some(e.0) != skip);
    handmade(&entries)
}

#[test]
fn trained_state_round_trips_bit_for_bit() {
    let model = trained();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("convbn.safetensors");
    let metadata = BTreeMap::from([("note".to_owned(), "conv+bn".to_owned())]);
    save_state_dict(&model, &metadata, &path).unwrap();

    // PyTorch's names and dtypes on disk: f32 statistics, a 0-dimensional int64 counter.
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(
        names,
        [
            "0.bias",
            "0.weight",
            "1.bias",
            "1.num_batches_tracked",
            "1.running_mean",
            "1.running_var",
            "1.weight"
        ]
    );
    let counter = file.tensor("1.num_batches_tracked").unwrap();
    assert_eq!(counter.dtype(), Dtype::I64);
    assert!(counter.shape().is_empty());
    assert_eq!(counter.data(), 2i64.to_le_bytes());
    assert_eq!(file.tensor("1.running_var").unwrap().dtype(), Dtype::F32);

    let state = read_state_dict(&path).unwrap();
    assert_eq!(state.metadata, metadata);
    let mut fresh = ConvBn::new(99);
    let report =
        load_state_dict_with_buffers(&mut fresh, &state, Strictness::Strict, &path).unwrap();
    assert_eq!(report.loaded.len(), 7);
    assert!(report.missing.is_empty() && report.unexpected.is_empty());
    same_state(&model, &fresh);
    let x = random(&[2, 3, 5, 5], 30);
    assert_eq!(bits(&model.eval(&x)), bits(&fresh.eval(&x)));
}

#[test]
fn handwritten_pytorch_names_load_with_i64_or_i32_counters() {
    let model = trained();
    let path = Path::new("<handmade>");
    for counter in [
        (Dtype::I64, vec![], 2i64.to_le_bytes().to_vec()),
        (Dtype::I64, vec![1], 2i64.to_le_bytes().to_vec()),
        (Dtype::I32, vec![], 2i32.to_le_bytes().to_vec()),
    ] {
        let bytes = pytorch_style(&model, counter.clone(), None);
        let state = parse_state_dict(&bytes, path).unwrap();
        assert_eq!(state.counts["1.num_batches_tracked"], 2, "{counter:?}");
        let mut fresh = ConvBn::new(5);
        load_state_dict_with_buffers(&mut fresh, &state, Strictness::Strict, path).unwrap();
        same_state(&model, &fresh);
    }
    // Half-precision statistics load as f32, like parameters.
    let mean: Vec<u8> = model
        .bn
        .running_mean()
        .unwrap()
        .to_vec()
        .unwrap()
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect();
    let state = parse_state_dict(
        &handmade(&[("1.running_mean", Dtype::F16, vec![4], mean)]),
        path,
    )
    .unwrap();
    assert_eq!(state.tensors["1.running_mean"].shape(), [4]);
}

#[test]
fn mismatches_name_the_key_and_change_nothing() {
    let model = trained();
    let path = Path::new("<handmade>");
    let count = || (Dtype::I64, vec![], 2i64.to_le_bytes().to_vec());
    let load = |bytes: &[u8], strictness| {
        let state = parse_state_dict(bytes, path)?;
        let mut fresh = ConvBn::new(5);
        let before = state_dict_with_buffers(&fresh);
        let result = load_state_dict_with_buffers(&mut fresh, &state, strictness, path);
        if result.is_err() {
            assert_eq!(
                state_dict_with_buffers(&fresh),
                before,
                "a failed load changed state"
            );
        }
        result
    };

    // A float counter.
    let float_counter = pytorch_style(
        &model,
        (Dtype::F32, vec![], 2f32.to_le_bytes().to_vec()),
        None,
    );
    let problems = mismatch_problems(load(&float_counter, Strictness::Strict).unwrap_err());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("1.num_batches_tracked: "),
        "{problems:?}"
    );
    assert!(problems[0].contains("int64 counter"), "{problems:?}");

    // A counter with several values, and an unsupported dtype.
    let wide = pytorch_style(&model, (Dtype::I64, vec![2], vec![0; 16]), None);
    let message = load(&wide, Strictness::Strict).unwrap_err().to_string();
    assert!(
        message.contains("1.num_batches_tracked") && message.contains("[2]"),
        "{message}"
    );
    let byte = pytorch_style(&model, (Dtype::U8, vec![], vec![2]), None);
    match load(&byte, Strictness::Strict).unwrap_err() {
        CoreError::WeightsDtype { name, .. } => assert_eq!(name, "1.num_batches_tracked"),
        other => panic!("{other}"),
    }

    // A missing buffer: an error when strict, listed when partial.
    let missing = pytorch_style(&model, count(), Some("1.running_var"));
    let problems = mismatch_problems(load(&missing, Strictness::Strict).unwrap_err());
    assert_eq!(problems, ["missing 1.running_var [4]"]);
    let report = load(&missing, Strictness::Partial).unwrap();
    assert_eq!(report.missing, ["1.running_var"]);
    let no_counter = pytorch_style(&model, count(), Some("1.num_batches_tracked"));
    let problems = mismatch_problems(load(&no_counter, Strictness::Strict).unwrap_err());
    assert_eq!(problems, ["missing 1.num_batches_tracked (int64 counter)"]);

    // A wrong shape, and an extra name beside it: both reported.
    let mut state = state_dict_with_buffers(&model);
    state
        .tensors
        .insert("1.running_mean".into(), Tensor::zeros(&[5]));
    state
        .tensors
        .insert("fc.weight".into(), Tensor::zeros(&[2, 2]));
    state.counts.insert("2.num_batches_tracked".into(), 1);
    let bytes = state_dict_bytes(&state).unwrap();
    let problems = mismatch_problems(load(&bytes, Strictness::Strict).unwrap_err());
    assert_eq!(
        problems,
        [
            "1.running_mean: the file has shape [5], the model needs [4]",
            "unexpected 2.num_batches_tracked",
            "unexpected fc.weight",
        ]
    );
    // With the shape right, partial loading loads everything and lists the extras.
    state
        .tensors
        .insert("1.running_mean".into(), Tensor::zeros(&[4]));
    let bytes = state_dict_bytes(&state).unwrap();
    let report = load(&bytes, Strictness::Partial).unwrap();
    assert_eq!(report.unexpected, ["2.num_batches_tracked", "fc.weight"]);
    assert_eq!(report.loaded.len(), 7);

    // A counter where float statistics belong.
    let mut state = state_dict_with_buffers(&model);
    state.tensors.remove("1.running_var");
    state.counts.insert("1.running_var".into(), 3);
    let problems = mismatch_problems(
        load_state_dict_with_buffers(&mut ConvBn::new(5), &state, Strictness::Strict, path)
            .unwrap_err(),
    );
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("1.running_var: the file has an integer counter"));

    // One name as both a tensor and a counter cannot be written.
    let mut both = StateDict::default();
    both.tensors.insert("x".into(), Tensor::zeros(&[1]));
    both.counts.insert("x".into(), 1);
    assert!(state_dict_bytes(&both).is_err());
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/batch_norm_state.safetensors")
}

#[test]
fn pytorch_state_dict_loads_and_matches_eval_output() {
    let path = golden();
    let mut state = read_state_dict(&path).unwrap();
    let input = state.tensors.remove("input").unwrap();
    let expected = state.tensors.remove("output").unwrap();
    assert_eq!(state.counts["1.num_batches_tracked"], 7);
    let mut model = ConvBn::new(3);
    load_state_dict_with_buffers(&mut model, &state, Strictness::Strict, &path).unwrap();
    assert_eq!(model.bn.num_batches_tracked(), 7);
    let found = model.eval(&input);
    assert_eq!(found.shape(), expected.shape());
    let (found, expected) = (found.to_vec().unwrap(), expected.to_vec().unwrap());
    for (i, (f, e)) in found.iter().zip(&expected).enumerate() {
        assert!(
            (f - e).abs() <= 1e-5 * e.abs().max(1.0),
            "output {i}: {f} vs PyTorch {e}"
        );
    }
    // Saved again, the file keeps PyTorch's names and the int64 counter.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again.safetensors");
    save_state_dict(&model, &BTreeMap::new(), &again).unwrap();
    assert_eq!(read_state_dict(&again).unwrap().tensors, state.tensors);
    assert_eq!(read_state_dict(&again).unwrap().counts, state.counts);
}

/// With the `cuda` feature and a GPU: parameters and buffers on `cuda:0` are downloaded to
/// save and uploaded to load (a model on the device stays there). Without a GPU it prints why
/// and passes.
#[cfg(feature = "cuda")]
#[test]
fn state_on_cuda_saves_and_loads() {
    use fcn_core::Device;
    let device = Device::Cuda(0);
    let to_cuda = |model: &mut ConvBn| -> Result<(), CoreError> {
        let mut error = None;
        model.visit_params_mut(&mut |p| match p.value.to_device(device) {
            Ok(t) => p.value = t,
            Err(e) => {
                error.get_or_insert(e);
            }
        });
        match error {
            Some(e) => Err(e.into()),
            None => model.buffers_to_device(device),
        }
    };
    let model = trained();
    let mut on_gpu = trained();
    if let Err(e) = to_cuda(&mut on_gpu) {
        eprintln!("skipping CUDA: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cuda.safetensors");
    save_state_dict(&on_gpu, &BTreeMap::new(), &path).unwrap();
    let mut fresh = ConvBn::new(8);
    to_cuda(&mut fresh).unwrap();
    let state = read_state_dict(&path).unwrap();
    load_state_dict_with_buffers(&mut fresh, &state, Strictness::Strict, &path).unwrap();
    fresh.visit_params(&mut |p| assert_eq!(p.value.device(), device, "{}", p.name));
    fresh.visit_buffers(&mut |b| {
        if let Some(t) = b.tensor() {
            assert_eq!(t.device(), device, "{}", b.name);
        }
    });
    same_state(&model, &fresh);
}
