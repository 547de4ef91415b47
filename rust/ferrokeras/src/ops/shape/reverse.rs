//! `reverse` along some axes: a view op that is its own inverse.

use std::sync::Arc;

use smallvec::{smallvec, SmallVec};

use super::view::{acc, gather, View, ViewOp, Viewed};
use super::{fmt_ints, strides};
use crate::ops::{norm_axis, Attrs, OpRef, TypeInfo};
use crate::{Error, Result};

/// Reverses the order of elements along some axes.
#[derive(Debug)]
pub struct Reverse {
    axes: Vec<i64>,
}

impl Reverse {
    fn mask(&self, ndim: usize) -> Result<SmallVec<[bool; 8]>> {
        let mut m: SmallVec<[bool; 8]> = smallvec![false; ndim];
        for &a in &self.axes {
            let k = norm_axis("reverse", a, ndim)?;
            if m[k] {
                return Err(Error::Value(format!(
                    "reverse: axis {a} is repeated in axes={} (rank {ndim})",
                    fmt_ints(&self.axes)
                )));
            }
            m[k] = true;
        }
        Ok(m)
    }
}

impl ViewOp for Reverse {
    fn name(&self) -> &str {
        "reverse"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        self.mask(inputs[0].ndim())?;
        Ok(inputs[0].clone())
    }

    fn view(&self, shape: &[usize]) -> Result<View> {
        let m = self.mask(shape.len())?;
        let st = strides(shape);
        let mut v = View::new(0);
        for k in 0..shape.len() {
            if m[k] && shape[k] > 0 {
                v.base += ((shape[k] - 1) * st[k]) as isize;
                v.push(shape[k], -(st[k] as isize));
            } else {
                v.push(shape[k], st[k] as isize);
            }
        }
        Ok(v.finish())
    }

    // Reversal is its own inverse: the same view maps the output gradient back.
    fn add_grad(&self, x: &[usize], _out: &[usize], g: &[f32], gin: &mut [f32]) -> Result<()> {
        gather(g, &self.view(x)?, gin, acc);
        Ok(())
    }
}

pub(super) fn build(a: &Attrs) -> Result<OpRef> {
    let axes = a.ints_req("axes")?;
    Ok(Arc::new(Viewed(Reverse { axes })))
}
