//! `switch`: elementwise or learning-phase selection between two inputs.

use super::view::{gather, set, View};
use super::{add_all, compatible, strides};
use crate::kernels::alloc::grow;
use crate::ops::{expect_float, expect_inputs, Op, OpCtx, Scratch, TypeInfo};
use crate::tensor::{fmt_shape, numel, DType, Shape, Value};
use crate::{Error, Result};

/// `switch(cond, then, else)`: `then` where `cond != 0`, else `else`. `cond` is a scalar
/// or broadcasts (numpy rules) to the shape of `then` / `else`, which must agree.
#[derive(Debug)]
pub struct Switch;

/// The condition seen elementwise over the output.
enum Cond<'a> {
    All(bool),
    F(&'a [f32]),
    I(&'a [i32]),
}

impl Cond<'_> {
    #[inline(always)]
    fn at(&self, k: usize) -> bool {
        match self {
            Cond::All(b) => *b,
            Cond::F(m) => m[k] != 0.0,
            Cond::I(m) => m[k] != 0,
        }
    }
}

/// Broadcasts `cond` to `out` (through the scratch when it is not already elementwise).
fn cond_view<'a>(cond: &'a Value, out: &[usize], s: &'a mut Scratch) -> Result<Cond<'a>> {
    let int = cond.dt() == DType::I32;
    if cond.len() == 1 {
        return Ok(Cond::All(if int {
            cond.i[0] != 0
        } else {
            cond.f[0] != 0.0
        }));
    }
    if cond.len() == numel(out) {
        return Ok(if int {
            Cond::I(&cond.i)
        } else {
            Cond::F(&cond.f)
        });
    }
    let st = strides(&cond.shape);
    let mut v = View::new(0);
    let off = out.len() - cond.shape.len();
    for (k, &d) in out.iter().enumerate() {
        let stride = if k < off || cond.shape[k - off] == 1 {
            0
        } else {
            st[k - off] as isize
        };
        v.push(d, stride);
    }
    let v = v.finish();
    let n = numel(out);
    Ok(if int {
        grow(&mut s.i, n, "switch")?;
        gather(&cond.i, &v, &mut s.i[..n], set);
        Cond::I(&s.i[..n])
    } else {
        grow(&mut s.f, n, "switch")?;
        gather(&cond.f, &v, &mut s.f[..n], set);
        Cond::F(&s.f[..n])
    })
}

impl Op for Switch {
    fn name(&self) -> &str {
        "switch"
    }

    fn test_phase_identity(&self) -> Option<(usize, usize)> {
        // switch(learning_phase, train, test)
        Some((0, 2))
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("switch", inputs, 3)?;
        let (c, t, e) = (&inputs[0], &inputs[1], &inputs[2]);
        expect_float("switch", t)?;
        expect_float("switch", e)?;
        let bad = || {
            Error::Shape(format!(
                "switch: the condition {} must broadcast to the branches, and the branches {} and {} must have the same shape",
                fmt_shape(&c.shape),
                fmt_shape(&t.shape),
                fmt_shape(&e.shape)
            ))
        };
        if t.shape.len() != e.shape.len() || c.shape.len() > t.shape.len() {
            return Err(bad());
        }
        let mut shape = Shape::with_capacity(t.ndim());
        for (&a, &b) in t.shape.iter().zip(&e.shape) {
            if !compatible(a, b) {
                return Err(bad());
            }
            shape.push(a.or(b));
        }
        let off = shape.len() - c.shape.len();
        for (k, &cd) in c.shape.iter().enumerate() {
            let od = &mut shape[off + k];
            match (cd, *od) {
                (Some(1), _) => {}
                (Some(x), None) => *od = Some(x),
                (Some(x), Some(y)) if x != y => return Err(bad()),
                _ => {}
            }
        }
        let dtype = if t.dtype == DType::Bool && e.dtype == DType::Bool {
            DType::Bool
        } else {
            DType::F32
        };
        Ok(TypeInfo { dtype, shape })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (t, e) = (&inputs[1].f, &inputs[2].f);
        let c = cond_view(inputs[0], &out.shape, ctx.scratch)?;
        match c {
            Cond::All(b) => out.f.copy_from_slice(if b { t } else { e }),
            _ => {
                for (k, o) in out.f.iter_mut().enumerate() {
                    *o = if c.at(k) { t[k] } else { e[k] };
                }
            }
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
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let want = index == 1;
        let c = cond_view(inputs[0], &out.shape, ctx.scratch)?;
        match c {
            Cond::All(b) => {
                if b == want {
                    add_all(gin, g);
                }
            }
            _ => {
                for (k, (d, &v)) in gin.iter_mut().zip(g).enumerate() {
                    if c.at(k) == want {
                        *d += v;
                    }
                }
            }
        }
        Ok(())
    }

    fn has_grad(&self, index: usize) -> bool {
        index != 0
    }
}
