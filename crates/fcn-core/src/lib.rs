//! Fully Convolutional Networks for semantic segmentation, with the exact reference geometry.
//!
//! Build an FCN-8s, run it, train it with reverse-mode autograd, and exchange weights with
//! PyTorch (`wkentaro/pytorch-fcn` `state_dict` names, safetensors):
//!
//! ```
//! use fcn_core::{Arch, Fcn, FcnConfig, Mode, Module, Tape, Tensor};
//!
//! // A narrow FCN-8s (backbone widths / 16) for 5 classes.
//! let model = Fcn::new(FcnConfig::new(Arch::Fcn8s, 5).with_width_divisor(16), 42)?;
//! let mut tape = Tape::inference();
//! let image = tape.constant(Tensor::zeros(&[1, 3, 32, 40]));
//! let scores = model.forward(&mut tape, &image, Mode::Eval)?;
//! assert_eq!(scores.shape(), &[1, 5, 32, 40]);
//! assert!(model.params().iter().any(|p| p.name == "upscore8.weight"));
//! # Ok::<(), fcn_core::CoreError>(())
//! ```
//!
//! Residual networks' pieces are here too: [`BatchNorm2d`] (its running statistics are
//! [`Buffers`], kept apart from the parameters that optimizers update), and the tape's
//! [`Tape::batch_norm2d_relu`] (BN, residual add and ReLU in one pass),
//! [`Tape::resize_bilinear`], [`Tape::concat_channels`] and [`Tape::global_avg_pool2d`]:
//!
//! ```
//! use fcn_core::{BatchNorm, BatchNorm2d, Buffers, Mode, Tape, Tensor};
//!
//! let bn = BatchNorm2d::new("bn1", 4, BatchNorm::default())?;
//! let mut tape = Tape::new();
//! let x = tape.constant(Tensor::full(&[2, 4, 3, 3], 2.0));
//! let y = bn.forward_relu(&mut tape, &x, Mode::Train { seed: 0 }, None)?;
//! let up = tape.resize_bilinear(&y, [6, 6], false)?;
//! assert_eq!(up.shape(), &[2, 4, 6, 6]);
//! // One training pass: the running mean moved 10% of the way to the batch mean.
//! assert_eq!(bn.running_mean()?.data(), &[0.2; 4]);
//! assert_eq!(bn.num_batches_tracked(), 1);
//! assert_eq!(bn.buffers()[1].name, "bn1.running_var");
//! # Ok::<(), fcn_core::CoreError>(())
//! ```
#![deny(missing_docs)]

mod autograd;
mod bilinear;
mod buffer;
mod error;
mod init;
mod layers;
mod models;
mod optim;
mod param;
mod preprocess;
mod weights;

pub use autograd::{Affine, BatchNormed, Gradients, Tape, Var};
pub use bilinear::{bilinear_kernel, bilinear_weight};
pub use buffer::{Buffer, BufferValue, Buffers};
pub use error::{CoreError, Result};
/// The tensor crate, re-exported so a downstream project needs only `fcn-core`.
pub use fcn_tensor as tensor;
pub use fcn_tensor::ops::{BatchNorm, DropoutMode, Reduction, Statistics};
pub use fcn_tensor::{Device, Tensor};
pub use init::{Init, SplitMix64, derive_seed};
pub use layers::{
    BatchNorm2d, Conv2d, ConvTranspose2d, Crop, Dropout, MaxPool2d, Mode, Relu, Scale,
};
pub use models::{Arch, Fcn, FcnConfig, Features, Vgg16, fcn_geometry};
pub use optim::{Adam, Lars, LrSchedule, Optimizer, Sgd};
pub use param::{Module, Param, ParamId, ParamKind};
pub use preprocess::{CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, Preprocess, PreprocessExt};
pub use weights::{
    LoadReport, NamedTensors, StateDict, Strictness, copy_matching_params, load_state_dict,
    load_state_dict_with_buffers, parse_safetensors, parse_state_dict, read_safetensors,
    read_state_dict, safetensors_bytes, save_state_dict, state_dict, state_dict_bytes,
    state_dict_with_buffers, vgg16_from_torchvision, write_atomically,
};
