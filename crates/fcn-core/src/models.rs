//! The VGG16 backbone and the FCN family with the reference geometry (FCN_REFERENCE.md
//! sections 1 and 2).

use std::fmt;
use std::str::FromStr;

use fcn_tensor::ops::{
    self, DropoutMode, conv_output_size, conv_transpose_output_size, pool_output_size,
};

use crate::autograd::{Tape, Var};
use crate::error::{CoreError, Result, invalid};
use crate::init::Init;
use crate::layers::{Conv2d, ConvTranspose2d, Crop, Dropout, MaxPool2d, Mode, Scale};
use crate::param::{Module, Param};
use crate::preprocess::Preprocess;

/// The FCN variants. Their names (`fcn8s`, ...) are the same in configuration files
/// (serde) and on the command line (`clap::ValueEnum`, with the `clap` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// One 32x upsampling of the fc7 scores.
    Fcn32s,
    /// Fuses pool4 scores, upsamples 16x.
    Fcn16s,
    /// Fuses pool4 and pool3 scores, upsamples 8x (the staged model).
    Fcn8s,
    /// FCN-8s trained in one stage: pool4 scaled by 0.01 and pool3 by 1e-4 before scoring.
    #[serde(rename = "fcn8s-atonce")]
    #[cfg_attr(feature = "clap", value(name = "fcn8s-atonce"))]
    Fcn8sAtOnce,
}

impl Arch {
    /// Every variant.
    pub const ALL: [Arch; 4] = [Arch::Fcn32s, Arch::Fcn16s, Arch::Fcn8s, Arch::Fcn8sAtOnce];

    /// The command-line name (`fcn32s`, `fcn16s`, `fcn8s`, `fcn8s-atonce`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Fcn32s => "fcn32s",
            Arch::Fcn16s => "fcn16s",
            Arch::Fcn8s => "fcn8s",
            Arch::Fcn8sAtOnce => "fcn8s-atonce",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                invalid(
                    "architecture",
                    format!("{s:?}; expected fcn32s, fcn16s, fcn8s or fcn8s-atonce"),
                )
            })
    }
}

/// Crop offsets of the reference release.
const OFFSET_32S: usize = 19;
const OFFSET_POOL4: usize = 5;
const OFFSET_16S: usize = 27;
const OFFSET_POOL3: usize = 9;
const OFFSET_8S: usize = 31;

/// Everything that decides a network's shape and starting weights.
#[derive(Debug, Clone, PartialEq)]
pub struct FcnConfig {
    /// The variant.
    pub arch: Arch,
    /// Number of output classes (21 for VOC).
    pub num_classes: usize,
    /// Backbone channels are divided by this (1 = the real VGG16; 8 trains on a laptop CPU).
    pub width_divisor: usize,
    /// Dropout after fc6 and fc7 (0.5 in the reference).
    pub dropout: f32,
    /// Element (Caffe) or channel (pytorch-fcn) dropout.
    pub dropout_mode: DropoutMode,
    /// Whether the bilinear upsampling layers are trained (frozen in the reference).
    pub learnable_upsampling: bool,
    /// The input normalisation the weights expect.
    pub preprocess: Preprocess,
}

impl FcnConfig {
    /// The reference network: full width, dropout 0.5 on elements, frozen upsampling, Caffe
    /// preprocessing.
    pub fn new(arch: Arch, num_classes: usize) -> Self {
        Self {
            arch,
            num_classes,
            width_divisor: 1,
            dropout: 0.5,
            dropout_mode: DropoutMode::Element,
            learnable_upsampling: false,
            preprocess: Preprocess::Caffe,
        }
    }

    /// The same with backbone widths divided by `divisor`.
    pub fn with_width_divisor(mut self, divisor: usize) -> Self {
        self.width_divisor = divisor;
        self
    }

    /// Channels of the five convolution blocks and of fc6/fc7.
    pub fn widths(&self) -> ([usize; 5], usize) {
        let d = self.width_divisor.max(1);
        let w = |c: usize| (c / d).max(1);
        ([w(64), w(128), w(256), w(512), w(512)], w(4096))
    }

    fn validate(&self) -> Result<()> {
        if self.num_classes == 0 {
            return Err(invalid("number of classes", "must be positive"));
        }
        if self.width_divisor == 0 {
            return Err(invalid("width divisor", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(invalid(
                "dropout",
                format!("{} is outside [0, 1)", self.dropout),
            ));
        }
        Ok(())
    }
}

/// VGG16's 13 convolutions with FCN's padding (100 on conv1_1), and fc6/fc7 as convolutions.
#[derive(Debug, Clone)]
pub struct Vgg16 {
    /// conv1_1 .. conv5_3, in order.
    pub convs: Vec<Conv2d>,
    /// fc6: 7x7, no padding.
    pub fc6: Conv2d,
    /// fc7: 1x1.
    pub fc7: Conv2d,
    drop6: Dropout,
    drop7: Dropout,
}

/// Layers per block: 2, 2, 3, 3, 3.
const BLOCK_SIZES: [usize; 5] = [2, 2, 3, 3, 3];

/// The activations the heads read.
#[derive(Debug)]
pub struct Features {
    /// After pool3 (stride 8).
    pub pool3: Var,
    /// After pool4 (stride 16).
    pub pool4: Var,
    /// After fc7 and its dropout (stride 32).
    pub fc7: Var,
}

impl Vgg16 {
    /// The backbone with Kaiming-normal weights drawn from `seed` and zero biases.
    pub fn new(config: &FcnConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let (blocks, fc) = config.widths();
        let mut convs = Vec::new();
        let mut in_c = 3;
        for (block, (&n, &out_c)) in BLOCK_SIZES.iter().zip(&blocks).enumerate() {
            for layer in 0..n {
                let name = format!("conv{}_{}", block + 1, layer + 1);
                let pad = if convs.is_empty() { 100 } else { 1 };
                let conv = Conv2d::new(
                    &name,
                    in_c,
                    out_c,
                    3,
                    ops::Conv2d::padded(pad),
                    Init::KaimingNormal,
                    seed,
                )?;
                convs.push(conv);
                in_c = out_c;
            }
        }
        let fc6 = Conv2d::new(
            "fc6",
            in_c,
            fc,
            7,
            ops::Conv2d::default(),
            Init::KaimingNormal,
            seed,
        )?;
        let fc7 = Conv2d::new(
            "fc7",
            fc,
            fc,
            1,
            ops::Conv2d::default(),
            Init::KaimingNormal,
            seed,
        )?;
        let dropout = |salt| Dropout {
            p: config.dropout,
            mode: config.dropout_mode,
            salt,
        };
        Ok(Self {
            convs,
            fc6,
            fc7,
            drop6: dropout(6),
            drop7: dropout(7),
        })
    }

    /// Runs the backbone, keeping pool3, pool4 and fc7.
    pub fn forward(&self, tape: &mut Tape, x: &Var, mode: Mode) -> Result<Features> {
        let mut h = x.clone();
        let mut layer = 0;
        let mut pools = Vec::with_capacity(5);
        for &n in &BLOCK_SIZES {
            for _ in 0..n {
                h = self.convs[layer].forward_relu(tape, &h)?;
                layer += 1;
            }
            h = MaxPool2d::FCN.forward(tape, &h)?;
            pools.push(h.clone());
        }
        let h = self.fc6.forward_relu(tape, &h)?;
        let h = self.drop6.forward(tape, &h, mode)?;
        let h = self.fc7.forward_relu(tape, &h)?;
        let fc7 = self.drop7.forward(tape, &h, mode)?;
        let pool4 = pools.swap_remove(3);
        let pool3 = pools.swap_remove(2);
        Ok(Features { pool3, pool4, fc7 })
    }
}

impl Module for Vgg16 {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        for c in &self.convs {
            c.visit_params(f);
        }
        self.fc6.visit_params(f);
        self.fc7.visit_params(f);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        for c in &mut self.convs {
            c.visit_params_mut(f);
        }
        self.fc6.visit_params_mut(f);
        self.fc7.visit_params_mut(f);
    }
}

/// A Fully Convolutional Network.
#[derive(Debug, Clone)]
pub struct Fcn {
    config: FcnConfig,
    /// The backbone.
    pub backbone: Vgg16,
    /// 1x1 scores of fc7.
    pub score_fr: Conv2d,
    /// 1x1 scores of pool3 (FCN-8s).
    pub score_pool3: Option<Conv2d>,
    /// 1x1 scores of pool4 (FCN-16s, FCN-8s).
    pub score_pool4: Option<Conv2d>,
    /// Upsampling layers in `state_dict` order: `upscore` (32s); `upscore2`, `upscore16`
    /// (16s); `upscore2`, `upscore8`, `upscore_pool4` (8s).
    pub upsampling: Vec<ConvTranspose2d>,
}

impl Fcn {
    /// A network with Kaiming-normal backbone weights drawn from `seed`, zero score layers and
    /// bilinear upsampling (FCN_REFERENCE.md section 2).
    pub fn new(config: FcnConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let backbone = Vgg16::new(&config, seed)?;
        let n = config.num_classes;
        let (blocks, fc) = config.widths();
        let score = |name: &str, in_c: usize| {
            Conv2d::new(name, in_c, n, 1, ops::Conv2d::default(), Init::Zeros, seed)
        };
        let up = |name: &str, kernel: usize, stride: usize| -> Result<ConvTranspose2d> {
            let layer = ConvTranspose2d::bilinear(name, n, kernel, stride)?;
            Ok(if config.learnable_upsampling {
                layer.learnable()
            } else {
                layer
            })
        };
        let score_fr = score("score_fr", fc)?;
        let (score_pool3, score_pool4, upsampling) = match config.arch {
            Arch::Fcn32s => (None, None, vec![up("upscore", 64, 32)?]),
            Arch::Fcn16s => (
                None,
                Some(score("score_pool4", blocks[3])?),
                vec![up("upscore2", 4, 2)?, up("upscore16", 32, 16)?],
            ),
            Arch::Fcn8s | Arch::Fcn8sAtOnce => (
                Some(score("score_pool3", blocks[2])?),
                Some(score("score_pool4", blocks[3])?),
                vec![
                    up("upscore2", 4, 2)?,
                    up("upscore8", 16, 8)?,
                    up("upscore_pool4", 4, 2)?,
                ],
            ),
        };
        Ok(Self {
            config,
            backbone,
            score_fr,
            score_pool3,
            score_pool4,
            upsampling,
        })
    }

    /// The settings it was built with.
    pub fn config(&self) -> &FcnConfig {
        &self.config
    }

    /// The variant.
    pub fn arch(&self) -> Arch {
        self.config.arch
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    /// The input normalisation its weights expect.
    pub fn preprocess(&self) -> Preprocess {
        self.config.preprocess
    }

    /// Sets the input normalisation (weights trained elsewhere).
    pub fn set_preprocess(&mut self, preprocess: Preprocess) {
        self.config.preprocess = preprocess;
    }

    fn upsampling(&self, name: &str) -> Result<&ConvTranspose2d> {
        self.upsampling
            .iter()
            .find(|l| l.weight.name == format!("{name}.weight"))
            .ok_or_else(|| invalid("model", format!("{} has no layer {name}", self.config.arch)))
    }

    fn score<'a>(layer: &'a Option<Conv2d>, name: &str) -> Result<&'a Conv2d> {
        layer
            .as_ref()
            .ok_or_else(|| invalid("model", format!("no layer {name}")))
    }

    /// Class scores (N, classes, H, W) for an input batch (N, 3, H, W).
    pub fn forward(&self, tape: &mut Tape, x: &Var, mode: Mode) -> Result<Var> {
        let shape = x.shape();
        if shape.len() != 4 || shape[1] != 3 {
            return Err(invalid(
                "input",
                format!("expected a batch (N, 3, H, W), found shape {shape:?}"),
            ));
        }
        let input_size = [shape[2], shape[3]];
        self.check_input_size(input_size[0], input_size[1])?;
        let features = self.backbone.forward(tape, x, mode)?;
        let score_fr = self.score_fr.forward(tape, &features.fc7)?;
        let size = |v: &Var| [v.shape()[2], v.shape()[3]];
        match self.config.arch {
            Arch::Fcn32s => {
                let up = self.upsampling("upscore")?.forward(tape, &score_fr)?;
                Crop { offset: OFFSET_32S }.forward(tape, &up, input_size)
            }
            Arch::Fcn16s => {
                let upscore2 = self.upsampling("upscore2")?.forward(tape, &score_fr)?;
                let pool4 = Self::score(&self.score_pool4, "score_pool4")?
                    .forward(tape, &features.pool4)?;
                let pool4 = Crop {
                    offset: OFFSET_POOL4,
                }
                .forward(tape, &pool4, size(&upscore2))?;
                let fuse = tape.add(&upscore2, &pool4)?;
                let up = self.upsampling("upscore16")?.forward(tape, &fuse)?;
                Crop { offset: OFFSET_16S }.forward(tape, &up, input_size)
            }
            Arch::Fcn8s | Arch::Fcn8sAtOnce => {
                let at_once = self.config.arch == Arch::Fcn8sAtOnce;
                let upscore2 = self.upsampling("upscore2")?.forward(tape, &score_fr)?;
                let pool4_in = if at_once {
                    Scale { factor: 0.01 }.forward(tape, &features.pool4)?
                } else {
                    features.pool4
                };
                let pool4 =
                    Self::score(&self.score_pool4, "score_pool4")?.forward(tape, &pool4_in)?;
                let pool4 = Crop {
                    offset: OFFSET_POOL4,
                }
                .forward(tape, &pool4, size(&upscore2))?;
                let fuse_pool4 = tape.add(&upscore2, &pool4)?;
                let upscore_pool4 = self
                    .upsampling("upscore_pool4")?
                    .forward(tape, &fuse_pool4)?;
                let pool3_in = if at_once {
                    Scale { factor: 1e-4 }.forward(tape, &features.pool3)?
                } else {
                    features.pool3
                };
                let pool3 =
                    Self::score(&self.score_pool3, "score_pool3")?.forward(tape, &pool3_in)?;
                let pool3 = Crop {
                    offset: OFFSET_POOL3,
                }
                .forward(tape, &pool3, size(&upscore_pool4))?;
                let fuse_pool3 = tape.add(&upscore_pool4, &pool3)?;
                let up = self.upsampling("upscore8")?.forward(tape, &fuse_pool3)?;
                Crop { offset: OFFSET_8S }.forward(tape, &up, input_size)
            }
        }
    }

    /// Checks, from the geometry alone, that an input of `height` x `width` passes every layer
    /// and that every crop lies inside its tensor.
    pub fn check_input_size(&self, height: usize, width: usize) -> Result<()> {
        for (axis, size) in [("height", height), ("width", width)] {
            fcn_geometry(self.config.arch, size).map_err(|reason| {
                invalid(
                    "input size",
                    format!("{} cannot take {axis} {size}: {reason}", self.config.arch),
                )
            })?;
        }
        Ok(())
    }
}

/// The side lengths along one axis of an FCN's main tensors for an input side `input`: `Ok`
/// with the (uncropped) final upsampled side when every crop fits.
pub fn fcn_geometry(arch: Arch, input: usize) -> std::result::Result<usize, String> {
    if input == 0 {
        return Err("the input is empty".into());
    }
    let conv1 = conv_output_size(input, 3, 1, 100, 1).ok_or("conv1_1")?;
    let mut side = conv1;
    let mut pools = Vec::new();
    for _ in 0..5 {
        // 3x3 convolutions with padding 1 keep the side.
        side = pool_output_size(side, 2, 2, 0, true).ok_or("pooling")?;
        pools.push(side);
    }
    let fc7 = conv_output_size(side, 7, 1, 0, 1).ok_or("fc6 (7x7) does not fit pool5")?;
    let up = |side: usize, k: usize, s: usize| {
        conv_transpose_output_size(side, k, s, 0, 0, 1).ok_or("upsampling")
    };
    let fits = |what: &str, offset: usize, target: usize, source: usize| {
        if offset + target <= source {
            Ok(())
        } else {
            Err(format!(
                "crop of {what} at {offset} to {target} exceeds {source}"
            ))
        }
    };
    match arch {
        Arch::Fcn32s => {
            let out = up(fc7, 64, 32)?;
            fits("upscore", OFFSET_32S, input, out)?;
            Ok(out)
        }
        Arch::Fcn16s => {
            let upscore2 = up(fc7, 4, 2)?;
            fits("score_pool4", OFFSET_POOL4, upscore2, pools[3])?;
            let out = up(upscore2, 32, 16)?;
            fits("upscore16", OFFSET_16S, input, out)?;
            Ok(out)
        }
        Arch::Fcn8s | Arch::Fcn8sAtOnce => {
            let upscore2 = up(fc7, 4, 2)?;
            fits("score_pool4", OFFSET_POOL4, upscore2, pools[3])?;
            let upscore_pool4 = up(upscore2, 4, 2)?;
            fits("score_pool3", OFFSET_POOL3, upscore_pool4, pools[2])?;
            let out = up(upscore_pool4, 16, 8)?;
            fits("upscore8", OFFSET_8S, input, out)?;
            Ok(out)
        }
    }
}

impl Module for Fcn {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        self.backbone.visit_params(f);
        self.score_fr.visit_params(f);
        if let Some(l) = &self.score_pool3 {
            l.visit_params(f);
        }
        if let Some(l) = &self.score_pool4 {
            l.visit_params(f);
        }
        for l in &self.upsampling {
            l.visit_params(f);
        }
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.backbone.visit_params_mut(f);
        self.score_fr.visit_params_mut(f);
        if let Some(l) = &mut self.score_pool3 {
            l.visit_params_mut(f);
        }
        if let Some(l) = &mut self.score_pool4 {
            l.visit_params_mut(f);
        }
        for l in &mut self.upsampling {
            l.visit_params_mut(f);
        }
    }
}
