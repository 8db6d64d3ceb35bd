//! Weights on disk as safetensors, named as the PyTorch `state_dict` of
//! `wkentaro/pytorch-fcn`, so a model trained in PyTorch runs here and back.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use fcn_tensor::{Device, Tensor};
use safetensors::{Dtype, SafeTensors};

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
    let bad = |source| CoreError::Safetensors {
        path: path.to_owned(),
        source,
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(bad)?;
    let metadata = header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let file = SafeTensors::deserialize(bytes).map_err(bad)?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.iter() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
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
            other => {
                return Err(CoreError::WeightsDtype {
                    path: path.to_owned(),
                    name: name.to_owned(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        tensors.insert(name.to_owned(), Tensor::from_vec(values, view.shape())?);
    }
    Ok(NamedTensors { tensors, metadata })
}

/// Serialises named tensors (downloaded to the CPU if needed) with metadata.
pub fn safetensors_bytes(
    tensors: &BTreeMap<String, Tensor>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let host: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let values = t.to_vec()?;
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok((name.clone(), t.shape().to_vec(), bytes))
        })
        .collect::<Result<_>>()?;
    let views = host
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|source| CoreError::Safetensors {
            path: PathBuf::from("<memory>"),
            source,
        })?;
    let info: HashMap<String, String> = metadata.clone().into_iter().collect();
    safetensors::serialize(views, Some(info)).map_err(|source| CoreError::Safetensors {
        path: PathBuf::from("<memory>"),
        source,
    })
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
    /// Parameters set from the file.
    pub loaded: Vec<String>,
    /// Parameters the file lacked (only with [`Strictness::Partial`]).
    pub missing: Vec<String>,
    /// Tensors in the file with no parameter (only with [`Strictness::Partial`]).
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
