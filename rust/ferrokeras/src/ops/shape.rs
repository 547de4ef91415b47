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

use std::sync::Arc;

use smallvec::{smallvec, SmallVec};

use super::{expect_float, expect_inputs, norm_axis, Attrs, Op, OpCtx, OpRef, Scratch, TypeInfo};
use crate::kernels::alloc::grow;
use crate::tensor::{fmt_dims, fmt_shape, numel, DType, Dim, Shape, Value};
use crate::{Error, Result};

// ---------------------------------------------------------------------------------
// Helpers

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

#[inline(always)]
fn set<T: Copy>(d: &mut T, x: T) {
    *d = x;
}

#[inline(always)]
fn acc(d: &mut f32, x: f32) {
    *d += x;
}

/// A strided view: element `o` (row-major over `dims` sizes) of a contiguous array is
/// element `base + sum_k idx_k * stride_k` of the strided buffer.
#[derive(Debug, Clone)]
struct View {
    base: isize,
    dims: SmallVec<[(usize, isize); 8]>,
}

impl View {
    fn new(base: isize) -> View {
        View {
            base,
            dims: SmallVec::new(),
        }
    }

    fn push(&mut self, size: usize, stride: isize) {
        self.dims.push((size, stride));
    }

    /// Drops size-1 axes and merges neighbours that step uniformly. Always leaves at
    /// least one axis.
    fn finish(mut self) -> View {
        if self.dims.iter().any(|d| d.0 == 0) {
            self.dims = smallvec![(0, 1)];
            return self;
        }
        let mut out: SmallVec<[(usize, isize); 8]> = SmallVec::new();
        for &(s, st) in &self.dims {
            if s == 1 {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.1 == st * s as isize => *last = (last.0 * s, st),
                _ => out.push((s, st)),
            }
        }
        if out.is_empty() {
            out.push((1, 1));
        }
        self.dims = out;
        self
    }

    /// Calls `f(strided_offset, contiguous_offset)` for each position of the axes before
    /// the last `inner` ones, in order; contiguous offsets advance by the element count
    /// of the inner axes.
    #[inline]
    fn walk(&self, inner: usize, mut f: impl FnMut(isize, usize)) {
        let n = self.dims.len();
        let outer = &self.dims[..n - inner];
        let step: usize = self.dims[n - inner..].iter().map(|d| d.0).product();
        if step == 0 || outer.iter().any(|d| d.0 == 0) {
            return;
        }
        let mut idx: SmallVec<[usize; 8]> = smallvec![0; outer.len()];
        let (mut s, mut c) = (self.base, 0usize);
        loop {
            f(s, c);
            c += step;
            let mut k = outer.len();
            loop {
                if k == 0 {
                    return;
                }
                k -= 1;
                idx[k] += 1;
                s += outer[k].1;
                if idx[k] < outer[k].0 {
                    break;
                }
                s -= outer[k].1 * idx[k] as isize;
                idx[k] = 0;
            }
        }
    }
}

/// Side of the square tiles of the transposing gather (elements).
const TILE: usize = 32;

/// Calls `f(src_offset, dst_offset)` over all positions of `dims` (size, src stride, dst
/// stride), starting from `s0` / 0.
fn walk2(dims: &[(usize, isize, usize)], s0: isize, mut f: impl FnMut(isize, usize)) {
    if dims.iter().any(|d| d.0 == 0) {
        return;
    }
    let mut idx: SmallVec<[usize; 8]> = smallvec![0; dims.len()];
    let (mut s, mut d) = (s0, 0usize);
    loop {
        f(s, d);
        let mut k = dims.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            s += dims[k].1;
            d += dims[k].2;
            if idx[k] < dims[k].0 {
                break;
            }
            s -= dims[k].1 * idx[k] as isize;
            d -= dims[k].2 * idx[k];
            idx[k] = 0;
        }
    }
}

/// `f(&mut dst[o], src[view(o)])` for every `o` (dst contiguous, src strided).
fn gather<T: Copy>(src: &[T], v: &View, dst: &mut [T], f: impl Fn(&mut T, T) + Copy) {
    let n = v.dims.len();
    let (len, st) = v.dims[n - 1];
    // A transposition: the last output axis is strided in the source while another
    // output axis `j` is contiguous there. Copy in square tiles spanning both axes so
    // that reads and writes each touch only a few cache lines.
    if st.unsigned_abs() > 1 {
        if let Some(j) = v.dims[..n - 1].iter().position(|d| d.1 == 1) {
            let mut dstr: SmallVec<[usize; 8]> = smallvec![1; n];
            for k in (0..n - 1).rev() {
                dstr[k] = dstr[k + 1] * v.dims[k + 1].0;
            }
            let outer: SmallVec<[(usize, isize, usize); 8]> = (0..n - 1)
                .filter(|&k| k != j)
                .map(|k| (v.dims[k].0, v.dims[k].1, dstr[k]))
                .collect();
            let (rows, drs) = (v.dims[j].0, dstr[j]);
            walk2(&outer, v.base, |s, d| {
                for r0 in (0..rows).step_by(TILE) {
                    let r1 = (r0 + TILE).min(rows);
                    for c0 in (0..len).step_by(TILE) {
                        let cb = TILE.min(len - c0);
                        for r in r0..r1 {
                            let o = d + r * drs + c0;
                            let sb = s + r as isize + c0 as isize * st;
                            for (jj, dj) in dst[o..o + cb].iter_mut().enumerate() {
                                f(dj, src[(sb + jj as isize * st) as usize]);
                            }
                        }
                    }
                }
            });
            return;
        }
    }
    v.walk(1, |s, c| {
        let d = &mut dst[c..c + len];
        match st {
            1 => {
                let s = s as usize;
                d.iter_mut()
                    .zip(&src[s..s + len])
                    .for_each(|(d, &x)| f(d, x));
            }
            0 => {
                let x = src[s as usize];
                d.iter_mut().for_each(|d| f(d, x));
            }
            -1 => {
                let s = s as usize;
                d.iter_mut()
                    .zip(src[s + 1 - len..=s].iter().rev())
                    .for_each(|(d, &x)| f(d, x));
            }
            _ => {
                for (j, d) in d.iter_mut().enumerate() {
                    f(d, src[(s + j as isize * st) as usize]);
                }
            }
        }
    });
}

/// `f(&mut dst[view(o)], src[o])` for every `o` (dst strided, src contiguous).
fn scatter<T: Copy>(dst: &mut [T], v: &View, src: &[T], f: impl Fn(&mut T, T) + Copy) {
    let (len, st) = v.dims[v.dims.len() - 1];
    v.walk(1, |s, c| {
        let x = &src[c..c + len];
        if st == 1 {
            let s = s as usize;
            dst[s..s + len]
                .iter_mut()
                .zip(x)
                .for_each(|(d, &x)| f(d, x));
        } else {
            for (j, &x) in x.iter().enumerate() {
                f(&mut dst[(s + j as isize * st) as usize], x);
            }
        }
    });
}

/// Gathers a value of either storage through a view (`out` already sized).
fn gather_value(x: &Value, v: &View, out: &mut Value) {
    if x.dt() == DType::I32 {
        gather(&x.i, v, &mut out.i, set);
    } else {
        gather(&x.f, v, &mut out.f, set);
    }
}

// ---------------------------------------------------------------------------------
// reshape, expand_dims, squeeze, batch_flatten, flatten

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

    fn backward(
        &self,
        _: usize,
        _: &[&Value],
        _: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        add_all(gin, g);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// permute

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

impl Op for Permute {
    fn name(&self) -> &str {
        "permute"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("permute", inputs, 1)?;
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

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        gather_value(
            inputs[0],
            &permute_view(&inputs[0].shape, &self.pattern),
            out,
        );
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        _: &[&Value],
        out: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        let mut inv: SmallVec<[usize; 8]> = smallvec![0; self.pattern.len()];
        for (k, &p) in self.pattern.iter().enumerate() {
            inv[p] = k;
        }
        gather(g, &permute_view(&out.shape, &inv), gin, acc);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// concat

/// `K.concatenate` along one axis; float or int32 inputs (all of one storage).
#[derive(Debug)]
pub struct Concat {
    axis: i64,
}

impl Concat {
    /// (outer, inner, axis) of the first input's shape.
    fn split(&self, shape: &[usize]) -> Result<(usize, usize, usize)> {
        let ax = norm_axis("concat", self.axis, shape.len())?;
        Ok((
            shape[..ax].iter().product(),
            shape[ax + 1..].iter().product(),
            ax,
        ))
    }
}

impl Op for Concat {
    fn name(&self) -> &str {
        "concat"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        if inputs.is_empty() {
            return Err(Error::Value("concat: needs at least one input".into()));
        }
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

// ---------------------------------------------------------------------------------
// slice

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
fn resolve_slice(begin: i64, end: i64, step: i64, dim: usize) -> (usize, usize) {
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

impl Op for Slice {
    fn name(&self) -> &str {
        "slice"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("slice", inputs, 1)?;
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

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        gather_value(inputs[0], &self.view(&inputs[0].shape)?, out);
        Ok(())
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
        scatter(gin, &self.view(&inputs[0].shape)?, g, acc);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// gather

/// `K.gather(reference, indices)`: rows of `reference` (V, ...) picked by int32
/// `indices` of any shape; output `indices.shape + reference.shape[1:]`.
#[derive(Debug)]
pub struct Gather;

fn check_row(ix: i32, v: usize) -> Result<usize> {
    if ix < 0 || ix as usize >= v {
        return Err(Error::Value(format!(
            "gather: index {ix} is out of range for a reference with {v} rows"
        )));
    }
    Ok(ix as usize)
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
        let (r, idx) = (inputs[0], inputs[1]);
        let v = r.shape[0];
        let row: usize = r.shape[1..].iter().product();
        for (k, &ix) in idx.i.iter().enumerate() {
            let s = check_row(ix, v)? * row;
            if r.dt() == DType::I32 {
                out.i[k * row..(k + 1) * row].copy_from_slice(&r.i[s..s + row]);
            } else {
                out.f[k * row..(k + 1) * row].copy_from_slice(&r.f[s..s + row]);
            }
        }
        Ok(())
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
        let (r, idx) = (inputs[0], inputs[1]);
        let v = r.shape[0];
        let row: usize = r.shape[1..].iter().product();
        for (k, &ix) in idx.i.iter().enumerate() {
            let s = check_row(ix, v)? * row;
            add_all(&mut gin[s..s + row], &g[k * row..(k + 1) * row]);
        }
        Ok(())
    }

    fn has_grad(&self, index: usize) -> bool {
        index == 0
    }
}

// ---------------------------------------------------------------------------------
// repeat, repeat_elements, tile

/// Which replication.
#[derive(Debug, Clone, PartialEq)]
enum Rep {
    /// `K.repeat`: (b, d) -> (b, n, d).
    Repeat(usize),
    /// `np.repeat(x, rep, axis)`.
    Elements { rep: usize, axis: i64 },
    /// `np.tile(x, n)`.
    Tile(Vec<usize>),
}

/// Replicates the input (all three are stride-0 views of it); the backward kernel sums
/// the copies.
#[derive(Debug)]
pub struct Replicate {
    rep: Rep,
    name: &'static str,
}

impl Replicate {
    fn view(&self, shape: &[usize]) -> Result<View> {
        let st = strides(shape);
        let mut v = View::new(0);
        match &self.rep {
            Rep::Repeat(n) => {
                v.push(shape[0], st[0] as isize);
                v.push(*n, 0);
                v.push(shape[1], 1);
            }
            Rep::Elements { rep, axis } => {
                let ax = norm_axis(self.name, *axis, shape.len())?;
                for k in 0..shape.len() {
                    v.push(shape[k], st[k] as isize);
                    if k == ax {
                        v.push(*rep, 0);
                    }
                }
            }
            Rep::Tile(ns) => {
                let r = shape.len().max(ns.len());
                for k in 0..r {
                    let n = if k + ns.len() >= r {
                        ns[k + ns.len() - r]
                    } else {
                        1
                    };
                    let (d, s) = if k + shape.len() >= r {
                        let j = k + shape.len() - r;
                        (shape[j], st[j] as isize)
                    } else {
                        (1, 0)
                    };
                    v.push(n, 0);
                    v.push(d, s);
                }
            }
        }
        Ok(v.finish())
    }
}

impl Op for Replicate {
    fn name(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(self.name, inputs, 1)?;
        let x = &inputs[0].shape;
        let shape = match &self.rep {
            Rep::Repeat(n) => {
                if x.len() != 2 {
                    return Err(Error::Shape(format!(
                        "repeat: expects a 2-D input, got shape {}",
                        fmt_shape(x)
                    )));
                }
                vec![x[0], Some(*n), x[1]]
            }
            Rep::Elements { rep, axis } => {
                let ax = norm_axis(self.name, *axis, x.len())?;
                let mut s = x.clone();
                s[ax] = s[ax].map(|d| d * rep);
                s
            }
            Rep::Tile(ns) => {
                let r = x.len().max(ns.len());
                (0..r)
                    .map(|k| {
                        let n = if k + ns.len() >= r {
                            ns[k + ns.len() - r]
                        } else {
                            1
                        };
                        let d = if k + x.len() >= r {
                            x[k + x.len() - r]
                        } else {
                            Some(1)
                        };
                        if n == 0 {
                            Some(0)
                        } else {
                            d.map(|d| d * n)
                        }
                    })
                    .collect()
            }
        };
        Ok(TypeInfo {
            dtype: inputs[0].dtype,
            shape,
        })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        gather_value(inputs[0], &self.view(&inputs[0].shape)?, out);
        Ok(())
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
        scatter(gin, &self.view(&inputs[0].shape)?, g, acc);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// one_hot

/// int32 class ids (...) -> float32 one-hot (..., nb_classes). No gradient.
#[derive(Debug)]
pub struct OneHot {
    nb: usize,
}

impl Op for OneHot {
    fn name(&self) -> &str {
        "one_hot"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("one_hot", inputs, 1)?;
        let x = &inputs[0];
        if x.dtype != DType::I32 {
            return Err(Error::Type(format!(
                "one_hot: expects int32 class ids, got {} of shape {} (cast them first)",
                x.dtype.name(),
                fmt_shape(&x.shape)
            )));
        }
        let mut shape = x.shape.clone();
        shape.push(Some(self.nb));
        Ok(TypeInfo::f32(shape))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        out.f.fill(0.0);
        for (k, &c) in inputs[0].i.iter().enumerate() {
            if c < 0 || c as usize >= self.nb {
                return Err(Error::Value(format!(
                    "one_hot: class id {c} is out of range for nb_classes={}",
                    self.nb
                )));
            }
            out.f[k * self.nb + c as usize] = 1.0;
        }
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        _: &[&Value],
        _: &Value,
        _: &[f32],
        _: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        Ok(())
    }

    fn has_grad(&self, _index: usize) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------------
// reverse

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
}

impl Op for Reverse {
    fn name(&self) -> &str {
        "reverse"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("reverse", inputs, 1)?;
        self.mask(inputs[0].ndim())?;
        Ok(inputs[0].clone())
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        gather_value(inputs[0], &self.view(&inputs[0].shape)?, out);
        Ok(())
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
        // Reversal is its own inverse: the same view maps the output gradient back.
        gather(g, &self.view(&inputs[0].shape)?, gin, acc);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// pad

/// Constant padding: `pads` = (before0, after0, before1, after1, ...).
#[derive(Debug)]
pub struct Pad {
    pads: Vec<usize>,
    value: f32,
}

impl Pad {
    /// View of the interior of the padded output.
    fn view(&self, in_shape: &[usize], out_shape: &[usize]) -> View {
        let ost = strides(out_shape);
        let mut v = View::new(0);
        for k in 0..in_shape.len() {
            v.base += (self.pads[2 * k] * ost[k]) as isize;
            v.push(in_shape[k], ost[k] as isize);
        }
        v.finish()
    }
}

impl Op for Pad {
    fn name(&self) -> &str {
        "pad"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("pad", inputs, 1)?;
        expect_float("pad", &inputs[0])?;
        let x = &inputs[0].shape;
        if self.pads.len() != 2 * x.len() {
            return Err(Error::Value(format!(
                "pad: pads must have 2 entries per axis (before, after), got {} for an input of shape {}",
                self.pads.len(),
                fmt_shape(x)
            )));
        }
        let shape = x
            .iter()
            .enumerate()
            .map(|(k, d)| d.map(|d| d + self.pads[2 * k] + self.pads[2 * k + 1]))
            .collect();
        Ok(TypeInfo {
            dtype: inputs[0].dtype,
            shape,
        })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        let v = self.view(&x.shape, &out.shape);
        out.f.fill(self.value);
        scatter(&mut out.f, &v, &x.f, set);
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        inputs: &[&Value],
        out: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        gather(g, &self.view(&inputs[0].shape, &out.shape), gin, acc);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// switch

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

// ---------------------------------------------------------------------------------
// concat_flat, slice_flat

/// Concatenates the flattened data of N float inputs into one 1-D float32 buffer.
#[derive(Debug)]
pub struct ConcatFlat;

impl Op for ConcatFlat {
    fn name(&self) -> &str {
        "concat_flat"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        if inputs.is_empty() {
            return Err(Error::Value("concat_flat: needs at least one input".into()));
        }
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

// ---------------------------------------------------------------------------------
// Registry

/// A non-negative integer argument.
fn nonneg(op: &str, key: &str, v: i64) -> Result<usize> {
    usize::try_from(v)
        .map_err(|_| Error::Value(format!("{op}: argument '{key}' must be >= 0, got {v}")))
}

/// A list of non-negative integers.
fn nonneg_list(op: &str, key: &str, v: &[i64]) -> Result<Vec<usize>> {
    v.iter().map(|&x| nonneg(op, key, x)).collect()
}

fn build_reshape(name: &'static str, a: &Attrs) -> Result<OpRef> {
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

fn build_slice(a: &Attrs) -> Result<OpRef> {
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
    Ok(Arc::new(Slice {
        begin,
        end,
        step,
        shrink,
    }))
}

fn build_permute(a: &Attrs) -> Result<OpRef> {
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
    Ok(Arc::new(Permute { pattern }))
}

/// The concrete shape of the input as a 1-D int32 tensor (`K.shape`). No gradient.
#[derive(Debug)]
pub struct ShapeOf;

impl Op for ShapeOf {
    fn name(&self) -> &str {
        "shape_of"
    }
    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        if inputs.len() != 1 {
            return Err(Error::Value(format!(
                "shape_of takes 1 input, got {}",
                inputs.len()
            )));
        }
        Ok(TypeInfo {
            dtype: DType::I32,
            shape: vec![Some(inputs[0].shape.len())],
        })
    }
    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        for (o, &d) in out.i.iter_mut().zip(&inputs[0].shape) {
            *o = i32::try_from(d)
                .map_err(|_| Error::Value(format!("shape_of: dimension {d} exceeds int32")))?;
        }
        Ok(())
    }
    fn backward(
        &self,
        _: usize,
        _: &[&Value],
        _: &Value,
        _: &[f32],
        _: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        Ok(())
    }
    fn has_grad(&self, _index: usize) -> bool {
        false
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    Some(match name {
        "reshape" => build_reshape("reshape", a),
        "expand_dims" => build_reshape("expand_dims", a),
        "squeeze" => build_reshape("squeeze", a),
        "batch_flatten" => build_reshape("batch_flatten", a),
        "flatten" => build_reshape("flatten", a),
        "permute" => build_permute(a),
        "concat" => a
            .int("axis", -1)
            .map(|axis| Arc::new(Concat { axis }) as OpRef),
        "slice" => build_slice(a),
        "shape_of" => Ok(Arc::new(ShapeOf) as OpRef),
        "gather" => Ok(Arc::new(Gather) as OpRef),
        "repeat" => (|| {
            let n = nonneg("repeat", "n", a.int_req("n")?)?;
            Ok(Arc::new(Replicate {
                rep: Rep::Repeat(n),
                name: "repeat",
            }) as OpRef)
        })(),
        "repeat_elements" => (|| {
            let rep = nonneg("repeat_elements", "rep", a.int_req("rep")?)?;
            let axis = a.int_req("axis")?;
            Ok(Arc::new(Replicate {
                rep: Rep::Elements { rep, axis },
                name: "repeat_elements",
            }) as OpRef)
        })(),
        "tile" => (|| {
            let n = nonneg_list("tile", "n", &a.ints_req("n")?)?;
            Ok(Arc::new(Replicate {
                rep: Rep::Tile(n),
                name: "tile",
            }) as OpRef)
        })(),
        "one_hot" => (|| {
            let nb = a.int_req("nb_classes")?;
            if nb < 1 {
                return Err(Error::Value(format!(
                    "one_hot: nb_classes must be >= 1, got {nb}"
                )));
            }
            Ok(Arc::new(OneHot { nb: nb as usize }) as OpRef)
        })(),
        "reverse" => a
            .ints_req("axes")
            .map(|axes| Arc::new(Reverse { axes }) as OpRef),
        "pad" => (|| {
            let pads = nonneg_list("pad", "pads", &a.ints_req("pads")?)?;
            let value = a.float("value", 0.0)? as f32;
            Ok(Arc::new(Pad { pads, value }) as OpRef)
        })(),
        "switch" => Ok(Arc::new(Switch) as OpRef),
        "concat_flat" => Ok(Arc::new(ConcatFlat) as OpRef),
        "slice_flat" => (|| {
            let offset = nonneg("slice_flat", "offset", a.int_req("offset")?)?;
            let shape = nonneg_list("slice_flat", "shape", &a.ints_req("shape")?)?;
            Ok(Arc::new(SliceFlat { offset, shape }) as OpRef)
        })(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::Attr;
    use crate::tensor::known;

    fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; shape.len()];
        for k in (0..shape.len()).rev() {
            idx[k] = i % shape[k];
            i /= shape[k];
        }
        idx
    }

    fn ravel(idx: &[usize], shape: &[usize]) -> usize {
        idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
    }

    /// Reference: out[o] = x[map(out_index)].
    fn naive(
        x: &[f32],
        in_shape: &[usize],
        out_shape: &[usize],
        map: impl Fn(&[usize]) -> Vec<usize>,
    ) -> Vec<f32> {
        (0..numel(out_shape))
            .map(|o| x[ravel(&map(&unravel(o, out_shape)), in_shape)])
            .collect()
    }

    fn ival(shape: &[usize], data: &[i32]) -> Value {
        Value::from_i32(shape, data.to_vec()).unwrap()
    }

    fn iota_i(shape: &[usize]) -> Value {
        ival(shape, &(0..numel(shape) as i32).collect::<Vec<_>>())
    }

    fn ints(v: &[i64]) -> Attr {
        Attr::Ints(v.to_vec())
    }

    fn tf(s: Shape) -> TypeInfo {
        TypeInfo::f32(s)
    }

    fn run_err(o: &OpRef, inputs: &[Value]) -> Error {
        forward_with(o, inputs, &mut Scratch::default()).unwrap_err()
    }

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for pos in 0..=p.len() {
                let mut q = p.clone();
                q.insert(pos, n - 1);
                out.push(q);
            }
        }
        out
    }

    #[test]
    fn reshape_family_copies_and_infers_shapes() {
        let x = rand(&[2, 3, 4], 1, -1.0, 1.0);
        let cases: &[(&[i64], &[usize])] = &[
            (&[4, 6], &[4, 6]),
            (&[-1, 4], &[6, 4]),
            (&[2, -1, 2], &[2, 6, 2]),
            (&[24], &[24]),
            (&[1, 24, 1], &[1, 24, 1]),
            (&[-1], &[24]),
        ];
        for &(target, want) in cases {
            let o = op("reshape", &[("shape", ints(target))]);
            let y = forward(&o, std::slice::from_ref(&x));
            assert_eq!(y.shape, want);
            assert_eq!(y.f, x.f);
            grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
        }
        let y = forward(
            &op("reshape", &[("shape", ints(&[3, 2]))]),
            &[iota_i(&[2, 3])],
        );
        assert_eq!(
            (y.dt(), y.shape.clone(), y.i.clone()),
            (DType::I32, vec![3, 2], vec![0, 1, 2, 3, 4, 5])
        );

        let r = |t: &[i64], s: Shape| op("reshape", &[("shape", ints(t))]).infer(&[tf(s)]);
        assert_eq!(
            r(&[-1, 12], vec![None, Some(3), Some(4)]).unwrap().shape,
            vec![None, Some(12)]
        );
        assert_eq!(
            r(&[-1, 3, 4], vec![None, Some(12)]).unwrap().shape,
            vec![None, Some(3), Some(4)]
        );
        assert_eq!(
            r(&[6, 2], vec![None, Some(3)]).unwrap().shape,
            vec![Some(6), Some(2)]
        );
        let e = r(&[3, 4], vec![None, Some(5)]).unwrap_err();
        assert!(
            matches!(e, Error::Shape(_)) && e.to_string().contains("(None, 5)"),
            "{e}"
        );
        let e = r(&[4, 2], vec![Some(2), Some(3)]).unwrap_err();
        assert!(
            e.to_string().contains("(2, 3)") && e.to_string().contains("(4, 2)"),
            "{e}"
        );
        assert!(r(&[-1, 4], vec![Some(2), Some(3)]).is_err());
        assert!(r(&[0, -1], vec![Some(2), Some(3)]).is_err());
        for bad in [&[-1i64, -1][..], &[-2, 3]] {
            let a = Attrs::new("reshape").with("shape", ints(bad));
            assert!(matches!(
                crate::ops::build("reshape", &a),
                Err(Error::Value(_))
            ));
        }
    }

    #[test]
    fn expand_squeeze_flatten() {
        let x = rand(&[2, 3], 2, -1.0, 1.0);
        for (axis, want) in [
            (None, vec![2, 3, 1]),
            (Some(0), vec![1, 2, 3]),
            (Some(-2), vec![2, 1, 3]),
            (Some(2), vec![2, 3, 1]),
        ] {
            let attrs: Vec<(&str, Attr)> = axis
                .map(|a| vec![("axis", Attr::Int(a))])
                .unwrap_or_default();
            let o = op("expand_dims", &attrs);
            let y = forward(&o, std::slice::from_ref(&x));
            assert_eq!(y.shape, want);
            assert_eq!(y.f, x.f);
            grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
        }
        assert!(op("expand_dims", &[("axis", Attr::Int(3))])
            .infer(&[tf(known(&[2, 3]))])
            .is_err());

        let x3 = rand(&[2, 1, 3], 3, -1.0, 1.0);
        for axis in [1, -2] {
            let o = op("squeeze", &[("axis", Attr::Int(axis))]);
            let y = forward(&o, std::slice::from_ref(&x3));
            assert_eq!(y.shape, vec![2, 3]);
            assert_eq!(y.f, x3.f);
            grad_check(&o, std::slice::from_ref(&x3), 1e-3, 1e-2).unwrap();
        }
        let sq = op("squeeze", &[("axis", Attr::Int(1))]);
        assert!(matches!(
            sq.infer(&[tf(known(&[2, 3]))]),
            Err(Error::Shape(_))
        ));
        assert_eq!(sq.infer(&[tf(vec![None, None])]).unwrap().shape, vec![None]);
        assert!(matches!(
            run_err(&sq, std::slice::from_ref(&x)),
            Error::Shape(_)
        ));
        assert!(crate::ops::build("squeeze", &Attrs::new("squeeze")).is_err());

        let bf = op("batch_flatten", &[]);
        let y = forward(&bf, &[rand(&[2, 3, 4], 4, 0.0, 1.0)]);
        assert_eq!(y.shape, vec![2, 12]);
        grad_check(&bf, &[rand(&[2, 3, 2], 4, 0.0, 1.0)], 1e-3, 1e-2).unwrap();
        assert_eq!(
            bf.infer(&[tf(vec![None, Some(3), Some(4)])]).unwrap().shape,
            vec![None, Some(12)]
        );
        assert_eq!(
            bf.infer(&[tf(vec![None, None, Some(4)])]).unwrap().shape,
            vec![None, None]
        );
        assert_eq!(
            bf.infer(&[tf(vec![Some(5)])]).unwrap().shape,
            vec![Some(5), Some(1)]
        );
        assert!(bf.infer(&[tf(vec![])]).is_err());
        let fl = op("flatten", &[]);
        let y = forward(&fl, &[iota_i(&[2, 3, 4])]);
        assert_eq!((y.shape.clone(), y.i[23]), (vec![24], 23));
        assert_eq!(
            fl.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
            vec![None]
        );
        grad_check(&fl, &[x], 1e-3, 1e-2).unwrap();
    }

    #[test]
    fn permute_matches_reference_for_all_patterns() {
        let shapes: &[&[usize]] = &[
            &[3, 5],
            &[67, 45],
            &[2, 3, 4],
            &[3, 37, 41],
            &[2, 1, 3, 4],
            &[4, 1],
            &[5],
        ];
        for (s, &shape) in shapes.iter().enumerate() {
            let x = rand(shape, s as u64, -1.0, 1.0);
            let xi = iota_i(shape);
            for p in permutations(shape.len()) {
                let o = op(
                    "permute",
                    &[(
                        "pattern",
                        ints(&p.iter().map(|&v| v as i64).collect::<Vec<_>>()),
                    )],
                );
                let out_shape: Vec<usize> = p.iter().map(|&k| shape[k]).collect();
                let map = |oi: &[usize]| {
                    let mut ii = vec![0; oi.len()];
                    for (k, &pk) in p.iter().enumerate() {
                        ii[pk] = oi[k];
                    }
                    ii
                };
                let y = forward(&o, std::slice::from_ref(&x));
                assert_eq!(y.shape, out_shape);
                assert_eq!(y.f, naive(&x.f, shape, &out_shape, map), "{shape:?} {p:?}");
                let yi = forward(&o, std::slice::from_ref(&xi));
                let xif: Vec<f32> = xi.i.iter().map(|&v| v as f32).collect();
                assert_eq!(
                    yi.i.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                    naive(&xif, shape, &out_shape, map)
                );
                // backward: gin[i] += g[o(i)], checked against the forward mapping
                let g: Vec<f32> = (0..y.len()).map(|v| v as f32).collect();
                let mut gin = vec![1.0f32; x.len()];
                o.backward(
                    0,
                    &[&x],
                    &y,
                    &g,
                    &mut gin,
                    &mut OpCtx {
                        scratch: &mut Scratch::default(),
                    },
                )
                .unwrap();
                let mut want = vec![1.0f32; x.len()];
                for (k, &v) in g.iter().enumerate() {
                    want[ravel(&map(&unravel(k, &out_shape)), shape)] += v;
                }
                assert_eq!(gin, want, "{shape:?} {p:?}");
                if x.len() <= 24 {
                    grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
                }
            }
        }
        let o = op("permute", &[("pattern", ints(&[1, 0]))]);
        assert!(o.infer(&[tf(known(&[2, 3, 4]))]).is_err());
        assert_eq!(
            o.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
            vec![Some(3), None]
        );
        for bad in [&[0i64, 0][..], &[0, 2], &[-1, 0]] {
            let a = Attrs::new("permute").with("pattern", ints(bad));
            assert!(
                matches!(crate::ops::build("permute", &a), Err(Error::Value(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn concat_forward_gradients_and_shapes() {
        let cases: &[(&[&[usize]], i64)] = &[
            (&[&[2, 3, 4], &[2, 1, 4], &[2, 2, 4]], 1),
            (&[&[2, 3, 4], &[2, 1, 4], &[2, 2, 4]], -2),
            (&[&[1, 3], &[2, 3]], 0),
            (&[&[2, 2], &[2, 3], &[2, 1]], -1),
            (&[&[3, 5]], 1),
        ];
        for (c, &(shapes, axis)) in cases.iter().enumerate() {
            let xs: Vec<Value> = shapes
                .iter()
                .enumerate()
                .map(|(k, s)| rand(s, (10 * c + k) as u64, -1.0, 1.0))
                .collect();
            let o = op("concat", &[("axis", Attr::Int(axis))]);
            let y = forward(&o, &xs);
            let n = shapes[0].len();
            let ax = axis.rem_euclid(n as i64) as usize;
            let mut want_shape = shapes[0].to_vec();
            want_shape[ax] = shapes.iter().map(|s| s[ax]).sum();
            assert_eq!(y.shape, want_shape);
            for (k, &v) in y.f.iter().enumerate() {
                let mut idx = unravel(k, &want_shape);
                let mut which = 0;
                while idx[ax] >= shapes[which][ax] {
                    idx[ax] -= shapes[which][ax];
                    which += 1;
                }
                assert_eq!(v, xs[which].f[ravel(&idx, shapes[which])]);
            }
            grad_check(&o, &xs, 1e-3, 1e-2).unwrap();
        }
        let y = forward(
            &op("concat", &[("axis", Attr::Int(0))]),
            &[iota_i(&[1, 2]), iota_i(&[2, 2])],
        );
        assert_eq!((y.dt(), y.i.clone()), (DType::I32, vec![0, 1, 0, 1, 2, 3]));

        let o = op("concat", &[]);
        assert_eq!(
            o.infer(&[tf(vec![None, Some(3)]), tf(vec![None, Some(2)])])
                .unwrap()
                .shape,
            vec![None, Some(5)]
        );
        assert_eq!(
            o.infer(&[tf(vec![None, None]), tf(vec![Some(4), Some(3)])])
                .unwrap()
                .shape,
            vec![Some(4), None]
        );
        let o0 = op("concat", &[("axis", Attr::Int(0))]);
        assert_eq!(
            o0.infer(&[tf(vec![None, None]), tf(vec![Some(4), Some(3)])])
                .unwrap()
                .shape,
            vec![None, Some(3)]
        );
        let e = o0
            .infer(&[tf(known(&[2, 3])), tf(known(&[2, 4]))])
            .unwrap_err();
        assert!(
            matches!(e, Error::Shape(_)) && e.to_string().contains("(2, 4)"),
            "{e}"
        );
        assert!(o0.infer(&[tf(known(&[2, 3])), tf(known(&[2]))]).is_err());
        let ti = TypeInfo {
            dtype: DType::I32,
            shape: known(&[2, 3]),
        };
        assert!(matches!(
            o0.infer(&[tf(known(&[2, 3])), ti]),
            Err(Error::Type(_))
        ));
        assert!(op("concat", &[("axis", Attr::Int(2))])
            .infer(&[tf(known(&[2, 3]))])
            .is_err());
        assert!(o0.infer(&[]).is_err());
    }

    const MAX: i64 = i64::MAX;
    const MIN: i64 = i64::MIN;
    /// (len, begin, end, step, Python's `list(range(len))[begin:end:step]`), generated
    /// with CPython; MAX / MIN encode an absent bound.
    const SLICES: &[(usize, i64, i64, i64, &[usize])] = &[
        (0, 0, MAX, 1, &[]),
        (0, -10, 10, 1, &[]),
        (0, MAX, MIN, -1, &[]),
        (0, 10, -10, -3, &[]),
        (1, 0, MAX, 1, &[0]),
        (1, 1, 3, 1, &[]),
        (1, -2, MAX, 1, &[0]),
        (1, MAX, MIN, -2, &[0]),
        (1, -1, 0, -1, &[]),
        (1, 3, -10, -1, &[0]),
        (1, -100, MIN, -1, &[]),
        (5, 0, MAX, 1, &[0, 1, 2, 3, 4]),
        (5, 1, 3, 1, &[1, 2]),
        (5, -2, MAX, 1, &[3, 4]),
        (5, -10, 10, 1, &[0, 1, 2, 3, 4]),
        (5, 4, 1, 1, &[]),
        (5, 0, MAX, 2, &[0, 2, 4]),
        (5, 1, MAX, 3, &[1, 4]),
        (5, MAX, MIN, -1, &[4, 3, 2, 1, 0]),
        (5, MAX, MIN, -2, &[4, 2, 0]),
        (5, -1, 0, -1, &[4, 3, 2, 1]),
        (5, 3, -10, -1, &[3, 2, 1, 0]),
        (5, 10, -10, -3, &[4, 1]),
        (5, -3, -1, 1, &[2, 3]),
        (5, 2, 2, 1, &[]),
        (5, -100, MIN, -1, &[]),
        (5, 1, -1, 2, &[1, 3]),
        (6, 0, MAX, 2, &[0, 2, 4]),
        (6, 1, MAX, 3, &[1, 4]),
        (6, MAX, MIN, -1, &[5, 4, 3, 2, 1, 0]),
        (6, MAX, MIN, -2, &[5, 3, 1]),
        (6, -1, 0, -1, &[5, 4, 3, 2, 1]),
        (6, 10, -10, -3, &[5, 2]),
        (6, -3, -1, 1, &[3, 4]),
        (6, 1, -1, 2, &[1, 3]),
        (6, 4, 1, 1, &[]),
    ];

    fn slice_op(b: &[i64], e: &[i64], s: &[i64], shrink: &[i64]) -> OpRef {
        let mut a = vec![("begin", ints(b)), ("end", ints(e)), ("step", ints(s))];
        if !shrink.is_empty() {
            a.push(("shrink", ints(shrink)));
        }
        op("slice", &a)
    }

    #[test]
    fn slice_resolution_matches_python() {
        for &(n, b, e, s, want) in SLICES {
            let (start, count) = resolve_slice(b, e, s, n);
            let got: Vec<usize> = (0..count)
                .map(|j| (start as i64 + j as i64 * s) as usize)
                .collect();
            assert_eq!(got, want, "len {n}: [{b}:{e}:{s}]");
        }
    }

    #[test]
    fn slice_nd_forward_backward() {
        let shape = [5usize, 6, 3];
        let x = rand(&shape, 7, -1.0, 1.0);
        let s5: Vec<_> = SLICES.iter().filter(|c| c.0 == 5).collect();
        let s6: Vec<_> = SLICES.iter().filter(|c| c.0 == 6).collect();
        for (k, a) in s5.iter().enumerate() {
            for b in s6.iter().skip(k % 3).step_by(3) {
                let o = slice_op(&[a.1, b.1], &[a.2, b.2], &[a.3, b.3], &[]);
                let y = forward(&o, std::slice::from_ref(&x));
                let out_shape = vec![a.4.len(), b.4.len(), 3];
                assert_eq!(y.shape, out_shape);
                let want = naive(&x.f, &shape, &out_shape, |oi| {
                    vec![a.4[oi[0]], b.4[oi[1]], oi[2]]
                });
                assert_eq!(y.f, want, "{a:?} {b:?}");
                // backward scatters into the sliced positions (accumulating)
                let g: Vec<f32> = (0..y.len()).map(|v| v as f32 + 1.0).collect();
                let mut gin = vec![0.5f32; x.len()];
                o.backward(
                    0,
                    &[&x],
                    &y,
                    &g,
                    &mut gin,
                    &mut OpCtx {
                        scratch: &mut Scratch::default(),
                    },
                )
                .unwrap();
                let mut wg = vec![0.5f32; x.len()];
                for (q, &v) in g.iter().enumerate() {
                    let oi = unravel(q, &out_shape);
                    wg[ravel(&[a.4[oi[0]], b.4[oi[1]], oi[2]], &shape)] += v;
                }
                assert_eq!(gin, wg);
            }
        }
        let x2 = rand(&[5, 6], 8, -1.0, 1.0);
        for (b, e, s) in [
            (&[1i64, -1][..], &[4i64, MIN][..], &[1i64, -2][..]),
            (&[-1], &[MIN], &[-1]),
            (&[0, 1], &[MAX, 5], &[2, 3]),
        ] {
            grad_check(
                &slice_op(b, e, s, &[]),
                std::slice::from_ref(&x2),
                1e-3,
                1e-2,
            )
            .unwrap();
        }
        // int32, and step defaulting to 1
        let o = op("slice", &[("begin", ints(&[1])), ("end", ints(&[MAX]))]);
        let y = forward(&o, &[iota_i(&[3, 2])]);
        assert_eq!(
            (y.shape.clone(), y.i.clone()),
            (vec![2, 2], vec![2, 3, 4, 5])
        );
        // empty result
        let y = forward(&slice_op(&[4], &[1], &[1], &[]), std::slice::from_ref(&x));
        assert_eq!(y.shape, vec![0, 6, 3]);
    }

    #[test]
    fn slice_shrink_symbolic_and_errors() {
        let shape = [5usize, 6, 3];
        let x = rand(&shape, 9, -1.0, 1.0);
        // x[-1, 1::2]
        let o = slice_op(&[-1, 1], &[MAX, MAX], &[1, 2], &[0]);
        let y = forward(&o, std::slice::from_ref(&x));
        assert_eq!(y.shape, vec![3, 3]);
        assert_eq!(
            y.f,
            naive(&x.f, &shape, &[3, 3], |oi| vec![4, 1 + 2 * oi[0], oi[1]])
        );
        grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
        // x[:, 2] (end/step ignored on shrunk axes)
        let o = slice_op(&[0, 2], &[MAX, 3], &[1, 1], &[1]);
        let y = forward(&o, std::slice::from_ref(&x));
        assert_eq!(
            y.f,
            naive(&x.f, &shape, &[5, 3], |oi| vec![oi[0], 2, oi[1]])
        );
        // x[0, 0, 0] -> scalar
        let o = slice_op(&[0, 0, -3], &[1, 1, 1], &[1, 1, 1], &[0, 1, 2]);
        let y = forward(&o, std::slice::from_ref(&x));
        assert_eq!((y.shape.clone(), y.f.clone()), (vec![], vec![x.f[0]]));

        let o = slice_op(&[5], &[6], &[1], &[0]);
        let e = o.infer(&[tf(known(&shape))]).unwrap_err();
        assert!(
            matches!(e, Error::Value(_)) && e.to_string().contains("index 5"),
            "{e}"
        );
        assert_eq!(
            o.infer(&[tf(vec![None, Some(6)])]).unwrap().shape,
            vec![Some(6)]
        );
        assert!(matches!(
            run_err(&o, std::slice::from_ref(&x)),
            Error::Value(_)
        ));
        let o = slice_op(&[1, 1], &[3, MAX], &[1, 1], &[]);
        assert_eq!(
            o.infer(&[tf(vec![None, Some(6)])]).unwrap().shape,
            vec![None, Some(5)]
        );
        assert!(o.infer(&[tf(vec![None])]).is_err());
        let bad = |a: Attrs| crate::ops::build("slice", &a).is_err();
        let base = || {
            Attrs::new("slice")
                .with("begin", ints(&[0, 0]))
                .with("end", ints(&[1, 1]))
        };
        assert!(bad(base().with("step", ints(&[1, 0]))));
        assert!(bad(base().with("step", ints(&[1]))));
        assert!(bad(base().with("shrink", ints(&[2]))));
        assert!(bad(base().with("shrink", ints(&[0, 0]))));
        assert!(bad(base().with("strides", ints(&[1, 1]))));
    }

    #[test]
    fn gather_rows_gradients_and_errors() {
        let r = rand(&[5, 3], 11, -1.0, 1.0);
        let idx = ival(&[2, 3], &[0, 4, 4, 2, 1, 0]);
        let o = op("gather", &[]);
        assert!(o.has_grad(0) && !o.has_grad(1));
        let y = forward(&o, &[r.clone(), idx.clone()]);
        assert_eq!(y.shape, vec![2, 3, 3]);
        for (k, &i) in idx.i.iter().enumerate() {
            assert_eq!(
                &y.f[k * 3..k * 3 + 3],
                &r.f[i as usize * 3..i as usize * 3 + 3]
            );
        }
        grad_check(&o, &[r.clone(), idx.clone()], 1e-3, 1e-2).unwrap();
        let r1 = rand(&[4], 12, -1.0, 1.0);
        let y = forward(&o, &[r1.clone(), ival(&[3], &[3, 3, 0])]);
        assert_eq!(y.f, vec![r1.f[3], r1.f[3], r1.f[0]]);
        grad_check(&o, &[r1, ival(&[3], &[3, 3, 0])], 1e-3, 1e-2).unwrap();
        let y = forward(&o, &[iota_i(&[3, 2]), ival(&[1], &[2])]);
        assert_eq!(y.i, vec![4, 5]);

        let r10 = rand(&[10, 2], 13, -1.0, 1.0);
        let e = run_err(&o, &[r10.clone(), ival(&[2], &[1, 12])]);
        assert_eq!(
            e,
            Error::Value("gather: index 12 is out of range for a reference with 10 rows".into())
        );
        assert!(matches!(
            run_err(&o, &[r10.clone(), ival(&[1], &[-1])]),
            Error::Value(_)
        ));
        assert!(matches!(
            o.infer(&[tf(known(&[10, 2])), tf(known(&[3]))]),
            Err(Error::Type(_))
        ));
        let ti = TypeInfo {
            dtype: DType::I32,
            shape: vec![None, Some(7)],
        };
        assert_eq!(
            o.infer(&[tf(vec![Some(10), Some(2)]), ti]).unwrap().shape,
            vec![None, Some(7), Some(2)]
        );
    }

    #[test]
    fn repeat_repeat_elements_tile() {
        let x = rand(&[3, 4], 14, -1.0, 1.0);
        let o = op("repeat", &[("n", Attr::Int(2))]);
        let y = forward(&o, std::slice::from_ref(&x));
        assert_eq!(y.shape, vec![3, 2, 4]);
        assert_eq!(y.f, naive(&x.f, &[3, 4], &[3, 2, 4], |i| vec![i[0], i[2]]));
        grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
        assert_eq!(
            o.infer(&[tf(vec![None, Some(4)])]).unwrap().shape,
            vec![None, Some(2), Some(4)]
        );
        assert!(matches!(
            o.infer(&[tf(known(&[2, 3, 4]))]),
            Err(Error::Shape(_))
        ));

        let x3 = rand(&[2, 3, 2], 15, -1.0, 1.0);
        for axis in [0i64, 1, -1] {
            let o = op(
                "repeat_elements",
                &[("rep", Attr::Int(3)), ("axis", Attr::Int(axis))],
            );
            let ax = axis.rem_euclid(3) as usize;
            let mut os = vec![2, 3, 2];
            os[ax] *= 3;
            let y = forward(&o, std::slice::from_ref(&x3));
            assert_eq!(y.shape, os);
            assert_eq!(
                y.f,
                naive(&x3.f, &[2, 3, 2], &os, |i| {
                    let mut j = i.to_vec();
                    j[ax] /= 3;
                    j
                })
            );
            grad_check(&o, std::slice::from_ref(&x3), 1e-3, 1e-2).unwrap();
        }
        let o = op(
            "repeat_elements",
            &[("rep", Attr::Int(2)), ("axis", Attr::Int(0))],
        );
        assert_eq!(
            o.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
            vec![None, Some(3)]
        );

        let x2 = rand(&[2, 3], 16, -1.0, 1.0);
        let cases: &[(&[i64], &[usize])] = &[
            (&[2, 3], &[4, 9]),
            (&[2], &[2, 6]),
            (&[2, 1, 2], &[2, 2, 6]),
            (&[1, 1], &[2, 3]),
        ];
        for &(n, os) in cases {
            let o = op("tile", &[("n", ints(n))]);
            let y = forward(&o, std::slice::from_ref(&x2));
            assert_eq!(y.shape, os);
            let r = os.len();
            assert_eq!(
                y.f,
                naive(&x2.f, &[2, 3], os, |i| vec![i[r - 2] % 2, i[r - 1] % 3])
            );
            grad_check(&o, std::slice::from_ref(&x2), 1e-3, 1e-2).unwrap();
        }
        let y = forward(&op("tile", &[("n", ints(&[2]))]), &[iota_i(&[3])]);
        assert_eq!(y.i, vec![0, 1, 2, 0, 1, 2]);
        let o = op("tile", &[("n", ints(&[1, 2]))]);
        assert_eq!(
            o.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
            vec![None, Some(6)]
        );
        assert!(crate::ops::build("tile", &Attrs::new("tile").with("n", ints(&[-1]))).is_err());
        assert!(crate::ops::build("repeat", &Attrs::new("repeat")).is_err());
    }

    #[test]
    fn one_hot_encodes_and_checks_ids() {
        let o = op("one_hot", &[("nb_classes", Attr::Int(4))]);
        assert!(!o.has_grad(0));
        let y = forward(&o, &[ival(&[2, 2], &[0, 3, 1, 1])]);
        assert_eq!(y.shape, vec![2, 2, 4]);
        assert_eq!(
            y.f,
            vec![1., 0., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 1., 0., 0.]
        );
        for bad in [4, -1] {
            assert!(matches!(
                run_err(&o, &[ival(&[1], &[bad])]),
                Error::Value(_)
            ));
        }
        assert!(matches!(o.infer(&[tf(known(&[2]))]), Err(Error::Type(_))));
        let ti = TypeInfo {
            dtype: DType::I32,
            shape: vec![None],
        };
        assert_eq!(o.infer(&[ti]).unwrap(), TypeInfo::f32(vec![None, Some(4)]));
        assert!(crate::ops::build(
            "one_hot",
            &Attrs::new("one_hot").with("nb_classes", Attr::Int(0))
        )
        .is_err());
    }

    #[test]
    fn reverse_axes() {
        let shape = [3usize, 4, 5];
        let x = rand(&shape, 17, -1.0, 1.0);
        for axes in [&[0i64][..], &[-1], &[0, 2], &[1, -1], &[0, 1, 2], &[]] {
            let o = op("reverse", &[("axes", ints(axes))]);
            let rev: Vec<bool> = (0..3)
                .map(|k| axes.iter().any(|&a| a.rem_euclid(3) as usize == k))
                .collect();
            let map = |i: &[usize]| {
                (0..3)
                    .map(|k| if rev[k] { shape[k] - 1 - i[k] } else { i[k] })
                    .collect()
            };
            let y = forward(&o, std::slice::from_ref(&x));
            assert_eq!(y.f, naive(&x.f, &shape, &shape, map), "{axes:?}");
            let xs = rand(&[2, 3, 2], 18, -1.0, 1.0);
            grad_check(&o, &[xs], 1e-3, 1e-2).unwrap();
        }
        let y = forward(&op("reverse", &[("axes", ints(&[0]))]), &[iota_i(&[3])]);
        assert_eq!(y.i, vec![2, 1, 0]);
        assert!(op("reverse", &[("axes", ints(&[0, -3]))])
            .infer(&[tf(known(&shape))])
            .is_err());
        assert!(op("reverse", &[("axes", ints(&[3]))])
            .infer(&[tf(known(&shape))])
            .is_err());
    }

    #[test]
    fn pad_constant() {
        let x = rand(&[2, 3], 19, -1.0, 1.0);
        let o = op(
            "pad",
            &[("pads", ints(&[1, 0, 2, 1])), ("value", Attr::Float(0.5))],
        );
        let y = forward(&o, std::slice::from_ref(&x));
        assert_eq!(y.shape, vec![3, 6]);
        for (k, &v) in y.f.iter().enumerate() {
            let (i, j) = (k / 6, k % 6);
            let want = if i >= 1 && (2..5).contains(&j) {
                x.f[(i - 1) * 3 + j - 2]
            } else {
                0.5
            };
            assert_eq!(v, want);
        }
        grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
        let x3 = rand(&[2, 3, 2], 20, -1.0, 1.0);
        let o3 = op("pad", &[("pads", ints(&[0, 0, 2, 1, 1, 1]))]);
        let y = forward(&o3, std::slice::from_ref(&x3));
        assert_eq!(y.shape, vec![2, 6, 4]);
        assert_eq!(y.f.iter().filter(|&&v| v == 0.0).count(), 48 - 12);
        grad_check(&o3, &[x3], 1e-3, 1e-2).unwrap();
        assert_eq!(
            o.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
            vec![None, Some(6)]
        );
        assert!(o.infer(&[tf(known(&[2, 3, 4]))]).is_err());
        assert!(crate::ops::build("pad", &Attrs::new("pad").with("pads", ints(&[1, -1]))).is_err());
    }

    #[test]
    fn switch_selects_and_masks_gradients() {
        let t = rand(&[2, 3], 21, -1.0, 1.0);
        let e = rand(&[2, 3], 22, -1.0, 1.0);
        let o = op("switch", &[]);
        assert!(!o.has_grad(0) && o.has_grad(1) && o.has_grad(2));
        for (c, want_then) in [(1.0, true), (0.0, false)] {
            let y = forward(&o, &[Value::scalar(c), t.clone(), e.clone()]);
            assert_eq!(y.f, if want_then { t.f.clone() } else { e.f.clone() });
            grad_check(&o, &[Value::scalar(c), t.clone(), e.clone()], 1e-3, 1e-2).unwrap();
        }
        let mut bool_c = val(&[2, 3], &[1., 0., 0., 1., 1., 0.]);
        bool_c.dtype = Some(DType::Bool);
        let conds: Vec<(Value, Vec<bool>)> = vec![
            (bool_c, vec![true, false, false, true, true, false]),
            (
                val(&[2, 1], &[0.0, 2.0]),
                vec![false, false, false, true, true, true],
            ),
            (
                val(&[3], &[1.0, 0.0, -1.0]),
                vec![true, false, true, true, false, true],
            ),
            (
                val(&[1, 3], &[0.0, 0.0, 1.0]),
                vec![false, false, true, false, false, true],
            ),
            (
                ival(&[2, 3], &[0, 1, 0, 5, 0, 0]),
                vec![false, true, false, true, false, false],
            ),
            (
                ival(&[2, 1], &[3, 0]),
                vec![true, true, true, false, false, false],
            ),
        ];
        for (c, mask) in conds {
            let y = forward(&o, &[c.clone(), t.clone(), e.clone()]);
            let want: Vec<f32> = mask
                .iter()
                .enumerate()
                .map(|(k, &m)| if m { t.f[k] } else { e.f[k] })
                .collect();
            assert_eq!(y.f, want, "{:?}", c.shape);
            grad_check(&o, &[c, t.clone(), e.clone()], 1e-3, 1e-2).unwrap();
        }
        let s = |c: Shape, x: Shape| o.infer(&[tf(c), tf(x.clone()), tf(x)]);
        assert_eq!(
            s(vec![None, Some(1)], vec![None, Some(3)]).unwrap().shape,
            vec![None, Some(3)]
        );
        assert_eq!(
            s(vec![], vec![None, Some(3)]).unwrap().shape,
            vec![None, Some(3)]
        );
        assert_eq!(
            s(vec![Some(4), None], vec![None, Some(3)]).unwrap().shape,
            vec![Some(4), Some(3)]
        );
        assert!(matches!(
            s(known(&[4]), known(&[2, 3])),
            Err(Error::Shape(_))
        ));
        assert!(s(known(&[1, 2, 3]), known(&[2, 3])).is_err());
        assert!(o
            .infer(&[tf(vec![]), tf(known(&[2, 3])), tf(known(&[3, 2]))])
            .is_err());
        let ti = TypeInfo {
            dtype: DType::I32,
            shape: known(&[2]),
        };
        assert!(matches!(
            o.infer(&[tf(vec![]), ti.clone(), ti]),
            Err(Error::Type(_))
        ));
    }

    #[test]
    fn concat_flat_and_slice_flat_round_trip() {
        let xs = vec![
            rand(&[2, 3], 23, -1.0, 1.0),
            rand(&[4], 24, -1.0, 1.0),
            rand(&[1, 2, 2], 25, -1.0, 1.0),
        ];
        let cf = op("concat_flat", &[]);
        let y = forward(&cf, &xs);
        assert_eq!(y.shape, vec![14]);
        assert_eq!(y.f, xs.iter().flat_map(|x| x.f.clone()).collect::<Vec<_>>());
        grad_check(&cf, &xs, 1e-3, 1e-2).unwrap();
        for (k, (off, shape)) in [(0usize, &[2i64, 3][..]), (6, &[4]), (10, &[1, 2, 2])]
            .into_iter()
            .enumerate()
        {
            let sf = op(
                "slice_flat",
                &[("offset", Attr::Int(off as i64)), ("shape", ints(shape))],
            );
            let z = forward(&sf, std::slice::from_ref(&y));
            assert_eq!(z, xs[k]);
            grad_check(&sf, std::slice::from_ref(&y), 1e-3, 1e-2).unwrap();
        }
        assert_eq!(
            cf.infer(&[tf(vec![None, Some(3)]), tf(known(&[2]))])
                .unwrap()
                .shape,
            vec![None]
        );
        assert!(cf.infer(&[]).is_err());
        let sf = op(
            "slice_flat",
            &[("offset", Attr::Int(12)), ("shape", ints(&[4]))],
        );
        assert!(matches!(
            sf.infer(&[tf(known(&[14]))]),
            Err(Error::Value(_))
        ));
        assert_eq!(sf.infer(&[tf(vec![None])]).unwrap().shape, vec![Some(4)]);
        assert!(matches!(
            run_err(&sf, std::slice::from_ref(&y)),
            Error::Value(_)
        ));
        assert!(sf.infer(&[tf(known(&[2, 8]))]).is_err());
        let a = Attrs::new("slice_flat")
            .with("offset", Attr::Int(-1))
            .with("shape", ints(&[1]));
        assert!(crate::ops::build("slice_flat", &a).is_err());
    }

    #[test]
    fn backward_accumulates_into_gin() {
        let x = rand(&[3, 4], 26, -1.0, 1.0);
        let ops: Vec<OpRef> = vec![
            op("reshape", &[("shape", ints(&[4, 3]))]),
            op("permute", &[("pattern", ints(&[1, 0]))]),
            slice_op(&[1, MAX], &[MAX, MIN], &[1, -1], &[]),
            op("tile", &[("n", ints(&[2, 1]))]),
            op("reverse", &[("axes", ints(&[1]))]),
            op("pad", &[("pads", ints(&[1, 1, 0, 2]))]),
        ];
        for o in ops {
            let y = forward(&o, std::slice::from_ref(&x));
            let g: Vec<f32> = (0..y.len()).map(|v| v as f32 * 0.1).collect();
            let mut once = vec![0.0f32; x.len()];
            let mut sc = Scratch::default();
            o.backward(0, &[&x], &y, &g, &mut once, &mut OpCtx { scratch: &mut sc })
                .unwrap();
            let mut twice = once.clone();
            o.backward(
                0,
                &[&x],
                &y,
                &g,
                &mut twice,
                &mut OpCtx { scratch: &mut sc },
            )
            .unwrap();
            let doubled: Vec<f32> = once.iter().map(|v| 2.0 * v).collect();
            assert_close(&twice, &doubled, 1e-6);
            assert!(once.iter().any(|&v| v != 0.0), "{}", o.name());
        }
    }

    #[test]
    fn works_in_a_compiled_graph_with_an_unknown_batch() {
        use crate::Graph;
        let mut g = Graph::new();
        let x = g.placeholder(DType::F32, vec![None, Some(4)], "x");
        let ids = g.placeholder(DType::I32, vec![None], "ids");
        let w = g.variable(rand(&[6, 4], 1, -1.0, 1.0), "w");
        let a = |k: &str, v: Attr| Attrs::new("").with(k, v);
        let e = g.op("gather", &[w, ids], &Attrs::new("gather")).unwrap();
        let sl = Attrs::new("slice")
            .with("begin", ints(&[1, 0]))
            .with("end", ints(&[MAX, MAX]))
            .with("step", ints(&[1, 2]));
        let s = g.op("slice", &[x], &sl).unwrap();
        assert_eq!(g.info(s).unwrap().shape, vec![None, Some(2)]);
        let p = g.op("permute", &[s], &a("pattern", ints(&[1, 0]))).unwrap();
        let r = g.op("reshape", &[p], &a("shape", ints(&[-1]))).unwrap();
        assert_eq!(g.info(r).unwrap().shape, vec![None]);
        let c = g.op("concat", &[x, e], &a("axis", Attr::Int(0))).unwrap();
        assert_eq!(g.info(c).unwrap().shape, vec![None, Some(4)]);
        let fl = g.op("flatten", &[c], &Attrs::new("flatten")).unwrap();
        let all = g
            .op("concat_flat", &[r, fl], &Attrs::new("concat_flat"))
            .unwrap();
        let sq = g.op("square", &[all], &Attrs::new("square")).unwrap();
        let loss = g.op("sum", &[sq], &Attrs::new("sum")).unwrap();
        let grads = g.gradients(loss, &[x, w]).unwrap();
        let f = g
            .compile(&[x, ids], &[loss, grads[0], grads[1]], vec![])
            .unwrap();
        let wv = g.get_value(g.var_id(w).unwrap()).unwrap();
        for rows in [3usize, 2] {
            let xv = rand(&[rows, 4], rows as u64, -1.0, 1.0);
            let idv = ival(&[2], &[5, 5]);
            let out = f.run_values(&[xv.clone(), idv]).unwrap();
            // loss = sum over x[1:, ::2]^2 + sum x^2 + 2 * sum w[5]^2
            let mut want = 0.0f32;
            for i in 0..rows {
                for j in 0..4 {
                    let v = xv.f[i * 4 + j];
                    want += v * v * if i >= 1 && j % 2 == 0 { 2.0 } else { 1.0 };
                }
            }
            want += 2.0 * wv.f[20..24].iter().map(|v| v * v).sum::<f32>();
            assert_close(&out[0].f, &[want], 1e-5);
            let gx: Vec<f32> = (0..rows * 4)
                .map(|k| 2.0 * xv.f[k] * if k >= 4 && k % 2 == 0 { 2.0 } else { 1.0 })
                .collect();
            assert_close(&out[1].f, &gx, 1e-5);
            let mut gw = vec![0.0f32; 24];
            for j in 0..4 {
                gw[20 + j] = 4.0 * wv.f[20 + j];
            }
            assert_close(&out[2].f, &gw, 1e-5);
        }
        let e = f
            .run_values(&[rand(&[2, 4], 3, 0.0, 1.0), ival(&[1], &[6])])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "gather: index 6 is out of range for a reference with 6 rows"
        );
    }

    #[test]
    fn shape_of_reports_concrete_dims() {
        let o = op("shape_of", &[]);
        let y = forward(&o, &[rand(&[3, 1, 4], 1, 0.0, 1.0)]);
        assert_eq!(y.i, vec![3, 1, 4]);
        assert!(!o.has_grad(0));
    }
}
