//! Reductions over axes: `sum`, `mean`, `max`, `min`, `prod`, `var`, `std` (float32
//! out, differentiable), `any` / `all` (bool out) and `argmax` / `argmin` (int32 out),
//! the Keras backend's `K.sum`, `K.mean`, ... with numpy semantics (negative axes,
//! `keepdims`, population variance, first occurrence for arg-reductions).
//!
//! Why one engine for all of them: a reduction is a walk over the input in memory order
//! where each element lands on one output element. After dropping size-1 axes and
//! merging neighbouring axes that are all reduced or all kept, the walk is a sequence of
//! contiguous *runs* over the last merged axis: either a run that folds into one output
//! (last axis reduced: `sum(axis=-1)`, reduce-all) or a run that maps one-to-one onto a
//! contiguous output row (last axis kept: `sum(axis=0)` of a 2-D bias gradient). Both
//! hot cases are therefore plain contiguous loops; any other axis set works through
//! the same odometer.

use std::sync::Arc;

use smallvec::{smallvec, SmallVec};

use super::{around_axis, expect_floats, norm_axis, Attrs, Op, OpCtx, OpRef, Scratch, TypeInfo};
use crate::kernels::alloc::grow;
use crate::simd_fn;
use crate::tensor::{fmt_shape, numel, DType, Dim, Shape, Value};
use crate::{Error, Result};

/// Which reduction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReduceKind {
    /// Sum of the elements.
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Maximum (NaN propagates). Gradient: split equally between tied maxima.
    Max,
    /// Minimum (NaN propagates). Gradient: split equally between tied minima.
    Min,
    /// Product. Gradient: product of the other elements (exact with zeros).
    Prod,
    /// Population (biased) variance: mean of squared deviations, like numpy / `K.var`.
    Var,
    /// Square root of the population variance.
    Std,
    /// True where any element is non-zero (bool out, no gradient).
    Any,
    /// True where all elements are non-zero (bool out, no gradient).
    All,
}

/// A reduction over a set of axes (all axes when `axes` is `None`).
#[derive(Debug)]
pub struct Reduce {
    kind: ReduceKind,
    name: &'static str,
    axes: Option<Vec<i64>>,
    keepdims: bool,
}

type Mask = SmallVec<[bool; 8]>;

/// Which axes of a rank-`ndim` input are reduced; errors on out-of-range or repeated
/// axes.
fn reduce_mask(op: &str, axes: &Option<Vec<i64>>, ndim: usize) -> Result<Mask> {
    let mut m: Mask = smallvec![false; ndim];
    match axes {
        None => m.iter_mut().for_each(|v| *v = true),
        Some(ax) => {
            for &a in ax {
                let k = norm_axis(op, a, ndim)?;
                if m[k] {
                    return Err(Error::Value(format!(
                        "{op}: axis {a} is repeated in axis={ax:?} (rank {ndim})"
                    )));
                }
                m[k] = true;
            }
        }
    }
    Ok(m)
}

/// Output shape of a reduction.
fn reduced_shape(x: &[Dim], mask: &[bool], keepdims: bool) -> Shape {
    let mut s = Shape::with_capacity(x.len());
    for (&d, &m) in x.iter().zip(mask) {
        if !m {
            s.push(d);
        } else if keepdims {
            s.push(Some(1));
        }
    }
    s
}

/// The walk of a reduction over a concrete input (see the module docs).
#[derive(Debug)]
struct Plan {
    /// Outer merged axes: (size, reduced).
    groups: SmallVec<[(usize, bool); 8]>,
    /// Output stride of each outer group (0 for reduced groups).
    ostrides: SmallVec<[usize; 8]>,
    /// Length of a run (the last merged axis).
    run: usize,
    /// Whether the last merged axis is reduced (a run folds into one output).
    run_red: bool,
    /// Input elements.
    n_in: usize,
    /// Output elements.
    n_out: usize,
    /// Input elements per output element.
    count: usize,
}

impl Plan {
    fn new(shape: &[usize], mask: &[bool]) -> Plan {
        let n_in = numel(shape);
        let mut count = 1;
        let mut n_out = 1;
        let mut groups: SmallVec<[(usize, bool); 8]> = SmallVec::new();
        for (&d, &m) in shape.iter().zip(mask) {
            if m {
                count *= d;
            } else {
                n_out *= d;
            }
            if d == 1 {
                continue;
            }
            match groups.last_mut() {
                Some(last) if last.1 == m => last.0 *= d,
                _ => groups.push((d, m)),
            }
        }
        let (run, run_red) = groups.pop().unwrap_or((1, true));
        let mut ostrides: SmallVec<[usize; 8]> = smallvec![0; groups.len()];
        let mut acc = if run_red { 1 } else { run };
        for k in (0..groups.len()).rev() {
            if !groups[k].1 {
                ostrides[k] = acc;
                acc *= groups[k].0;
            }
        }
        Plan {
            groups,
            ostrides,
            run,
            run_red,
            n_in,
            n_out,
            count,
        }
    }

    /// Calls `f(input_start, output_start)` for every run, in memory order. A run covers
    /// `self.run` input elements; they all map to `output_start` when `self.run_red`,
    /// else to `output_start..output_start + self.run`.
    #[inline]
    fn runs(&self, mut f: impl FnMut(usize, usize)) {
        if self.n_in == 0 {
            return;
        }
        let ng = self.groups.len();
        let mut idx: SmallVec<[usize; 8]> = smallvec![0; ng];
        let (mut i, mut o) = (0usize, 0usize);
        loop {
            f(i, o);
            i += self.run;
            let mut k = ng;
            loop {
                if k == 0 {
                    return;
                }
                k -= 1;
                idx[k] += 1;
                o += self.ostrides[k];
                if idx[k] < self.groups[k].0 {
                    break;
                }
                o -= self.ostrides[k] * idx[k];
                idx[k] = 0;
            }
        }
    }

    /// Calls `f(input_index, output_index)` for every input element in memory order.
    #[inline]
    fn elems(&self, mut f: impl FnMut(usize, usize)) {
        let (len, red) = (self.run, self.run_red);
        self.runs(|i, o| {
            if red {
                for e in i..i + len {
                    f(e, o);
                }
            } else {
                for j in 0..len {
                    f(i + j, o + j);
                }
            }
        });
    }
}

simd_fn! {
    /// `*acc += sum(x)` with 16 independent partial sums (faster and more accurate than a
    /// single running sum).
    fn sum_slice(x: &[f32], acc: &mut f32) {
        let mut p = [0.0f32; 16];
        let mut chunks = x.chunks_exact(16);
        for c in &mut chunks {
            for k in 0..16 {
                p[k] += c[k];
            }
        }
        let mut s = 0.0f32;
        for &v in chunks.remainder() {
            s += v;
        }
        for k in 0..8 {
            p[k] += p[k + 8];
        }
        for k in 0..4 {
            p[k] += p[k + 4];
        }
        *acc += (p[0] + p[2]) + (p[1] + p[3]) + s;
    }
}

simd_fn! {
    /// `y += x` elementwise.
    fn add_into(y: &mut [f32], x: &[f32]) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o += v;
        }
    }
}

simd_fn! {
    /// `y += a` for every element.
    fn add_scalar(y: &mut [f32], a: f32) {
        for o in y.iter_mut() {
            *o += a;
        }
    }
}

/// Folds `x` into `*acc` with `step` over 16 independent lanes started at `lane` (so
/// the fold vectorises): the lanes take `x` 16 at a time, then `*acc` takes the
/// remainder and the lanes in order. Inlined into each target's kernel below.
#[inline(always)]
fn fold16(x: &[f32], acc: &mut f32, lane: f32, step: impl Fn(f32, f32) -> f32) {
    let mut p = [lane; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for k in 0..16 {
            p[k] = step(p[k], c[k]);
        }
    }
    let mut m = *acc;
    for &v in chunks.remainder().iter().chain(p.iter()) {
        m = step(m, v);
    }
    *acc = m;
}

simd_fn! {
    /// `*acc = max(*acc, max(x))`, NaN-propagating.
    fn max_slice(x: &[f32], acc: &mut f32) {
        fold16(x, acc, *acc, max_step)
    }
}

simd_fn! {
    /// `*acc = min(*acc, min(x))`, NaN-propagating.
    fn min_slice(x: &[f32], acc: &mut f32) {
        fold16(x, acc, *acc, min_step)
    }
}

simd_fn! {
    /// `*acc *= prod(x)` with 16 independent partial products.
    fn prod_slice(x: &[f32], acc: &mut f32) {
        fold16(x, acc, 1.0, |a, b| a * b)
    }
}

/// NaN-propagating max step (`acc` stays NaN once it is).
#[inline(always)]
fn max_step(acc: f32, v: f32) -> f32 {
    if v > acc || v.is_nan() {
        v
    } else {
        acc
    }
}

/// NaN-propagating min step.
#[inline(always)]
fn min_step(acc: f32, v: f32) -> f32 {
    if v < acc || v.is_nan() {
        v
    } else {
        acc
    }
}

/// `y = sum over the reduced axes of x` (y is overwritten).
fn sum_to(p: &Plan, x: &[f32], y: &mut [f32]) {
    y.fill(0.0);
    let len = p.run;
    if p.run_red {
        p.runs(|i, o| sum_slice(&x[i..i + len], &mut y[o]));
    } else {
        p.runs(|i, o| add_into(&mut y[o..o + len], &x[i..i + len]));
    }
}

/// A float slice of scratch of at least `n` elements (grows, never shrinks).
fn scratch_f<'s>(s: &'s mut Scratch, n: usize, what: &str) -> Result<&'s mut [f32]> {
    grow(&mut s.f, n, what)?;
    Ok(&mut s.f[..n])
}

/// Folds every run with `step` (identity `init`).
fn fold_to(p: &Plan, x: &[f32], y: &mut [f32], init: f32, step: impl Fn(f32, f32) -> f32) {
    y.fill(init);
    let len = p.run;
    if p.run_red {
        p.runs(|i, o| y[o] = x[i..i + len].iter().fold(y[o], |a, &v| step(a, v)));
    } else {
        p.runs(|i, o| {
            for (a, &v) in y[o..o + len].iter_mut().zip(&x[i..i + len]) {
                *a = step(*a, v);
            }
        });
    }
}

impl Reduce {
    fn plan(&self, shape: &[usize]) -> Result<Plan> {
        Ok(Plan::new(
            shape,
            &reduce_mask(self.name, &self.axes, shape.len())?,
        ))
    }

    /// Mean of each output group into the first `n_out` floats of the scratch.
    fn means<'s>(&self, p: &Plan, x: &[f32], s: &'s mut Scratch) -> Result<&'s mut [f32]> {
        let m = scratch_f(s, p.n_out, self.name)?;
        sum_to(p, x, m);
        let inv = 1.0 / p.count as f32;
        m.iter_mut().for_each(|v| *v *= inv);
        Ok(m)
    }
}

impl Op for Reduce {
    fn name(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_floats(self.name, inputs, 1)?;
        let x = &inputs[0].shape;
        let mask = reduce_mask(self.name, &self.axes, x.len())?;
        let dtype = match self.kind {
            ReduceKind::Any | ReduceKind::All => DType::Bool,
            _ => DType::F32,
        };
        Ok(TypeInfo {
            dtype,
            shape: reduced_shape(x, &mask, self.keepdims),
        })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        use ReduceKind::*;
        let xv = inputs[0];
        let p = self.plan(&xv.shape)?;
        let (x, y) = (&xv.f[..], &mut out.f[..]);
        match self.kind {
            Sum => sum_to(&p, x, y),
            Mean => {
                sum_to(&p, x, y);
                let inv = 1.0 / p.count as f32;
                y.iter_mut().for_each(|v| *v *= inv);
            }
            Max | Min => {
                if p.count == 0 && p.n_out > 0 {
                    return Err(Error::Value(format!(
                        "{}: zero-size reduction over axis={:?} of an input of shape {} has no identity",
                        self.name,
                        self.axes,
                        fmt_shape(&crate::tensor::known(&xv.shape))
                    )));
                }
                let len = p.run;
                match (self.kind == Max, p.run_red) {
                    (true, true) => {
                        y.fill(f32::NEG_INFINITY);
                        p.runs(|i, o| max_slice(&x[i..i + len], &mut y[o]));
                    }
                    (false, true) => {
                        y.fill(f32::INFINITY);
                        p.runs(|i, o| min_slice(&x[i..i + len], &mut y[o]));
                    }
                    (true, false) => fold_to(&p, x, y, f32::NEG_INFINITY, max_step),
                    (false, false) => fold_to(&p, x, y, f32::INFINITY, min_step),
                }
            }
            Prod => {
                if p.run_red {
                    let len = p.run;
                    y.fill(1.0);
                    p.runs(|i, o| prod_slice(&x[i..i + len], &mut y[o]));
                } else {
                    fold_to(&p, x, y, 1.0, |a, v| a * v);
                }
            }
            Any => fold_to(&p, x, y, 0.0, |a, v| if v != 0.0 { 1.0 } else { a }),
            All => fold_to(&p, x, y, 1.0, |a, v| if v == 0.0 { 0.0 } else { a }),
            Var | Std => {
                let m = self.means(&p, x, ctx.scratch)?;
                y.fill(0.0);
                p.elems(|e, o| {
                    let d = x[e] - m[o];
                    y[o] += d * d;
                });
                let inv = 1.0 / p.count as f32;
                if self.kind == Var {
                    y.iter_mut().for_each(|v| *v *= inv);
                } else {
                    y.iter_mut().for_each(|v| *v = (*v * inv).sqrt());
                }
            }
        }
        Ok(())
    }

    fn backward(
        &self,
        _index: usize,
        inputs: &[&Value],
        out: &Value,
        g: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        use ReduceKind::*;
        let xv = inputs[0];
        let p = self.plan(&xv.shape)?;
        let (x, y) = (&xv.f[..], &out.f[..]);
        let len = p.run;
        match self.kind {
            Sum | Mean => {
                let s = if self.kind == Mean {
                    1.0 / p.count as f32
                } else {
                    1.0
                };
                match (p.run_red, s == 1.0) {
                    (true, _) => p.runs(|i, o| add_scalar(&mut gin[i..i + len], s * g[o])),
                    (false, true) => p.runs(|i, o| add_into(&mut gin[i..i + len], &g[o..o + len])),
                    (false, false) => p.runs(|i, o| {
                        for (d, &v) in gin[i..i + len].iter_mut().zip(&g[o..o + len]) {
                            *d += s * v;
                        }
                    }),
                }
            }
            Max | Min => {
                // Ties share the gradient equally (a valid subgradient that keeps the
                // total equal to the output gradient).
                let cnt = scratch_f(ctx.scratch, p.n_out, self.name)?;
                cnt.fill(0.0);
                if p.run_red {
                    p.runs(|i, o| {
                        let m = y[o];
                        cnt[o] += x[i..i + len]
                            .iter()
                            .map(|&v| (v == m) as i32 as f32)
                            .sum::<f32>();
                    });
                    p.runs(|i, o| {
                        let (m, gv) = (y[o], g[o] / cnt[o]);
                        for (d, &v) in gin[i..i + len].iter_mut().zip(&x[i..i + len]) {
                            *d += if v == m { gv } else { 0.0 };
                        }
                    });
                } else {
                    p.runs(|i, o| {
                        for ((c, &m), &v) in cnt[o..o + len]
                            .iter_mut()
                            .zip(&y[o..o + len])
                            .zip(&x[i..i + len])
                        {
                            *c += (v == m) as i32 as f32;
                        }
                    });
                    p.runs(|i, o| {
                        let it = gin[i..i + len].iter_mut().zip(&x[i..i + len]);
                        for ((d, &v), ((&m, &c), &gv)) in it.zip(
                            y[o..o + len]
                                .iter()
                                .zip(&cnt[o..o + len])
                                .zip(&g[o..o + len]),
                        ) {
                            *d += if v == m { gv / c } else { 0.0 };
                        }
                    });
                }
            }
            Prod => {
                // d/dx_e = product of the other elements of its group = (product of the
                // elements before e) * (product of those after e). A forward pass keeps
                // the prefix products; a reverse pass walks the runs of the input with
                // all axes reversed (run `i2` of it is run `n - i2 - len` of the input,
                // backwards, and output order is reversed the same way), multiplying in
                // the suffixes. Exact with zeros, no division.
                let (n, no) = (p.n_in, p.n_out);
                let s = scratch_f(ctx.scratch, n + no, self.name)?;
                let (pre, acc) = s.split_at_mut(n);
                acc.fill(1.0);
                if p.run_red {
                    p.runs(|i, o| {
                        let mut a = acc[o];
                        for (pe, &v) in pre[i..i + len].iter_mut().zip(&x[i..i + len]) {
                            *pe = a;
                            a *= v;
                        }
                        acc[o] = a;
                    });
                    acc.fill(1.0);
                    p.runs(|i2, o2| {
                        let (i, o) = (n - i2 - len, no - 1 - o2);
                        let (mut a, gv) = (acc[o], g[o]);
                        for e in (i..i + len).rev() {
                            gin[e] += gv * pre[e] * a;
                            a *= x[e];
                        }
                        acc[o] = a;
                    });
                } else {
                    p.runs(|i, o| {
                        for ((pe, a), &v) in pre[i..i + len]
                            .iter_mut()
                            .zip(&mut acc[o..o + len])
                            .zip(&x[i..i + len])
                        {
                            *pe = *a;
                            *a *= v;
                        }
                    });
                    acc.fill(1.0);
                    p.runs(|i2, o2| {
                        let (i, o) = (n - i2 - len, no - o2 - len);
                        for j in 0..len {
                            gin[i + j] += g[o + j] * pre[i + j] * acc[o + j];
                            acc[o + j] *= x[i + j];
                        }
                    });
                }
            }
            Var => {
                let m = self.means(&p, x, ctx.scratch)?;
                let s = 2.0 / p.count as f32;
                p.elems(|e, o| gin[e] += g[o] * s * (x[e] - m[o]));
            }
            Std => {
                // d std = (x - mean) / (n std); 0 where std is 0 (constant groups).
                let m = self.means(&p, x, ctx.scratch)?;
                let n = p.count as f32;
                p.elems(|e, o| {
                    if y[o] > 0.0 {
                        gin[e] += g[o] * (x[e] - m[o]) / (n * y[o]);
                    }
                });
            }
            Any | All => {}
        }
        Ok(())
    }

    fn has_grad(&self, _index: usize) -> bool {
        !matches!(self.kind, ReduceKind::Any | ReduceKind::All)
    }
}

/// Index of the maximum (or minimum) along one axis, first occurrence on ties (a NaN
/// counts as the extreme, as in numpy). Output int32 with the axis removed.
#[derive(Debug)]
pub struct ArgReduce {
    min: bool,
    axis: i64,
}

impl ArgReduce {
    fn op_name(&self) -> &'static str {
        if self.min {
            "argmin"
        } else {
            "argmax"
        }
    }

    /// Whether `v` replaces the current best `b`.
    #[inline(always)]
    fn better(&self, v: f32, b: f32) -> bool {
        !b.is_nan() && (v.is_nan() || if self.min { v < b } else { v > b })
    }
}

impl Op for ArgReduce {
    fn name(&self) -> &str {
        self.op_name()
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let name = self.op_name();
        expect_floats(name, inputs, 1)?;
        let x = &inputs[0].shape;
        let ax = norm_axis(name, self.axis, x.len())?;
        let mut shape = x.clone();
        shape.remove(ax);
        Ok(TypeInfo {
            dtype: DType::I32,
            shape,
        })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let xv = inputs[0];
        let ax = norm_axis(self.op_name(), self.axis, xv.shape.len())?;
        let (outer, r, inner) = around_axis(&xv.shape, ax);
        if r == 0 && outer * inner > 0 {
            return Err(Error::Value(format!(
                "{}: attempt to get the {} of an empty sequence (axis {} of shape {})",
                self.op_name(),
                self.op_name(),
                self.axis,
                fmt_shape(&crate::tensor::known(&xv.shape))
            )));
        }
        let x = &xv.f;
        let y = &mut out.i;
        if inner == 1 {
            // Vectorised extreme of the row, then the first element equal to it (the
            // first NaN when the extreme is NaN, since NaN propagates).
            for (o, yo) in y.iter_mut().enumerate().take(outer) {
                let row = &x[o * r..(o + 1) * r];
                let mut m = row[0];
                if self.min {
                    min_slice(row, &mut m);
                } else {
                    max_slice(row, &mut m);
                }
                let nan = m.is_nan();
                let k = row
                    .iter()
                    .position(|&v| v == m || (nan && v.is_nan()))
                    .unwrap_or(0);
                *yo = k as i32;
            }
            return Ok(());
        }
        // Walk rows of `inner` contiguous elements, keeping the running best per column.
        let best = scratch_f(ctx.scratch, inner, self.op_name())?;
        for o in 0..outer {
            let base = o * r * inner;
            let yi = &mut y[o * inner..(o + 1) * inner];
            yi.fill(0);
            best.copy_from_slice(&x[base..base + inner]);
            for k in 1..r {
                let row = &x[base + k * inner..base + (k + 1) * inner];
                for ((b, yv), &v) in best.iter_mut().zip(yi.iter_mut()).zip(row) {
                    if self.better(v, *b) {
                        *b = v;
                        *yv = k as i32;
                    }
                }
            }
        }
        Ok(())
    }

    fn has_grad(&self, _index: usize) -> bool {
        false
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    use ReduceKind::*;
    let (kind, name): (ReduceKind, &'static str) = match name {
        "sum" => (Sum, "sum"),
        "mean" => (Mean, "mean"),
        "max" => (Max, "max"),
        "min" => (Min, "min"),
        "prod" => (Prod, "prod"),
        "var" => (Var, "var"),
        "std" => (Std, "std"),
        "any" => (Any, "any"),
        "all" => (All, "all"),
        "argmax" | "argmin" => {
            let min = name == "argmin";
            return Some(
                a.int("axis", -1)
                    .map(|axis| Arc::new(ArgReduce { min, axis }) as OpRef),
            );
        }
        _ => return None,
    };
    Some((|| {
        let axes = a.ints_opt("axis")?;
        let keepdims = a.bool("keepdims", false)?;
        Ok(Arc::new(Reduce {
            kind,
            name,
            axes,
            keepdims,
        }) as OpRef)
    })())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::Attr;

    /// numpy-style reference: buckets every input element by its output index and
    /// applies `f` to each bucket. Returns (output shape, values).
    fn naive(
        x: &Value,
        axes: Option<&[i64]>,
        keepdims: bool,
        f: &dyn Fn(&[f32]) -> f32,
    ) -> (Vec<usize>, Vec<f32>) {
        let n = x.shape.len();
        let red: Vec<bool> = match axes {
            None => vec![true; n],
            Some(ax) => {
                let mut r = vec![false; n];
                for &a in ax {
                    r[(if a < 0 { a + n as i64 } else { a }) as usize] = true;
                }
                r
            }
        };
        let kept: Vec<usize> = (0..n).filter(|&k| !red[k]).map(|k| x.shape[k]).collect();
        let n_out: usize = kept.iter().product();
        let mut buckets = vec![Vec::new(); n_out];
        for e in 0..x.len() {
            let mut rem = e;
            let mut idx = vec![0; n];
            for k in (0..n).rev() {
                idx[k] = rem % x.shape[k];
                rem /= x.shape[k];
            }
            let mut o = 0;
            for k in 0..n {
                if !red[k] {
                    o = o * x.shape[k] + idx[k];
                }
            }
            buckets[o].push(x.f[e]);
        }
        let shape: Vec<usize> = (0..n)
            .filter_map(|k| {
                if !red[k] {
                    Some(x.shape[k])
                } else if keepdims {
                    Some(1)
                } else {
                    None
                }
            })
            .collect();
        (shape, buckets.iter().map(|b| f(b)).collect())
    }

    type RefFn = Box<dyn Fn(&[f32]) -> f32>;

    fn ref_fn(name: &str) -> RefFn {
        match name {
            "sum" => Box::new(|b: &[f32]| b.iter().map(|&v| v as f64).sum::<f64>() as f32),
            "mean" => Box::new(|b: &[f32]| {
                (b.iter().map(|&v| v as f64).sum::<f64>() / b.len() as f64) as f32
            }),
            "max" => Box::new(|b: &[f32]| b.iter().cloned().fold(f32::NEG_INFINITY, f32::max)),
            "min" => Box::new(|b: &[f32]| b.iter().cloned().fold(f32::INFINITY, f32::min)),
            "prod" => Box::new(|b: &[f32]| b.iter().map(|&v| v as f64).product::<f64>() as f32),
            "var" | "std" => {
                let std = name == "std";
                Box::new(move |b: &[f32]| {
                    let m = b.iter().map(|&v| v as f64).sum::<f64>() / b.len() as f64;
                    let v = b.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / b.len() as f64;
                    (if std { v.sqrt() } else { v }) as f32
                })
            }
            "any" => Box::new(|b: &[f32]| b.iter().any(|&v| v != 0.0) as i32 as f32),
            "all" => Box::new(|b: &[f32]| b.iter().all(|&v| v != 0.0) as i32 as f32),
            _ => unreachable!(),
        }
    }

    fn attrs(axes: Option<&[i64]>, keepdims: bool) -> Vec<(&'static str, Attr)> {
        let mut a = vec![("keepdims", Attr::Bool(keepdims))];
        if let Some(ax) = axes {
            a.push(("axis", Attr::Ints(ax.to_vec())));
        }
        a
    }

    type Case = (&'static [usize], Option<&'static [i64]>);

    const CASES: &[Case] = &[
        (&[7], None),
        (&[7], Some(&[0])),
        (&[7], Some(&[-1])),
        (&[3, 5], None),
        (&[3, 5], Some(&[0])),
        (&[3, 5], Some(&[1])),
        (&[3, 5], Some(&[-1])),
        (&[3, 5], Some(&[0, 1])),
        (&[2, 3, 5], Some(&[1])),
        (&[2, 3, 5], Some(&[0, 2])),
        (&[2, 3, 5], Some(&[-1, 0])),
        (&[2, 3, 5], Some(&[-2])),
        (&[3, 1, 4, 2], Some(&[1, 2])),
        (&[3, 1, 4, 2], Some(&[0, 3])),
        (&[3, 1, 4, 2], Some(&[1])),
        (&[2, 3, 4, 5], Some(&[1, 3])),
        (&[1], None),
        (&[], None),
        (&[3, 5], Some(&[])),
        (&[37, 19], Some(&[0])),
        (&[19, 37], Some(&[-1])),
    ];

    #[test]
    fn forward_matches_numpy_reference() {
        for (c, &(shape, axes)) in CASES.iter().enumerate() {
            let x = rand(shape, c as u64, -2.0, 2.0);
            for name in ["sum", "mean", "max", "min", "prod", "var", "std"] {
                for keepdims in [false, true] {
                    let o = op(name, &attrs(axes, keepdims));
                    let y = forward(&o, std::slice::from_ref(&x));
                    let (ws, wv) = naive(&x, axes, keepdims, &*ref_fn(name));
                    assert_eq!(y.shape, ws, "{name} {shape:?} {axes:?}");
                    assert_eq!(y.dt(), DType::F32);
                    assert_close(&y.f, &wv, 1e-5);
                }
            }
        }
    }

    #[test]
    fn any_all_are_bool_and_without_gradient() {
        let mut x = rand(&[3, 4, 2], 3, -1.0, 1.0);
        for (k, v) in x.f.iter_mut().enumerate() {
            if k % 3 == 0 || k < 8 {
                *v = 0.0;
            }
        }
        for &(shape, axes) in &[
            (&[3usize, 4, 2][..], None),
            (&[3, 4, 2], Some(&[1i64][..])),
            (&[3, 4, 2], Some(&[0, -1])),
        ] {
            for name in ["any", "all"] {
                for keepdims in [false, true] {
                    let o = op(name, &attrs(axes, keepdims));
                    assert!(!o.has_grad(0));
                    let y = forward(&o, std::slice::from_ref(&x));
                    assert_eq!(y.dt(), DType::Bool);
                    let (ws, wv) = naive(&x, axes, keepdims, &*ref_fn(name));
                    assert_eq!(y.shape, ws, "{shape:?}");
                    assert_eq!(y.f, wv);
                }
            }
        }
        // NaN is truthy, as in numpy.
        let y = forward(&op("all", &[]), &[val(&[2], &[f32::NAN, 1.0])]);
        assert_eq!(y.f, vec![1.0]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let shapes: &[Case] = &[
            (&[5], None),
            (&[3, 4], Some(&[0])),
            (&[3, 4], Some(&[-1])),
            (&[2, 3, 5], Some(&[1])),
            (&[2, 3, 5], Some(&[0, 2])),
            (&[2, 3, 5], None),
            (&[3, 1, 4], Some(&[-1, 1])),
        ];
        for (c, &(shape, axes)) in shapes.iter().enumerate() {
            for keepdims in [false, true] {
                let x = rand(shape, 10 + c as u64, -1.0, 1.0);
                for name in ["sum", "mean", "var", "std", "max", "min"] {
                    grad_check(
                        &op(name, &attrs(axes, keepdims)),
                        std::slice::from_ref(&x),
                        1e-3,
                        2e-2,
                    )
                    .unwrap_or_else(|e| panic!("{shape:?} {axes:?}: {e}"));
                }
                let xp = rand(shape, 20 + c as u64, 0.5, 1.5);
                grad_check(&op("prod", &attrs(axes, keepdims)), &[xp], 1e-3, 2e-2).unwrap();
            }
        }
    }

    #[test]
    fn prod_gradient_is_exact_with_zeros() {
        // one zero: only the zero gets the product of the others; two zeros: all zero.
        let x = val(&[2, 4], &[2.0, 0.0, 3.0, 4.0, 0.0, 5.0, 0.0, 1.5]);
        let o = op("prod", &attrs(Some(&[1]), false));
        let mut sc = Default::default();
        let y = forward_with(&o, std::slice::from_ref(&x), &mut sc).unwrap();
        assert_eq!(y.f, vec![0.0, 0.0]);
        let mut gin = vec![0.5f32; 8];
        add_grad(&o, &x, &y, &[1.0, 2.0], &mut gin, &mut sc);
        assert_eq!(gin, vec![0.5, 24.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
        grad_check(&o, &[x], 1e-3, 1e-2).unwrap();
        let z = val(&[3, 2], &[0.0, 1.0, 2.0, 0.0, 3.0, -1.0]);
        grad_check(
            &op("prod", &attrs(Some(&[0]), true)),
            std::slice::from_ref(&z),
            1e-3,
            1e-2,
        )
        .unwrap();
        grad_check(&op("prod", &[]), &[z], 1e-3, 1e-2).unwrap();
    }

    #[test]
    fn max_min_ties_split_the_gradient() {
        let x = val(&[2, 3], &[1.0, 3.0, 3.0, -2.0, -2.0, 0.0]);
        for (name, want) in [
            ("max", vec![0.0, 0.5, 0.5, 0.0, 0.0, 2.0]),
            ("min", vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0]),
        ] {
            let o = op(name, &attrs(Some(&[-1]), false));
            let mut sc = Default::default();
            let y = forward_with(&o, std::slice::from_ref(&x), &mut sc).unwrap();
            let mut gin = vec![0.0f32; 6];
            add_grad(&o, &x, &y, &[1.0, 2.0], &mut gin, &mut sc);
            assert_eq!(gin, want, "{name}");
        }
        // ties along a leading axis (kept-run layout)
        let x0 = val(&[3, 2], &[1.0, 5.0, 1.0, 2.0, 0.0, 5.0]);
        let o = op("max", &attrs(Some(&[0]), true));
        let mut sc = Default::default();
        let y = forward_with(&o, std::slice::from_ref(&x0), &mut sc).unwrap();
        let mut gin = vec![0.0f32; 6];
        add_grad(&o, &x0, &y, &[1.0, 4.0], &mut gin, &mut sc);
        assert_eq!(gin, vec![0.5, 2.0, 0.5, 0.0, 0.0, 2.0]);
        // NaN propagates like numpy.
        let y = forward(&op("max", &[]), &[val(&[3], &[1.0, f32::NAN, 2.0])]);
        assert!(y.f[0].is_nan());
    }

    #[test]
    fn backward_accumulates() {
        let x = rand(&[3, 4], 1, -1.0, 1.0);
        for name in ["sum", "mean", "max", "prod", "var", "std"] {
            let o = op(name, &attrs(Some(&[0]), false));
            assert_backward_accumulates(&o, &x, &[1.0; 4]);
        }
    }

    #[test]
    fn argmax_argmin_first_occurrence() {
        let x = val(
            &[2, 3, 4],
            &[
                1.0, 5.0, 5.0, 0.0, //
                5.0, 2.0, 5.0, 0.0, //
                0.0, 5.0, -1.0, 0.0, //
                -3.0, -3.0, 2.0, 9.0, //
                7.0, -3.0, 2.0, 1.0, //
                7.0, 0.0, -8.0, 9.0,
            ],
        );
        // naive reference
        let arg = |axis: usize, min: bool| -> (Vec<usize>, Vec<i32>) {
            let s = &x.shape;
            let mut out_shape = s.clone();
            out_shape.remove(axis);
            let mut res = Vec::new();
            let n_out: usize = out_shape.iter().product();
            for o in 0..n_out {
                let mut rem = o;
                let mut idx = vec![0; 2];
                for k in (0..2).rev() {
                    idx[k] = rem % out_shape[k];
                    rem /= out_shape[k];
                }
                let mut best = (0, f32::NAN);
                for r in 0..s[axis] {
                    let mut full = idx.clone();
                    full.insert(axis, r);
                    let v = x.f[(full[0] * s[1] + full[1]) * s[2] + full[2]];
                    if r == 0 || (if min { v < best.1 } else { v > best.1 }) {
                        best = (r, v);
                    }
                }
                res.push(best.0 as i32);
            }
            (out_shape, res)
        };
        for axis in [0i64, 1, 2, -1, -2, -3] {
            for (name, min) in [("argmax", false), ("argmin", true)] {
                let o = op(name, &[("axis", Attr::Int(axis))]);
                assert!(!o.has_grad(0));
                let y = forward(&o, std::slice::from_ref(&x));
                assert_eq!(y.dt(), DType::I32);
                let (ws, wv) = arg(axis.rem_euclid(3) as usize, min);
                assert_eq!(y.shape, ws);
                assert_eq!(y.i, wv, "{name} axis {axis}");
            }
        }
        // default axis is -1; first NaN wins like numpy
        let y = forward(
            &op("argmax", &[]),
            &[val(&[2, 3], &[1.0, f32::NAN, 3.0, 2.0, 2.0, 1.0])],
        );
        assert_eq!(y.i, vec![1, 0]);
        let y = forward(
            &op("argmin", &[]),
            &[val(&[1, 5], &[3.0, -1.0, 4.0, -1.0, 0.0])],
        );
        assert_eq!(y.i, vec![1]);
    }

    #[test]
    fn symbolic_shapes_and_errors() {
        let t = |s: Shape| TypeInfo::f32(s);
        let o = op("sum", &attrs(Some(&[-1]), false));
        assert_eq!(
            o.infer(&[t(vec![None, Some(3)])]).unwrap().shape,
            vec![None]
        );
        let o = op("mean", &attrs(Some(&[1]), true));
        assert_eq!(
            o.infer(&[t(vec![None, None, Some(4)])]).unwrap().shape,
            vec![None, Some(1), Some(4)]
        );
        let o = op("max", &[]);
        assert_eq!(
            o.infer(&[t(vec![None, Some(3)])]).unwrap().shape,
            Vec::<Dim>::new()
        );
        let o = op("argmax", &[("axis", Attr::Int(0))]);
        let ti = o.infer(&[t(vec![None, Some(3)])]).unwrap();
        assert_eq!((ti.dtype, ti.shape), (DType::I32, vec![Some(3)]));

        let e = op("sum", &attrs(Some(&[2]), false))
            .infer(&[t(vec![None, Some(3)])])
            .unwrap_err();
        assert!(
            matches!(e, Error::Value(_)) && e.to_string().contains("sum"),
            "{e}"
        );
        let e = op("sum", &attrs(Some(&[1, -1]), false))
            .infer(&[t(vec![None, Some(3)])])
            .unwrap_err();
        assert!(e.to_string().contains("repeated"), "{e}");
        let e = op("argmin", &[("axis", Attr::Int(-3))])
            .infer(&[t(vec![None, Some(3)])])
            .unwrap_err();
        assert!(e.to_string().contains("argmin"), "{e}");
        let ti = TypeInfo {
            dtype: DType::I32,
            shape: vec![Some(3)],
        };
        assert!(matches!(op("sum", &[]).infer(&[ti]), Err(Error::Type(_))));
        let e =
            crate::ops::build("sum", &Attrs::new("sum").with("axes", Attr::Int(0))).unwrap_err();
        assert!(e.to_string().contains("axes"), "{e}");
        let e = crate::ops::build("mean", &Attrs::new("mean").with("axis", Attr::Float(0.5)))
            .unwrap_err();
        assert!(matches!(e, Error::Type(_)), "{e}");
        assert!(o.infer(&[t(vec![])]).is_err());
    }

    #[test]
    fn empty_reductions() {
        let x = Value::zeros(DType::F32, &[0, 3]);
        let y = forward(
            &op("sum", &attrs(Some(&[0]), false)),
            std::slice::from_ref(&x),
        );
        assert_eq!(y.f, vec![0.0; 3]);
        let y = forward(
            &op("prod", &attrs(Some(&[0]), false)),
            std::slice::from_ref(&x),
        );
        assert_eq!(y.f, vec![1.0; 3]);
        let mut sc = Default::default();
        let e = forward_with(
            &op("max", &attrs(Some(&[0]), false)),
            std::slice::from_ref(&x),
            &mut sc,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Value(_)), "{e}");
        let e = forward_with(
            &op("argmax", &[("axis", Attr::Int(0))]),
            std::slice::from_ref(&x),
            &mut sc,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Value(_)), "{e}");
        // reducing the non-empty axis of an empty tensor is fine: empty result.
        let y = forward(&op("max", &attrs(Some(&[1]), false)), &[x]);
        assert!(y.f.is_empty());
    }

    #[test]
    fn large_contiguous_reductions() {
        let x = rand(&[300, 129], 4, -1.0, 1.0);
        for axes in [&[0i64][..], &[1], &[0, 1]] {
            let y = forward(
                &op("sum", &attrs(Some(axes), false)),
                std::slice::from_ref(&x),
            );
            let (_, want) = naive(&x, Some(axes), false, &*ref_fn("sum"));
            assert_close(&y.f, &want, 1e-4);
        }
    }

    #[test]
    fn works_in_a_compiled_graph_with_an_unknown_batch() {
        use crate::Graph;
        let mut g = Graph::new();
        let x = g.placeholder(DType::F32, vec![None, Some(3)], "x");
        let m = g
            .op("mean", &[x], &Attrs::new("mean").with("axis", Attr::Int(0)))
            .unwrap();
        assert_eq!(g.info(m).unwrap().shape, vec![Some(3)]);
        let v = g
            .op(
                "var",
                &[x],
                &Attrs::new("var")
                    .with("axis", Attr::Int(-1))
                    .with("keepdims", Attr::Bool(true)),
            )
            .unwrap();
        assert_eq!(g.info(v).unwrap().shape, vec![None, Some(1)]);
        let sv = g.op("sum", &[v], &Attrs::new("sum")).unwrap();
        let sm = g.op("max", &[m], &Attrs::new("max")).unwrap();
        let loss = g.op("add", &[sv, sm], &Attrs::new("add")).unwrap();
        let dx = g.gradients(loss, &[x]).unwrap();
        let am = g.op("argmax", &[x], &Attrs::new("argmax")).unwrap();
        let f = g.compile(&[x], &[loss, dx[0], am], vec![]).unwrap();
        for rows in [2usize, 5] {
            let xv = rand(&[rows, 3], rows as u64, -1.0, 1.0);
            let out = f.run_values(std::slice::from_ref(&xv)).unwrap();
            let (_, vr) = naive(&xv, Some(&[-1]), true, &*ref_fn("var"));
            let (_, mr) = naive(&xv, Some(&[0]), false, &*ref_fn("mean"));
            let want =
                vr.iter().sum::<f32>() + mr.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            assert_close(&out[0].f, &[want], 1e-5);
            assert_eq!(out[1].shape, vec![rows, 3]);
            assert_eq!(out[2].shape, vec![rows]);
        }
    }

    #[test]
    fn long_rows_use_the_vector_path_with_numpy_semantics() {
        let mut x = rand(&[3, 40], 7, -1.0, 1.0);
        x.f[17] = 5.0;
        x.f[33] = 5.0; // tie: first wins
        x.f[40 + 20] = f32::NAN;
        x.f[40 + 35] = f32::NAN; // first NaN wins
        x.f[80 + 39] = -7.0; // in the remainder
        let am = forward(&op("argmax", &[]), std::slice::from_ref(&x));
        assert_eq!(am.i[0], 17);
        assert_eq!(am.i[1], 20);
        let an = forward(&op("argmin", &[]), std::slice::from_ref(&x));
        assert_eq!((an.i[1], an.i[2]), (20, 39));
        let mx = forward(
            &op("max", &attrs(Some(&[-1]), false)),
            std::slice::from_ref(&x),
        );
        assert_eq!(mx.f[0], 5.0);
        assert!(mx.f[1].is_nan());
        let mn = forward(
            &op("min", &attrs(Some(&[1]), true)),
            std::slice::from_ref(&x),
        );
        assert_eq!(mn.shape, vec![3, 1]);
        assert_eq!(mn.f[2], -7.0);
        assert!(mn.f[1].is_nan());
        let want: Vec<f32> = (0..3)
            .map(|r| {
                x.f[r * 40..(r + 1) * 40]
                    .iter()
                    .cloned()
                    .fold(f32::INFINITY, f32::min)
            })
            .collect();
        assert_eq!((mn.f[0], mn.f[2]), (want[0], want[2]));
    }
}
