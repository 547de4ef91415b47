//! `gather`: rows of a tensor picked by integer indices (`K.gather`, Embedding).

use std::ops::Range;

use super::add_all;
use crate::kernels::pool::{self, for_each_part, parallel_for, Disjoint};
use crate::kernels::simd;
use crate::ops::{expect_inputs, expect_int, Op, OpCtx, TypeInfo};
use crate::tensor::{DType, Value};
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

/// Picks below this many elements in all are copied (or added back) on the calling
/// thread alone.
const PAR_MIN: usize = 1 << 17;

/// Picks per parallel chunk of the forward copy.
const CHUNK_PICKS: usize = 256;

/// Checks every index of `idx` against the `v` rows of the reference; the first bad one
/// is the error.
fn check_all(idx: &[i32], v: usize) -> Result<()> {
    match idx.iter().find(|&&ix| ix < 0 || ix as usize >= v) {
        Some(&ix) => check_row(ix, v).map(|_| ()),
        None => Ok(()),
    }
}

/// The walk forward and backward share, over picks `ks` of `idx` (every index already
/// checked): for pick `k` into the rows of `row` elements, `f(dst, src, ahead)` with
/// `dst` the elements of output row `k`, `src` those of the picked row and `ahead` the
/// row to prefetch ([`ahead_row`]).
#[inline(always)]
fn each_pick(
    v: usize,
    row: usize,
    idx: &[i32],
    ks: Range<usize>,
    mut f: impl FnMut(Range<usize>, Range<usize>, Option<Range<usize>>),
) {
    for k in ks {
        let s = idx[k] as usize * row;
        f(
            k * row..(k + 1) * row,
            s..s + row,
            ahead_row(idx, k, v, row),
        );
    }
}

/// `dst` (rows of `row` elements) = the rows of `src` that `idx` picks (all checked),
/// in chunks of picks on the pool when large: each chunk writes its own output rows, so
/// the copy is the same whatever the split.
fn copy_picks<T: Copy + Send + Sync>(src: &[T], dst: &mut [T], idx: &[i32], v: usize, row: usize) {
    let n = idx.len();
    let copy = |part: &mut [T], ks: Range<usize>| {
        let base = ks.start * row;
        each_pick(v, row, idx, ks, |d, s, ahead| {
            if let Some(a) = ahead {
                simd::prefetch(&src[a]);
            }
            part[d.start - base..d.end - base].copy_from_slice(&src[s]);
        })
    };
    let dst = &mut dst[..n * row];
    if n * row < PAR_MIN {
        return copy(dst, 0..n);
    }
    for_each_part(dst, CHUNK_PICKS * row, pool::threads(), &|c, part| {
        copy(part, c * CHUNK_PICKS..((c + 1) * CHUNK_PICKS).min(n))
    });
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
        expect_int("gather", "indices", i)?;
        let mut shape = i.shape.clone();
        shape.extend_from_slice(&r.shape[1..]);
        Ok(TypeInfo {
            dtype: r.dtype,
            shape,
        })
    }

    /// Large gathers copy their picks in parallel chunks ([`copy_picks`]).
    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let (r, idx) = (inputs[0], &inputs[1].i);
        let (v, row) = (r.shape[0], r.shape[1..].iter().product::<usize>());
        check_all(idx, v)?;
        if r.dt() == DType::I32 {
            copy_picks(&r.i, &mut out.i, idx, v, row);
        } else {
            copy_picks(&r.f, &mut out.f, idx, v, row);
        }
        Ok(())
    }

    /// Adds each output row's gradient to its picked row, in pick order. Large ones
    /// split the reference's rows (not the picks) into one range per thread, each thread
    /// walking all the picks and adding those that land in its range: every row still
    /// receives its additions in pick order, so the sums are the same bits whatever the
    /// split.
    fn backward(
        &self,
        _: usize,
        inputs: &[&Value],
        _: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        let (r, idx) = (inputs[0], &inputs[1].i);
        let (v, row) = (r.shape[0], r.shape[1..].iter().product::<usize>());
        check_all(idx, v)?;
        let n = idx.len();
        let parts = pool::participants(v, pool::threads());
        if n * row < PAR_MIN || parts < 2 {
            each_pick(v, row, idx, 0..n, |dst, src, ahead| {
                if let Some(a) = ahead {
                    simd::prefetch(&gin[a]);
                }
                add_all(&mut gin[src], &g[dst]);
            });
            return Ok(());
        }
        let gins = Disjoint::new(gin);
        parallel_for(parts, parts, &|j, _| {
            let (r0, r1) = (j * v / parts, (j + 1) * v / parts);
            // SAFETY: part j alone owns the reference rows r0..r1.
            let mine = unsafe { gins.part(r0 * row, (r1 - r0) * row) };
            for (k, &ix) in idx.iter().enumerate() {
                let ix = ix as usize;
                if (r0..r1).contains(&ix) {
                    let at = (ix - r0) * row;
                    add_all(&mut mine[at..at + row], &g[k * row..(k + 1) * row]);
                }
            }
        });
        Ok(())
    }

    fn has_grad(&self, index: usize) -> bool {
        index == 0
    }
}
