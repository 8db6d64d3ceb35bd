//! Opening the datasets a configuration names (through `fcn_data::registry`, the one place a
//! spec becomes a dataset).

use std::sync::Arc;

use fcn_data::Dataset;
use fcn_data::registry::{
    ClassChoice, DataSpec, DatasetFormat, OpenOptions, SYNTHETIC_SEED, SyntheticOptions,
};

use crate::config::{DataConfig, TrainConfig};
use crate::error::Result;

/// The synthetic scenes a configuration asks for (seed [`SYNTHETIC_SEED`], so every run sees
/// the same images).
pub fn synthetic_options(data: &DataConfig) -> SyntheticOptions {
    SyntheticOptions {
        train: data.synthetic_train,
        val: data.synthetic_val,
        height: data.synthetic_height,
        width: data.synthetic_width,
        seed: SYNTHETIC_SEED,
    }
}

/// One dataset from a spec: `synthetic` (train or validation split by `train`), or
/// `FORMAT:ROOT[:SPLIT]` (see `fcn_data::registry`), mapped into the transit taxonomy when
/// `data.transit` is set.
pub fn open_dataset(
    spec: &DataSpec,
    config: &TrainConfig,
    train: bool,
) -> Result<Arc<dyn Dataset>> {
    let mut spec = spec.clone();
    if spec.format == DatasetFormat::Synthetic && spec.split.is_none() {
        spec.split = Some(if train { "train" } else { "val" }.to_owned());
    }
    let classes = if config.data.transit {
        ClassChoice::Transit
    } else {
        ClassChoice::All
    };
    let options = OpenOptions {
        synthetic: synthetic_options(&config.data),
        classes,
    };
    Ok(spec.open_with(&options)?)
}

/// The training and validation sets (several specs are concatenated).
pub fn open_datasets(config: &TrainConfig) -> Result<(Arc<dyn Dataset>, Arc<dyn Dataset>)> {
    let open = |specs: &[DataSpec], train: bool| -> Result<Arc<dyn Dataset>> {
        let mut sets = specs
            .iter()
            .map(|s| open_dataset(s, config, train))
            .collect::<Result<Vec<_>>>()?;
        if sets.len() == 1 {
            return Ok(sets.remove(0));
        }
        Ok(Arc::new(fcn_data::Concat::new(sets)?))
    };
    Ok((
        open(&config.data.train, true)?,
        open(&config.data.val, false)?,
    ))
}
