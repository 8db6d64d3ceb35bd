//! Weights on disk as safetensors, named as the PyTorch `state_dict` of
//! `wkentaro/pytorch-fcn`, so a model trained in PyTorch runs here and back.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use fcn_tensor::{Device, Tensor};
use safetensors::{Dtype, SafeTensors};

use crate::buffer::{BufferValue, Buffers};
use crate::error::{CoreError, Result};
use crate::models::{Arch, Fcn, FcnConfig};
use crate::param::Module;

/// Named tensors read from a file, with the file's free-form metadata.
#[derive(Debug, Clone, Default)]
pub struct NamedTensors {
    /// Tensors by name, as f32 on the CPU.
    pub tensors: BTreeMap<String, Tensor>,
    /// The `__metadata__` strings.
    pub metadata: BTreeMap<String, String>,
}

/// Reads a safetensors file (F32, F16, BF16 or F64 tensors, converted to f32).
pub fn read_safetensors(path: &Path) -> Result<NamedTensors> {
    let bytes = std::fs::read(path).map_err(|source| CoreError::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    })?;
    parse_safetensors(&bytes, path)
}

/// Parses safetensors bytes; `path` only names them in errors.
pub fn parse_safetensors(bytes: &[u8], path: &Path) -> Result<NamedTensors> {
    let metadata = header_metadata(bytes, path)?;
    let file = deserialize(bytes, path)?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.iter() {
        let Some(values) = float_values(&view) else {
            return Err(CoreError::WeightsDtype {
                path: path.to_owned(),
                name: name.to_owned(),
                dtype: format!("{:?}", view.dtype()),
            });
        };
        tensors.insert(name.to_owned(), Tensor::from_vec(values, view.shape())?);
    }
    Ok(NamedTensors { tensors, metadata })
}

/// The parsed file, with this crate's error.
fn deserialize<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|source| CoreError::Safetensors {
        path: path.to_owned(),
        source,
    })
}

/// The metadata strings of a safetensors header.
fn header_metadata(bytes: &[u8], path: &Path) -> Result<BTreeMap<String, String>> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|source| CoreError::Safetensors {
            path: path.to_owned(),
            source,
        })?;
    Ok(header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// A tensor's values as f32 (from F32, F16, BF16 or F64), `None` for any other dtype.
fn float_values(view: &safetensors::tensor::TensorView<'_>) -> Option<Vec<f32>> {
    let data = view.data();
    Some(match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                f64::from_le_bytes(a) as f32
            })
            .collect(),
        _ => return None,
    })
}

/// A one-element I64 or I32 tensor's value (a counter such as `num_batches_tracked`), `None`
/// for any other dtype or element count.
fn count_value(view: &safetensors::tensor::TensorView<'_>) -> Option<i64> {
    let data = view.data();
    match view.dtype() {
        Dtype::I64 => {
            let b: [u8; 8] = data.try_into().ok()?;
            Some(i64::from_le_bytes(b))
        }
        Dtype::I32 => {
            let b: [u8; 4] = data.try_into().ok()?;
            Some(i64::from(i32::from_le_bytes(b)))
        }
        _ => None,
    }
}

/// Serialises named tensors (downloaded to the CPU if needed) with metadata.
pub fn safetensors_bytes(
    tensors: &BTreeMap<String, Tensor>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    serialize(host_f32(tensors)?, metadata)
}

/// One tensor ready to serialise: name, dtype, shape, little-endian bytes.
type HostTensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// Float tensors as F32 bytes, downloaded from their device.
fn host_f32(tensors: &BTreeMap<String, Tensor>) -> Result<Vec<HostTensor>> {
    tensors
        .iter()
        .map(|(name, t)| {
            let values = t.to_vec()?;
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok((name.clone(), Dtype::F32, t.shape().to_vec(), bytes))
        })
        .collect()
}

fn serialize(host: Vec<HostTensor>, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let in_memory = |source| CoreError::Safetensors {
        path: PathBuf::from("<memory>"),
        source,
    };
    let views = host
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(in_memory)?;
    let info: HashMap<String, String> = metadata.clone().into_iter().collect();
    safetensors::serialize(views, Some(info)).map_err(in_memory)
}

/// Writes `bytes` to `path` atomically ([`fcn_common::write_atomically`]: a synced temporary
/// file in the same directory renamed over the target), with this crate's error type.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    fcn_common::write_atomically(path, bytes).map_err(|source| CoreError::Io {
        action: "cannot write",
        path: path.to_owned(),
        source,
    })
}

/// The parameters of a module by name.
pub fn state_dict(module: &impl Module) -> BTreeMap<String, Tensor> {
    let mut out = BTreeMap::new();
    module.visit_params(&mut |p| {
        out.insert(p.name.clone(), p.value.clone());
    });
    out
}

/// How strictly [`load_state_dict`] matches names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Every parameter present, nothing else in the file (PyTorch's `strict=True`).
    Strict,
    /// Load what matches by name; parameters absent from the file keep their values, extra
    /// tensors are skipped. Shapes must still agree (staged initialisation).
    Partial,
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Parameters (and buffers) set from the file.
    pub loaded: Vec<String>,
    /// Parameters (and buffers) the file lacked (only with [`Strictness::Partial`]).
    pub missing: Vec<String>,
    /// Tensors in the file with no parameter or buffer (only with [`Strictness::Partial`]).
    pub unexpected: Vec<String>,
}

/// Sets a module's parameters from named tensors, moved to each parameter's device. Any
/// problem (missing, unexpected, mis-shaped) is reported together, and nothing is changed.
pub fn load_state_dict(
    module: &mut impl Module,
    tensors: &BTreeMap<String, Tensor>,
    strictness: Strictness,
    source: &Path,
) -> Result<LoadReport> {
    let mut problems = Vec::new();
    let mut report = LoadReport::default();
    let mut known = Vec::new();
    module.visit_params(&mut |p| {
        known.push(p.name.clone());
        match tensors.get(&p.name) {
            Some(t) if t.shape() == p.shape() => report.loaded.push(p.name.clone()),
            Some(t) => problems.push(format!(
                "{}: the file has shape {:?}, the model needs {:?}",
                p.name,
                t.shape(),
                p.shape()
            )),
            None if strictness == Strictness::Strict => {
                problems.push(format!("missing {} {:?}", p.name, p.shape()));
            }
            None => report.missing.push(p.name.clone()),
        }
    });
    for name in tensors.keys() {
        if !known.contains(name) {
            if strictness == Strictness::Strict {
                problems.push(format!("unexpected {name}"));
            } else {
                report.unexpected.push(name.clone());
            }
        }
    }
    if !problems.is_empty() {
        return Err(CoreError::WeightsMismatch {
            path: source.to_owned(),
            problems,
        });
    }
    let mut moved = Vec::new();
    let mut error = None;
    module.visit_params(&mut |p| {
        if let Some(t) = tensors.get(&p.name) {
            match t.to_device(p.value.device()) {
                Ok(t) => moved.push(t),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = error {
        return Err(e.into());
    }
    let mut moved = moved.into_iter();
    module.visit_params_mut(&mut |p| {
        if tensors.contains_key(&p.name)
            && let Some(t) = moved.next()
        {
            p.value = t;
        }
    });
    Ok(report)
}

/// A whole `state_dict`, parameters and buffers: float tensors (f32, on the CPU after a read),
/// integer counters (`num_batches_tracked`, int64 in PyTorch) apart, and the file's metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    /// Parameters and float buffers (`running_mean`, `running_var`) by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// Counters by name (`num_batches_tracked`).
    pub counts: BTreeMap<String, i64>,
    /// The `__metadata__` strings.
    pub metadata: BTreeMap<String, String>,
}

/// The parameters and buffers of a module by name (no metadata); tensors stay on their device.
pub fn state_dict_with_buffers<M: Module + Buffers + ?Sized>(module: &M) -> StateDict {
    let mut state = StateDict::default();
    module.visit_params(&mut |p| {
        state.tensors.insert(p.name.clone(), p.value.clone());
    });
    module.visit_buffers(&mut |b| match &b.value {
        BufferValue::Float(t) => {
            state.tensors.insert(b.name.clone(), t.clone());
        }
        BufferValue::Count(n) => {
            state.counts.insert(b.name.clone(), *n);
        }
    });
    state
}

/// Serialises a [`StateDict`] as PyTorch's `save_file` would: floats as F32, each counter as a
/// 0-dimensional I64 tensor. A name both a tensor and a counter is an error.
pub fn state_dict_bytes(state: &StateDict) -> Result<Vec<u8>> {
    let both: Vec<&String> = state
        .counts
        .keys()
        .filter(|name| state.tensors.contains_key(*name))
        .collect();
    if !both.is_empty() {
        return Err(crate::error::invalid(
            "state dict",
            format!("names both a tensor and a counter: {both:?}"),
        ));
    }
    let mut host = host_f32(&state.tensors)?;
    for (name, n) in &state.counts {
        host.push((
            name.clone(),
            Dtype::I64,
            Vec::new(),
            n.to_le_bytes().to_vec(),
        ));
    }
    serialize(host, &state.metadata)
}

/// Saves a module's parameters and buffers as safetensors (atomically), with `metadata`.
pub fn save_state_dict<M: Module + Buffers + ?Sized>(
    module: &M,
    metadata: &BTreeMap<String, String>,
    path: &Path,
) -> Result<()> {
    let state = StateDict {
        metadata: metadata.clone(),
        ..state_dict_with_buffers(module)
    };
    write_atomically(path, &state_dict_bytes(&state)?)
}

/// Reads a safetensors file with buffers: float tensors (F32, F16, BF16, F64) become f32, and
/// one-element I64 or I32 tensors become counters.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    let bytes = std::fs::read(path).map_err(|source| CoreError::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    })?;
    parse_state_dict(&bytes, path)
}

/// Parses safetensors bytes as [`read_state_dict`] does; `path` only names them in errors.
pub fn parse_state_dict(bytes: &[u8], path: &Path) -> Result<StateDict> {
    let metadata = header_metadata(bytes, path)?;
    let file = deserialize(bytes, path)?;
    let mut state = StateDict {
        metadata,
        ..StateDict::default()
    };
    for (name, view) in file.iter() {
        if let Some(values) = float_values(&view) {
            state
                .tensors
                .insert(name.to_owned(), Tensor::from_vec(values, view.shape())?);
        } else if let Some(n) = count_value(&view) {
            state.counts.insert(name.to_owned(), n);
        } else if matches!(view.dtype(), Dtype::I64 | Dtype::I32) {
            return Err(CoreError::WeightsMismatch {
                path: path.to_owned(),
                problems: vec![format!(
                    "{name}: a {:?} tensor of shape {:?}; integers are read only as \
                     one-element counters (num_batches_tracked)",
                    view.dtype(),
                    view.shape()
                )],
            });
        } else {
            return Err(CoreError::WeightsDtype {
                path: path.to_owned(),
                name: name.to_owned(),
                dtype: format!("{:?}", view.dtype()),
            });
        }
    }
    Ok(state)
}

/// Sets a module's parameters and buffers from a [`StateDict`], float values moved to each
/// parameter's or buffer's device. Float names need float tensors of the same shape, counters
/// need counters. Any problem (missing, unexpected, mis-shaped, a float where a counter
/// belongs or the reverse) is reported together, and nothing is changed.
pub fn load_state_dict_with_buffers<M: Module + Buffers + ?Sized>(
    module: &mut M,
    state: &StateDict,
    strictness: Strictness,
    source: &Path,
) -> Result<LoadReport> {
    let mut problems = Vec::new();
    let mut report = LoadReport::default();
    let mut known = std::collections::BTreeSet::new();
    let mut check_float = |name: &str, shape: &[usize], report: &mut LoadReport| {
        known.insert(name.to_owned());
        match (state.tensors.get(name), state.counts.get(name)) {
            (Some(t), _) if t.shape() == shape => report.loaded.push(name.to_owned()),
            (Some(t), _) => problems.push(format!(
                "{name}: the file has shape {:?}, the model needs {shape:?}",
                t.shape()
            )),
            (None, Some(_)) => problems.push(format!(
                "{name}: the file has an integer counter, the model needs float values of \
                 shape {shape:?}"
            )),
            (None, None) if strictness == Strictness::Strict => {
                problems.push(format!("missing {name} {shape:?}"));
            }
            (None, None) => report.missing.push(name.to_owned()),
        }
    };
    module.visit_params(&mut |p| check_float(&p.name, p.shape(), &mut report));
    let mut counters = Vec::new();
    module.visit_buffers(&mut |b| match &b.value {
        BufferValue::Float(t) => check_float(&b.name, t.shape(), &mut report),
        BufferValue::Count(_) => counters.push(b.name.clone()),
    });
    for name in counters {
        known.insert(name.clone());
        match (state.counts.get(&name), state.tensors.get(&name)) {
            (Some(_), _) => report.loaded.push(name),
            (None, Some(t)) => problems.push(format!(
                "{name}: the file has float values of shape {:?}, the model needs an int64 \
                 counter (I64 or I32, one element)",
                t.shape()
            )),
            (None, None) if strictness == Strictness::Strict => {
                problems.push(format!("missing {name} (int64 counter)"));
            }
            (None, None) => report.missing.push(name),
        }
    }
    let mut unexpected: Vec<&String> = state
        .tensors
        .keys()
        .chain(state.counts.keys())
        .filter(|name| !known.contains(*name))
        .collect();
    unexpected.sort();
    unexpected.dedup();
    for name in unexpected {
        if strictness == Strictness::Strict {
            problems.push(format!("unexpected {name}"));
        } else {
            report.unexpected.push(name.clone());
        }
    }
    if !problems.is_empty() {
        return Err(CoreError::WeightsMismatch {
            path: source.to_owned(),
            problems,
        });
    }
    // Every upload first, so that a device failure changes nothing.
    let mut moved: HashMap<String, Tensor> = HashMap::new();
    let mut error = None;
    let mut upload = |name: &str, device: Device| {
        if let Some(t) = state.tensors.get(name) {
            match t.to_device(device) {
                Ok(t) => {
                    moved.insert(name.to_owned(), t);
                }
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
    };
    module.visit_params(&mut |p| upload(&p.name, p.value.device()));
    module.visit_buffers(&mut |b| {
        if let BufferValue::Float(t) = &b.value {
            upload(&b.name, t.device());
        }
    });
    if let Some(e) = error {
        return Err(e.into());
    }
    module.visit_params_mut(&mut |p| {
        if let Some(t) = moved.remove(&p.name) {
            p.value = t;
        }
    });
    module.visit_buffers_mut(&mut |b| match &mut b.value {
        BufferValue::Float(t) => {
            if let Some(new) = moved.remove(&b.name) {
                *t = new;
            }
        }
        BufferValue::Count(n) => {
            if let Some(&new) = state.counts.get(&b.name) {
                *n = new;
            }
        }
    });
    Ok(report)
}

/// Copies every parameter `from` has with the same name and shape into `to` (staged training:
/// FCN-16s from FCN-32s, FCN-8s from FCN-16s). Returns the names copied.
pub fn copy_matching_params(to: &mut impl Module, from: &impl Module) -> Vec<String> {
    let source = state_dict(from);
    let mut copied = Vec::new();
    to.visit_params_mut(&mut |p| {
        if let Some(t) = source.get(&p.name)
            && t.shape() == p.value.shape()
        {
            p.value = t.clone();
            copied.push(p.name.clone());
        }
    });
    copied
}

/// The torchvision VGG16 `features.N` index of each convolution, conv1_1 .. conv5_3.
const TORCHVISION_CONVS: [usize; 13] = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];

/// Maps a torchvision VGG16 `state_dict` to FCN names: `features.N` to `convX_Y`, and
/// `classifier.0` / `classifier.3` reshaped (C order) into `fc6` (4096, 512, 7, 7) and `fc7`
/// (4096, 4096, 1, 1). `classifier.6` (the ImageNet classifier) is dropped.
pub fn vgg16_from_torchvision(
    tensors: &BTreeMap<String, Tensor>,
) -> Result<BTreeMap<String, Tensor>> {
    let mut names = Vec::new();
    for (block, n) in [2, 2, 3, 3, 3].into_iter().enumerate() {
        for layer in 0..n {
            names.push(format!("conv{}_{}", block + 1, layer + 1));
        }
    }
    let mut out = BTreeMap::new();
    for (name, index) in names.iter().zip(TORCHVISION_CONVS) {
        for part in ["weight", "bias"] {
            if let Some(t) = tensors.get(&format!("features.{index}.{part}")) {
                out.insert(format!("{name}.{part}"), t.clone());
            }
        }
    }
    // fc6 reads a 7x7 window of pool5: (4096, 25088) is (4096, 512, 7, 7) in C order. The
    // shapes are taken from the tensors, so narrow backbones map the same way.
    for (fc, index, window) in [("fc6", 0, 7usize), ("fc7", 3, 1)] {
        if let Some(w) = tensors.get(&format!("classifier.{index}.weight")) {
            let &[rows, cols] = w.shape() else {
                return Err(crate::error::invalid(
                    "torchvision weights",
                    format!(
                        "classifier.{index}.weight has shape {:?}, expected 2-D",
                        w.shape()
                    ),
                ));
            };
            let taps = window * window;
            if cols % taps != 0 {
                return Err(crate::error::invalid(
                    "torchvision weights",
                    format!(
                        "classifier.{index}.weight has {cols} columns, not a multiple of {taps}"
                    ),
                ));
            }
            out.insert(
                format!("{fc}.weight"),
                w.reshape(&[rows, cols / taps, window, window])?,
            );
        }
        if let Some(b) = tensors.get(&format!("classifier.{index}.bias")) {
            out.insert(format!("{fc}.bias"), b.clone());
        }
    }
    Ok(out)
}

const META_ARCH: &str = "fcn.arch";
const META_CLASSES: &str = "fcn.num_classes";
const META_WIDTH: &str = "fcn.width_divisor";
const META_PREPROCESS: &str = "fcn.preprocess";

impl Fcn {
    /// The metadata written beside the weights, so a file alone rebuilds the model.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let c = self.config();
        BTreeMap::from([
            (META_ARCH.to_owned(), c.arch.name().to_owned()),
            (META_CLASSES.to_owned(), c.num_classes.to_string()),
            (META_WIDTH.to_owned(), c.width_divisor.to_string()),
            (META_PREPROCESS.to_owned(), c.preprocess.name().to_owned()),
        ])
    }

    /// Saves the weights as safetensors (atomically), with the model's metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = safetensors_bytes(&state_dict(self), &self.metadata())?;
        write_atomically(path, &bytes)
    }

    /// Loads a model from safetensors. The architecture, class count, width and
    /// preprocessing come from `config` when given, otherwise from the file's metadata (written
    /// by [`save`](Self::save)), otherwise from the tensors' shapes (a plain PyTorch
    /// `state_dict`: the architecture is then read from which layers exist).
    pub fn load(path: &Path, config: Option<FcnConfig>) -> Result<Self> {
        let file = read_safetensors(path)?;
        let config = match config {
            Some(c) => c,
            None => config_from_file(&file, path)?,
        };
        let mut model = Fcn::new(config, 0)?;
        load_state_dict(&mut model, &file.tensors, Strictness::Strict, path)?;
        Ok(model)
    }

    /// Moves every parameter to `device`.
    pub fn to_device(&mut self, device: Device) -> Result<()> {
        let mut error = None;
        self.visit_params_mut(&mut |p| match p.value.to_device(device) {
            Ok(t) => p.value = t,
            Err(e) => {
                error.get_or_insert(e);
            }
        });
        match error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

fn config_from_file(file: &NamedTensors, path: &Path) -> Result<FcnConfig> {
    let mismatch = |problem: String| CoreError::WeightsMismatch {
        path: path.to_owned(),
        problems: vec![problem],
    };
    let m = &file.metadata;
    let shape = |name: &str| file.tensors.get(name).map(|t| t.shape().to_vec());
    let arch = match m.get(META_ARCH) {
        Some(a) => a.parse()?,
        None if file.tensors.contains_key("upscore.weight") => Arch::Fcn32s,
        None if file.tensors.contains_key("upscore16.weight") => Arch::Fcn16s,
        None if file.tensors.contains_key("upscore8.weight") => Arch::Fcn8s,
        None => {
            return Err(mismatch(
                "no fcn.arch metadata and no upscore/upscore16/upscore8 weight to infer it from"
                    .into(),
            ));
        }
    };
    let num_classes = match m.get(META_CLASSES) {
        Some(n) => n
            .parse()
            .map_err(|_| mismatch(format!("metadata {META_CLASSES} = {n:?} is not a number")))?,
        None => shape("score_fr.weight")
            .map(|s| s[0])
            .ok_or_else(|| mismatch("missing score_fr.weight".into()))?,
    };
    let width_divisor = match m.get(META_WIDTH) {
        Some(n) => n
            .parse()
            .map_err(|_| mismatch(format!("metadata {META_WIDTH} = {n:?} is not a number")))?,
        None => match shape("conv1_1.weight") {
            Some(s) if s[0] > 0 && 64 % s[0] == 0 => 64 / s[0],
            _ => {
                return Err(mismatch(
                    "cannot infer the width from conv1_1.weight".into(),
                ));
            }
        },
    };
    let preprocess = match m.get(META_PREPROCESS) {
        Some(p) => p.parse().map_err(|e: fcn_common::Error| {
            crate::error::invalid("preprocessing", e.to_string())
        })?,
        None => Default::default(),
    };
    Ok(FcnConfig {
        preprocess,
        ..FcnConfig::new(arch, num_classes).with_width_divisor(width_divisor)
    })
}
