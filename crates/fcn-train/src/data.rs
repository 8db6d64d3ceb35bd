//! Opening the datasets a configuration names.

use std::sync::Arc;

use fcn_data::Dataset;
use fcn_data::registry::{DataSpec, transit_source};
use fcn_data::synthetic::SyntheticTransit;
use fcn_data::taxonomy::Remapped;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};

/// Seeds of the synthetic sets, fixed so every run sees the same images.
const SYNTHETIC_SEED: u64 = 2015;

/// One dataset from a spec: `synthetic` (train or validation split by `train`), or
/// `FORMAT:ROOT[:SPLIT]` (see `fcn_data::registry`), mapped into the transit taxonomy when
/// `data.transit` is set.
pub fn open_dataset(spec: &str, config: &TrainConfig, train: bool) -> Result<Arc<dyn Dataset>> {
    let d = &config.data;
    match spec {
        "synthetic" => {
            let (h, w) = (d.synthetic_height, d.synthetic_width);
            let set = if train {
                SyntheticTransit::train(d.synthetic_train, h, w, SYNTHETIC_SEED)?
            } else {
                SyntheticTransit::val(d.synthetic_val, h, w, SYNTHETIC_SEED)?
            };
            Ok(Arc::new(set))
        }
        other => {
            let spec = DataSpec::parse(other)?;
            let dataset = spec.open()?;
            if !d.transit {
                return Ok(dataset);
            }
            let source = transit_source(&spec.format).ok_or_else(|| {
                TrainError::config(
                    "data.transit",
                    format!("{} has no transit-taxonomy table", spec.format),
                )
            })?;
            Ok(Arc::new(Remapped::to_transit(dataset, source)))
        }
    }
}

/// The training and validation sets (several specs are concatenated).
pub fn open_datasets(config: &TrainConfig) -> Result<(Arc<dyn Dataset>, Arc<dyn Dataset>)> {
    let open = |specs: &[String], train: bool| -> Result<Arc<dyn Dataset>> {
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
