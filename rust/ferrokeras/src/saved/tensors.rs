//! Engine values in and out of safetensors: float32 as `F32`, int32 as `I32`, bool as
//! `BOOL` (one byte per element), all little-endian as the safetensors format says.

use std::borrow::Cow;

use safetensors::tensor::{Dtype, SafeTensors, View};

use crate::tensor::{numel, DType, Value};
use crate::{Error, Result};

/// A value borrowed for serialization.
pub(crate) struct TensorOut<'a>(pub &'a Value);

impl View for TensorOut<'_> {
    fn dtype(&self) -> Dtype {
        match self.0.dt() {
            DType::F32 => Dtype::F32,
            DType::I32 => Dtype::I32,
            DType::Bool => Dtype::BOOL,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let n = self.0.len();
        Cow::Owned(match self.0.dt() {
            DType::F32 => self.0.f[..n].iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I32 => self.0.i[..n].iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::Bool => self.0.f[..n].iter().map(|&v| (v != 0.0) as u8).collect(),
        })
    }

    fn data_len(&self) -> usize {
        let n = self.0.len();
        match self.0.dt() {
            DType::Bool => n,
            _ => 4 * n,
        }
    }
}

/// Reads tensor `name` as an engine value.
pub(crate) fn read(st: &SafeTensors<'_>, name: &str) -> Result<Value> {
    let t = st.tensor(name).map_err(|e| {
        Error::Value(format!(
            "corrupt program file: tensor '{name}' cannot be read ({e})"
        ))
    })?;
    let shape = t.shape().to_vec();
    let data = t.data();
    let dt = match t.dtype() {
        Dtype::F32 => DType::F32,
        Dtype::I32 => DType::I32,
        Dtype::BOOL => DType::Bool,
        other => {
            return Err(Error::Value(format!(
                "corrupt program file: tensor '{name}' is {other:?}; a program holds F32, I32 or BOOL tensors"
            )))
        }
    };
    let per = if dt == DType::Bool { 1 } else { 4 };
    if data.len() != per * numel(&shape) {
        return Err(Error::Value(format!(
            "corrupt program file: tensor '{name}' holds {} bytes for {} element(s) of {per} byte(s)",
            data.len(),
            numel(&shape)
        )));
    }
    let words = || data.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]]);
    match dt {
        DType::F32 => Value::from_f32(&shape, words().map(f32::from_le_bytes).collect()),
        DType::I32 => Value::from_i32(&shape, words().map(i32::from_le_bytes).collect()),
        DType::Bool => {
            let mut v = Value::from_f32(
                &shape,
                data.iter().map(|&b| (b != 0) as u8 as f32).collect(),
            )?;
            v.dtype = Some(DType::Bool);
            Ok(v)
        }
    }
}
