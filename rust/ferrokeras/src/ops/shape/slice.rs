//! `slice`: Python slicing over the leading axes, a view op.

use std::sync::Arc;

use smallvec::SmallVec;

use super::view::{View, ViewOp, Viewed};
use super::{fmt_ints, strides};
use crate::ops::{Attrs, OpRef, TypeInfo};
use crate::tensor::{fmt_shape, Dim, Shape};
use crate::{Error, Result};

/// Python slicing `x[b0:e0:s0, b1:e1:s1, ...]` over the leading axes; `shrink` axes were
/// indexed with an integer (`begin`) and are removed.
#[derive(Debug)]
pub struct Slice {
    begin: Vec<i64>,
    end: Vec<i64>,
    step: Vec<i64>,
    shrink: Vec<bool>,
}

/// Python's `slice.indices` for one axis: (start, count). `start` is 0 when empty.
pub(super) fn resolve_slice(begin: i64, end: i64, step: i64, dim: usize) -> (usize, usize) {
    let (len, s) = (dim as i128, step as i128);
    let (lower, upper) = if s > 0 { (0, len) } else { (-1, len - 1) };
    let fix = |v: i64| {
        let v = v as i128;
        let v = if v < 0 { v + len } else { v };
        v.clamp(lower, upper)
    };
    let (b, e) = (fix(begin), fix(end));
    let count = if s > 0 {
        if b < e {
            (e - b - 1) / s + 1
        } else {
            0
        }
    } else if e < b {
        (b - e - 1) / (-s) + 1
    } else {
        0
    };
    if count == 0 {
        (0, 0)
    } else {
        (b as usize, count as usize)
    }
}

impl Slice {
    /// Integer index on a shrink axis, checked.
    fn index(&self, k: usize, dim: usize) -> Result<usize> {
        let b = self.begin[k];
        let i = if b < 0 {
            b as i128 + dim as i128
        } else {
            b as i128
        };
        if i < 0 || i >= dim as i128 {
            return Err(Error::Value(format!(
                "slice: index {b} is out of bounds for axis {k} with size {dim}"
            )));
        }
        Ok(i as usize)
    }

    fn check_rank(&self, shape: &[Dim]) -> Result<()> {
        if self.begin.len() > shape.len() {
            return Err(Error::Value(format!(
                "slice: {} axes indexed on an input of shape {} (rank {})",
                self.begin.len(),
                fmt_shape(shape),
                shape.len()
            )));
        }
        Ok(())
    }
}

impl ViewOp for Slice {
    fn name(&self) -> &str {
        "slice"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let x = &inputs[0].shape;
        self.check_rank(x)?;
        let mut out = Shape::with_capacity(x.len());
        for (k, &d) in x.iter().enumerate() {
            if k >= self.begin.len() {
                out.push(d);
            } else if self.shrink[k] {
                if let Some(d) = d {
                    self.index(k, d)?;
                }
            } else {
                out.push(d.map(|d| resolve_slice(self.begin[k], self.end[k], self.step[k], d).1));
            }
        }
        Ok(TypeInfo {
            dtype: inputs[0].dtype,
            shape: out,
        })
    }

    fn view(&self, shape: &[usize]) -> Result<View> {
        let st = strides(shape);
        let mut base = 0isize;
        let mut dims: SmallVec<[(usize, isize); 8]> = SmallVec::new();
        for k in 0..shape.len() {
            if k >= self.begin.len() {
                dims.push((shape[k], st[k] as isize));
            } else if self.shrink[k] {
                base += (self.index(k, shape[k])? * st[k]) as isize;
            } else {
                let (start, count) =
                    resolve_slice(self.begin[k], self.end[k], self.step[k], shape[k]);
                base += (start * st[k]) as isize;
                dims.push((count, self.step[k] as isize * st[k] as isize));
            }
        }
        Ok(View { base, dims }.finish())
    }
}

pub(super) fn build(a: &Attrs) -> Result<OpRef> {
    let begin = a.ints_req("begin")?;
    let end = a.ints_req("end")?;
    let m = begin.len();
    let step = a.ints_opt("step")?.unwrap_or_else(|| vec![1; m]);
    if end.len() != m || step.len() != m {
        return Err(Error::Value(format!(
            "slice: begin, end and step must have one entry per sliced axis, got {}, {} and {}",
            fmt_ints(&begin),
            fmt_ints(&end),
            fmt_ints(&step)
        )));
    }
    if step.contains(&0) {
        return Err(Error::Value(format!(
            "slice: step cannot be zero, got step={}",
            fmt_ints(&step)
        )));
    }
    let mut shrink = vec![false; m];
    for &s in &a.ints_opt("shrink")?.unwrap_or_default() {
        let k = usize::try_from(s)
            .ok()
            .filter(|&k| k < m && !shrink[k])
            .ok_or_else(|| {
                Error::Value(format!(
                    "slice: shrink axis {s} must be a distinct sliced axis (0..{m})"
                ))
            })?;
        shrink[k] = true;
    }
    Ok(Arc::new(Viewed(Slice {
        begin,
        end,
        step,
        shrink,
    })))
}
