//! `concat_flat` and `slice_flat`: many tensors packed into one flat buffer and back
//! (the fused optimizer update and the distributed gradient exchange use them).

use std::sync::Arc;

use super::{add_all, nonneg, nonneg_list, prod_dims, sym};
use crate::ops::{
    expect_float, expect_inputs, expect_some_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo,
};
use crate::tensor::{fmt_dims, fmt_shape, numel, Value};
use crate::{Error, Result};

/// Concatenates the flattened data of N float inputs into one 1-D float32 buffer.
#[derive(Debug)]
pub struct ConcatFlat;

impl Op for ConcatFlat {
    fn name(&self) -> &str {
        "concat_flat"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_some_inputs("concat_flat", inputs)?;
        let mut n = Some(0usize);
        for t in inputs {
            expect_float("concat_flat", t)?;
            n = match (n, prod_dims(&t.shape)) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        Ok(TypeInfo::f32(vec![n]))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let mut off = 0;
        for x in inputs {
            out.f[off..off + x.f.len()].copy_from_slice(&x.f);
            off += x.f.len();
        }
        Ok(())
    }

    fn backward(
        &self,
        index: usize,
        inputs: &[&Value],
        _: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        let off: usize = inputs[..index].iter().map(|x| x.len()).sum();
        let n = inputs[index].len();
        add_all(gin, &g[off..off + n]);
        Ok(())
    }
}

/// `input[offset : offset + prod(shape)]` of a 1-D float input, reshaped to `shape`.
#[derive(Debug)]
pub struct SliceFlat {
    offset: usize,
    shape: Vec<usize>,
}

impl SliceFlat {
    fn n(&self) -> usize {
        numel(&self.shape)
    }
}

impl Op for SliceFlat {
    fn name(&self) -> &str {
        "slice_flat"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("slice_flat", inputs, 1)?;
        let x = &inputs[0];
        expect_float("slice_flat", x)?;
        if x.ndim() != 1 {
            return Err(Error::Shape(format!(
                "slice_flat: expects a 1-D input, got shape {}",
                fmt_shape(&x.shape)
            )));
        }
        if let Some(len) = x.shape[0] {
            if self.offset + self.n() > len {
                return Err(Error::Value(format!(
                    "slice_flat: elements {}..{} (shape {}) are out of range for an input of length {len}",
                    self.offset,
                    self.offset + self.n(),
                    fmt_dims(&self.shape)
                )));
            }
        }
        Ok(TypeInfo {
            dtype: x.dtype,
            shape: sym(&self.shape),
        })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let (o, n) = (self.offset, self.n());
        out.f.copy_from_slice(&inputs[0].f[o..o + n]);
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        _: &[&Value],
        _: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        let (o, n) = (self.offset, self.n());
        add_all(&mut gin[o..o + n], g);
        Ok(())
    }
}

pub(super) fn build_slice_flat(a: &Attrs) -> Result<OpRef> {
    let offset = nonneg("slice_flat", "offset", a.int_req("offset")?)?;
    let shape = nonneg_list("slice_flat", "shape", &a.ints_req("shape")?)?;
    Ok(Arc::new(SliceFlat { offset, shape }))
}
