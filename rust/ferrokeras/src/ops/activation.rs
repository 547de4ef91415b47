//! Activations: relu (leaky, capped), elu, sigmoid, tanh, softplus, softsign,
//! hard_sigmoid, softmax over the last axis, and l2_normalize along an axis.
//!
//! These run on every layer output of every batch, so the elementwise kernels and the
//! softmax row kernel go through `simd_fn!` with the vectorisable `exp`/`tanh`/`sigmoid`
//! of `kernels::simd`, and tensors above [`PAR_MIN`] elements are split into fixed-size
//! chunks (claimed by the caller and the pool, `kernels::pool::parallel_for`) or whole
//! rows (rayon). Every element (or row) is computed by
//! the same code whatever the chunking, and reductions use fixed lane orders, so results
//! are bitwise independent of the thread count. Backward kernels reuse the saved output
//! where the derivative is a function of it (sigmoid' = y(1-y), tanh' = 1-y^2, ...).

use std::sync::Arc;

use super::{
    around_axis, elementwise_forward_backward, expect_floats, norm_axis, Attrs, Op, OpCtx, OpRef,
    TypeInfo,
};
use crate::kernels::act::{self, Act};
use crate::kernels::alloc::grow;
use crate::kernels::pool::{self, parallel_for, Disjoint};
use crate::kernels::simd;
use crate::tensor::Value;
use crate::{simd_fn, simd_grad, simd_map};
use crate::{Error, Result};

/// Tensors with at least this many elements are processed in parallel chunks.
pub const PAR_MIN: usize = 1 << 18;

/// Chunk length (elements) of the parallel elementwise kernels.
const CHUNK: usize = 1 << 14;

/// Floor on the squared norm in `l2_normalize` (TensorFlow's `l2_normalize` epsilon).
pub const L2_EPSILON: f32 = 1e-12;

/// An elementwise activation: one of the functions of [`Act`], with the parameters of
/// the `relu` and `elu` ops.
#[derive(Debug)]
pub struct Activation {
    act: Act,
    /// relu: slope of the negative part; elu: scale of the negative part.
    alpha: f32,
    /// relu: upper clip of the positive part (+inf when absent).
    max_value: f32,
}

// ---------------------------------------------------------------------------------
// Forward kernels.

simd_map! {
    fn relu_f(hi: f32) |v| act::capped_relu(v, hi);
    fn leaky_relu_f(alpha: f32, hi: f32) |v| act::leaky_relu(v, alpha, hi);
    fn elu_f(alpha: f32) |v| act::elu(v, alpha);
    fn sigmoid_f() |v| simd::sigmoid(v);
    fn tanh_f() |v| simd::tanh(v);
    fn softplus_f() |v| act::softplus(v);
    fn softsign_f() |v| act::softsign(v);
    fn hard_sigmoid_f() |v| act::hard_sigmoid(v);
}

// ---------------------------------------------------------------------------------
// Backward kernels: all take (x, y, g, d) and add into d.

simd_grad! {
    fn relu_b(alpha: f32, hi: f32) |g, v, _| {
        let pos = if v <= hi { g } else { 0.0 };
        if v > 0.0 { pos } else { alpha * g }
    };
    // d/dx alpha (e^x - 1) = alpha e^x = y + alpha
    fn elu_b(alpha: f32) |g, v, y| if v > 0.0 { g } else { g * (y + alpha) };
    fn sigmoid_b() |g, _, y| g * (y * (1.0 - y));
    fn tanh_b() |g, _, y| g * (1.0 - y * y);
    fn softplus_b() |g, v, _| g * simd::sigmoid(v);
    fn softsign_b() |g, v, _| {
        let s = 1.0 + v.abs();
        g / (s * s)
    };
    // strictly inside the linear region (y is the clipped 0.2 x + 0.5)
    fn hard_sigmoid_b() |g, _, y| if y > 0.0 && y < 1.0 { 0.2 * g } else { 0.0 };
}

/// Applies `f` to `(x, y)` in fixed chunks, in parallel for large tensors (claimed by
/// the caller and the pool, [`parallel_for`]).
fn map_chunks(x: &[f32], y: &mut [f32], f: impl Fn(&[f32], &mut [f32]) + Sync) {
    if y.len() >= PAR_MIN {
        let len = y.len();
        let ys = Disjoint::new(y);
        parallel_for(len.div_ceil(CHUNK), pool::threads(), &|i, _| {
            let (lo, hi) = (i * CHUNK, ((i + 1) * CHUNK).min(len));
            // SAFETY: chunk i's range is its own.
            f(&x[lo..hi], unsafe { ys.part(lo, hi - lo) })
        });
    } else {
        f(x, y);
    }
}

/// Applies `f` to `(x, y, g, d)` in fixed chunks, in parallel for large tensors.
fn map_chunks_bwd(
    x: &[f32],
    y: &[f32],
    g: &[f32],
    d: &mut [f32],
    f: impl Fn(&[f32], &[f32], &[f32], &mut [f32]) + Sync,
) {
    if d.len() >= PAR_MIN {
        let len = d.len();
        let ds = Disjoint::new(d);
        parallel_for(len.div_ceil(CHUNK), pool::threads(), &|i, _| {
            let (lo, hi) = (i * CHUNK, ((i + 1) * CHUNK).min(len));
            // SAFETY: chunk i's range is its own.
            f(&x[lo..hi], &y[lo..hi], &g[lo..hi], unsafe {
                ds.part(lo, hi - lo)
            })
        });
    } else {
        f(x, y, g, d);
    }
}

impl Activation {
    fn fwd(&self, x: &[f32], y: &mut [f32]) {
        let (alpha, max_value) = (self.alpha, self.max_value);
        match self.act {
            Act::Relu => {
                if alpha == 0.0 {
                    map_chunks(x, y, |x, y| relu_f(x, y, max_value))
                } else {
                    map_chunks(x, y, |x, y| leaky_relu_f(x, y, alpha, max_value))
                }
            }
            Act::Elu => map_chunks(x, y, |x, y| elu_f(x, y, alpha)),
            Act::Sigmoid => map_chunks(x, y, sigmoid_f),
            Act::Tanh => map_chunks(x, y, tanh_f),
            Act::Softplus => map_chunks(x, y, softplus_f),
            Act::Softsign => map_chunks(x, y, softsign_f),
            Act::HardSigmoid => map_chunks(x, y, hard_sigmoid_f),
            Act::Linear => y.copy_from_slice(x),
        }
    }

    fn bwd(&self, x: &[f32], y: &[f32], g: &[f32], d: &mut [f32]) {
        let (alpha, max_value) = (self.alpha, self.max_value);
        match self.act {
            Act::Relu => map_chunks_bwd(x, y, g, d, |x, y, g, d| {
                relu_b(x, y, g, d, alpha, max_value)
            }),
            Act::Elu => map_chunks_bwd(x, y, g, d, |x, y, g, d| elu_b(x, y, g, d, alpha)),
            Act::Sigmoid => map_chunks_bwd(x, y, g, d, sigmoid_b),
            Act::Tanh => map_chunks_bwd(x, y, g, d, tanh_b),
            Act::Softplus => map_chunks_bwd(x, y, g, d, softplus_b),
            Act::Softsign => map_chunks_bwd(x, y, g, d, softsign_b),
            Act::HardSigmoid => map_chunks_bwd(x, y, g, d, hard_sigmoid_b),
            Act::Linear => d.iter_mut().zip(g).for_each(|(d, &g)| *d += g),
        }
    }
}

impl Op for Activation {
    fn name(&self) -> &str {
        self.act.name()
    }

    fn as_activation(&self) -> Option<Act> {
        let plain = self.act != Act::Relu || (self.alpha == 0.0 && self.max_value == f32::INFINITY);
        (plain && self.act.in_epilogue()).then_some(self.act)
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_floats(self.name(), inputs, 1)?;
        Ok(TypeInfo::f32(inputs[0].shape.clone()))
    }

    elementwise_forward_backward!();
}

// ---------------------------------------------------------------------------------
// Row reductions with a fixed lane order (vectorisable, deterministic).

/// Accumulator lanes of the row reductions.
const LANES: usize = 8;

/// Lane-ordered reduction (see the module docs); shared with the loss kernels.
#[inline(always)]
pub(crate) fn row_max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut it = x.chunks_exact(LANES);
    for c in &mut it {
        for k in 0..LANES {
            acc[k] = if c[k] > acc[k] { c[k] } else { acc[k] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &v in acc.iter().chain(it.remainder()) {
        m = if v > m { v } else { m };
    }
    m
}

/// Lane-ordered reduction (see the module docs); shared with the loss kernels.
#[inline(always)]
pub(crate) fn row_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut ia = a.chunks_exact(LANES);
    let mut ib = b.chunks_exact(LANES);
    for (ca, cb) in (&mut ia).zip(&mut ib) {
        for k in 0..LANES {
            acc[k] += ca[k] * cb[k];
        }
    }
    let mut s = 0.0f32;
    for (&x, &y) in ia.remainder().iter().zip(ib.remainder()) {
        s += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + s
}

/// Lane-ordered reduction (see the module docs); shared with the loss kernels.
#[inline(always)]
pub(crate) fn row_sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut it = a.chunks_exact(LANES);
    for c in &mut it {
        for k in 0..LANES {
            acc[k] += c[k];
        }
    }
    let s: f32 = it.remainder().iter().sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + s
}

/// Rows per parallel task for a row kernel over rows of length `c` (at least 1).
fn rows_per_task(c: usize) -> usize {
    (CHUNK / c.max(1)).max(1)
}

/// Applies the row kernel `f(x, y)` to `(x, y)`, whole rows of length `c` per rayon task
/// for large tensors of several rows (shared with the normalization kernels).
pub(super) fn map_rows(
    x: &[f32],
    y: &mut [f32],
    c: usize,
    f: impl Fn(&[f32], &mut [f32]) + Sync + Send,
) {
    if x.len() >= PAR_MIN && x.len() > c {
        let step = rows_per_task(c) * c;
        pool::for_each_part(y, step, pool::threads(), &|i, yc| {
            f(&x[i * step..][..yc.len()], yc)
        });
    } else {
        f(x, y);
    }
}

/// Applies the backward row kernel `f(a, g, d)` to `(a, g, d)` (`a` the input or output
/// the derivative reads) as [`map_rows`] splits its rows.
pub(super) fn map_rows_bwd(
    a: &[f32],
    g: &[f32],
    d: &mut [f32],
    c: usize,
    f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync + Send,
) {
    if a.len() >= PAR_MIN && a.len() > c {
        let step = rows_per_task(c) * c;
        pool::for_each_part(d, step, pool::threads(), &|i, dc| {
            let n = dc.len();
            f(&a[i * step..][..n], &g[i * step..][..n], dc)
        });
    } else {
        f(a, g, d);
    }
}

/// Elements per block of [`softmax_rows`] (whole rows; the block stays in L1).
const SOFTMAX_BLOCK: usize = 4096;

simd_fn! {
    fn softmax_rows(x: &[f32], y: &mut [f32], c: usize) {
        // A classifier's rows are short (10 classes): exponentiated row by row, most of
        // each vector would sit idle. So each block of rows is shifted by its rows'
        // maxima first and then exponentiated flat: the same `exp` of the same values,
        // so the same bits as the row-by-row form.
        let block = (SOFTMAX_BLOCK / c).max(1) * c;
        for (xb, yb) in x.chunks(block).zip(y.chunks_mut(block)) {
            let n = xb.len() / c * c;
            let yb = &mut yb[..n];
            for (xr, yr) in xb.chunks_exact(c).zip(yb.chunks_exact_mut(c)) {
                let m = row_max(xr);
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o = v - m;
                }
            }
            for o in yb.iter_mut() {
                *o = simd::exp(*o);
            }
            for yr in yb.chunks_exact_mut(c) {
                let inv = 1.0 / row_sum(yr);
                for o in yr.iter_mut() {
                    *o *= inv;
                }
            }
        }
    }
}

simd_fn! {
    fn softmax_rows_b(y: &[f32], g: &[f32], d: &mut [f32], c: usize) {
        for ((yr, gr), dr) in y.chunks_exact(c).zip(g.chunks_exact(c)).zip(d.chunks_exact_mut(c)) {
            let s = row_dot(gr, yr);
            for ((d, &g), &y) in dr.iter_mut().zip(gr).zip(yr) {
                *d += y * (g - s);
            }
        }
    }
}

/// Softmax over the last axis of a tensor of rank >= 1 (stable: the row maximum is
/// subtracted before exponentiating).
#[derive(Debug)]
pub struct Softmax;

impl Op for Softmax {
    fn name(&self) -> &str {
        "softmax"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_floats("softmax", inputs, 1)?;
        if inputs[0].shape.is_empty() {
            return Err(Error::Shape(
                "softmax: expects a tensor of rank >= 1, got a scalar".into(),
            ));
        }
        Ok(TypeInfo::f32(inputs[0].shape.clone()))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        let c = x.shape.last().copied().unwrap_or(1);
        if c == 0 || x.f.is_empty() {
            return Ok(());
        }
        map_rows(&x.f, &mut out.f, c, |x, y| softmax_rows(x, y, c));
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        _inputs: &[&Value],
        out: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        let c = out.shape.last().copied().unwrap_or(1);
        if c == 0 || out.f.is_empty() {
            return Ok(());
        }
        map_rows_bwd(&out.f, g, gin, c, |y, g, d| softmax_rows_b(y, g, d, c));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// l2_normalize

simd_fn! {
    /// Rows of length `c` along the last axis: y = x / sqrt(max(sum x^2, eps)).
    fn l2_rows(x: &[f32], y: &mut [f32], c: usize) {
        for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
            let r = 1.0 / row_dot(xr, xr).max(L2_EPSILON).sqrt();
            for (o, &v) in yr.iter_mut().zip(xr) {
                *o = v * r;
            }
        }
    }
}

simd_fn! {
    fn l2_rows_b(x: &[f32], g: &[f32], d: &mut [f32], c: usize) {
        for ((xr, gr), dr) in x.chunks_exact(c).zip(g.chunks_exact(c)).zip(d.chunks_exact_mut(c)) {
            let s = row_dot(xr, xr);
            let r = 1.0 / s.max(L2_EPSILON).sqrt();
            // d/dx_k [x_k r(s)] = r g_k + x_k (sum_j g_j x_j) dr/ds * 2, dr/ds = -r^3/2
            // (zero when the floor is active: tf.maximum passes gradient where s >= eps).
            let k = if s >= L2_EPSILON { r * r * r * row_dot(gr, xr) } else { 0.0 };
            for ((d, &g), &v) in dr.iter_mut().zip(gr).zip(xr) {
                *d += r * g - k * v;
            }
        }
    }
}

/// `x / sqrt(max(sum(x^2, axis, keepdims), 1e-12))` (TensorFlow's `l2_normalize`, as
/// the Keras TF backend uses it).
#[derive(Debug)]
pub struct L2Normalize {
    axis: i64,
}

impl L2Normalize {
    /// (outer, n, inner) split of a shape around the normalised axis.
    fn split(&self, shape: &[usize]) -> Result<(usize, usize, usize)> {
        let ax = norm_axis("l2_normalize", self.axis, shape.len())?;
        Ok(around_axis(shape, ax))
    }
}

impl Op for L2Normalize {
    fn name(&self) -> &str {
        "l2_normalize"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_floats("l2_normalize", inputs, 1)?;
        norm_axis("l2_normalize", self.axis, inputs[0].ndim())?;
        Ok(TypeInfo::f32(inputs[0].shape.clone()))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        let (outer, n, inner) = self.split(&x.shape)?;
        if x.f.is_empty() {
            return Ok(());
        }
        if inner == 1 {
            map_rows(&x.f, &mut out.f, n, |x, y| l2_rows(x, y, n));
            return Ok(());
        }
        // Strided axis: accumulate per inner position in the scratch buffer.
        let acc = &mut ctx.scratch.f;
        grow(acc, inner, "l2_normalize")?;
        acc.truncate(inner);
        for o in 0..outer {
            let base = o * n * inner;
            acc.fill(0.0);
            for k in 0..n {
                let xr = &x.f[base + k * inner..base + (k + 1) * inner];
                acc.iter_mut().zip(xr).for_each(|(a, &v)| *a += v * v);
            }
            acc.iter_mut()
                .for_each(|a| *a = 1.0 / a.max(L2_EPSILON).sqrt());
            for k in 0..n {
                let r = base + k * inner..base + (k + 1) * inner;
                out.f[r.clone()]
                    .iter_mut()
                    .zip(&x.f[r])
                    .zip(acc.iter())
                    .for_each(|((y, &v), &s)| *y = v * s);
            }
        }
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        inputs: &[&Value],
        _out: &Value,
        g: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let x = inputs[0];
        let (outer, n, inner) = self.split(&x.shape)?;
        if x.f.is_empty() {
            return Ok(());
        }
        if inner == 1 {
            map_rows_bwd(&x.f, g, gin, n, |x, g, d| l2_rows_b(x, g, d, n));
            return Ok(());
        }
        // scratch: [sum x^2 | sum g x] per inner position
        let acc = &mut ctx.scratch.f;
        grow(acc, 2 * inner, "l2_normalize")?;
        acc.truncate(2 * inner);
        let (ss, gx) = acc.split_at_mut(inner);
        for o in 0..outer {
            let base = o * n * inner;
            ss.fill(0.0);
            gx.fill(0.0);
            for k in 0..n {
                let r = base + k * inner..base + (k + 1) * inner;
                for ((s, d), (&v, &gv)) in ss
                    .iter_mut()
                    .zip(gx.iter_mut())
                    .zip(x.f[r.clone()].iter().zip(&g[r]))
                {
                    *s += v * v;
                    *d += gv * v;
                }
            }
            // ss <- r, gx <- coefficient of x
            for (s, d) in ss.iter_mut().zip(gx.iter_mut()) {
                let r = 1.0 / s.max(L2_EPSILON).sqrt();
                *d = if *s >= L2_EPSILON {
                    r * r * r * *d
                } else {
                    0.0
                };
                *s = r;
            }
            for k in 0..n {
                let rg = base + k * inner..base + (k + 1) * inner;
                for (((d, &gv), &v), (&r, &c)) in gin[rg.clone()]
                    .iter_mut()
                    .zip(&g[rg.clone()])
                    .zip(&x.f[rg])
                    .zip(ss.iter().zip(gx.iter()))
                {
                    *d += r * gv - c * v;
                }
            }
        }
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let r = match name {
        "relu" => (|| {
            let alpha = a.float("alpha", 0.0)?;
            let max_value = a.float_opt("max_value")?;
            if !alpha.is_finite() {
                return Err(Error::Value(format!(
                    "relu: alpha must be finite, got {alpha}"
                )));
            }
            let max_value = match max_value {
                None => f32::INFINITY,
                Some(m) if m >= 0.0 => m as f32,
                Some(m) => {
                    return Err(Error::Value(format!(
                        "relu: max_value must be >= 0, got {m}"
                    )))
                }
            };
            Ok(elementwise(Act::Relu, alpha as f32, max_value))
        })(),
        "elu" => (|| {
            let alpha = a.float("alpha", 1.0)?;
            if !alpha.is_finite() {
                return Err(Error::Value(format!(
                    "elu: alpha must be finite, got {alpha}"
                )));
            }
            Ok(elementwise(Act::Elu, alpha as f32, f32::INFINITY))
        })(),
        "sigmoid" | "tanh" | "softplus" | "softsign" | "hard_sigmoid" => {
            Ok(elementwise(Act::from_name(name)?, 0.0, f32::INFINITY))
        }
        "softmax" => Ok(Arc::new(Softmax) as OpRef),
        "l2_normalize" => a
            .int_req("axis")
            .map(|axis| Arc::new(L2Normalize { axis }) as OpRef),
        _ => return None,
    };
    Some(r)
}

fn elementwise(act: Act, alpha: f32, max_value: f32) -> OpRef {
    Arc::new(Activation {
        act,
        alpha,
        max_value,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::{Attr, Scratch};
    use crate::tensor::{known, DType};

    /// Moves values within `margin` of a kink to `margin` away from it, so central
    /// differences do not straddle a non-differentiable point.
    fn away_from(mut v: Value, kinks: &[f32], margin: f32) -> Value {
        for x in v.f.iter_mut() {
            for &k in kinks {
                if (*x - k).abs() < margin {
                    *x = if *x >= k { k + margin } else { k - margin };
                }
            }
        }
        v
    }

    fn reference(name: &str, alpha: f64, hi: f64, x: f64) -> f64 {
        match name {
            "relu" => {
                if x > 0.0 {
                    x.min(hi)
                } else {
                    alpha * x
                }
            }
            "elu" => {
                if x > 0.0 {
                    x
                } else {
                    alpha * (x.exp() - 1.0)
                }
            }
            "sigmoid" => 1.0 / (1.0 + (-x).exp()),
            "tanh" => x.tanh(),
            "softplus" => (1.0 + x.exp()).ln(),
            "softsign" => x / (1.0 + x.abs()),
            "hard_sigmoid" => (0.2 * x + 0.5).clamp(0.0, 1.0),
            _ => unreachable!(),
        }
    }

    const ELEMENTWISE: [&str; 7] = [
        "relu",
        "elu",
        "sigmoid",
        "tanh",
        "softplus",
        "softsign",
        "hard_sigmoid",
    ];

    #[test]
    fn elementwise_forward_matches_f64_reference() {
        let mut x = rand(&[7, 13], 1, -6.0, 6.0);
        x.f[..8].copy_from_slice(&[0.0, -0.0, 2.5, -2.5, 1e-4, -1e-4, 30.0, -30.0]);
        for name in ELEMENTWISE {
            let y = forward(&op(name, &[]), std::slice::from_ref(&x));
            let alpha = if name == "elu" { 1.0 } else { 0.0 };
            let want: Vec<f32> =
                x.f.iter()
                    .map(|&v| reference(name, alpha, f64::INFINITY, v as f64) as f32)
                    .collect();
            assert_close(&y.f, &want, 2e-6);
        }
        // leaky / capped relu and elu with a non-default alpha
        let attrs = [
            (
                "relu",
                vec![("alpha", Attr::Float(0.3))],
                0.3,
                f64::INFINITY,
            ),
            ("relu", vec![("max_value", Attr::Float(2.0))], 0.0, 2.0),
            (
                "relu",
                vec![("alpha", Attr::Float(0.1)), ("max_value", Attr::Int(3))],
                0.1,
                3.0,
            ),
            ("elu", vec![("alpha", Attr::Float(0.5))], 0.5, f64::INFINITY),
        ];
        for (name, at, alpha, hi) in attrs {
            let y = forward(&op(name, &at), std::slice::from_ref(&x));
            let want: Vec<f32> =
                x.f.iter()
                    .map(|&v| reference(name, alpha, hi, v as f64) as f32)
                    .collect();
            assert_close(&y.f, &want, 2e-6);
        }
    }

    #[test]
    fn special_values() {
        let x = val(&[6], &[-100.0, 100.0, f32::NAN, -2.5, 2.5, 0.0]);
        let y = forward(&op("softplus", &[]), std::slice::from_ref(&x));
        assert!(y.f[0] >= 0.0 && y.f[0] < 1e-37);
        assert_eq!(y.f[1], 100.0);
        let y = forward(&op("relu", &[]), std::slice::from_ref(&x));
        assert_eq!(&y.f[..2], &[0.0, 100.0]);
        assert!(y.f[2].is_nan(), "relu propagates NaN");
        let y = forward(&op("hard_sigmoid", &[]), std::slice::from_ref(&x));
        assert_eq!(y.f[3], 0.0);
        assert_eq!(y.f[4], 1.0);
        assert_eq!(y.f[5], 0.5);
        // hard_sigmoid gradient is zero at and beyond the corners, 0.2 inside
        let o = op("hard_sigmoid", &[]);
        let gin = grad_of(&o, 0, &[&x], &y, &[1.0; 6]);
        assert_eq!(gin[3], 0.0);
        assert_eq!(gin[4], 0.0);
        assert_eq!(gin[5], 0.2);
        let y = forward(&op("sigmoid", &[]), &[val(&[2], &[-100.0, 100.0])]);
        assert!(y.f[0] >= 0.0 && y.f[0] < 1e-30 && y.f[1] == 1.0);
    }

    #[test]
    fn elementwise_gradients_match_finite_differences() {
        let shapes: &[&[usize]] = &[&[5], &[3, 4], &[2, 3, 4]];
        for (i, &s) in shapes.iter().enumerate() {
            let x = away_from(
                rand(s, 10 + i as u64, -3.0, 3.0),
                &[0.0, -2.5, 2.5, 1.5],
                0.01,
            );
            for name in ELEMENTWISE {
                grad_check(&op(name, &[]), std::slice::from_ref(&x), 1e-3, 1e-2)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            let leaky = op(
                "relu",
                &[("alpha", Attr::Float(0.2)), ("max_value", Attr::Float(1.5))],
            );
            grad_check(&leaky, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
            grad_check(
                &op("elu", &[("alpha", Attr::Float(0.7))]),
                std::slice::from_ref(&x),
                1e-3,
                1e-2,
            )
            .unwrap();
        }
    }

    #[test]
    fn backward_accumulates_into_gin() {
        let x = rand(&[10], 3, -2.0, 2.0);
        for name in ELEMENTWISE.iter().copied().chain(["softmax"]) {
            let g = rand(&[10], 4, -1.0, 1.0);
            assert_backward_accumulates(&op(name, &[]), &x, &g.f);
        }
    }

    fn softmax_ref(x: &Value) -> Vec<f32> {
        let c = *x.shape.last().unwrap();
        let mut out = Vec::new();
        for row in x.f.chunks(c) {
            let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
            let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
            let s: f64 = e.iter().sum();
            out.extend(e.iter().map(|v| (v / s) as f32));
        }
        out
    }

    #[test]
    fn softmax_forward_and_gradient() {
        let shapes: &[&[usize]] = &[&[5], &[3, 4], &[2, 3, 17], &[1, 1]];
        let o = op("softmax", &[]);
        for (i, &s) in shapes.iter().enumerate() {
            let x = rand(s, 20 + i as u64, -4.0, 4.0);
            let y = forward(&o, std::slice::from_ref(&x));
            assert_close(&y.f, &softmax_ref(&x), 1e-6);
            grad_check(&o, &[x], 1e-3, 1e-2).unwrap();
        }
        // stability: huge logits do not overflow
        let x = val(&[2, 3], &[1000.0, 1001.0, 999.0, -1000.0, -1000.0, -1000.0]);
        let y = forward(&o, std::slice::from_ref(&x));
        assert_close(&y.f, &softmax_ref(&x), 1e-6);
        assert!(o.infer(&[TypeInfo::f32(vec![])]).is_err());
        assert!(o
            .infer(&[TypeInfo {
                dtype: DType::I32,
                shape: known(&[2])
            }])
            .is_err());
    }

    #[test]
    fn softmax_blocks_match_the_row_by_row_form() {
        // Rows shorter than a vector, rows spanning several blocks, blocks with a
        // partial row count, and one row longer than a block.
        let shapes: &[&[usize]] = &[&[700, 10], &[3, 17], &[5, 4095], &[2, 5000], &[1, 1]];
        for (i, &s) in shapes.iter().enumerate() {
            let x = rand(s, 90 + i as u64, -30.0, 30.0);
            let c = *s.last().unwrap();
            let mut want = vec![0.0f32; x.len()];
            for (xr, yr) in x.f.chunks_exact(c).zip(want.chunks_exact_mut(c)) {
                let m = row_max(xr);
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o = simd::exp(v - m);
                }
                let inv = 1.0 / row_sum(yr);
                yr.iter_mut().for_each(|o| *o *= inv);
            }
            let y = forward(&op("softmax", &[]), std::slice::from_ref(&x));
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y.f), bits(&want), "shape {s:?}");
        }
    }

    fn l2_ref(x: &Value, axis: usize) -> Vec<f32> {
        let (outer, n, inner) = around_axis(&x.shape, axis);
        let mut out = vec![0.0; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let idx = |k: usize| (o * n + k) * inner + i;
                let s: f64 = (0..n).map(|k| (x.f[idx(k)] as f64).powi(2)).sum();
                let r = 1.0 / s.max(1e-12).sqrt();
                for k in 0..n {
                    out[idx(k)] = (x.f[idx(k)] as f64 * r) as f32;
                }
            }
        }
        out
    }

    #[test]
    fn l2_normalize_forward_and_gradient() {
        let cases: &[(&[usize], i64)] = &[
            (&[5], 0),
            (&[3, 4], 1),
            (&[3, 4], 0),
            (&[2, 3, 4], -1),
            (&[2, 3, 4], 1),
            (&[2, 3, 4], 0),
        ];
        for (i, &(s, axis)) in cases.iter().enumerate() {
            let o = op("l2_normalize", &[("axis", Attr::Int(axis))]);
            let x = rand(s, 30 + i as u64, -2.0, 2.0);
            let y = forward(&o, std::slice::from_ref(&x));
            let ax = norm_axis("t", axis, s.len()).unwrap();
            assert_close(&y.f, &l2_ref(&x, ax), 1e-6);
            grad_check(&o, &[x], 1e-3, 1e-2).unwrap_or_else(|e| panic!("{s:?} axis {axis}: {e}"));
        }
        // the floor: a zero row stays zero, a tiny row is divided by 1e-6
        for axis in [1i64, 0] {
            let o = op("l2_normalize", &[("axis", Attr::Int(axis))]);
            let x = val(&[2, 2], &[0.0, 1e-9, 0.0, 2e-9]);
            let y = forward(&o, std::slice::from_ref(&x));
            let ax = axis as usize;
            assert_close(&y.f, &l2_ref(&x, ax), 1e-5);
            // gradient in the floored region is g / 1e-6
            let mut gin = vec![0.0; 4];
            add_grad(&o, &x, &y, &[1.0; 4], &mut gin, &mut Scratch::default());
            assert_close(&gin, &[1e6; 4], 1e-5);
        }
    }

    #[test]
    fn argument_errors() {
        let e = crate::ops::build("l2_normalize", &Attrs::new("l2_normalize")).unwrap_err();
        assert!(e.to_string().contains("axis"), "{e}");
        let o = op("l2_normalize", &[("axis", Attr::Int(2))]);
        assert!(o.infer(&[TypeInfo::f32(known(&[3, 4]))]).is_err());
        let e = crate::ops::build(
            "relu",
            &Attrs::new("relu").with("max_value", Attr::Float(-1.0)),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Value(_)), "{e}");
        let e = crate::ops::build(
            "relu",
            &Attrs::new("relu").with("alpha", Attr::Str("x".into())),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Type(_)), "{e}");
        let e = crate::ops::build("tanh", &Attrs::new("tanh").with("alpha", Attr::Float(1.0)))
            .unwrap_err();
        assert!(e.to_string().contains("alpha"), "{e}");
        let i = TypeInfo {
            dtype: DType::I32,
            shape: known(&[3]),
        };
        assert!(op("relu", &[]).infer(&[i]).is_err());
    }

    /// Large tensors go through the parallel path; results must equal the serial
    /// kernels on small pieces and not depend on the thread count.
    #[test]
    fn parallel_results_are_bitwise_independent_of_threads() {
        let x = rand(&[(3 * PAR_MIN + 77) / 7, 7], 40, -5.0, 5.0);
        let g = rand(&x.shape, 41, -1.0, 1.0);
        let run = |name: &str, attrs: &[(&str, Attr)]| {
            let o = op(name, attrs);
            let y = forward(&o, std::slice::from_ref(&x));
            let gin = grad_of(&o, 0, &[&x], &y, &g.f);
            (y.f, gin)
        };
        let cases: Vec<(&str, Vec<(&str, Attr)>)> = vec![
            ("relu", vec![("alpha", Attr::Float(0.1))]),
            ("elu", vec![]),
            ("sigmoid", vec![]),
            ("tanh", vec![]),
            ("softplus", vec![]),
            ("softmax", vec![]),
            ("l2_normalize", vec![("axis", Attr::Int(-1))]),
        ];
        for (name, attrs) in cases {
            let one = on_threads(1, || run(name, &attrs));
            let two = on_threads(2, || run(name, &attrs));
            let four = on_threads(4, || run(name, &attrs));
            assert!(
                one == two && two == four,
                "{name} depends on the thread count"
            );
            // serial small pieces (whole rows, below the threshold)
            let piece = 7 * 1000;
            for (k, xc) in x.f.chunks(piece).enumerate() {
                let xs = Value::from_f32(&[xc.len() / 7, 7], xc.to_vec()).unwrap();
                let ys = forward(&op(name, &attrs), &[xs]);
                assert_eq!(
                    ys.f[..],
                    one.0[k * piece..k * piece + xc.len()],
                    "{name} piece {k}"
                );
            }
        }
    }
}
