//! Reverse-mode automatic differentiation over the `fcn-tensor` operations.
//!
//! A [`Tape`] records each operation whose result depends on a trainable parameter, keeping
//! only what its backward pass needs. [`Tape::backward`] consumes the tape and walks it in
//! reverse, freeing each operation's saved tensors as soon as its gradients are out, so peak
//! memory is the forward activations and never twice them. Values that depend on nothing
//! trainable (the input image, frozen layers at the start of the network) are computed but not
//! recorded; an inference tape records nothing at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use fcn_tensor::Tensor;
use fcn_tensor::ops::{
    self, BatchNorm, BatchNormOutput, ConvTranspose2d, CrossEntropy, DropoutMode, MaxPoolOutput,
    Pool2d, Statistics,
};

use crate::error::{CoreError, Result};
use crate::param::{Param, ParamId};

/// A value computed on a tape: a tensor, plus its place in the tape if it needs a gradient.
#[derive(Debug, Clone)]
pub struct Var {
    value: Tensor,
    /// `Some((tape, node))` when a gradient flows back through this value.
    tracked: Option<(u64, usize)>,
}

impl Var {
    /// The computed tensor.
    pub fn value(&self) -> &Tensor {
        &self.value
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// Whether a gradient flows back through it.
    pub fn requires_grad(&self) -> bool {
        self.tracked.is_some()
    }

    /// The tensor, taken out of the variable.
    pub fn into_value(self) -> Tensor {
        self.value
    }
}

/// Gradients of a loss with respect to parameters, by parameter identity.
#[derive(Debug, Clone, Default)]
pub struct Gradients {
    by_param: HashMap<ParamId, Tensor>,
}

impl Gradients {
    /// The gradient of `param`, if it was trainable and the loss depends on it.
    pub fn get(&self, param: &Param) -> Option<&Tensor> {
        self.by_param.get(&param.id())
    }

    /// Number of parameters with a gradient.
    pub fn len(&self) -> usize {
        self.by_param.len()
    }

    /// Whether no parameter has a gradient.
    pub fn is_empty(&self) -> bool {
        self.by_param.is_empty()
    }

    /// Adds another set of gradients (gradient accumulation over micro-batches).
    pub fn accumulate(&mut self, other: Gradients) -> Result<()> {
        for (id, g) in other.by_param {
            add_into(&mut self.by_param, id, g)?;
        }
        Ok(())
    }

    /// Multiplies every gradient by `factor` (averaging accumulated micro-batches).
    pub fn scale(&mut self, factor: f32) -> Result<()> {
        for g in self.by_param.values_mut() {
            *g = ops::scale(g, factor)?;
        }
        Ok(())
    }

    /// Replaces the gradient of `param` (used by distributed averaging).
    pub fn set(&mut self, param: &Param, gradient: Tensor) {
        self.by_param.insert(param.id(), gradient);
    }
}

fn add_into<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Tensor>,
    key: K,
    g: Tensor,
) -> Result<()> {
    match map.remove(&key) {
        Some(prev) => {
            let sum = ops::add(&prev, &g)?;
            map.insert(key, sum);
        }
        None => {
            map.insert(key, g);
        }
    }
    Ok(())
}

/// One recorded operation: what its backward pass needs. Inputs are node ids, `None` for
/// inputs that need no gradient.
#[derive(Debug)]
enum Op {
    Param(ParamId),
    Conv {
        x: Option<usize>,
        x_value: Tensor,
        w: Option<usize>,
        w_value: Tensor,
        b: Option<usize>,
        params: ops::Conv2d,
        /// The output after a fused ReLU.
        relu_output: Option<Tensor>,
    },
    ConvTranspose {
        x: Option<usize>,
        x_value: Tensor,
        w: Option<usize>,
        w_value: Tensor,
        b: Option<usize>,
        params: ConvTranspose2d,
    },
    MaxPool {
        x: usize,
        pooled: MaxPoolOutput,
    },
    Relu {
        x: usize,
        y: Tensor,
    },
    Add {
        a: Option<usize>,
        b: Option<usize>,
    },
    Scale {
        x: usize,
        factor: f32,
    },
    Mask {
        x: usize,
        mask: Tensor,
    },
    Crop {
        x: usize,
        input_shape: Vec<usize>,
        offset: [usize; 2],
    },
    Loss {
        logits: usize,
        grad: Tensor,
    },
    BatchNorm {
        x: Option<usize>,
        x_value: Tensor,
        w: Option<usize>,
        w_value: Option<Tensor>,
        b: Option<usize>,
        residual: Option<usize>,
        /// The statistics the forward pass normalised with (its output is not kept here);
        /// boxed, as the largest variant.
        saved: Box<BatchNormOutput>,
        /// The output after a fused ReLU.
        relu_output: Option<Tensor>,
    },
    Resize {
        x: usize,
        input_shape: Vec<usize>,
        align_corners: bool,
    },
    Concat {
        parts: Vec<Option<usize>>,
        channels: Vec<usize>,
    },
    GlobalAvgPool {
        x: usize,
        input_shape: Vec<usize>,
    },
}

/// The affine parameters of a batch normalisation on a tape: `(weight, bias)`.
pub type Affine<'a> = (&'a Var, &'a Var);

/// What [`Tape::batch_norm2d`] returns: the output, and the running statistics updated by a
/// pass with batch statistics (`(running_mean, running_var)`; the ones given otherwise).
#[derive(Debug, Clone)]
pub struct BatchNormed {
    /// The normalised value (after the fused residual add and ReLU, if asked for).
    pub output: Var,
    /// The running mean and variance after this pass, when running statistics were given.
    pub running: Option<(Tensor, Tensor)>,
}

/// Records operations for one forward pass and differentiates them.
#[derive(Debug)]
pub struct Tape {
    id: u64,
    recording: bool,
    nodes: Vec<Op>,
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

impl Tape {
    /// A tape that records, for training.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            recording: true,
            nodes: Vec::new(),
        }
    }

    /// A tape that records nothing (inference): no gradients, no saved activations.
    pub fn inference() -> Self {
        Self {
            recording: false,
            ..Self::new()
        }
    }

    /// Number of recorded operations.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node of `v` on this tape (`None` if it needs no gradient).
    fn node(&self, v: &Var) -> Result<Option<usize>> {
        match v.tracked {
            None => Ok(None),
            Some((tape, node)) if tape == self.id => Ok(Some(node)),
            Some(_) => Err(CoreError::Backward(
                "a value from another tape was used; build each forward pass on one tape".into(),
            )),
        }
    }

    fn push(&mut self, value: Tensor, op: Op) -> Var {
        self.nodes.push(op);
        Var {
            value,
            tracked: Some((self.id, self.nodes.len() - 1)),
        }
    }

    fn untracked(value: Tensor) -> Var {
        Var {
            value,
            tracked: None,
        }
    }

    /// A constant input (an image batch): no gradient.
    pub fn constant(&self, value: Tensor) -> Var {
        Self::untracked(value)
    }

    /// A parameter: tracked when it is trainable and the tape records.
    pub fn param(&mut self, param: &Param) -> Var {
        if self.recording && param.trainable {
            self.push(param.value.clone(), Op::Param(param.id()))
        } else {
            Self::untracked(param.value.clone())
        }
    }

    /// 2-D convolution, optionally followed by a ReLU fused into it (the pre-activation is
    /// not kept).
    pub fn conv2d(
        &mut self,
        x: &Var,
        w: &Var,
        b: Option<&Var>,
        params: ops::Conv2d,
        relu: bool,
    ) -> Result<Var> {
        let b_value = b.map(|b| &b.value);
        let y = if relu {
            ops::conv2d_relu(&x.value, &w.value, b_value, &params)?
        } else {
            ops::conv2d(&x.value, &w.value, b_value, &params)?
        };
        let (xn, wn) = (self.node(x)?, self.node(w)?);
        let bn = match b {
            Some(b) => self.node(b)?,
            None => None,
        };
        if xn.is_none() && wn.is_none() && bn.is_none() {
            return Ok(Self::untracked(y));
        }
        let op = Op::Conv {
            x: xn,
            x_value: x.value.clone(),
            w: wn,
            w_value: w.value.clone(),
            b: bn,
            params,
            relu_output: relu.then(|| y.clone()),
        };
        Ok(self.push(y, op))
    }

    /// 2-D transposed convolution.
    pub fn conv_transpose2d(
        &mut self,
        x: &Var,
        w: &Var,
        b: Option<&Var>,
        params: ConvTranspose2d,
    ) -> Result<Var> {
        let y = ops::conv_transpose2d(&x.value, &w.value, b.map(|b| &b.value), &params)?;
        let (xn, wn) = (self.node(x)?, self.node(w)?);
        let bn = match b {
            Some(b) => self.node(b)?,
            None => None,
        };
        if xn.is_none() && wn.is_none() && bn.is_none() {
            return Ok(Self::untracked(y));
        }
        let op = Op::ConvTranspose {
            x: xn,
            x_value: x.value.clone(),
            w: wn,
            w_value: w.value.clone(),
            b: bn,
            params,
        };
        Ok(self.push(y, op))
    }

    /// 2-D max pooling.
    pub fn max_pool2d(&mut self, x: &Var, pool: Pool2d) -> Result<Var> {
        let pooled = ops::max_pool2d(&x.value, &pool)?;
        let y = pooled.output.clone();
        match self.node(x)? {
            Some(x) => Ok(self.push(y, Op::MaxPool { x, pooled })),
            None => Ok(Self::untracked(y)),
        }
    }

    /// Rectified linear unit.
    pub fn relu(&mut self, x: &Var) -> Result<Var> {
        let y = ops::relu(&x.value)?;
        match self.node(x)? {
            Some(x) => Ok(self.push(y.clone(), Op::Relu { x, y })),
            None => Ok(Self::untracked(y)),
        }
    }

    /// Element-wise sum of two tensors of one shape.
    pub fn add(&mut self, a: &Var, b: &Var) -> Result<Var> {
        let y = ops::add(&a.value, &b.value)?;
        let (an, bn) = (self.node(a)?, self.node(b)?);
        if an.is_none() && bn.is_none() {
            return Ok(Self::untracked(y));
        }
        Ok(self.push(y, Op::Add { a: an, b: bn }))
    }

    /// Multiplication by a constant.
    pub fn scale(&mut self, x: &Var, factor: f32) -> Result<Var> {
        let y = ops::scale(&x.value, factor)?;
        match self.node(x)? {
            Some(x) => Ok(self.push(y, Op::Scale { x, factor })),
            None => Ok(Self::untracked(y)),
        }
    }

    /// Training-time dropout with probability `p` (inverted scaling), seeded.
    pub fn dropout(&mut self, x: &Var, p: f32, mode: DropoutMode, seed: u64) -> Result<Var> {
        let (y, mask) = ops::dropout(&x.value, p, mode, seed)?;
        match self.node(x)? {
            Some(x) => Ok(self.push(y, Op::Mask { x, mask })),
            None => Ok(Self::untracked(y)),
        }
    }

    /// Rows and columns `offset .. offset + size` of every plane.
    pub fn crop(&mut self, x: &Var, offset: [usize; 2], size: [usize; 2]) -> Result<Var> {
        let y = ops::crop(&x.value, offset, size)?;
        match self.node(x)? {
            Some(node) => Ok(self.push(
                y,
                Op::Crop {
                    x: node,
                    input_shape: x.value.shape().to_vec(),
                    offset,
                },
            )),
            None => Ok(Self::untracked(y)),
        }
    }

    /// Pixel-wise softmax cross-entropy of logits (N, C, H, W) against `target` (N*H*W labels,
    /// row-major); pixels labelled `ignore_index` are skipped. The result is a scalar (shape
    /// `[1]`).
    pub fn softmax_cross_entropy(
        &mut self,
        logits: &Var,
        target: &[i64],
        ignore_index: i64,
        weight: Option<&[f32]>,
        reduction: ops::Reduction,
    ) -> Result<Var> {
        let CrossEntropy { loss, grad } =
            ops::softmax_cross_entropy(&logits.value, target, ignore_index, weight, reduction)?;
        let value = Tensor::from_vec(vec![loss], &[1])?;
        match self.node(logits)? {
            Some(logits) => Ok(self.push(value, Op::Loss { logits, grad })),
            None => Ok(Self::untracked(value)),
        }
    }

    /// Batch normalisation of `x` per channel with `affine` weight and bias (or none), with the
    /// batch's statistics or the `running` ones ([`ops::batch_norm2d`]). Gradients flow to `x`
    /// and the affine parameters; with batch statistics, through the mean and variance.
    pub fn batch_norm2d(
        &mut self,
        x: &Var,
        affine: Option<Affine<'_>>,
        running: Option<(&Tensor, &Tensor)>,
        statistics: Statistics,
        params: BatchNorm,
    ) -> Result<BatchNormed> {
        self.batch_norm(x, affine, running, statistics, params, false, None)
    }

    /// [`batch_norm2d`](Self::batch_norm2d), then `+ residual` (optional) and a ReLU in the
    /// same pass over memory ([`ops::batch_norm2d_relu`]): a residual block's tail. The
    /// residual's gradient is the ReLU's.
    pub fn batch_norm2d_relu(
        &mut self,
        x: &Var,
        affine: Option<Affine<'_>>,
        running: Option<(&Tensor, &Tensor)>,
        statistics: Statistics,
        params: BatchNorm,
        residual: Option<&Var>,
    ) -> Result<BatchNormed> {
        self.batch_norm(x, affine, running, statistics, params, true, residual)
    }

    #[allow(clippy::too_many_arguments)]
    fn batch_norm(
        &mut self,
        x: &Var,
        affine: Option<Affine<'_>>,
        running: Option<(&Tensor, &Tensor)>,
        statistics: Statistics,
        params: BatchNorm,
        relu: bool,
        residual: Option<&Var>,
    ) -> Result<BatchNormed> {
        let (w_value, b_value) = affine.map(|(w, b)| (&w.value, &b.value)).unzip();
        let out = if relu {
            ops::batch_norm2d_relu(
                &x.value,
                w_value,
                b_value,
                running,
                statistics,
                &params,
                residual.map(|r| &r.value),
            )?
        } else {
            ops::batch_norm2d(&x.value, w_value, b_value, running, statistics, &params)?
        };
        let running = out.running_mean.clone().zip(out.running_var.clone());
        let xn = self.node(x)?;
        let (wn, bn) = match affine {
            Some((w, b)) => (self.node(w)?, self.node(b)?),
            None => (None, None),
        };
        let rn = match residual {
            Some(r) => self.node(r)?,
            None => None,
        };
        let y = out.output.clone();
        if xn.is_none() && wn.is_none() && bn.is_none() && rn.is_none() {
            return Ok(BatchNormed {
                output: Self::untracked(y),
                running,
            });
        }
        let saved = Box::new(BatchNormOutput {
            // The backward pass reads the statistics, not the output: do not keep it twice.
            output: Tensor::zeros(&[0]),
            running_mean: None,
            running_var: None,
            ..out
        });
        let op = Op::BatchNorm {
            x: xn,
            x_value: x.value.clone(),
            w: wn,
            w_value: w_value.cloned(),
            b: bn,
            residual: rn,
            saved,
            relu_output: relu.then(|| y.clone()),
        };
        Ok(BatchNormed {
            output: self.push(y, op),
            running,
        })
    }

    /// Bilinear resize of every plane to `size` ([`ops::resize_bilinear`], PyTorch's
    /// `F.interpolate(mode="bilinear")`).
    pub fn resize_bilinear(
        &mut self,
        x: &Var,
        size: [usize; 2],
        align_corners: bool,
    ) -> Result<Var> {
        let y = ops::resize_bilinear(&x.value, size, align_corners)?;
        match self.node(x)? {
            Some(node) => Ok(self.push(
                y,
                Op::Resize {
                    x: node,
                    input_shape: x.value.shape().to_vec(),
                    align_corners,
                },
            )),
            None => Ok(Self::untracked(y)),
        }
    }

    /// The values side by side along the channels ([`ops::concat_channels`]).
    pub fn concat_channels(&mut self, parts: &[&Var]) -> Result<Var> {
        let values: Vec<&Tensor> = parts.iter().map(|p| &p.value).collect();
        let y = ops::concat_channels(&values)?;
        let nodes = parts
            .iter()
            .map(|p| self.node(p))
            .collect::<Result<Vec<_>>>()?;
        if nodes.iter().all(Option::is_none) {
            return Ok(Self::untracked(y));
        }
        let channels = parts.iter().map(|p| p.shape()[1]).collect();
        Ok(self.push(
            y,
            Op::Concat {
                parts: nodes,
                channels,
            },
        ))
    }

    /// The mean of every plane, shape (N, C, 1, 1) ([`ops::global_avg_pool2d`]).
    pub fn global_avg_pool2d(&mut self, x: &Var) -> Result<Var> {
        let y = ops::global_avg_pool2d(&x.value)?;
        match self.node(x)? {
            Some(node) => Ok(self.push(
                y,
                Op::GlobalAvgPool {
                    x: node,
                    input_shape: x.value.shape().to_vec(),
                },
            )),
            None => Ok(Self::untracked(y)),
        }
    }

    /// Gradients of the scalar `loss` with respect to every trainable parameter it depends
    /// on. Consumes the tape; saved tensors are freed as the walk passes them.
    pub fn backward(self, loss: &Var) -> Result<Gradients> {
        if loss.value.len() != 1 {
            return Err(CoreError::Backward(format!(
                "the loss must be a scalar, found shape {:?}",
                loss.value.shape()
            )));
        }
        let Some(start) = self.node(loss)? else {
            return Ok(Gradients::default());
        };
        let device = loss.value.device();
        let mut grads: HashMap<usize, Tensor> = HashMap::new();
        grads.insert(start, Tensor::full(&[1], 1.0).to_device(device)?);
        let mut out = Gradients::default();
        let mut nodes = self.nodes;
        nodes.truncate(start + 1);
        while let Some(op) = nodes.pop() {
            let node = nodes.len();
            // Every consumer of this node comes later on the tape, so its gradient is complete.
            let Some(g) = grads.remove(&node) else {
                continue;
            };
            backward_op(op, g, &mut grads, &mut out)?;
        }
        Ok(out)
    }
}

fn backward_op(
    op: Op,
    g: Tensor,
    grads: &mut HashMap<usize, Tensor>,
    out: &mut Gradients,
) -> Result<()> {
    match op {
        Op::Param(id) => add_into(&mut out.by_param, id, g)?,
        Op::Conv {
            x,
            x_value,
            w,
            w_value,
            b,
            params,
            relu_output,
        } => {
            let g = match relu_output {
                Some(y) => ops::relu_backward(&g, &y)?,
                None => g,
            };
            let (d_input, d_weight, d_bias) = if x.is_some() {
                let d = ops::conv2d_backward(&x_value, &w_value, &g, &params, b.is_some())?;
                (Some(d.input), d.weight, d.bias)
            } else {
                // The input (an image) needs no gradient: skip the most expensive part of a
                // first layer's backward pass.
                let (d_weight, d_bias) =
                    ops::conv2d_backward_parameters(&x_value, &w_value, &g, &params, b.is_some())?;
                (None, d_weight, d_bias)
            };
            drop((x_value, w_value, g));
            if let Some(d_input) = d_input {
                route(grads, x, d_input)?;
            }
            route(grads, w, d_weight)?;
            if let (Some(b), Some(db)) = (b, d_bias) {
                add_into(grads, b, db)?;
            }
        }
        Op::ConvTranspose {
            x,
            x_value,
            w,
            w_value,
            b,
            params,
        } => {
            let d = ops::conv_transpose2d_backward(&x_value, &w_value, &g, &params, b.is_some())?;
            route(grads, x, d.input)?;
            route(grads, w, d.weight)?;
            if let (Some(b), Some(db)) = (b, d.bias) {
                add_into(grads, b, db)?;
            }
        }
        Op::MaxPool { x, pooled } => {
            add_into(grads, x, ops::max_pool2d_backward(&g, &pooled)?)?;
        }
        Op::Relu { x, y } => add_into(grads, x, ops::relu_backward(&g, &y)?)?,
        Op::Add { a, b } => {
            route(grads, a, g.clone())?;
            route(grads, b, g)?;
        }
        Op::Scale { x, factor } => add_into(grads, x, ops::scale(&g, factor)?)?,
        Op::Mask { x, mask } => add_into(grads, x, ops::mul(&g, &mask)?)?,
        Op::Crop {
            x,
            input_shape,
            offset,
        } => add_into(grads, x, ops::crop_backward(&g, &input_shape, offset)?)?,
        Op::BatchNorm {
            x,
            x_value,
            w,
            w_value,
            b,
            residual,
            saved,
            relu_output,
        } => {
            let g = match relu_output {
                Some(y) => ops::relu_backward(&g, &y)?,
                None => g,
            };
            route(grads, residual, g.clone())?;
            if x.is_some() || w.is_some() || b.is_some() {
                let d = ops::batch_norm2d_backward(&g, &x_value, w_value.as_ref(), &saved)?;
                drop((x_value, w_value, g));
                route(grads, x, d.input)?;
                route(grads, w, d.weight)?;
                route(grads, b, d.bias)?;
            }
        }
        Op::Resize {
            x,
            input_shape,
            align_corners,
        } => add_into(
            grads,
            x,
            ops::resize_bilinear_backward(&g, &input_shape, align_corners)?,
        )?,
        Op::Concat { parts, channels } => {
            for (node, d) in parts.into_iter().zip(ops::split_channels(&g, &channels)?) {
                route(grads, node, d)?;
            }
        }
        Op::GlobalAvgPool { x, input_shape } => {
            add_into(grads, x, ops::global_avg_pool2d_backward(&g, &input_shape)?)?
        }
        Op::Loss { logits, grad } => {
            let upstream = g.to_vec()?[0];
            let d = if upstream == 1.0 {
                grad
            } else {
                ops::scale(&grad, upstream)?
            };
            add_into(grads, logits, d)?;
        }
    }
    Ok(())
}

fn route(grads: &mut HashMap<usize, Tensor>, node: Option<usize>, g: Tensor) -> Result<()> {
    match node {
        Some(node) => add_into(grads, node, g),
        None => Ok(()),
    }
}
