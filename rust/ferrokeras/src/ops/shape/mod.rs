//! Data movement: `reshape`, `expand_dims`, `squeeze`, `batch_flatten`, `flatten` (plain
//! copies), `permute`, `concat`, `slice`, `gather`, `repeat`, `repeat_elements`, `tile`,
//! `one_hot`, `reverse`, `pad`, `switch`, and `concat_flat` / `slice_flat` (packing
//! many tensors into one flat buffer and back). These are the Keras backend's shape
//! functions (`K.reshape`, `K.permute_dimensions`, `K.concatenate`, `x[...]`,
//! `K.gather`, `K.repeat`, ...).
//!
//! Why most of them share one kernel: permuting, slicing (with any step), reversing,
//! repeating, tiling and padding all read or write the input through a *strided view*
//! (a base offset plus one signed stride per output axis; stride 0 repeats). A view is
//! simplified once (size-1 axes dropped, mergeable axes merged) and then walked as
//! contiguous runs along its last axis, so the common cases are memcpy-like loops, and
//! transpositions (last output axis strided in the source while another output axis is
//! contiguous there, e.g. a 2-D transpose) are copied in cache-sized square tiles. The
//! backward kernel of each of these ops walks the same view the other way (gather <->
//! scatter-add). Nothing allocates per call beyond small on-stack vectors.
//!
//! Layout: `view` holds the view, its kernels and `view::ViewOp`, the one forward and
//! backward of the ops whose output is a view of their input (`permute`, `slice`,
//! `reverse`, `replicate`); every other file is one op or one pair of ops.

use std::sync::Arc;

use smallvec::{smallvec, SmallVec};

use crate::ops::{Attrs, OpRef};
use crate::tensor::{DType, Dim, Shape, Value};
use crate::{Error, Result};

mod concat;
mod flat;
mod gather;
mod one_hot;
mod pad;
mod permute;
mod replicate;
mod reshape;
mod reverse;
mod shape_of;
mod slice;
mod switch;
mod view;

#[cfg(test)]
mod tests;

/// Row-major strides of a concrete shape.
fn strides(shape: &[usize]) -> SmallVec<[usize; 8]> {
    let mut st: SmallVec<[usize; 8]> = smallvec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        st[k] = st[k + 1] * shape[k + 1];
    }
    st
}

/// Two symbolic dims may describe the same size.
fn compatible(a: Dim, b: Dim) -> bool {
    !matches!((a, b), (Some(x), Some(y)) if x != y)
}

/// Product of symbolic dims (`None` if any is unknown).
fn prod_dims(s: &[Dim]) -> Dim {
    s.iter().try_fold(1usize, |acc, d| d.map(|d| acc * d))
}

/// Formats an integer list like a Python tuple.
fn fmt_ints(v: &[i64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Concrete shape of a value, symbolically (for messages).
fn sym(v: &[usize]) -> Shape {
    v.iter().map(|&d| Some(d)).collect()
}

/// `gin += g`.
fn add_all(gin: &mut [f32], g: &[f32]) {
    gin.iter_mut().zip(g).for_each(|(d, &v)| *d += v);
}

/// Copies the data of `x` into `out` (same dtype storage, same element count).
fn copy_data(x: &Value, out: &mut Value) {
    if x.dt() == DType::I32 {
        out.i.copy_from_slice(&x.i);
    } else {
        out.f.copy_from_slice(&x.f);
    }
}

/// A non-negative integer argument.
fn nonneg(op: &str, key: &str, v: i64) -> Result<usize> {
    usize::try_from(v)
        .map_err(|_| Error::Value(format!("{op}: argument '{key}' must be >= 0, got {v}")))
}

/// A list of non-negative integers.
fn nonneg_list(op: &str, key: &str, v: &[i64]) -> Result<Vec<usize>> {
    v.iter().map(|&x| nonneg(op, key, x)).collect()
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    Some(match name {
        "reshape" => reshape::build("reshape", a),
        "expand_dims" => reshape::build("expand_dims", a),
        "squeeze" => reshape::build("squeeze", a),
        "batch_flatten" => reshape::build("batch_flatten", a),
        "flatten" => reshape::build("flatten", a),
        "permute" => permute::build(a),
        "concat" => concat::build(a),
        "slice" => slice::build(a),
        "shape_of" => Ok(Arc::new(shape_of::ShapeOf) as OpRef),
        "gather" => Ok(Arc::new(gather::Gather) as OpRef),
        "repeat" => replicate::build("repeat", a),
        "repeat_elements" => replicate::build("repeat_elements", a),
        "tile" => replicate::build("tile", a),
        "one_hot" => one_hot::build(a),
        "reverse" => reverse::build(a),
        "pad" => pad::build(a),
        "switch" => Ok(Arc::new(switch::Switch) as OpRef),
        "concat_flat" => Ok(Arc::new(flat::ConcatFlat) as OpRef),
        "slice_flat" => flat::build_slice_flat(a),
        _ => return None,
    })
}
