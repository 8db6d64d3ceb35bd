//! Checks shared by the operations: one device for all operands, equal shapes.

use crate::{Device, Result, Tensor, TensorError};

/// The device of all `operands`, or the mismatch between the first and the first that differs.
pub(super) fn common_device(op: &'static str, operands: &[&Tensor]) -> Result<Device> {
    let Some((head, rest)) = operands.split_first() else {
        return Ok(Device::Cpu);
    };
    let first = head.device();
    match rest.iter().map(|t| t.device()).find(|&d| d != first) {
        Some(second) => Err(TensorError::DeviceMismatch { op, first, second }),
        None => Ok(first),
    }
}

/// Both operands have the same shape.
pub(super) fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() == b.shape() {
        Ok(())
    } else {
        Err(TensorError::ShapeMismatch {
            op,
            reason: "operands must have the same shape".to_owned(),
            shapes: vec![a.shape().to_vec(), b.shape().to_vec()],
        })
    }
}
