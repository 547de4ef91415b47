//! `reshape`, `expand_dims`, `squeeze`, `batch_flatten`, `flatten`: ops that only
//! change the shape (the data is copied as is).

use std::sync::Arc;

use super::{copy_data, fmt_ints, prod_dims};
use crate::ops::{
    expect_inputs, norm_axis, pass_through_backward, Attrs, Op, OpCtx, OpRef, TypeInfo,
};
use crate::tensor::{fmt_shape, Dim, Shape, Value};
use crate::{Error, Result};

/// How a copy op derives its output shape.
#[derive(Debug, Clone, PartialEq)]
enum ReshapeRule {
    /// Target shape; one entry may be -1 (inferred).
    Shape(Vec<i64>),
    /// Insert a size-1 axis at this position (of the output).
    ExpandDims(i64),
    /// Remove this size-1 axis.
    Squeeze(i64),
    /// (b, ...) -> (b, prod(...)).
    BatchFlatten,
    /// (...) -> (prod(...),).
    Flatten,
}

/// An op that only changes the shape: the data is copied as is.
#[derive(Debug)]
pub struct Reshape {
    rule: ReshapeRule,
    name: &'static str,
}

impl Reshape {
    fn out_shape(&self, x: &[Dim]) -> Result<Shape> {
        let name = self.name;
        Ok(match &self.rule {
            ReshapeRule::Shape(target) => {
                let mut p: usize = 1;
                let mut neg = None;
                let mut out = Shape::with_capacity(target.len());
                for (k, &d) in target.iter().enumerate() {
                    if d == -1 {
                        neg = Some(k);
                        out.push(None);
                    } else {
                        p = p.checked_mul(d as usize).ok_or_else(|| {
                            Error::Value(format!(
                                "reshape: target shape {} is too large",
                                fmt_ints(target)
                            ))
                        })?;
                        out.push(Some(d as usize));
                    }
                }
                let mismatch = |n: usize| {
                    Error::Shape(format!(
                        "reshape: cannot reshape an input of shape {} ({n} elements) into shape {}",
                        fmt_shape(x),
                        fmt_ints(target)
                    ))
                };
                match (prod_dims(x), neg) {
                    (Some(n), None) if n != p => return Err(mismatch(n)),
                    (Some(n), Some(k)) => {
                        if p == 0 || n % p != 0 {
                            return Err(mismatch(n));
                        }
                        out[k] = Some(n / p);
                    }
                    (None, None) => {
                        // The unknown dims multiply the known ones by a whole number.
                        let kp: usize = x.iter().flatten().product();
                        if kp > 0 && !p.is_multiple_of(kp) {
                            return Err(Error::Shape(format!(
                                "reshape: cannot reshape an input of shape {} into shape {} (element counts cannot match)",
                                fmt_shape(x),
                                fmt_ints(target)
                            )));
                        }
                    }
                    _ => {}
                }
                out
            }
            ReshapeRule::ExpandDims(axis) => {
                let ax = norm_axis(name, *axis, x.len() + 1)?;
                let mut s = x.to_vec();
                s.insert(ax, Some(1));
                s
            }
            ReshapeRule::Squeeze(axis) => {
                let ax = norm_axis(name, *axis, x.len())?;
                if let Some(d) = x[ax] {
                    if d != 1 {
                        return Err(Error::Shape(format!(
                            "squeeze: cannot squeeze axis {axis} of size {d} (input shape {}); it must be 1",
                            fmt_shape(x)
                        )));
                    }
                }
                let mut s = x.to_vec();
                s.remove(ax);
                s
            }
            ReshapeRule::BatchFlatten => {
                if x.is_empty() {
                    return Err(Error::Shape(format!(
                        "batch_flatten: the input must have a batch axis, got shape {}",
                        fmt_shape(x)
                    )));
                }
                vec![x[0], prod_dims(&x[1..])]
            }
            ReshapeRule::Flatten => vec![prod_dims(x)],
        })
    }
}

impl Op for Reshape {
    fn name(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(self.name, inputs, 1)?;
        Ok(TypeInfo {
            dtype: inputs[0].dtype,
            shape: self.out_shape(&inputs[0].shape)?,
        })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        copy_data(inputs[0], out);
        Ok(())
    }

    pass_through_backward!();
}

pub(super) fn build(name: &'static str, a: &Attrs) -> Result<OpRef> {
    let rule = match name {
        "reshape" => {
            let s = a.ints_req("shape")?;
            if s.iter().any(|&d| d < -1) || s.iter().filter(|&&d| d == -1).count() > 1 {
                return Err(Error::Value(format!(
                    "reshape: invalid target shape {}: sizes must be >= 0, with at most one -1",
                    fmt_ints(&s)
                )));
            }
            ReshapeRule::Shape(s)
        }
        "expand_dims" => ReshapeRule::ExpandDims(a.int("axis", -1)?),
        "squeeze" => ReshapeRule::Squeeze(a.int_req("axis")?),
        "batch_flatten" => ReshapeRule::BatchFlatten,
        _ => ReshapeRule::Flatten,
    };
    Ok(Arc::new(Reshape { rule, name }))
}
