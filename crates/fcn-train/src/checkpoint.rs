//! Checkpoints: model, optimizer state and loop position in one safetensors file, written
//! atomically and checked on load (a checksum over every tensor, so a corrupt or truncated
//! file is an error naming it, never a silent restart).

use std::collections::BTreeMap;
use std::path::Path;

use fcn_core::{Tensor, parse_safetensors, safetensors_bytes};

use crate::error::{CheckpointProblem, Result, TrainError};

const FORMAT: &str = "fcn-train checkpoint 1";

/// Where the loop stands, and everything it needs to continue exactly.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Optimizer steps done.
    pub step: u64,
    /// The loader's epoch of the next batch.
    pub epoch: u64,
    /// The next batch's number within that epoch.
    pub batch_in_epoch: usize,
    /// Images per batch over all ranks when it was written (a run resumed with another
    /// number of ranks converts `batch_in_epoch` with it); 0 = unknown (older checkpoints:
    /// single process, so the configured batch size).
    pub global_batch: usize,
    /// Best validation mean IoU so far, if evaluated.
    pub best_miou: Option<f64>,
    /// Parameters by `state_dict` name.
    pub model: BTreeMap<String, Tensor>,
    /// Optimizer state by its own names.
    pub optimizer: BTreeMap<String, Tensor>,
}

/// FNV-1a over every tensor's name, shape and values, in name order.
fn checksum(tensors: &BTreeMap<String, Tensor>) -> Result<u64> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (name, t) in tensors {
        eat(name.as_bytes());
        for &d in t.shape() {
            eat(&(d as u64).to_le_bytes());
        }
        for v in t.to_vec().map_err(fcn_core::CoreError::from)? {
            eat(&v.to_le_bytes());
        }
    }
    Ok(h)
}

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = BTreeMap::new();
        for (k, v) in &self.model {
            tensors.insert(format!("model.{k}"), v.clone());
        }
        for (k, v) in &self.optimizer {
            tensors.insert(format!("optim.{k}"), v.clone());
        }
        let mut meta = BTreeMap::from([
            ("format".to_owned(), FORMAT.to_owned()),
            ("step".to_owned(), self.step.to_string()),
            ("epoch".to_owned(), self.epoch.to_string()),
            ("batch_in_epoch".to_owned(), self.batch_in_epoch.to_string()),
            ("global_batch".to_owned(), self.global_batch.to_string()),
            (
                "checksum".to_owned(),
                format!("{:016x}", checksum(&tensors)?),
            ),
        ]);
        if let Some(best) = self.best_miou {
            // Exact round trip of the f64.
            meta.insert("best_miou".to_owned(), format!("{:016x}", best.to_bits()));
        }
        let bytes = safetensors_bytes(&tensors, &meta)?;
        fcn_data::write_atomically(path, &bytes)?;
        Ok(())
    }

    /// Reads and verifies a checkpoint.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|e| TrainError::io("cannot read checkpoint", path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Verifies and parses the bytes of a checkpoint file; `path` only names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |problem: CheckpointProblem| TrainError::Checkpoint {
            path: path.to_owned(),
            problem,
        };
        let file =
            parse_safetensors(bytes, path).map_err(|e| bad(CheckpointProblem::Unreadable(e)))?;
        let meta = &file.metadata;
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(CheckpointProblem::Format(meta.get("format").cloned())));
        }
        let field = |name: &'static str| {
            meta.get(name)
                .ok_or_else(|| bad(CheckpointProblem::MissingField(name)))
        };
        let number = |name: &'static str| -> Result<u64> {
            field(name)?
                .parse()
                .map_err(|_| bad(CheckpointProblem::NotANumber(name)))
        };
        let size = |name: &'static str| -> Result<usize> {
            usize::try_from(number(name)?).map_err(|_| bad(CheckpointProblem::TooLarge(name)))
        };
        let written = u64::from_str_radix(field("checksum")?, 16)
            .map_err(|_| bad(CheckpointProblem::ChecksumNotHex))?;
        let computed = checksum(&file.tensors)?;
        if computed != written {
            return Err(bad(CheckpointProblem::ChecksumMismatch {
                written,
                computed,
            }));
        }
        let best_miou = match meta.get("best_miou") {
            Some(bits) => Some(f64::from_bits(
                u64::from_str_radix(bits, 16).map_err(|_| bad(CheckpointProblem::BestMiou))?,
            )),
            None => None,
        };
        let mut model = BTreeMap::new();
        let mut optimizer = BTreeMap::new();
        for (name, t) in file.tensors {
            if let Some(n) = name.strip_prefix("model.") {
                model.insert(n.to_owned(), t);
            } else if let Some(n) = name.strip_prefix("optim.") {
                optimizer.insert(n.to_owned(), t);
            } else {
                return Err(bad(CheckpointProblem::UnexpectedTensor(name)));
            }
        }
        Ok(Self {
            step: number("step")?,
            epoch: number("epoch")?,
            batch_in_epoch: size("batch_in_epoch")?,
            global_batch: match meta.get("global_batch") {
                Some(_) => size("global_batch")?,
                None => 0,
            },
            best_miou,
            model,
            optimizer,
        })
    }
}
