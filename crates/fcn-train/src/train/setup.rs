//! The pieces a run is built from its configuration: optimizer, network, augmentation.

use fcn_core::{Adam, FcnConfig, Lars, Optimizer, Sgd};
use fcn_data::ClassSet;
use fcn_data::transforms::{Compose, HorizontalFlip, PhotometricJitter, RandomCrop, RandomScale};

use crate::config::{self, TrainConfig};
use crate::error::Result;

/// The optimizer of `optim.optimizer`.
pub(super) fn optimizer(config: &TrainConfig) -> Result<Box<dyn Optimizer>> {
    let o = &config.optim;
    Ok(match o.optimizer {
        config::Optimizer::Sgd { momentum } => Box::new(Sgd::new(momentum, o.weight_decay)?),
        config::Optimizer::Lars { momentum, eta } => {
            Box::new(Lars::new(momentum, o.weight_decay, eta)?)
        }
        config::Optimizer::Adam { beta1, beta2, eps } => {
            let mut adam = Adam::new(o.weight_decay)?;
            (adam.beta1, adam.beta2, adam.eps) = (beta1, beta2, eps);
            Box::new(adam)
        }
    })
}

/// The network of `model.*` for `classes`.
pub(super) fn model_config(config: &TrainConfig, classes: &ClassSet) -> Result<FcnConfig> {
    Ok(FcnConfig {
        dropout: config.model.dropout,
        learnable_upsampling: config.model.learnable_upsampling,
        preprocess: config.model.preprocess,
        ..FcnConfig::new(config.model.arch, classes.len())
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
