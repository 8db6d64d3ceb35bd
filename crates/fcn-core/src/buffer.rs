//! Named state that a layer keeps but does not learn (BatchNorm's running statistics and its
//! batch counter): in the `state_dict` beside the parameters, never seen by an optimizer
//! (optimizers visit [`Module`](crate::Module)'s parameters only).

use fcn_tensor::{Device, Tensor};

use crate::error::Result;

/// A buffer's value: a float tensor, or an integer counter (PyTorch's int64
/// `num_batches_tracked`, a 0-dimensional tensor in a `state_dict`).
#[derive(Debug, Clone, PartialEq)]
pub enum BufferValue {
    /// Float values (`running_mean`, `running_var`).
    Float(Tensor),
    /// A count (`num_batches_tracked`).
    Count(i64),
}

/// A named buffer: its PyTorch `state_dict` name (`bn1.running_mean`) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    /// The `state_dict` name.
    pub name: String,
    /// The value.
    pub value: BufferValue,
}

impl Buffer {
    /// A float buffer.
    pub fn float(name: impl Into<String>, value: Tensor) -> Self {
        Self {
            name: name.into(),
            value: BufferValue::Float(value),
        }
    }

    /// A counter.
    pub fn count(name: impl Into<String>, value: i64) -> Self {
        Self {
            name: name.into(),
            value: BufferValue::Count(value),
        }
    }

    /// The float tensor, `None` for a counter.
    pub fn tensor(&self) -> Option<&Tensor> {
        match &self.value {
            BufferValue::Float(t) => Some(t),
            BufferValue::Count(_) => None,
        }
    }
}

/// Anything that holds buffers, visited in a fixed (`state_dict`) order. Kept apart from
/// [`Module`](crate::Module) so that nothing that walks parameters (optimizers, gradient
/// averaging) meets a buffer.
pub trait Buffers {
    /// Calls `f` on every buffer.
    fn visit_buffers(&self, f: &mut dyn FnMut(&Buffer));

    /// Calls `f` on every buffer, mutably (loading a `state_dict`, moving devices).
    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&mut Buffer));

    /// Copies of the buffers, in order.
    fn buffers(&self) -> Vec<Buffer> {
        let mut out = Vec::new();
        self.visit_buffers(&mut |b| out.push(b.clone()));
        out
    }

    /// Moves every float buffer to `device`; the first failure is returned.
    fn buffers_to_device(&mut self, device: Device) -> Result<()> {
        let mut result = Ok(());
        self.visit_buffers_mut(&mut |b| {
            if let (Ok(()), BufferValue::Float(t)) = (&result, &mut b.value) {
                match t.to_device(device) {
                    Ok(moved) => *t = moved,
                    Err(e) => result = Err(e.into()),
                }
            }
        });
        result
    }
}
