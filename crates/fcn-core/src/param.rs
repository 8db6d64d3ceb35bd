//! Named, trainable parameters and their optimizer settings.

use std::sync::atomic::{AtomicU64, Ordering};

use fcn_tensor::Tensor;

/// A process-wide unique identity of a parameter, so gradients find their parameter whatever
/// model or tape they pass through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(u64);

impl ParamId {
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Whether a parameter multiplies (a weight) or shifts (a bias): the FCN reference trains them
/// differently (weights at lr x1 with decay, biases at lr x2 without).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A convolution or deconvolution kernel.
    Weight,
    /// A bias vector.
    Bias,
}

/// A tensor the network learns, with its `state_dict` name and its optimizer settings.
#[derive(Debug, Clone)]
pub struct Param {
    id: ParamId,
    /// The PyTorch `state_dict` name (`conv1_1.weight`).
    pub name: String,
    /// The current value.
    pub value: Tensor,
    /// Weight or bias.
    pub kind: ParamKind,
    /// Whether the optimizer updates it (and whether the tape computes its gradient).
    pub trainable: bool,
    /// Multiplier of the learning rate for this parameter.
    pub lr_mult: f32,
    /// Multiplier of the weight decay for this parameter.
    pub decay_mult: f32,
}

impl Param {
    /// A trainable parameter with the FCN reference multipliers for its kind (weights lr x1,
    /// decay x1; biases lr x2, decay x0).
    pub fn new(name: impl Into<String>, value: Tensor, kind: ParamKind) -> Self {
        let (lr_mult, decay_mult) = match kind {
            ParamKind::Weight => (1.0, 1.0),
            ParamKind::Bias => (2.0, 0.0),
        };
        Self {
            id: ParamId::fresh(),
            name: name.into(),
            value,
            kind,
            trainable: true,
            lr_mult,
            decay_mult,
        }
    }

    /// The same parameter, frozen (lr multiplier 0, no gradient computed).
    pub fn frozen(mut self) -> Self {
        self.trainable = false;
        self
    }

    /// Its identity.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
}

/// Anything that holds parameters: layers and models. Parameters are visited in a fixed order
/// (the `state_dict` order).
pub trait Module {
    /// Calls `f` on every parameter.
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param));

    /// Calls `f` on every parameter, mutably.
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param));

    /// The parameters, in order.
    fn params(&self) -> Vec<&Param> {
        let mut out = Vec::new();
        self.visit_params(&mut |p| out.push(p));
        out
    }

    /// Number of scalar values in all parameters.
    fn num_values(&self) -> usize {
        let mut n = 0;
        self.visit_params(&mut |p| n += p.value.len());
        n
    }
}
