//! The pieces a run is built from its configuration: optimizer, network, augmentation.

use fcn_core::{Adam, FcnConfig, Lars, Optimizer, Sgd};
use fcn_data::ClassSet;
use fcn_data::transforms::{Compose, HorizontalFlip, PhotometricJitter, RandomCrop, RandomScale};

use crate::config::TrainConfig;
use crate::error::Result;

/// The optimizer of `optim.optimizer`.
pub(super) fn optimizer(config: &TrainConfig) -> Result<Box<dyn Optimizer>> {
    let o = &config.optim;
    Ok(match o.optimizer.as_str() {
        "sgd" => Box::new(Sgd::new(o.momentum, o.weight_decay)?),
        "lars" => Box::new(Lars::new(o.momentum, o.weight_decay, o.lars_eta)?),
        _ => Box::new(Adam::new(o.weight_decay)?),
    })
}

/// The network of `model.*` for `classes`.
pub(super) fn model_config(config: &TrainConfig, classes: &ClassSet) -> Result<FcnConfig> {
    Ok(FcnConfig {
        dropout: config.model.dropout,
        learnable_upsampling: config.model.learnable_upsampling,
        preprocess: config.preprocess()?,
        ..FcnConfig::new(config.arch()?, classes.len())
            .with_width_divisor(config.model.width_divisor)
    })
}

/// The training augmentation of `augment.*`; crops are padded with `ignore`.
pub(super) fn augmentation(config: &TrainConfig, ignore: u16) -> Result<Compose> {
    let a = &config.augment;
    let mut t = Compose::new();
    if a.scale != [1.0, 1.0] {
        t = t.then(RandomScale::new(a.scale[0], a.scale[1])?);
    }
    if let Some([h, w]) = a.crop {
        t = t.then(RandomCrop::new(h, w)?.with_fill([124, 116, 104], ignore));
    }
    if a.flip {
        t = t.then(HorizontalFlip::new(0.5)?);
    }
    if a.jitter > 0.0 {
        t = t.then(PhotometricJitter::new(a.jitter, a.jitter, a.jitter)?);
    }
    Ok(t)
}
