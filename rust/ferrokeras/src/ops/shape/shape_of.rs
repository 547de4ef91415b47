//! `shape_of` (`K.shape`).

use crate::ops::{Op, OpCtx, TypeInfo};
use crate::tensor::{DType, Value};
use crate::{Error, Result};

/// The concrete shape of the input as a 1-D int32 tensor (`K.shape`). No gradient.
#[derive(Debug)]
pub struct ShapeOf;

impl Op for ShapeOf {
    fn name(&self) -> &str {
        "shape_of"
    }
    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        if inputs.len() != 1 {
            return Err(Error::Value(format!(
                "shape_of takes 1 input, got {}",
                inputs.len()
            )));
        }
        Ok(TypeInfo {
            dtype: DType::I32,
            shape: vec![Some(inputs[0].shape.len())],
        })
    }
    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        for (o, &d) in out.i.iter_mut().zip(&inputs[0].shape) {
            *o = i32::try_from(d)
                .map_err(|_| Error::Value(format!("shape_of: dimension {d} exceeds int32")))?;
        }
        Ok(())
    }
    fn has_grad(&self, _index: usize) -> bool {
        false
    }
}
