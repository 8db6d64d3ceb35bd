//! The small closed choices of the configuration, each an enum shared by the TOML file
//! (kebab-case names) and the command line.

use fcn_core::Device;
use fcn_core::Reduction;
use serde::{Deserialize, Serialize};

/// How the pixel losses of a batch are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum LossReduction {
    /// The mean over valid pixels (class-weighted), PyTorch's `mean`.
    #[default]
    Mean,
    /// The sum over valid pixels divided by the batch size: the FCN reference.
    Sum,
}

impl LossReduction {
    /// The loss op's reduction.
    pub fn reduction(self) -> Reduction {
        match self {
            LossReduction::Mean => Reduction::Mean,
            LossReduction::Sum => Reduction::SumOverBatch,
        }
    }
}

/// Per-class weights of the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ClassWeighting {
    /// Every class weighs 1.
    #[default]
    None,
    /// SegNet's balancing: class c weighs `median(freq) / freq(c)`, with `freq(c)` = pixels
    /// of c / pixels of the images holding c, measured on up to 256 training samples; capped
    /// at 10 so rare classes cannot dominate.
    MedianFrequency,
}

/// How ranks combine their work in data-parallel training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum DistributedMode {
    /// Gradients summed over ranks every step: N ranks compute exactly the step of one
    /// process with N times the batch.
    #[default]
    Sync,
    /// Each rank steps on its own gradients; models are averaged every `average_every` steps
    /// (and before every evaluation and checkpoint). For slow links.
    LocalSgd,
}

/// `train.device` as text (`cpu`, `cuda:N`) in files: a device is not a closed set.
pub(crate) mod device_text {
    use super::Device;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(device: &Device, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(device)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Device, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `Display` as the kebab-case name a file and the command line use.
macro_rules! display_as_name {
    ($($ty:ty { $($variant:ident => $name:literal),+ $(,)? })+) => {$(
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $(Self::$variant => $name,)+
                })
            }
        }
    )+};
}
pub(crate) use display_as_name;

display_as_name! {
    LossReduction { Mean => "mean", Sum => "sum" }
    ClassWeighting { None => "none", MedianFrequency => "median-frequency" }
    DistributedMode { Sync => "sync", LocalSgd => "local-sgd" }
}
