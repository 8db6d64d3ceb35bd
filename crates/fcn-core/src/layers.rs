//! Layers: each holds its parameters (named as in the PyTorch `state_dict`) and runs its
//! forward pass on a [`Tape`].

use fcn_tensor::ops::{self, DropoutMode, Pool2d};

use crate::autograd::{Tape, Var};
use crate::bilinear::bilinear_weight;
use crate::error::{Result, invalid};
use crate::init::{Init, derive_seed};
use crate::param::{Module, Param, ParamKind};

/// Whether a forward pass trains (dropout active, seeded) or evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training: dropout drops, with masks drawn from `seed`.
    Train {
        /// Seed of this step's dropout masks.
        seed: u64,
    },
    /// Evaluation: dropout is the identity.
    Eval,
}

/// A 2-D convolution with optional bias.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// Weight (out, in, kh, kw).
    pub weight: Param,
    /// Bias (out).
    pub bias: Option<Param>,
    /// Stride, padding, dilation, groups.
    pub config: ops::Conv2d,
}

impl Conv2d {
    /// A square `kernel` convolution named `name` (`name.weight`, `name.bias`), weights drawn by
    /// `init` from `seed` (mixed with the name), bias zero.
    pub fn new(
        name: &str,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        config: ops::Conv2d,
        init: Init,
        seed: u64,
    ) -> Result<Self> {
        if in_channels == 0 || out_channels == 0 || kernel == 0 {
            return Err(invalid(
                "convolution",
                format!("{name}: {in_channels} -> {out_channels} channels, kernel {kernel}"),
            ));
        }
        let shape = [
            out_channels,
            in_channels / config.groups.max(1),
            kernel,
            kernel,
        ];
        let fan_in = shape[1] * kernel * kernel;
        let weight = init.tensor(&shape, fan_in, derive_seed(seed, name))?;
        Ok(Self {
            weight: Param::new(format!("{name}.weight"), weight, ParamKind::Weight),
            bias: Some(Param::new(
                format!("{name}.bias"),
                fcn_tensor::Tensor::zeros(&[out_channels]),
                ParamKind::Bias,
            )),
            config,
        })
    }

    /// The convolution.
    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        self.run(tape, x, false)
    }

    /// The convolution followed by a ReLU, fused (the pre-activation is not kept).
    pub fn forward_relu(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        self.run(tape, x, true)
    }

    fn run(&self, tape: &mut Tape, x: &Var, relu: bool) -> Result<Var> {
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        tape.conv2d(x, &w, b.as_ref(), self.config, relu)
    }
}

impl Module for Conv2d {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        f(&self.weight);
        if let Some(b) = &self.bias {
            f(b);
        }
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.weight);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }
}

/// A 2-D transposed convolution ("deconvolution").
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    /// Weight (in, out, kh, kw).
    pub weight: Param,
    /// Bias (out); FCN's upsampling layers have none.
    pub bias: Option<Param>,
    /// Stride, padding, output padding, dilation, groups.
    pub config: ops::ConvTranspose2d,
}

impl ConvTranspose2d {
    /// FCN's upsampling layer: `channels` to `channels`, kernel `kernel`, stride `stride`, no
    /// bias, the bilinear kernel on the diagonal, **frozen** as in the reference release (call
    /// [`learnable`](Self::learnable) to train it).
    pub fn bilinear(name: &str, channels: usize, kernel: usize, stride: usize) -> Result<Self> {
        if stride == 0 {
            return Err(invalid(
                "upsampling stride",
                format!("{name}: must be positive"),
            ));
        }
        let weight = bilinear_weight(channels, kernel)?;
        Ok(Self {
            weight: Param::new(format!("{name}.weight"), weight, ParamKind::Weight).frozen(),
            bias: None,
            config: ops::ConvTranspose2d::upsample(stride),
        })
    }

    /// The same layer with its weight trained (lr x1, no decay: a bilinear start is not
    /// something to shrink).
    pub fn learnable(mut self) -> Self {
        self.weight.trainable = true;
        self.weight.decay_mult = 0.0;
        self
    }

    /// The transposed convolution.
    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        tape.conv_transpose2d(x, &w, b.as_ref(), self.config)
    }
}

impl Module for ConvTranspose2d {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        f(&self.weight);
        if let Some(b) = &self.bias {
            f(b);
        }
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.weight);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }
}

/// Max pooling (FCN: 2x2, stride 2, ceil mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window, stride, padding, rounding.
    pub pool: Pool2d,
}

impl MaxPool2d {
    /// FCN's pooling.
    pub const FCN: Self = Self { pool: Pool2d::FCN };

    /// The pooling.
    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        tape.max_pool2d(x, self.pool)
    }
}

/// Rectified linear unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relu;

impl Relu {
    /// `max(x, 0)`.
    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        tape.relu(x)
    }
}

/// Dropout with inverted scaling, active only in [`Mode::Train`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Drop probability in [0, 1).
    pub p: f32,
    /// Single values (Caffe) or whole channels (PyTorch's `Dropout2d`).
    pub mode: DropoutMode,
    /// Mixed with the step seed so each dropout layer draws its own mask.
    pub salt: u64,
}

impl Dropout {
    /// The dropout.
    pub fn forward(&self, tape: &mut Tape, x: &Var, mode: Mode) -> Result<Var> {
        match mode {
            Mode::Eval => Ok(x.clone()),
            Mode::Train { .. } if self.p == 0.0 => Ok(x.clone()),
            Mode::Train { seed } => tape.dropout(
                x,
                self.p,
                self.mode,
                derive_seed(seed ^ self.salt, "dropout"),
            ),
        }
    }
}

/// FCN's crop layer: rows and columns `offset .. offset + size` of every plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// The same offset on both axes (FCN's offsets: 19, 5, 27, 9, 31).
    pub offset: usize,
}

impl Crop {
    /// Crops `x` to the height and width `size`.
    pub fn forward(&self, tape: &mut Tape, x: &Var, size: [usize; 2]) -> Result<Var> {
        tape.crop(x, [self.offset; 2], size)
    }
}

/// Multiplication by a fixed constant (FCN-8s at-once scales pool4 by 0.01, pool3 by 1e-4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// The constant.
    pub factor: f32,
}

impl Scale {
    /// `factor * x`.
    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        tape.scale(x, self.factor)
    }
}
