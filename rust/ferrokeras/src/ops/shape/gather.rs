//! `gather`: rows of a tensor picked by integer indices (`K.gather`, Embedding).

use std::ops::Range;

use super::add_all;
use crate::kernels::simd;
use crate::ops::{expect_inputs, Op, OpCtx, TypeInfo};
use crate::tensor::{fmt_shape, DType, Value};
use crate::{Error, Result};

/// `K.gather(reference, indices)`: rows of `reference` (V, ...) picked by int32
/// `indices` of any shape; output `indices.shape + reference.shape[1:]`.
#[derive(Debug)]
pub struct Gather;

/// Rows fetched ahead of the one being copied: an embedding's rows lie scattered over a
/// table far larger than the caches, and one at a time each waits for memory.
const AHEAD: usize = 8;

/// The elements of the row `AHEAD` picks after pick `k`, if there is one in range.
fn ahead_row(idx: &[i32], k: usize, v: usize, row: usize) -> Option<Range<usize>> {
    let ix = *idx.get(k + AHEAD)?;
    (ix >= 0 && (ix as usize) < v).then(|| ix as usize * row..(ix as usize + 1) * row)
}

fn check_row(ix: i32, v: usize) -> Result<usize> {
    if ix < 0 || ix as usize >= v {
        return Err(Error::Value(format!(
            "gather: index {ix} is out of range for a reference with {v} rows"
        )));
    }
    Ok(ix as usize)
}

/// The walk forward and backward share: for pick `k` of `idx` into the rows of `r`,
/// `f(dst, src, ahead)` with `dst` the elements of output row `k`, `src` those of the
/// picked row of `r` (checked in range; the first bad index ends the walk with its
/// error) and `ahead` the row to prefetch ([`ahead_row`]).
#[inline(always)]
fn each_pick(
    r: &Value,
    idx: &[i32],
    mut f: impl FnMut(Range<usize>, Range<usize>, Option<Range<usize>>),
) -> Result<()> {
    let v = r.shape[0];
    let row: usize = r.shape[1..].iter().product();
    for (k, &ix) in idx.iter().enumerate() {
        let s = check_row(ix, v)? * row;
        f(
            k * row..(k + 1) * row,
            s..s + row,
            ahead_row(idx, k, v, row),
        );
    }
    Ok(())
}

impl Op for Gather {
    fn name(&self) -> &str {
        "gather"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("gather", inputs, 2)?;
        let (r, i) = (&inputs[0], &inputs[1]);
        if r.shape.is_empty() {
            return Err(Error::Shape(
                "gather: the reference must have at least one axis, got a scalar".into(),
            ));
        }
        if i.dtype != DType::I32 {
            return Err(Error::Type(format!(
                "gather: indices must be int32, got {} of shape {} (cast them first)",
                i.dtype.name(),
                fmt_shape(&i.shape)
            )));
        }
        let mut shape = i.shape.clone();
        shape.extend_from_slice(&r.shape[1..]);
        Ok(TypeInfo {
            dtype: r.dtype,
            shape,
        })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let r = inputs[0];
        let ints = r.dt() == DType::I32;
        each_pick(r, &inputs[1].i, |dst, src, ahead| {
            if let Some(ahead) = ahead {
                if ints {
                    simd::prefetch(&r.i[ahead]);
                } else {
                    simd::prefetch(&r.f[ahead]);
                }
            }
            if ints {
                out.i[dst].copy_from_slice(&r.i[src]);
            } else {
                out.f[dst].copy_from_slice(&r.f[src]);
            }
        })
    }

    fn backward(
        &self,
        _: usize,
        inputs: &[&Value],
        _: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        each_pick(inputs[0], &inputs[1].i, |dst, src, ahead| {
            if let Some(ahead) = ahead {
                simd::prefetch(&gin[ahead]);
            }
            add_all(&mut gin[src], &g[dst]);
        })
    }

    fn has_grad(&self, index: usize) -> bool {
        index == 0
    }
}
