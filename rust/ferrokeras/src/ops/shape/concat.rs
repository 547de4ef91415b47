//! `concat` along one axis.

use std::sync::Arc;

use super::{add_all, compatible};
use crate::ops::{around_axis, expect_some_inputs, norm_axis, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::tensor::{fmt_shape, DType, Value};
use crate::{Error, Result};

/// `K.concatenate` along one axis; float or int32 inputs (all of one storage).
#[derive(Debug)]
pub struct Concat {
    axis: i64,
}

impl Concat {
    /// (outer, inner, axis) of the first input's shape.
    fn split(&self, shape: &[usize]) -> Result<(usize, usize, usize)> {
        let ax = norm_axis("concat", self.axis, shape.len())?;
        let (outer, _, inner) = around_axis(shape, ax);
        Ok((outer, inner, ax))
    }
}

impl Op for Concat {
    fn name(&self) -> &str {
        "concat"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_some_inputs("concat", inputs)?;
        let shapes = || {
            inputs
                .iter()
                .map(|t| fmt_shape(&t.shape))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let n_int = inputs.iter().filter(|t| t.dtype == DType::I32).count();
        if n_int != 0 && n_int != inputs.len() {
            return Err(Error::Type(format!(
                "concat: inputs must all be float or all int32, got {}",
                inputs
                    .iter()
                    .map(|t| t.dtype.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let dtype = if n_int > 0 {
            DType::I32
        } else if inputs.iter().all(|t| t.dtype == DType::Bool) {
            DType::Bool
        } else {
            DType::F32
        };
        let first = &inputs[0].shape;
        let ax = norm_axis("concat", self.axis, first.len())?;
        let mut out = first.clone();
        for t in &inputs[1..] {
            if t.shape.len() != first.len() {
                return Err(Error::Shape(format!(
                    "concat: inputs have different ranks: {}",
                    shapes()
                )));
            }
            for (k, (o, &d)) in out.iter_mut().zip(&t.shape).enumerate() {
                if k == ax {
                    *o = match (*o, d) {
                        (Some(a), Some(b)) => Some(a + b),
                        _ => None,
                    };
                } else if !compatible(*o, d) {
                    return Err(Error::Shape(format!(
                        "concat: along axis {}, all dimensions but axis {} must match, got shapes {}",
                        self.axis,
                        ax,
                        shapes()
                    )));
                } else {
                    *o = o.or(d);
                }
            }
        }
        Ok(TypeInfo { dtype, shape: out })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let (outer, inner, ax) = self.split(&inputs[0].shape)?;
        let total = out.shape[ax] * inner;
        let mut off = 0;
        for x in inputs {
            let chunk = x.shape[ax] * inner;
            if x.dt() == DType::I32 {
                for o in 0..outer {
                    out.i[o * total + off..o * total + off + chunk]
                        .copy_from_slice(&x.i[o * chunk..(o + 1) * chunk]);
                }
            } else {
                for o in 0..outer {
                    out.f[o * total + off..o * total + off + chunk]
                        .copy_from_slice(&x.f[o * chunk..(o + 1) * chunk]);
                }
            }
            off += chunk;
        }
        Ok(())
    }

    fn backward(
        &self,
        index: usize,
        inputs: &[&Value],
        out: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        let (outer, inner, ax) = self.split(&inputs[0].shape)?;
        let total = out.shape[ax] * inner;
        let off: usize = inputs[..index].iter().map(|x| x.shape[ax] * inner).sum();
        let chunk = inputs[index].shape[ax] * inner;
        for o in 0..outer {
            add_all(
                &mut gin[o * chunk..(o + 1) * chunk],
                &g[o * total + off..o * total + off + chunk],
            );
        }
        Ok(())
    }
}

pub(super) fn build(a: &Attrs) -> Result<OpRef> {
    let axis = a.int("axis", -1)?;
    Ok(Arc::new(Concat { axis }))
}
