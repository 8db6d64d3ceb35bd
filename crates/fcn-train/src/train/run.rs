//! A training run in a directory: created fresh or resumed from its checkpoint, on one
//! process or as one rank of several.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use fcn_core::{
    Device, Fcn, Optimizer, Strictness, copy_matching_params, load_state_dict, read_safetensors,
    state_dict,
};
use fcn_data::loader::{Loader, LoaderConfig, Sampling, Shard};
use fcn_data::{ClassSet, Dataset};

use super::batches::BatchStream;
use super::class_weights::median_frequency_weights;
use super::setup::{augmentation, model_config, optimizer};
use crate::checkpoint::Checkpoint;
use crate::config::{ClassWeighting, TrainConfig};
use crate::data::open_datasets;
use crate::distributed::{
    Communicator, SingleProcess, broadcast_model, collective_error, ranks_differing_from_root,
};
use crate::error::{Result, TrainError};
use crate::evaluate::normalization;
use crate::files;
use crate::log::truncate_log;

/// A training run in a directory.
pub struct Run {
    pub(super) config: TrainConfig,
    pub(super) dir: PathBuf,
    pub(super) device: Device,
    pub(super) model: Fcn,
    pub(super) optimizer: Box<dyn Optimizer>,
    pub(super) classes: ClassSet,
    pub(super) stream: BatchStream,
    pub(super) val: Arc<dyn Dataset>,
    pub(super) step: u64,
    pub(super) best_miou: Option<f64>,
    pub(super) class_weights: Option<Vec<f32>>,
    pub(super) comm: Rc<dyn Communicator>,
    /// One thread pool per part of a split batch (`train.batch_split`); empty = no split.
    pub(super) split_pools: Vec<rayon::ThreadPool>,
}

impl Run {
    /// Starts a new run in `dir`, which must not exist or be empty.
    pub fn create(config: TrainConfig, dir: &Path) -> Result<Self> {
        Self::create_with(config, dir, Rc::new(SingleProcess))
    }

    /// Starts a new run as one rank of a data-parallel job: every rank calls it with the same
    /// configuration (checked); rank 0 alone writes into `dir`.
    pub fn create_with(
        config: TrainConfig,
        dir: &Path,
        comm: Rc<dyn Communicator>,
    ) -> Result<Self> {
        config.validate()?;
        if comm.rank() == 0 && dir.exists() {
            let mut entries =
                std::fs::read_dir(dir).map_err(|e| TrainError::io("cannot read", dir, e))?;
            if entries.next().is_some() {
                return Err(TrainError::RunDirNotEmpty(dir.to_owned()));
            }
        }
        // Datasets and model first: a run refused for bad data leaves nothing behind.
        let run = Self::build(config, dir, None, comm)?;
        if run.comm.rank() == 0 {
            std::fs::create_dir_all(dir).map_err(|e| TrainError::io("cannot create", dir, e))?;
            fcn_data::write_atomically(&dir.join(files::CONFIG), run.config.to_toml().as_bytes())?;
        }
        Ok(run)
    }

    /// Continues the run in `dir` from its last checkpoint, with its saved configuration.
    pub fn resume(dir: &Path) -> Result<Self> {
        Self::resume_with(dir, Rc::new(SingleProcess))
    }

    /// Continues a run as one rank of a data-parallel job, with any number of ranks: rank 0
    /// reads the configuration and the checkpoint and sends them to the others (which need
    /// not see `dir`).
    pub fn resume_with(dir: &Path, comm: Rc<dyn Communicator>) -> Result<Self> {
        let config_path = dir.join(files::CONFIG);
        let checkpoint_path = dir.join(files::CHECKPOINT);
        let (mut config_bytes, mut checkpoint_bytes) = (Vec::new(), Vec::new());
        if comm.rank() == 0 {
            config_bytes = std::fs::read(&config_path)
                .map_err(|e| TrainError::io("cannot read", &config_path, e))?;
            if !checkpoint_path.exists() {
                return Err(TrainError::NoCheckpoint(dir.to_owned()));
            }
            checkpoint_bytes = std::fs::read(&checkpoint_path)
                .map_err(|e| TrainError::io("cannot read checkpoint", &checkpoint_path, e))?;
        }
        comm.broadcast_bytes(&mut config_bytes, 0)?;
        comm.broadcast_bytes(&mut checkpoint_bytes, 0)?;
        let text = String::from_utf8(config_bytes).map_err(|_| TrainError::ConfigNotUtf8 {
            path: config_path.clone(),
        })?;
        let config = TrainConfig::from_toml(&text, &config_path)?;
        let checkpoint = Checkpoint::from_bytes(&checkpoint_bytes, &checkpoint_path)?;
        drop(checkpoint_bytes);
        if comm.rank() == 0 {
            truncate_log(&dir.join(files::LOG), checkpoint.step)?;
        }
        Self::build(config, dir, Some((checkpoint, checkpoint_path)), comm)
    }

    fn build(
        config: TrainConfig,
        dir: &Path,
        checkpoint: Option<(Checkpoint, PathBuf)>,
        comm: Rc<dyn Communicator>,
    ) -> Result<Self> {
        // Ranks may train on different devices (one GPU each); everything else must match.
        let mut shared = config.clone();
        shared.train.device = Device::Cpu;
        let differing = ranks_differing_from_root(comm.as_ref(), shared.to_toml().as_bytes())?;
        if !differing.is_empty() {
            return Err(collective_error(
                comm.as_ref(),
                format!(
                    "ranks {differing:?} were given a configuration different from rank 0's; \
                     start every rank with the same command"
                ),
            ));
        }
        let device: Device = match comm.device() {
            Some(device) => device,
            None => config.train.device,
        };
        let (train, val) = open_datasets(&config)?;
        let classes = train.classes().clone();
        let class_weights = match config.optim.class_weights {
            ClassWeighting::MedianFrequency => Some(median_frequency_weights(train.as_ref())?),
            ClassWeighting::None => None,
        };
        let seed = config.train.seed;
        let mut model = Fcn::new(model_config(&config, &classes)?, seed)?;
        // Rank 0 reads the initial weights; the broadcast below gives them to every rank.
        if let Some(init) = config.model.init.as_ref().filter(|_| comm.rank() == 0) {
            let path = PathBuf::from(init);
            let weights = read_safetensors(&path)?;
            let mut source = model.clone();
            load_state_dict(&mut source, &weights.tensors, Strictness::Partial, &path)?;
            copy_matching_params(&mut model, &source);
        }
        let mut optimizer = optimizer(&config)?;
        let global_batch = config.train.batch_size * comm.size();
        let (step, epoch, batch_in_epoch, best_miou) = match checkpoint {
            Some((c, path)) => {
                load_state_dict(&mut model, &c.model, Strictness::Strict, &path)?;
                // The optimizer's buffers live where the parameters do (SGD and LARS add them
                // to the parameters on the device).
                let state = c
                    .optimizer
                    .into_iter()
                    .map(|(name, t)| Ok((name, t.to_device(device)?)))
                    .collect::<std::result::Result<_, fcn_core::tensor::TensorError>>()
                    .map_err(fcn_core::CoreError::from)?;
                optimizer.load_state(state)?;
                // Another number of ranks changes the loader's global batch: continue at the
                // first batch holding no image already used in this epoch.
                let written_with = match c.global_batch {
                    0 => config.train.batch_size,
                    n => n,
                };
                let used = c.batch_in_epoch * written_with;
                (c.step, c.epoch, used.div_ceil(global_batch), c.best_miou)
            }
            None => (0, 0, 0, None),
        };
        broadcast_model(comm.as_ref(), &mut model)?;
        model.to_device(device)?;
        // Parts of a split batch each need a core of their own, and only help on the CPU (a
        // GPU runs one stream).
        let split = config.train.batch_split.min(rayon::current_num_threads());
        let split_pools = if split > 1 && device == Device::Cpu {
            let threads = rayon::current_num_threads() / split;
            (0..split)
                .map(|_| {
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .map_err(TrainError::ThreadPool)
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let ignore = classes.ignore().unwrap_or(255);
        let loader = Loader::new(
            train,
            augmentation(&config, ignore)?,
            LoaderConfig {
                batch_size: config.train.batch_size,
                workers: config.train.workers,
                prefetch: 2 * config.train.workers,
                sampling: Sampling::Shuffle,
                drop_last: true,
                seed,
                normalization: normalization(model.preprocess()),
                shard: Shard {
                    index: comm.rank(),
                    count: comm.size(),
                },
            },
        )?;
        Ok(Self {
            config,
            dir: dir.to_owned(),
            device,
            model,
            optimizer,
            classes,
            stream: BatchStream {
                loader,
                epoch,
                batch_in_epoch,
                current: None,
            },
            val,
            step,
            best_miou,
            class_weights,
            comm,
            split_pools,
        })
    }

    /// This process's rank and the number of ranks.
    pub fn rank(&self) -> (usize, usize) {
        (self.comm.rank(), self.comm.size())
    }

    /// The model being trained.
    pub fn model(&self) -> &Fcn {
        &self.model
    }

    /// Steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Rank 0 writes the checkpoint; every rank holds the same state in sync mode.
    pub(super) fn checkpoint(&self) -> Result<()> {
        if self.comm.rank() != 0 {
            return Ok(());
        }
        Checkpoint {
            step: self.step,
            epoch: self.stream.epoch,
            batch_in_epoch: self.stream.batch_in_epoch,
            global_batch: self.config.train.batch_size * self.comm.size(),
            best_miou: self.best_miou,
            model: state_dict(&self.model),
            optimizer: self.optimizer.state(),
        }
        .save(&self.dir.join(files::CHECKPOINT))
    }
}
