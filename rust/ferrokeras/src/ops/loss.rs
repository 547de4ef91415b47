//! Cross-entropy losses with Keras 1 numerics: `categorical_crossentropy`,
//! `sparse_categorical_crossentropy` and `binary_crossentropy`.
//!
//! They are fused ops rather than compositions of log/clip/sum because Keras' numbers
//! depend on the exact order "renormalise, clip to [eps, 1-eps], log" and on where the
//! clip cuts the gradient; one kernel pair per loss states that order once. Every op
//! takes `(output, target)` in that order (Keras puts the prediction first) and returns
//! the per-sample loss before any mean: the class axis (last axis) is reduced for the
//! categorical losses, nothing is reduced for the binary one.
//!
//! Clip gradients follow the Theano/TensorFlow convention used by the `clip` op: the
//! gradient passes where `eps <= p <= 1 - eps` and is zero outside.

use std::sync::Arc;

use super::activation::{row_max, row_sum};
use super::{expect_float, expect_floats, expect_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::simd;
use crate::simd_fn;
use crate::tensor::{fmt_shape, DType, Shape, Value};
use crate::{Error, Result};

/// Keras' default fuzz factor `K.epsilon()`.
pub const DEFAULT_EPSILON: f64 = 1e-7;

/// The clip interval `[eps, 1 - eps]` as float32 (the bound is computed in f64 and
/// rounded, as Python computes `1. - eps` before it becomes a float32 constant).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Clip {
    lo: f32,
    hi: f32,
}

impl Clip {
    fn new(op: &str, eps: f64) -> Result<Clip> {
        if !(0.0..=0.5).contains(&eps) {
            return Err(Error::Value(format!(
                "{op}: epsilon must be in [0, 0.5], got {eps}"
            )));
        }
        Ok(Clip {
            lo: eps as f32,
            hi: (1.0 - eps) as f32,
        })
    }

    /// clip(p, lo, hi); NaN stays NaN.
    #[inline(always)]
    fn apply(self, p: f32) -> f32 {
        if p < self.lo {
            self.lo
        } else if p > self.hi {
            self.hi
        } else {
            p
        }
    }

    /// Whether the clip passes gradient at `p`.
    #[inline(always)]
    fn inside(self, p: f32) -> bool {
        p >= self.lo && p <= self.hi
    }
}

/// Checks that two symbolic shapes can be equal and returns the merged one.
fn same_shape(op: &str, a: &[Option<usize>], b: &[Option<usize>]) -> Result<Shape> {
    let ok = a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.is_none() || y.is_none() || x == y);
    if !ok {
        return Err(Error::Shape(format!(
            "{op}: output and target must have the same shape, got {} and {}",
            fmt_shape(a),
            fmt_shape(b)
        )));
    }
    Ok(a.iter().zip(b).map(|(x, y)| x.or(*y)).collect())
}

/// Length of the class axis of a concrete output shape.
fn classes(shape: &[usize]) -> usize {
    shape.last().copied().unwrap_or(1)
}

simd_fn! {
    /// Per row of `c` logits: `m = max x` and `s = sum exp(x - m)` stored as
    /// `(m, ln s)` pairs in `stats` (row-major pairs).
    fn logsumexp_rows(x: &[f32], stats: &mut [f32], c: usize) {
        for (xr, st) in x.chunks_exact(c).zip(stats.chunks_exact_mut(2)) {
            let m = row_max(xr);
            let mut acc = [0.0f32; 8];
            let mut it = xr.chunks_exact(8);
            for ch in &mut it {
                for k in 0..8 {
                    acc[k] += simd::exp(ch[k] - m);
                }
            }
            let mut s = 0.0f32;
            for &v in it.remainder() {
                s += simd::exp(v - m);
            }
            let s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + s;
            st[0] = m;
            st[1] = s.ln();
        }
    }
}

/// `(max, ln sum exp(x - max))` of every row, kept in the scratch buffer.
fn row_stats<'a>(x: &[f32], c: usize, buf: &'a mut Vec<f32>) -> Result<&'a [f32]> {
    let rows = x.len() / c;
    grow(buf, 2 * rows, "crossentropy")?;
    logsumexp_rows(x, &mut buf[..2 * rows], c);
    Ok(&buf[..2 * rows])
}

// ---------------------------------------------------------------------------------
// categorical_crossentropy

/// `-sum(target * log p, last axis)` with `p = clip(output / sum(output), eps, 1-eps)`,
/// or `-sum(target * log_softmax(output))` when `from_logits`.
#[derive(Debug)]
pub struct CategoricalCrossentropy {
    from_logits: bool,
    clip: Clip,
}

impl Op for CategoricalCrossentropy {
    fn name(&self) -> &str {
        "categorical_crossentropy"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let op = "categorical_crossentropy";
        expect_floats(op, inputs, 2)?;
        if inputs[0].shape.is_empty() {
            return Err(Error::Shape(format!(
                "{op}: the output must have a class axis, got a scalar"
            )));
        }
        let mut s = same_shape(op, &inputs[0].shape, &inputs[1].shape)?;
        s.pop();
        Ok(TypeInfo::f32(s))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (o, t) = (&inputs[0].f, &inputs[1].f);
        let c = classes(&inputs[0].shape);
        if c == 0 {
            out.f.fill(0.0);
            return Ok(());
        }
        if self.from_logits {
            let st = row_stats(o, c, &mut ctx.scratch.f)?;
            for (((y, xr), tr), st) in out
                .f
                .iter_mut()
                .zip(o.chunks_exact(c))
                .zip(t.chunks_exact(c))
                .zip(st.chunks_exact(2))
            {
                // -sum t (x - m - ln s)
                let l: f64 = xr
                    .iter()
                    .zip(tr)
                    .map(|(&x, &t)| t as f64 * (st[1] - (x - st[0])) as f64)
                    .sum();
                *y = l as f32;
            }
            return Ok(());
        }
        let clip = self.clip;
        for ((y, or), tr) in out
            .f
            .iter_mut()
            .zip(o.chunks_exact(c))
            .zip(t.chunks_exact(c))
        {
            let s = row_sum(or);
            let l: f64 = or
                .iter()
                .zip(tr)
                .map(|(&o, &t)| {
                    let p = clip.apply(o / s);
                    // A zero target's term is -t * ln p = ±0 (t's sign) whenever ln p is
                    // finite and negative, i.e. 0 < p < 1: skip the logarithm, the
                    // costliest part of a one-hot row, and keep the same bits.
                    if t == 0.0 && p > 0.0 && p < 1.0 {
                        t as f64
                    } else {
                        -(t as f64) * (p.ln() as f64)
                    }
                })
                .sum();
            *y = l as f32;
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
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (o, t) = (&inputs[0].f, &inputs[1].f);
        let c = classes(&inputs[0].shape);
        if c == 0 {
            return Ok(());
        }
        let rows = o
            .chunks_exact(c)
            .zip(t.chunks_exact(c))
            .zip(gin.chunks_exact_mut(c))
            .zip(g);
        if self.from_logits {
            let st = row_stats(o, c, &mut ctx.scratch.f)?;
            for ((((xr, tr), dr), &gr), st) in rows.zip(st.chunks_exact(2)) {
                let (m, ln_s) = (st[0], st[1]);
                if index == 0 {
                    // d/dx_k = softmax_k * sum(t) - t_k
                    let tsum = row_sum(tr);
                    for ((d, &x), &t) in dr.iter_mut().zip(xr).zip(tr) {
                        *d += gr * (simd::exp(x - m - ln_s) * tsum - t);
                    }
                } else {
                    for (d, &x) in dr.iter_mut().zip(xr) {
                        *d += gr * (ln_s - (x - m));
                    }
                }
            }
            return Ok(());
        }
        let clip = self.clip;
        for (((or, tr), dr), &gr) in rows {
            let s = row_sum(or);
            if index == 1 {
                for (d, &o) in dr.iter_mut().zip(or) {
                    *d -= gr * clip.apply(o / s).ln();
                }
                continue;
            }
            // L = -sum_j t_j log clip(p_j), p_j = o_j / S. With a_j = t_j / p_j where the
            // clip passes gradient (0 elsewhere): dL/do_k = (sum_j a_j p_j - a_k) / S.
            // (A zero target's a_j is ±0 where p_j > 0: t / p without the division.)
            let a = |o: f32, t: f32| {
                let p = o / s;
                if !clip.inside(p) {
                    0.0
                } else if t == 0.0 && p > 0.0 {
                    t
                } else {
                    t / p
                }
            };
            let cdot: f32 = or.iter().zip(tr).map(|(&o, &t)| a(o, t) * (o / s)).sum();
            for ((d, &o), &t) in dr.iter_mut().zip(or).zip(tr) {
                *d += gr * (cdot - a(o, t)) / s;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// sparse_categorical_crossentropy

/// Categorical cross-entropy against the one-hot of integer targets of shape
/// `output.shape[:-1]` or `output.shape[:-1] + (1,)`.
#[derive(Debug)]
pub struct SparseCategoricalCrossentropy {
    from_logits: bool,
    clip: Clip,
}

const SPARSE: &str = "sparse_categorical_crossentropy";

/// Class id `k` of a sparse target, range-checked against `c` classes. Float targets
/// must hold whole numbers.
fn class_id(t: &Value, k: usize, c: usize) -> Result<usize> {
    let id: i64 = match t.dt() {
        DType::I32 => t.i[k] as i64,
        _ => {
            let v = t.f[k];
            if v.fract() != 0.0 || !v.is_finite() {
                return Err(Error::Value(format!(
                    "{SPARSE}: target {v} is not a class id (a whole number)"
                )));
            }
            v as i64
        }
    };
    if id < 0 || id >= c as i64 {
        return Err(Error::Value(format!(
            "{SPARSE}: target id {id} is out of range for {c} classes (valid ids 0..{c})"
        )));
    }
    Ok(id as usize)
}

impl Op for SparseCategoricalCrossentropy {
    fn name(&self) -> &str {
        SPARSE
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(SPARSE, inputs, 2)?;
        expect_float(SPARSE, &inputs[0])?;
        let (o, t) = (&inputs[0].shape, &inputs[1].shape);
        if o.is_empty() {
            return Err(Error::Shape(format!(
                "{SPARSE}: the output must have a class axis, got a scalar"
            )));
        }
        let lead = &o[..o.len() - 1];
        let t_lead = if t.len() == o.len() && t.last().is_some_and(|d| d.is_none_or(|d| d == 1)) {
            &t[..t.len() - 1]
        } else {
            &t[..]
        };
        let err = || {
            Error::Shape(format!(
                "{SPARSE}: the target must have shape output.shape[:-1] or output.shape[:-1] + (1,); got output {} and target {}",
                fmt_shape(o),
                fmt_shape(t)
            ))
        };
        let merged = same_shape(SPARSE, lead, t_lead).map_err(|_| err())?;
        Ok(TypeInfo::f32(merged))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (o, t) = (&inputs[0].f, inputs[1]);
        let c = classes(&inputs[0].shape);
        if c == 0 {
            if out.f.is_empty() {
                return Ok(());
            }
            return Err(Error::Value(format!(
                "{SPARSE}: the output has no classes (last axis of length 0)"
            )));
        }
        if self.from_logits {
            let st = row_stats(o, c, &mut ctx.scratch.f)?;
            for (k, ((y, xr), st)) in out
                .f
                .iter_mut()
                .zip(o.chunks_exact(c))
                .zip(st.chunks_exact(2))
                .enumerate()
            {
                let id = class_id(t, k, c)?;
                *y = st[1] - (xr[id] - st[0]);
            }
            return Ok(());
        }
        for (k, (y, or)) in out.f.iter_mut().zip(o.chunks_exact(c)).enumerate() {
            let id = class_id(t, k, c)?;
            *y = -self.clip.apply(or[id] / row_sum(or)).ln();
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
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (o, t) = (&inputs[0].f, inputs[1]);
        let c = classes(&inputs[0].shape);
        if c == 0 {
            return Ok(());
        }
        if self.from_logits {
            let st = row_stats(o, c, &mut ctx.scratch.f)?;
            for (k, (((xr, dr), &gr), st)) in o
                .chunks_exact(c)
                .zip(gin.chunks_exact_mut(c))
                .zip(g)
                .zip(st.chunks_exact(2))
                .enumerate()
            {
                let id = class_id(t, k, c)?;
                for (d, &x) in dr.iter_mut().zip(xr) {
                    *d += gr * simd::exp(x - st[0] - st[1]);
                }
                dr[id] -= gr;
            }
            return Ok(());
        }
        for (k, ((or, dr), &gr)) in o
            .chunks_exact(c)
            .zip(gin.chunks_exact_mut(c))
            .zip(g)
            .enumerate()
        {
            let id = class_id(t, k, c)?;
            let s = row_sum(or);
            let p = or[id] / s;
            if !self.clip.inside(p) {
                continue; // only the id's term depends on the output, and it is clipped
            }
            // a_id = 1 / p; dL/do_k = (a_id p - a_k) / S = (1 - [k == id] / p) / S
            for d in dr.iter_mut() {
                *d += gr / s;
            }
            dr[id] -= gr / (p * s);
        }
        Ok(())
    }

    fn has_grad(&self, index: usize) -> bool {
        index == 0
    }
}

// ---------------------------------------------------------------------------------
// binary_crossentropy

/// Elementwise `-(t log p + (1-t) log(1-p))` with `p = clip(output, eps, 1-eps)`, or
/// `max(x, 0) - x t + log(1 + exp(-|x|))` when `from_logits`.
#[derive(Debug)]
pub struct BinaryCrossentropy {
    from_logits: bool,
    clip: Clip,
}

impl Op for BinaryCrossentropy {
    fn name(&self) -> &str {
        "binary_crossentropy"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let op = "binary_crossentropy";
        expect_floats(op, inputs, 2)?;
        Ok(TypeInfo::f32(same_shape(
            op,
            &inputs[0].shape,
            &inputs[1].shape,
        )?))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let (o, t) = (&inputs[0].f, &inputs[1].f);
        if self.from_logits {
            for ((y, &x), &t) in out.f.iter_mut().zip(o).zip(t) {
                *y = x.max(0.0) - x * t + simd::exp(-x.abs()).ln_1p();
            }
        } else {
            let clip = self.clip;
            for ((y, &o), &t) in out.f.iter_mut().zip(o).zip(t) {
                let p = clip.apply(o);
                *y = -(t * p.ln() + (1.0 - t) * (1.0 - p).ln());
            }
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
        let (o, t) = (&inputs[0].f, &inputs[1].f);
        let it = gin.iter_mut().zip(g).zip(o.iter().zip(t));
        match (self.from_logits, index) {
            (true, 0) => it.for_each(|((d, &g), (&x, &t))| *d += g * (simd::sigmoid(x) - t)),
            (true, _) => it.for_each(|((d, &g), (&x, _))| *d -= g * x),
            (false, 0) => {
                let clip = self.clip;
                it.for_each(|((d, &g), (&o, &t))| {
                    if clip.inside(o) {
                        *d += g * ((1.0 - t) / (1.0 - o) - t / o);
                    }
                })
            }
            (false, _) => {
                let clip = self.clip;
                it.for_each(|((d, &g), (&o, _))| {
                    let p = clip.apply(o);
                    *d += g * ((1.0 - p).ln() - p.ln());
                })
            }
        }
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let parts = |op: &str| -> Result<(bool, Clip)> {
        let from_logits = a.bool("from_logits", false)?;
        let clip = Clip::new(op, a.float("epsilon", DEFAULT_EPSILON)?)?;
        Ok((from_logits, clip))
    };
    let r = match name {
        "categorical_crossentropy" => parts(name).map(|(from_logits, clip)| {
            Arc::new(CategoricalCrossentropy { from_logits, clip }) as OpRef
        }),
        "sparse_categorical_crossentropy" => parts(name).map(|(from_logits, clip)| {
            Arc::new(SparseCategoricalCrossentropy { from_logits, clip }) as OpRef
        }),
        "binary_crossentropy" => parts(name)
            .map(|(from_logits, clip)| Arc::new(BinaryCrossentropy { from_logits, clip }) as OpRef),
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::{Attr, Scratch};
    use crate::tensor::known;

    const EPS: f64 = 1e-7;

    fn clip64(p: f64) -> f64 {
        p.clamp(EPS as f32 as f64, (1.0 - EPS) as f32 as f64)
    }

    /// Naive f64 categorical cross-entropy per row.
    fn cce_ref(o: &[f32], t: &[f32], c: usize, from_logits: bool) -> Vec<f32> {
        o.chunks(c)
            .zip(t.chunks(c))
            .map(|(or, tr)| {
                let l: f64 = if from_logits {
                    let m = or.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
                    let lse = m + or.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
                    -or.iter()
                        .zip(tr)
                        .map(|(&x, &t)| t as f64 * (x as f64 - lse))
                        .sum::<f64>()
                } else {
                    let s: f64 = or.iter().map(|&v| v as f64).sum();
                    -or.iter()
                        .zip(tr)
                        .map(|(&x, &t)| t as f64 * clip64(x as f64 / s).ln())
                        .sum::<f64>()
                };
                l as f32
            })
            .collect()
    }

    fn cce(from_logits: bool) -> OpRef {
        op(
            "categorical_crossentropy",
            &[("from_logits", Attr::Bool(from_logits))],
        )
    }

    #[test]
    fn categorical_forward_matches_reference() {
        let shapes: &[&[usize]] = &[&[5], &[4, 5], &[2, 3, 4], &[3, 1]];
        for (i, &s) in shapes.iter().enumerate() {
            let o = rand(s, 1 + i as u64, 0.1, 1.0);
            let t = rand(s, 11 + i as u64, 0.0, 1.0);
            let c = *s.last().unwrap();
            for logits in [false, true] {
                let y = forward(&cce(logits), &[o.clone(), t.clone()]);
                assert_eq!(y.shape, s[..s.len() - 1].to_vec());
                assert_close(&y.f, &cce_ref(&o.f, &t.f, c, logits), 1e-6);
            }
        }
        // clipping: a one-hot prediction costs -log(eps) on the wrong class
        let o = val(&[2, 3], &[1.0, 0.0, 0.0, 0.0, 2.0, 0.0]);
        let t = val(&[2, 3], &[0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
        let y = forward(&cce(false), &[o.clone(), t.clone()]);
        assert_close(
            &y.f,
            &[-(1e-7f32.ln()), -((1.0 - 1e-7f64) as f32).ln()],
            1e-6,
        );
        assert_close(&y.f, &cce_ref(&o.f, &t.f, 3, false), 1e-6);
        // from logits is stable for huge logits
        let o = val(&[1, 3], &[1000.0, 0.0, -1000.0]);
        let t = val(&[1, 3], &[0.0, 1.0, 0.0]);
        let y = forward(&cce(true), &[o.clone(), t.clone()]);
        assert_close(&y.f, &[1000.0], 1e-6);
        // epsilon attribute
        let big = op(
            "categorical_crossentropy",
            &[("epsilon", Attr::Float(0.01))],
        );
        let y = forward(&big, &[val(&[2], &[1.0, 0.0]), val(&[2], &[0.0, 1.0])]);
        assert_close(&y.f, &[-(0.01f32.ln())], 1e-6);
    }

    #[test]
    fn categorical_gradients_match_finite_differences() {
        // rows deliberately not normalised
        let shapes: &[&[usize]] = &[&[5], &[4, 5], &[2, 3, 4], &[3, 1]];
        for (i, &s) in shapes.iter().enumerate() {
            let o = rand(s, 21 + i as u64, 0.1, 1.0);
            let t = rand(s, 31 + i as u64, 0.0, 1.0);
            grad_check(&cce(false), &[o.clone(), t.clone()], 1e-3, 1e-2)
                .unwrap_or_else(|e| panic!("{s:?}: {e}"));
            let x = rand(s, 41 + i as u64, -3.0, 3.0);
            grad_check(&cce(true), &[x, t], 1e-3, 1e-2).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        }
    }

    /// The zero-target shortcuts (no logarithm, no division) give exactly the bits of
    /// the plain formulas, for targets of either zero sign, NaN and infinite outputs,
    /// negative outputs, outputs at the clip bounds and epsilon 0 (where ln 0 = -inf
    /// times a zero target must still be NaN).
    #[test]
    fn categorical_zero_targets_keep_the_plain_formula_bits() {
        // Rust leaves a NaN's sign and payload unspecified: every NaN compares as one.
        let bits = |v: f32| if v.is_nan() { u32::MAX } else { v.to_bits() };
        let rows: &[[f32; 4]] = &[
            [0.2, 0.3, 0.5, 0.0],
            [1.0, 0.0, 0.0, 0.0],
            [f32::NAN, 0.5, 0.5, 0.1],
            [f32::INFINITY, 1.0, 2.0, 0.5],
            [-1.0, 2.0, 0.5, 0.5],
            [0.0, 0.0, 0.0, 0.0],
            [3.0, 1e-30, 1.0, 1.0],
        ];
        let targets: &[[f32; 4]] = &[
            [0.0, 1.0, 0.0, 0.0],
            [-0.0, 0.0, 1.0, -0.0],
            [0.0, 0.0, 0.0, 0.0],
            [-0.0, -0.0, -0.0, -0.0],
            [0.5, 0.0, -0.0, 0.5],
        ];
        for eps in [1e-7, 0.0, 0.01] {
            let clip = Clip::new("test", eps).unwrap();
            let opr = op("categorical_crossentropy", &[("epsilon", Attr::Float(eps))]);
            for or in rows {
                for tr in targets {
                    let (o, t) = (val(&[1, 4], or), val(&[1, 4], tr));
                    let s = row_sum(or);
                    let l: f64 = or
                        .iter()
                        .zip(tr)
                        .map(|(&o, &t)| -(t as f64) * (clip.apply(o / s).ln() as f64))
                        .sum();
                    let y = forward(&opr, &[o.clone(), t.clone()]);
                    assert_eq!(bits(y.f[0]), bits(l as f32), "{eps} {or:?} {tr:?}");
                    let a = |o: f32, t: f32| {
                        let p = o / s;
                        if clip.inside(p) {
                            t / p
                        } else {
                            0.0
                        }
                    };
                    let cdot: f32 = or.iter().zip(tr).map(|(&o, &t)| a(o, t) * (o / s)).sum();
                    let want: Vec<u32> = or
                        .iter()
                        .zip(tr)
                        .map(|(&o, &t)| bits(0.0 + 0.75 * (cdot - a(o, t)) / s))
                        .collect();
                    let gin = grad_of(&opr, 0, &[&o, &t], &y, &[0.75]);
                    let got: Vec<u32> = gin.iter().map(|&v| bits(v)).collect();
                    assert_eq!(got, want, "{eps} {or:?} {tr:?}");
                }
            }
        }
    }

    /// f64 loss of one row, for finite differences in the clipped regime.
    fn cce_row64(o: &[f64], t: &[f64]) -> f64 {
        let s: f64 = o.iter().sum();
        -o.iter()
            .zip(t)
            .map(|(&x, &t)| t * clip64(x / s).ln())
            .sum::<f64>()
    }

    #[test]
    fn categorical_gradient_through_the_clip() {
        // element 1 is clipped at eps (p ~ 1e-12): zero from the log, but it still gets
        // the renormalisation term; elsewhere the usual gradient.
        let o = val(&[4], &[5.0, 6e-12, 1.0, 2.0]);
        let t = val(&[4], &[0.2, 0.5, 0.3, 0.0]);
        let opr = cce(false);
        let y = forward(&opr, &[o.clone(), t.clone()]);
        let gin = grad_of(&opr, 0, &[&o, &t], &y, &[1.0]);
        let o64: Vec<f64> = o.f.iter().map(|&v| v as f64).collect();
        let t64: Vec<f64> = t.f.iter().map(|&v| v as f64).collect();
        for k in 0..4 {
            // the tiny element stays clipped under its (absolute) step
            let h = if o64[k] < 1e-6 { 1e-8 } else { 1e-6 * o64[k] };
            let (mut p, mut m) = (o64.clone(), o64.clone());
            p[k] += h;
            m[k] -= h;
            let num = (cce_row64(&p, &t64) - cce_row64(&m, &t64)) / (2.0 * h);
            assert!(
                (gin[k] as f64 - num).abs() < 1e-4 * (1.0 + num.abs()),
                "k={k}: {} vs {num}",
                gin[k]
            );
        }
        assert!(
            gin[1] != 0.0,
            "the clipped element keeps its renormalisation term"
        );
        // every element clipped: no gradient at all
        let o = val(&[3], &[1.0, 0.0, 0.0]);
        let t3 = val(&[3], &t.f[..3]);
        let y = forward(&opr, &[o.clone(), t3.clone()]);
        let gin = grad_of(&opr, 0, &[&o, &t3], &y, &[1.0]);
        assert_eq!(gin, vec![0.0; 3]);
        // target gradient is -log(clip(p))
        let gt = grad_of(&opr, 1, &[&o, &t3], &y, &[2.0]);
        let hi = (1.0 - 1e-7f64) as f32;
        assert_close(
            &gt,
            &[-2.0 * hi.ln(), -2.0 * 1e-7f32.ln(), -2.0 * 1e-7f32.ln()],
            1e-6,
        );
    }

    fn scce(from_logits: bool) -> OpRef {
        op(
            "sparse_categorical_crossentropy",
            &[("from_logits", Attr::Bool(from_logits))],
        )
    }

    fn one_hot(ids: &[i32], c: usize) -> Vec<f32> {
        let mut v = vec![0.0; ids.len() * c];
        for (r, &id) in ids.iter().enumerate() {
            v[r * c + id as usize] = 1.0;
        }
        v
    }

    #[test]
    fn sparse_matches_categorical_on_one_hot() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[4, 5], &[4]),
            (&[4, 5], &[4, 1]),
            (&[2, 3, 4], &[2, 3]),
            (&[2, 3, 4], &[2, 3, 1]),
            (&[5], &[]),
        ];
        for (i, &(so, st)) in cases.iter().enumerate() {
            let c = *so.last().unwrap();
            let n: usize = st.iter().product();
            let ids: Vec<i32> = (0..n).map(|k| ((k * 7 + i) % c) as i32).collect();
            let t = Value::from_i32(st, ids.clone()).unwrap();
            let hot = val(so, &one_hot(&ids, c));
            for logits in [false, true] {
                let o = if logits {
                    rand(so, 50 + i as u64, -3.0, 3.0)
                } else {
                    rand(so, 50 + i as u64, 0.1, 1.0)
                };
                let y = forward(&scce(logits), &[o.clone(), t.clone()]);
                assert_eq!(y.shape, so[..so.len() - 1].to_vec());
                assert_close(&y.f, &cce_ref(&o.f, &hot.f, c, logits), 1e-6);
                grad_check(&scce(logits), &[o.clone(), t.clone()], 1e-3, 1e-2)
                    .unwrap_or_else(|e| panic!("{so:?} {st:?}: {e}"));
                // same gradient as the dense loss against the one-hot
                let g = rand(&y.shape, 3, -1.0, 1.0);
                let gs = grad_of(&scce(logits), 0, &[&o, &t], &y, &g.f);
                let gd = grad_of(&cce(logits), 0, &[&o, &hot], &y, &g.f);
                assert_close(&gs, &gd, 1e-5);
            }
        }
        // float targets holding whole numbers are accepted
        let y = forward(
            &scce(false),
            &[
                val(&[2, 2], &[0.25, 0.75, 0.5, 0.5]),
                val(&[2], &[1.0, 0.0]),
            ],
        );
        assert_close(&y.f, &[-(0.75f32.ln()), -(0.5f32.ln())], 1e-6);
        assert!(!scce(false).has_grad(1));
    }

    #[test]
    fn sparse_rejects_bad_ids_and_shapes() {
        let o = rand(&[3, 4], 1, 0.1, 1.0);
        for bad in [4, -1, 100] {
            let t = Value::from_i32(&[3], vec![0, bad, 1]).unwrap();
            for logits in [false, true] {
                let e = forward_with(
                    &scce(logits),
                    &[o.clone(), t.clone()],
                    &mut Scratch::default(),
                )
                .unwrap_err();
                assert!(
                    matches!(e, Error::Value(_)) && e.to_string().contains(&bad.to_string()),
                    "{e}"
                );
            }
        }
        let e = forward_with(
            &scce(false),
            &[o.clone(), val(&[3], &[0.0, 1.5, 1.0])],
            &mut Scratch::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("1.5"), "{e}");
        let s = scce(false);
        let ti = |s: &[usize]| TypeInfo {
            dtype: DType::I32,
            shape: known(s),
        };
        assert!(s.infer(&[TypeInfo::f32(known(&[3, 4])), ti(&[4])]).is_err());
        assert!(s
            .infer(&[TypeInfo::f32(known(&[3, 4])), ti(&[3, 2])])
            .is_err());
        assert!(s
            .infer(&[TypeInfo::f32(known(&[3, 4])), ti(&[3, 1, 1])])
            .is_err());
        assert!(s.infer(&[TypeInfo::f32(vec![]), ti(&[])]).is_err());
        let t = s.infer(&[
            TypeInfo::f32(vec![None, Some(4)]),
            TypeInfo {
                dtype: DType::I32,
                shape: vec![Some(8), None],
            },
        ]);
        assert_eq!(t.unwrap().shape, vec![Some(8)]);
    }

    fn bce(from_logits: bool) -> OpRef {
        op(
            "binary_crossentropy",
            &[("from_logits", Attr::Bool(from_logits))],
        )
    }

    fn bce_ref(o: f32, t: f32, from_logits: bool) -> f32 {
        let (x, t) = (o as f64, t as f64);
        let l = if from_logits {
            let p = 1.0 / (1.0 + (-x).exp());
            -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
        } else {
            let p = clip64(x);
            -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
        };
        l as f32
    }

    #[test]
    fn binary_forward_and_gradients() {
        let shapes: &[&[usize]] = &[&[5], &[3, 4], &[2, 3, 2]];
        for (i, &s) in shapes.iter().enumerate() {
            let t = rand(s, 60 + i as u64, 0.0, 1.0);
            let o = rand(s, 70 + i as u64, 0.05, 0.95);
            let x = rand(s, 80 + i as u64, -4.0, 4.0);
            for (logits, inp) in [(false, &o), (true, &x)] {
                let y = forward(&bce(logits), &[inp.clone(), t.clone()]);
                assert_eq!(y.shape, s.to_vec());
                let want: Vec<f32> = inp
                    .f
                    .iter()
                    .zip(&t.f)
                    .map(|(&o, &t)| bce_ref(o, t, logits))
                    .collect();
                assert_close(&y.f, &want, 1e-5);
                grad_check(&bce(logits), &[inp.clone(), t.clone()], 1e-3, 1e-2)
                    .unwrap_or_else(|e| panic!("{s:?}: {e}"));
            }
        }
        // clipping: exact 0/1 predictions are finite and get no gradient
        let o = val(&[4], &[0.0, 1.0, 0.0, 1.0]);
        let t = val(&[4], &[1.0, 0.0, 0.0, 1.0]);
        let y = forward(&bce(false), &[o.clone(), t.clone()]);
        let want: Vec<f32> =
            o.f.iter()
                .zip(&t.f)
                .map(|(&o, &t)| bce_ref(o, t, false))
                .collect();
        assert_close(&y.f, &want, 1e-5);
        assert!((y.f[0] - 16.118_095).abs() < 1e-3, "{}", y.f[0]);
        let gin = grad_of(&bce(false), 0, &[&o, &t], &y, &[1.0; 4]);
        assert_eq!(gin, vec![0.0; 4]);
        // stable for huge logits
        let y = forward(
            &bce(true),
            &[
                val(&[3], &[100.0, -100.0, 100.0]),
                val(&[3], &[0.0, 1.0, 1.0]),
            ],
        );
        assert_close(&y.f, &[100.0, 100.0, 0.0], 1e-6);
    }

    #[test]
    fn binary_shape_mismatch_and_argument_errors() {
        let b = bce(false);
        assert!(b
            .infer(&[TypeInfo::f32(known(&[3, 4])), TypeInfo::f32(known(&[3, 1]))])
            .is_err());
        assert!(b
            .infer(&[TypeInfo::f32(known(&[3, 4])), TypeInfo::f32(known(&[4]))])
            .is_err());
        let t = b
            .infer(&[
                TypeInfo::f32(vec![None, Some(4)]),
                TypeInfo::f32(vec![Some(2), None]),
            ])
            .unwrap();
        assert_eq!(t.shape, vec![Some(2), Some(4)]);
        let c = cce(false);
        assert!(c
            .infer(&[TypeInfo::f32(known(&[3, 4])), TypeInfo::f32(known(&[3, 5]))])
            .is_err());
        assert!(c
            .infer(&[TypeInfo::f32(vec![]), TypeInfo::f32(vec![])])
            .is_err());
        let ti = TypeInfo {
            dtype: DType::I32,
            shape: known(&[3, 4]),
        };
        assert!(matches!(
            c.infer(&[TypeInfo::f32(known(&[3, 4])), ti]),
            Err(Error::Type(_))
        ));
        for name in [
            "binary_crossentropy",
            "categorical_crossentropy",
            "sparse_categorical_crossentropy",
        ] {
            let e = crate::ops::build(name, &Attrs::new(name).with("epsilon", Attr::Float(-1.0)))
                .unwrap_err();
            assert!(matches!(e, Error::Value(_)), "{e}");
            let e = crate::ops::build(name, &Attrs::new(name).with("from_logit", Attr::Bool(true)))
                .unwrap_err();
            assert!(e.to_string().contains("from_logit"), "{e}");
        }
    }
}
