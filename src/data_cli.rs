//! `fcn data inspect | convert | preview`: the command line's side. Opening a dataset, counting,
//! converting and previewing live in `fcn-data` (`registry`, `tools`); this module only turns
//! the command's arguments into their calls.

use std::path::Path;
use std::sync::Arc;

use fcn_data::Dataset;
use fcn_data::registry::{DataSpec, OpenOptions};

use crate::error::Result;

pub use fcn_data::registry::ClassChoice;
pub use fcn_data::tools::{Inspection, convert, inspect, preview};

/// Opens `format` at `root` in the label space `classes` (`synthetic` needs no root; its split
/// is `train` or `val`, its scenes those of `fcn train`'s default configuration).
pub fn open(
    format: &str,
    root: Option<&Path>,
    split: Option<&str>,
    classes: ClassChoice,
) -> Result<Arc<dyn Dataset>> {
    let spec = DataSpec {
        format: format.parse()?,
        root: root.map(Path::to_owned),
        split: split.map(str::to_owned),
    };
    let options = OpenOptions {
        synthetic: fcn_train::synthetic_options(&fcn_train::TrainConfig::default().data),
        classes,
    };
    Ok(spec.open_with(&options)?)
}
