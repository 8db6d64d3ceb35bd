//! Layers: each holds its parameters (named as in the PyTorch `state_dict`) and runs its
//! forward pass on a [`Tape`].

use std::sync::{Mutex, MutexGuard};

use fcn_tensor::Tensor;
use fcn_tensor::ops::{self, DropoutMode, Pool2d, Statistics};

use crate::autograd::{Tape, Var};
use crate::bilinear::bilinear_weight;
use crate::buffer::{Buffer, BufferValue, Buffers};
use crate::error::{Result, invalid};
use crate::init::{Init, derive_seed};
use crate::param::{Module, Param, ParamKind};

/// Whether a forward pass trains (dropout active, seeded; batch normalisation with batch
/// statistics, updating its running ones) or evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training: dropout drops, with masks drawn from `seed`; batch normalisation normalises
    /// with the batch's statistics and updates its running statistics.
    Train {
        /// Seed of this step's dropout masks.
        seed: u64,
    },
    /// Evaluation: dropout is the identity; batch normalisation uses its running statistics.
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

/// Batch normalisation over the channels of NCHW values (PyTorch's `BatchNorm2d`): parameters
/// `weight` and `bias` (the affine transform, optional), buffers `running_mean`, `running_var`
/// and `num_batches_tracked` (their `state_dict` names, through [`Buffers`]; optimizers never
/// see them).
///
/// In [`Mode::Train`] it normalises with the batch's mean and biased variance and updates the
/// running statistics (`running = (1 - momentum) running + momentum batch`, the variance
/// unbiased) and the counter; in [`Mode::Eval`] it normalises with the running statistics.
/// The update happens in `forward`, which takes `&self` (so a model can be shared by the
/// threads of a split batch): the buffers sit behind a lock, held for the layer's forward
/// pass, so concurrent training passes update them one after the other, each with its own
/// part of the batch (in the order the threads arrive: a split batch's running statistics are
/// not reproducible bit for bit; its outputs and gradients are).
#[derive(Debug)]
pub struct BatchNorm2d {
    /// Scale per channel (`name.weight`), 1 at the start; `None` without the affine transform.
    pub weight: Option<Param>,
    /// Shift per channel (`name.bias`), 0 at the start; present exactly when `weight` is.
    pub bias: Option<Param>,
    /// `eps` and `momentum`.
    pub config: ops::BatchNorm,
    /// `running_mean`, `running_var`, `num_batches_tracked`, in that order.
    buffers: Mutex<[Buffer; 3]>,
}

impl Clone for BatchNorm2d {
    fn clone(&self) -> Self {
        Self {
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            config: self.config,
            buffers: Mutex::new(self.lock().clone()),
        }
    }
}

impl BatchNorm2d {
    /// A batch normalisation of `channels` channels named `name` (`name.weight`,
    /// `name.running_mean`, ...), affine, with PyTorch's start: weight 1, bias 0, running mean
    /// 0, running variance 1, no batch counted.
    pub fn new(name: &str, channels: usize, config: ops::BatchNorm) -> Result<Self> {
        if channels == 0 {
            return Err(invalid("batch norm", format!("{name}: 0 channels")));
        }
        let ones = Tensor::full(&[channels], 1.0);
        let zeros = Tensor::zeros(&[channels]);
        Ok(Self {
            weight: Some(Param::new(
                format!("{name}.weight"),
                ones.clone(),
                ParamKind::Weight,
            )),
            bias: Some(Param::new(
                format!("{name}.bias"),
                zeros.clone(),
                ParamKind::Bias,
            )),
            config,
            buffers: Mutex::new([
                Buffer::float(format!("{name}.running_mean"), zeros),
                Buffer::float(format!("{name}.running_var"), ones),
                Buffer::count(format!("{name}.num_batches_tracked"), 0),
            ]),
        })
    }

    /// The same layer without the affine transform (PyTorch's `affine=False`).
    pub fn without_affine(mut self) -> Self {
        self.weight = None;
        self.bias = None;
        self
    }

    fn lock(&self) -> MutexGuard<'_, [Buffer; 3]> {
        // A panic elsewhere while the lock was held leaves whole buffers: keep using them.
        self.buffers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The running mean (C).
    pub fn running_mean(&self) -> Result<Tensor> {
        float_buffer(&self.lock()[0]).cloned()
    }

    /// The running variance (C).
    pub fn running_var(&self) -> Result<Tensor> {
        float_buffer(&self.lock()[1]).cloned()
    }

    /// The number of training passes counted (`num_batches_tracked`).
    pub fn num_batches_tracked(&self) -> i64 {
        match self.lock()[2].value {
            BufferValue::Count(n) => n,
            BufferValue::Float(_) => 0,
        }
    }

    /// The normalisation.
    pub fn forward(&self, tape: &mut Tape, x: &Var, mode: Mode) -> Result<Var> {
        self.run(tape, x, mode, false, None)
    }

    /// The normalisation, then `+ residual` (optional) and a ReLU in the same pass: a residual
    /// block's tail (`relu(bn(x) + identity)`), or BN + ReLU.
    pub fn forward_relu(
        &self,
        tape: &mut Tape,
        x: &Var,
        mode: Mode,
        residual: Option<&Var>,
    ) -> Result<Var> {
        self.run(tape, x, mode, true, residual)
    }

    fn run(
        &self,
        tape: &mut Tape,
        x: &Var,
        mode: Mode,
        relu: bool,
        residual: Option<&Var>,
    ) -> Result<Var> {
        let affine = match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => Some((tape.param(w), tape.param(b))),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "batch norm",
                    "weight and bias must both be present or both absent",
                ));
            }
        };
        let affine = affine.as_ref().map(|(w, b)| (w, b));
        let statistics = match mode {
            Mode::Train { .. } => Statistics::Batch,
            Mode::Eval => Statistics::Running,
        };
        // Held for the whole pass, so that concurrent passes update one after the other.
        let mut buffers = self.lock();
        let running = (float_buffer(&buffers[0])?, float_buffer(&buffers[1])?);
        let out = if relu {
            tape.batch_norm2d_relu(x, affine, Some(running), statistics, self.config, residual)?
        } else {
            tape.batch_norm2d(x, affine, Some(running), statistics, self.config)?
        };
        if statistics == Statistics::Batch {
            if let Some((mean, var)) = out.running {
                buffers[0].value = BufferValue::Float(mean);
                buffers[1].value = BufferValue::Float(var);
            }
            if let BufferValue::Count(n) = &mut buffers[2].value {
                *n += 1;
            }
        }
        Ok(out.output)
    }
}

/// The tensor of a float buffer, or an error naming a buffer that holds a count instead.
fn float_buffer(b: &Buffer) -> Result<&Tensor> {
    b.tensor().ok_or_else(|| {
        invalid(
            "batch norm buffer",
            format!("{} holds a count, not float values", b.name),
        )
    })
}

impl Module for BatchNorm2d {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        if let Some(w) = &self.weight {
            f(w);
        }
        if let Some(b) = &self.bias {
            f(b);
        }
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        if let Some(w) = &mut self.weight {
            f(w);
        }
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }
}

impl Buffers for BatchNorm2d {
    fn visit_buffers(&self, f: &mut dyn FnMut(&Buffer)) {
        for b in self.lock().iter() {
            f(b);
        }
    }
    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&mut Buffer)) {
        let buffers = self
            .buffers
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for b in buffers.iter_mut() {
            f(b);
        }
    }
}
