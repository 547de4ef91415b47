//! `permute` (`K.permute_dimensions`): a view op.

use std::sync::Arc;

use smallvec::{smallvec, SmallVec};

use super::view::{acc, gather, View, ViewOp, Viewed};
use super::{fmt_ints, strides};
use crate::ops::{Attrs, OpRef, TypeInfo};
use crate::tensor::fmt_shape;
use crate::{Error, Result};

/// `K.permute_dimensions`: output axis `k` is input axis `pattern[k]`.
#[derive(Debug)]
pub struct Permute {
    pattern: Vec<usize>,
}

/// View of an input of `shape` read in the axis order `pat`.
fn permute_view(shape: &[usize], pat: &[usize]) -> View {
    let st = strides(shape);
    let mut v = View::new(0);
    for &p in pat {
        v.push(shape[p], st[p] as isize);
    }
    v.finish()
}

impl ViewOp for Permute {
    fn name(&self) -> &str {
        "permute"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let x = &inputs[0].shape;
        if self.pattern.len() != x.len() {
            return Err(Error::Value(format!(
                "permute: pattern {:?} does not match an input of rank {} (shape {})",
                self.pattern,
                x.len(),
                fmt_shape(x)
            )));
        }
        Ok(TypeInfo {
            dtype: inputs[0].dtype,
            shape: self.pattern.iter().map(|&p| x[p]).collect(),
        })
    }

    fn view(&self, x: &[usize]) -> Result<View> {
        Ok(permute_view(x, &self.pattern))
    }

    // The adjoint of a permutation is the inverse permutation: gathered, so the writes
    // are contiguous and a transposition is copied in tiles.
    fn add_grad(&self, _x: &[usize], out: &[usize], g: &[f32], gin: &mut [f32]) -> Result<()> {
        let mut inv: SmallVec<[usize; 8]> = smallvec![0; self.pattern.len()];
        for (k, &p) in self.pattern.iter().enumerate() {
            inv[p] = k;
        }
        gather(g, &permute_view(out, &inv), gin, acc);
        Ok(())
    }
}

pub(super) fn build(a: &Attrs) -> Result<OpRef> {
    let p = a.ints_req("pattern")?;
    let n = p.len();
    let mut seen = vec![false; n];
    let mut pattern = Vec::with_capacity(n);
    for &v in &p {
        let k = usize::try_from(v)
            .ok()
            .filter(|&k| k < n && !seen[k])
            .ok_or_else(|| {
                Error::Value(format!(
                    "permute: pattern {} is not a permutation of 0..{n}",
                    fmt_ints(&p)
                ))
            })?;
        seen[k] = true;
        pattern.push(k);
    }
    Ok(Arc::new(Viewed(Permute { pattern })))
}
