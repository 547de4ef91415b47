//! Matrix products: `matmul` (Keras `K.dot`: an N-D left operand against a 2-D right
//! operand contracts the last axis of the left one, with optional transposes),
//! `batch_matmul` (3-D batched products, the building block of `K.batch_dot`) and
//! `bias_add` (adds a vector along one axis, with a column-sum backward).
//!
//! All products go through `kernels::gemm`. The fusion pass folds a following `bias_add`
//! (and the activation folded into it) into `matmul`: a Dense layer runs as one node
//! that adds the bias and activates in the product's own output buffer, with exactly
//! the unfused chain's operations forward and backward.

use std::sync::Arc;

use super::epilogue::{
    activate, add_rows_activate_in_place, add_scalar_activate, add_scalar_activate_in_place,
    col_sums_through, grad_through, parse_activation, sum_through,
};
use super::{expect_floats, expect_inputs, norm_axis, Attrs, Op, OpCtx, OpRef, Scratch, TypeInfo};
use crate::kernels::act::Act;
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{packed_product_pays, sgemm, sgemm_packed, KeptB, Operand};
use crate::kernels::pool::{self, parallel_for, Disjoint};
use crate::simd_fn;
use crate::tensor::{fmt_shape, Dim, Value};
use crate::{Error, Result};

/// `x · y` where x is (..., k) (or (k, m) transposed when 2-D) and y is (k, n) (or (n, k)
/// transposed); fused, then `bias_add(x · y, bias)` with the bias a third input.
#[derive(Debug)]
pub struct MatMul {
    ta: bool,
    tb: bool,
    /// The folded `bias_add` (its axis and activation), applied in place to the product.
    epi: Option<BiasAdd>,
}

fn dims_match(a: Dim, b: Dim) -> bool {
    !matches!((a, b), (Some(x), Some(y)) if x != y)
}

impl Op for MatMul {
    fn name(&self) -> &str {
        "matmul"
    }

    fn with_bias_activation(&self, axis: usize, act: Act) -> Option<OpRef> {
        self.epi.is_none().then(|| {
            Arc::new(MatMul {
                epi: Some(BiasAdd {
                    axis: axis as i64,
                    act,
                }),
                ..*self
            }) as OpRef
        })
    }

    fn with_activation(&self, act: Act) -> Option<OpRef> {
        let epi = self.epi.as_ref()?;
        (epi.act == Act::Linear).then(|| {
            Arc::new(MatMul {
                epi: Some(BiasAdd {
                    axis: epi.axis,
                    act,
                }),
                ..*self
            }) as OpRef
        })
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let Some(epi) = &self.epi else {
            return self.infer_product(inputs);
        };
        expect_inputs("matmul", inputs, 3)?;
        let product = self.infer_product(&inputs[..2])?;
        epi.infer(&[product, inputs[2].clone()])
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (a, b) = (inputs[0], inputs[1]);
        let p = self.product(a, b);
        p.forward_keeping_b(&a.f, &b.f, &mut out.f, ctx.scratch)?;
        if let Some(epi) = &self.epi {
            epi.apply(None, &out.shape, &inputs[2].f, &mut out.f)?;
        }
        Ok(())
    }

    fn backward_many(
        &self,
        wanted: &[usize],
        inputs: &[&Value],
        out: &Value,
        gout: &[f32],
        gins: &mut [&mut [f32]],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (a, b) = (inputs[0], inputs[1]);
        let p = self.product(a, b);
        let Some(epi) = &self.epi else {
            for (&index, gin) in wanted.iter().zip(gins.iter_mut()) {
                p.backward(index, &a.f, &b.f, gout, gin);
            }
            return Ok(());
        };
        // The unfused chain's gradient of the product: the executor's zeroed buffer
        // with the bias_add's input gradient added, computed by the bias_add itself.
        let gz = &mut ctx.scratch.f;
        if wanted.iter().any(|&i| i < 2) {
            grow(gz, out.len(), "matmul gradient")?;
            gz[..out.len()].fill(0.0);
            epi.grad(0, &out.shape, out, gout, &mut gz[..out.len()])?;
        }
        for (&index, gin) in wanted.iter().zip(gins.iter_mut()) {
            if index < 2 {
                p.backward(index, &a.f, &b.f, &gz[..out.len()], gin);
            } else {
                epi.grad(1, &out.shape, out, gout, gin)?;
            }
        }
        Ok(())
    }
}

impl MatMul {
    /// The product's type from the types of A and B.
    fn infer_product(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_floats("matmul", inputs, 2)?;
        let (a, b) = (&inputs[0].shape, &inputs[1].shape);
        if a.is_empty() || b.len() != 2 || (self.ta && a.len() != 2) {
            return Err(Error::Shape(format!(
                "matmul: expects an N-D left operand and a 2-D right operand (transposes only in 2-D), got {} and {}",
                fmt_shape(a),
                fmt_shape(b)
            )));
        }
        let (ka, m_dims) = if self.ta {
            (a[0], vec![a[1]])
        } else {
            (a[a.len() - 1], a[..a.len() - 1].to_vec())
        };
        let (kb, n) = if self.tb { (b[1], b[0]) } else { (b[0], b[1]) };
        if !dims_match(ka, kb) {
            return Err(Error::Shape(format!(
                "matmul: inner dimensions differ: {} and {}",
                fmt_shape(a),
                fmt_shape(b)
            )));
        }
        let mut shape = m_dims;
        shape.push(n);
        Ok(TypeInfo::f32(shape))
    }
}

/// One product C = op(A) op(B): op(A) is m x k, op(B) k x n, each operand stored
/// transposed when its flag is set.
#[derive(Debug, Clone, Copy)]
struct Product {
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
}

/// `data`, transposed when `trans`.
fn operand(data: &[f32], trans: bool) -> Operand<'_> {
    Operand { data, trans }
}

/// A matmul node's right operand, packed and kept while it holds the same value.
#[derive(Debug, Default)]
struct KeptWeights {
    /// The store epoch of the previous call with a fixed right operand.
    seen: Option<u64>,
    /// The epoch whose value `b` holds.
    packed: Option<u64>,
    b: KeptB,
}

impl Product {
    /// C = op(A) op(B) into `c`.
    fn forward(&self, a: &[f32], b: &[f32], c: &mut [f32]) {
        let (m, k, n) = (self.m, self.k, self.n);
        sgemm(m, n, k, operand(a, self.ta), operand(b, self.tb), c, false);
    }

    /// [`Product::forward`], with op(B) packed once and kept while input 1 is a variable
    /// (or constant) whose store has not been written since (`scratch.epoch`): packing B
    /// is about a tenth of a 256-row dense product, and a `predict` or `evaluate` runs
    /// the same weights over every batch. The packed copy is made on the second call in
    /// one epoch, so a train step (whose update moves the epoch every call) packs no more
    /// than the plain product. Bit for bit the plain product (`sgemm_packed`).
    fn forward_keeping_b(
        &self,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        let (m, k, n) = (self.m, self.k, self.n);
        if scratch.fixed_inputs & 0b10 == 0 || !packed_product_pays(m, n, k) {
            self.forward(a, b, c);
            return Ok(());
        }
        let epoch = scratch.epoch;
        let kept = scratch.state::<KeptWeights>();
        if kept.packed != Some(epoch) || kept.b.get(k, n).is_none() {
            if kept.seen != Some(epoch) {
                kept.seen = Some(epoch);
                self.forward(a, b, c);
                return Ok(());
            }
            // op(B)(p, j) = b[p*n + j], or b[j*k + p] stored transposed.
            let (rs, cs) = if self.tb { (1, k) } else { (n, 1) };
            kept.packed = None;
            kept.b.pack(k, n, b, 0, rs, cs)?;
            kept.packed = Some(epoch);
        }
        match kept.b.get(k, n) {
            Some(packed) => sgemm_packed(m, operand(a, self.ta), packed, c, false),
            None => self.forward(a, b, c),
        }
        Ok(())
    }

    /// Adds into `d` the gradient of operand `index` (0: A, 1: B) for the output
    /// gradient `g`: dA = dC op(B)^T, dB = op(A)^T dC, each transposed back when that
    /// operand is stored transposed.
    fn backward(&self, index: usize, a: &[f32], b: &[f32], g: &[f32], d: &mut [f32]) {
        let (m, k, n) = (self.m, self.k, self.n);
        match (index, self.ta, self.tb) {
            // A stored (k, m): dA = op(B) dC^T (k x m)
            (0, true, _) => sgemm(k, m, n, operand(b, self.tb), operand(g, true), d, true),
            (0, false, _) => sgemm(m, k, n, operand(g, false), operand(b, !self.tb), d, true),
            // B stored (n, k): dB = dC^T op(A) (n x k)
            (_, _, true) => sgemm(n, k, m, operand(g, true), operand(a, self.ta), d, true),
            _ => sgemm(k, n, m, operand(a, !self.ta), operand(g, false), d, true),
        }
    }
}

impl MatMul {
    /// The product of a call on `a` and `b` (op(A) has the rows of all of `a`'s leading
    /// axes).
    fn product(&self, a: &Value, b: &Value) -> Product {
        let (m, k) = if self.ta {
            (a.shape[1], a.shape[0])
        } else {
            let k = *a.shape.last().unwrap_or(&1);
            (a.len() / k.max(1), k)
        };
        let n = if self.tb { b.shape[0] } else { b.shape[1] };
        Product {
            m,
            k,
            n,
            ta: self.ta,
            tb: self.tb,
        }
    }
}

/// Batched product of 3-D operands: (B, m, k) x (B, k, n) -> (B, m, n), with transposes
/// of the last two axes.
#[derive(Debug)]
pub struct BatchMatMul {
    ta: bool,
    tb: bool,
}

impl BatchMatMul {
    /// (batch, the product of one batch entry) of a call on `a` and `b`.
    fn product(&self, a: &[usize], b: &[usize]) -> (usize, Product) {
        let (m, k) = if self.ta { (a[2], a[1]) } else { (a[1], a[2]) };
        let n = if self.tb { b[1] } else { b[2] };
        let (ta, tb) = (self.ta, self.tb);
        (a[0], Product { m, k, n, ta, tb })
    }
}

impl Op for BatchMatMul {
    fn name(&self) -> &str {
        "batch_matmul"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("batch_matmul", inputs, 2)?;
        let (a, b) = (&inputs[0].shape, &inputs[1].shape);
        if a.len() != 3 || b.len() != 3 {
            return Err(Error::Shape(format!(
                "batch_matmul: expects two 3-D operands, got {} and {}",
                fmt_shape(a),
                fmt_shape(b)
            )));
        }
        let (m, ka) = if self.ta { (a[2], a[1]) } else { (a[1], a[2]) };
        let (kb, n) = if self.tb { (b[2], b[1]) } else { (b[1], b[2]) };
        if !dims_match(ka, kb) || !dims_match(a[0], b[0]) {
            return Err(Error::Shape(format!(
                "batch_matmul: incompatible operands {} and {}",
                fmt_shape(a),
                fmt_shape(b)
            )));
        }
        Ok(TypeInfo::f32(vec![a[0].or(b[0]), m, n]))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let (a, b) = (inputs[0], inputs[1]);
        let (bs, p) = self.product(&a.shape, &b.shape);
        let (m, k, n) = (p.m, p.k, p.n);
        for i in 0..bs {
            p.forward(
                &a.f[i * m * k..(i + 1) * m * k],
                &b.f[i * k * n..(i + 1) * k * n],
                &mut out.f[i * m * n..(i + 1) * m * n],
            );
        }
        Ok(())
    }

    fn backward(
        &self,
        index: usize,
        inputs: &[&Value],
        _out: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        let (a, b) = (inputs[0], inputs[1]);
        let (bs, p) = self.product(&a.shape, &b.shape);
        let (m, k, n) = (p.m, p.k, p.n);
        let step = if index == 0 { m * k } else { k * n };
        for i in 0..bs {
            p.backward(
                index,
                &a.f[i * m * k..(i + 1) * m * k],
                &b.f[i * k * n..(i + 1) * k * n],
                &g[i * m * n..(i + 1) * m * n],
                &mut gin[i * step..(i + 1) * step],
            );
        }
        Ok(())
    }
}

simd_fn! {
    fn add_rows(x: &[f32], b: &[f32], y: &mut [f32]) {
        let w = b.len();
        for (yr, xr) in y.chunks_exact_mut(w).zip(x.chunks_exact(w)) {
            for ((o, &v), &bv) in yr.iter_mut().zip(xr).zip(b) {
                *o = v + bv;
            }
        }
    }
}

/// `y = act(x + b)` on rows of `b.len()` floats, or `y = act(y + b)` without `x`.
fn add_rows_activate(x: Option<&[f32]>, b: &[f32], y: &mut [f32], act: Act) {
    match x {
        Some(x) => {
            add_rows(x, b, y);
            activate(y, act);
        }
        None => add_rows_activate_in_place(y, b, act),
    }
}

simd_fn! {
    fn col_sums(g: &[f32], d: &mut [f32]) {
        let w = d.len();
        for gr in g.chunks_exact(w) {
            for (o, &v) in d.iter_mut().zip(gr) {
                *o += v;
            }
        }
    }
}

/// `x + b` with `b` a vector broadcast along axis `axis` of `x` (last axis by default;
/// axis 1 for channels-first feature maps).
#[derive(Debug)]
pub struct BiasAdd {
    axis: i64,
    act: Act,
}

/// Elements above which the fused pass is split across threads (measured on the
/// W8a predict workload: 256 x 512 runs faster on two threads, 128 x 512 does not).
const PAR_MIN: usize = 1 << 17;

impl Op for BiasAdd {
    fn name(&self) -> &str {
        "bias_add"
    }

    fn with_activation(&self, act: Act) -> Option<OpRef> {
        (self.act == Act::Linear).then(|| {
            Arc::new(BiasAdd {
                axis: self.axis,
                act,
            }) as OpRef
        })
    }

    fn as_bias_add(&self, ndim: usize) -> Option<(usize, Act)> {
        norm_axis("bias_add", self.axis, ndim)
            .ok()
            .map(|ax| (ax, self.act))
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("bias_add", inputs, 2)?;
        let (x, b) = (&inputs[0].shape, &inputs[1].shape);
        if x.is_empty() {
            return Err(Error::Shape(
                "bias_add: the input must have at least one axis".into(),
            ));
        }
        let ax = norm_axis("bias_add", self.axis, x.len())?;
        if b.len() != 1 || !dims_match(b[0], x[ax]) {
            return Err(Error::Shape(format!(
                "bias_add: bias of shape {} does not match axis {ax} of {}",
                fmt_shape(b),
                fmt_shape(x)
            )));
        }
        Ok(TypeInfo::f32(x.clone()))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let (x, b) = (inputs[0], inputs[1]);
        self.apply(Some(&x.f), &x.shape, &b.f, &mut out.f)
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
        self.grad(index, &inputs[0].shape, out, g, gin)
    }
}

impl BiasAdd {
    /// (outer, channels, inner) split of x around the bias axis.
    fn split(&self, shape: &[usize]) -> Result<(usize, usize, usize)> {
        let ax = norm_axis("bias_add", self.axis, shape.len())?;
        let outer: usize = shape[..ax].iter().product();
        let inner: usize = shape[ax + 1..].iter().product();
        Ok((outer, shape[ax], inner))
    }

    /// `y = act(x + b)` for `x` of shape `shape`, or in place (`y = act(y + b)`) when
    /// `x` is `None`: the same operations either way.
    fn apply(&self, x: Option<&[f32]>, shape: &[usize], b: &[f32], y: &mut [f32]) -> Result<()> {
        let (outer, c, inner) = self.split(shape)?;
        let act = self.act;
        let out = y;
        if out.is_empty() {
            return Ok(()); // a zero-size axis (Dense(0)): nothing to add
        }
        if inner == 1 {
            if out.len() >= PAR_MIN && c > 0 && !crate::kernels::pool::in_parallel_region() {
                // Row blocks of ~16K elements claimed by the caller and the pool (the
                // caller starts at once instead of waiting for a worker to wake: on a
                // busy host that wait cost more than the pass); each row's result is
                // the same whatever the split, so the output does not depend on the
                // thread count.
                let rows = (16_384 / c).max(1) * c;
                let len = out.len();
                let ys = Disjoint::new(out);
                parallel_for(len.div_ceil(rows), pool::threads(), &|i, _| {
                    let (lo, hi) = (i * rows, ((i + 1) * rows).min(len));
                    // SAFETY: block i's range is its own.
                    let y = unsafe { ys.part(lo, hi - lo) };
                    add_rows_activate(x.map(|x| &x[lo..hi]), b, y, act);
                });
            } else {
                add_rows_activate(x, b, out, act);
            }
            return Ok(());
        }
        // One channel block at a time, activated while it is still in L1.
        for o in 0..outer {
            for (ch, &bc) in b[..c].iter().enumerate() {
                let base = (o * c + ch) * inner;
                let y = &mut out[base..base + inner];
                match x {
                    Some(x) => add_scalar_activate(&x[base..base + inner], bc, y, act),
                    None => add_scalar_activate_in_place(y, bc, act),
                }
            }
        }
        Ok(())
    }

    /// Adds into `gin` the gradient of input `index` (0: x of shape `shape`, 1: the
    /// bias) for the output gradient `g`.
    fn grad(
        &self,
        index: usize,
        shape: &[usize],
        out: &Value,
        g: &[f32],
        gin: &mut [f32],
    ) -> Result<()> {
        let act = self.act;
        if index == 0 {
            if act == Act::Linear {
                gin.iter_mut().zip(g).for_each(|(d, &g)| *d += g);
            } else {
                grad_through(g, &out.f, gin, act);
            }
            return Ok(());
        }
        let (outer, c, inner) = self.split(shape)?;
        if c == 0 {
            return Ok(());
        }
        if inner == 1 {
            if act == Act::Linear {
                col_sums(&g[..outer * c], gin);
            } else {
                col_sums_through(&g[..outer * c], &out.f[..outer * c], gin, act);
            }
            return Ok(());
        }
        for o in 0..outer {
            for (ch, d) in gin.iter_mut().enumerate() {
                let base = (o * c + ch) * inner;
                *d += sum_through(&g[base..base + inner], &out.f[base..base + inner], act);
            }
        }
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    Some(match name {
        "matmul" => (|| {
            Ok(Arc::new(MatMul {
                ta: a.bool("transpose_a", false)?,
                tb: a.bool("transpose_b", false)?,
                epi: None,
            }) as OpRef)
        })(),
        "batch_matmul" => (|| {
            Ok(Arc::new(BatchMatMul {
                ta: a.bool("transpose_a", false)?,
                tb: a.bool("transpose_b", false)?,
            }) as OpRef)
        })(),
        "bias_add" => (|| {
            let act = parse_activation("bias_add", a.str_opt("activation")?)?;
            Ok(Arc::new(BiasAdd {
                axis: a.int("axis", -1)?,
                act,
            }) as OpRef)
        })(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::Attr;
    use crate::tensor::Value;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn transpose(x: &[f32], r: usize, c: usize) -> Vec<f32> {
        let mut t = vec![0.0; r * c];
        for i in 0..r {
            for j in 0..c {
                t[j * r + i] = x[i * c + j];
            }
        }
        t
    }

    #[test]
    fn matmul_all_transposes_forward_and_gradients() {
        let (m, k, n) = (4, 5, 3);
        let a = rand(&[m, k], 1, -1.0, 1.0);
        let b = rand(&[k, n], 2, -1.0, 1.0);
        let want = naive(&a.f, &b.f, m, k, n);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let aa = if ta {
                val(&[k, m], &transpose(&a.f, m, k))
            } else {
                a.clone()
            };
            let bb = if tb {
                val(&[n, k], &transpose(&b.f, k, n))
            } else {
                b.clone()
            };
            let o = op(
                "matmul",
                &[
                    ("transpose_a", Attr::Bool(ta)),
                    ("transpose_b", Attr::Bool(tb)),
                ],
            );
            let y = forward(&o, &[aa.clone(), bb.clone()]);
            assert_eq!(y.shape, vec![m, n]);
            assert_close(&y.f, &want, 1e-5);
            grad_check(&o, &[aa, bb], 1e-2, 1e-2).unwrap();
        }
    }

    #[test]
    fn matmul_with_folded_bias_add_is_the_chain_bit_for_bit() {
        use crate::ops::epilogue::Act;
        use crate::ops::{OpCtx, Scratch};
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // (A shape, B shape, transposes, bias axis of the output): 2-D and 3-D left
        // operands, transposed operands, a channels-first bias (axis 1 of a 3-D output)
        // and a 256 x 512 output, which the bias pass splits over the pool.
        type Case<'a> = (&'a [usize], &'a [usize], bool, bool, usize);
        let cases: [Case; 5] = [
            (&[4, 5], &[5, 3], false, false, 1),
            (&[5, 4], &[3, 5], true, true, 1),
            (&[2, 3, 4], &[4, 5], false, false, 2),
            (&[2, 3, 4], &[4, 5], false, false, 1),
            (&[256, 8], &[8, 512], false, false, 1),
        ];
        for (case, &(sa, sb, ta, tb, axis)) in cases.iter().enumerate() {
            let a = rand(sa, 31 + case as u64, -1.0, 1.0);
            let b = rand(sb, 41 + case as u64, -1.0, 1.0);
            let plain = op(
                "matmul",
                &[
                    ("transpose_a", Attr::Bool(ta)),
                    ("transpose_b", Attr::Bool(tb)),
                ],
            );
            let z = forward(&plain, &[a.clone(), b.clone()]);
            let bias = rand(&[z.shape[axis]], 51, -0.5, 0.5);
            for act in [Act::Linear, Act::Relu, Act::Tanh, Act::Sigmoid] {
                let label = format!("case {case} {act:?}");
                let add = op("bias_add", &[("axis", Attr::Int(axis as i64))]);
                let (add, fused) = if act == Act::Linear {
                    (add, plain.with_bias_activation(axis, act).unwrap())
                } else {
                    // Folded in the fusion pass's order: the bias, then the activation.
                    let linear = plain.with_bias_activation(axis, Act::Linear).unwrap();
                    (
                        add.with_activation(act).unwrap(),
                        linear.with_activation(act).unwrap(),
                    )
                };
                assert!(fused.with_activation(Act::Relu).is_none() || act == Act::Linear);
                assert!(fused.with_bias_activation(axis, act).is_none());
                let y = forward(&add, &[z.clone(), bias.clone()]);
                let ins = [a.clone(), b.clone(), bias.clone()];
                let got = forward(&fused, &ins);
                assert_eq!(got.shape, y.shape, "{label}");
                assert_eq!(bits(&got.f), bits(&y.f), "{label}: forward");
                // Backward: the chain's product gradient is bias_add's input gradient
                // added to a zeroed buffer, as the executor does.
                let r = rand(&y.shape, 61, -1.0, 1.0);
                let through = gradients(&add, &[z.clone(), bias.clone()], &y, &r.f);
                let mut want = gradients(&plain, &[a.clone(), b.clone()], &z, &through[0]);
                want.push(through[1].clone());
                let have = gradients(&fused, &ins, &got, &r.f);
                for (i, (h, w)) in have.iter().zip(&want).enumerate() {
                    assert_eq!(bits(h), bits(w), "{label}: gradient of input {i}");
                }
                let refs: Vec<&Value> = ins.iter().collect();
                let mut s = Scratch::default();
                let mut ctx = OpCtx { scratch: &mut s };
                assert_backward_many_matches_singles(&fused, &refs, &got, &r.f, &mut ctx, &label);
                if case == 0 && act == Act::Tanh {
                    grad_check(&fused, &ins, 1e-2, 2e-2).unwrap();
                }
            }
        }
    }

    #[test]
    fn matmul_nd_left_operand() {
        let a = rand(&[2, 3, 4], 3, -1.0, 1.0);
        let b = rand(&[4, 5], 4, -1.0, 1.0);
        let o = op("matmul", &[]);
        let y = forward(&o, &[a.clone(), b.clone()]);
        assert_eq!(y.shape, vec![2, 3, 5]);
        assert_close(&y.f, &naive(&a.f, &b.f, 6, 4, 5), 1e-5);
        grad_check(&o, &[a, b], 1e-2, 1e-2).unwrap();
    }

    #[test]
    fn batch_matmul_forward_and_gradients() {
        let a = rand(&[3, 2, 4], 5, -1.0, 1.0);
        let b = rand(&[3, 4, 5], 6, -1.0, 1.0);
        let o = op("batch_matmul", &[]);
        let y = forward(&o, &[a.clone(), b.clone()]);
        for i in 0..3 {
            let want = naive(
                &a.f[i * 8..(i + 1) * 8],
                &b.f[i * 20..(i + 1) * 20],
                2,
                4,
                5,
            );
            assert_close(&y.f[i * 10..(i + 1) * 10], &want, 1e-5);
        }
        grad_check(&o, &[a.clone(), b.clone()], 1e-2, 1e-2).unwrap();
        let bt = rand(&[3, 5, 4], 7, -1.0, 1.0);
        let o = op("batch_matmul", &[("transpose_b", Attr::Bool(true))]);
        grad_check(&o, &[a, bt], 1e-2, 1e-2).unwrap();
    }

    #[test]
    fn bias_add_last_axis_and_channels_first() {
        let x = rand(&[2, 3, 4], 8, -1.0, 1.0);
        let b = rand(&[4], 9, -1.0, 1.0);
        let o = op("bias_add", &[]);
        let y = forward(&o, &[x.clone(), b.clone()]);
        for (i, v) in y.f.iter().enumerate() {
            assert!((v - (x.f[i] + b.f[i % 4])).abs() < 1e-6);
        }
        grad_check(&o, &[x.clone(), b], 1e-2, 1e-2).unwrap();
        let b3 = rand(&[3], 10, -1.0, 1.0);
        let o1 = op("bias_add", &[("axis", Attr::Int(1))]);
        let y = forward(&o1, &[x.clone(), b3.clone()]);
        for (i, v) in y.f.iter().enumerate() {
            assert!((v - (x.f[i] + b3.f[(i / 4) % 3])).abs() < 1e-6);
        }
        grad_check(&o1, &[x, b3], 1e-2, 1e-2).unwrap();
    }

    #[test]
    fn shape_errors_name_the_shapes() {
        let o = op("matmul", &[]);
        let t = |s: &[usize]| crate::ops::TypeInfo::f32(crate::tensor::known(s));
        let e = o.infer(&[t(&[2, 3]), t(&[4, 5])]).unwrap_err().to_string();
        assert!(e.contains("(2, 3)") && e.contains("(4, 5)"), "{e}");
    }

    #[test]
    fn bias_add_with_fused_activation_matches_and_differentiates() {
        let x = rand(&[3, 5], 11, -1.0, 1.0);
        let b = rand(&[5], 12, -0.5, 0.5);
        for (name, f) in [
            ("relu", (|v: f32| v.max(0.0)) as fn(f32) -> f32),
            ("tanh", |v: f32| v.tanh()),
            ("sigmoid", |v: f32| 1.0 / (1.0 + (-v).exp())),
        ] {
            let o = op("bias_add", &[("activation", Attr::Str(name.into()))]);
            let y = forward(&o, &[x.clone(), b.clone()]);
            let want: Vec<f32> =
                x.f.iter()
                    .enumerate()
                    .map(|(i, &v)| f(v + b.f[i % 5]))
                    .collect();
            assert_close(&y.f, &want, 1e-6);
            grad_check(&o, &[x.clone(), b.clone()], 1e-3, 2e-2).unwrap();
        }
        // channels-first maps (a convolution's output): the per-channel blocks (35
        // floats: two vector chunks of partial sums and a tail) activated in place
        let x4 = rand(&[2, 3, 7, 5], 15, -1.0, 1.0);
        let b3 = rand(&[3], 16, -0.5, 0.5);
        for (name, f) in [
            ("relu", (|v: f32| v.max(0.0)) as fn(f32) -> f32),
            ("tanh", |v: f32| v.tanh()),
            ("sigmoid", |v: f32| 1.0 / (1.0 + (-v).exp())),
        ] {
            let o = op(
                "bias_add",
                &[
                    ("activation", Attr::Str(name.into())),
                    ("axis", Attr::Int(1)),
                ],
            );
            let y = forward(&o, &[x4.clone(), b3.clone()]);
            let want: Vec<f32> =
                x4.f.iter()
                    .enumerate()
                    .map(|(i, &v)| f(v + b3.f[(i / 35) % 3]))
                    .collect();
            assert_close(&y.f, &want, 1e-6);
            grad_check(&o, &[x4.clone(), b3.clone()], 1e-3, 2e-2).unwrap();
        }
        // large enough for the parallel path: same result as one thread
        let big = rand(&[300, 512], 13, -1.0, 1.0);
        let bb = rand(&[512], 14, -1.0, 1.0);
        let o = op("bias_add", &[("activation", Attr::Str("tanh".into()))]);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = one.install(|| forward(&o, &[big.clone(), bb.clone()]));
        let two = forward(&o, &[big, bb]);
        assert_eq!(a.f, two.f);
    }

    /// A Program computing `op(x) · op(w)` (+ bias, relu) with `w` a variable, and the
    /// same product from the raw kernels.
    fn weight_program(
        ta: bool,
        tb: bool,
    ) -> (
        crate::graph::Graph,
        crate::graph::Program,
        crate::graph::NodeId,
    ) {
        use crate::graph::Graph;
        use crate::ops::Attrs;
        use crate::tensor::DType;
        let (m, k, n) = (160, 72, 96);
        let mut g = Graph::new();
        let xs = if ta { [k, m] } else { [m, k] };
        let ws = if tb { [n, k] } else { [k, n] };
        let x = g.placeholder(DType::F32, xs.iter().map(|&d| Some(d)).collect(), "x");
        let w = g.variable(rand(&ws, 21, -1.0, 1.0), "w");
        let b = g.variable(rand(&[n], 22, -1.0, 1.0), "b");
        let attrs = Attrs::new("matmul")
            .with("transpose_a", Attr::Bool(ta))
            .with("transpose_b", Attr::Bool(tb));
        let y = g.op("matmul", &[x, w], &attrs).unwrap();
        let y = g
            .op(
                "bias_add",
                &[y, b],
                &Attrs::new("bias_add")
                    .with("axis", Attr::Int(1))
                    .with("activation", Attr::Str("relu".into())),
            )
            .unwrap();
        let p = g.compile(&[x], &[y], vec![]).unwrap();
        (g, p, w)
    }

    #[test]
    fn a_kept_packed_weight_gives_the_plain_products_bits_until_the_weight_changes() {
        for (ta, tb) in [(false, false), (false, true), (true, false)] {
            let (g, p, w) = weight_program(ta, tb);
            let xs = if ta { [72, 160] } else { [160, 72] };
            let var = |g: &crate::graph::Graph, id| match g.node(id).unwrap().kind {
                crate::graph::NodeKind::Variable(v) => v,
                _ => unreachable!("w is a variable"),
            };
            let wv = var(&g, w);
            // Calls 1 (plain), 2 (packs) and 3..5 (reuse), then a new weight: plain again,
            // then packed again; each output equals a fresh Program's first (plain) call.
            for call in 0..8u64 {
                if call == 5 {
                    g.set_value(wv, rand(&g.get_value(wv).unwrap().shape, 99, -1.0, 1.0))
                        .unwrap();
                }
                let x = rand(&xs, 100 + call, -1.0, 1.0);
                let got = p.run_values(std::slice::from_ref(&x)).unwrap();
                let (g2, fresh, w2) = weight_program(ta, tb);
                g2.set_value(var(&g2, w2), g.get_value(wv).unwrap())
                    .unwrap();
                let want = fresh.run_values(&[x]).unwrap();
                assert_eq!(got[0].f, want[0].f, "ta {ta} tb {tb} call {call}");
            }
        }
    }
}
