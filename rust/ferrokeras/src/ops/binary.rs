//! Elementwise binary ops with numpy broadcasting: add, sub, mul, div, maximum,
//! minimum, and the comparisons (equal, not_equal, greater, greater_equal, less,
//! less_equal) which return bool and carry no gradient.
//!
//! Same-shape, scalar and trailing-block (bias-like) operands take contiguous fast
//! paths; other broadcasts walk the output with an odometer over per-operand strides.
//! The backward kernel of a broadcast operand sums over the broadcast axes.

use std::sync::Arc;

use super::{expect_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::simd_fn;
use crate::tensor::{fmt_shape, DType, Dim, Shape, Value};
use crate::{Error, Result};

/// Which binary function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BinKind {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// a / b
    Div,
    /// max(a, b)
    Maximum,
    /// min(a, b)
    Minimum,
    /// a == b
    Equal,
    /// a != b
    NotEqual,
    /// a > b
    Greater,
    /// a >= b
    GreaterEqual,
    /// a < b
    Less,
    /// a <= b
    LessEqual,
}

impl BinKind {
    fn is_cmp(self) -> bool {
        !matches!(
            self,
            BinKind::Add
                | BinKind::Sub
                | BinKind::Mul
                | BinKind::Div
                | BinKind::Maximum
                | BinKind::Minimum
        )
    }

    #[inline(always)]
    fn apply(self, a: f32, b: f32) -> f32 {
        use BinKind::*;
        match self {
            Add => a + b,
            Sub => a - b,
            Mul => a * b,
            Div => a / b,
            // NaN in either operand propagates (numpy's maximum), unlike f32::max.
            Maximum => {
                if a >= b || a.is_nan() {
                    a
                } else {
                    b
                }
            }
            Minimum => {
                if a <= b || a.is_nan() {
                    a
                } else {
                    b
                }
            }
            Equal => (a == b) as i32 as f32,
            NotEqual => (a != b) as i32 as f32,
            Greater => (a > b) as i32 as f32,
            GreaterEqual => (a >= b) as i32 as f32,
            Less => (a < b) as i32 as f32,
            LessEqual => (a <= b) as i32 as f32,
        }
    }

    /// (d out / d a, d out / d b)
    #[inline(always)]
    fn partials(self, a: f32, b: f32) -> (f32, f32) {
        use BinKind::*;
        match self {
            Add => (1.0, 1.0),
            Sub => (1.0, -1.0),
            Mul => (b, a),
            Div => (1.0 / b, -a / (b * b)),
            Maximum => {
                if a >= b {
                    (1.0, 0.0)
                } else {
                    (0.0, 1.0)
                }
            }
            Minimum => {
                if a <= b {
                    (1.0, 0.0)
                } else {
                    (0.0, 1.0)
                }
            }
            _ => (0.0, 0.0),
        }
    }
}

/// An elementwise binary op.
#[derive(Debug)]
pub struct Binary {
    kind: BinKind,
    name: &'static str,
}

/// numpy broadcast of two symbolic shapes.
pub fn broadcast_shapes(op: &str, a: &[Dim], b: &[Dim]) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out = vec![None; n];
    for k in 0..n {
        let da = if k + a.len() >= n {
            a[k + a.len() - n]
        } else {
            Some(1)
        };
        let db = if k + b.len() >= n {
            b[k + b.len() - n]
        } else {
            Some(1)
        };
        out[k] = match (da, db) {
            (Some(1), d) | (d, Some(1)) => d,
            (Some(x), Some(y)) if x == y => Some(x),
            (Some(_), Some(_)) => {
                return Err(Error::Shape(format!(
                    "{op}: shapes {} and {} cannot be broadcast together",
                    fmt_shape(a),
                    fmt_shape(b)
                )))
            }
            (None, Some(y)) => Some(y),
            (Some(x), None) => Some(x),
            (None, None) => None,
        };
    }
    Ok(out)
}

/// Strides of `shape` seen from an output of rank `n` (0 on broadcast axes).
fn bstrides(shape: &[usize], out: &[usize]) -> Strides {
    let n = out.len();
    let mut st: Strides = smallvec::smallvec![0; n];
    let mut acc = 1;
    for k in (0..shape.len()).rev() {
        let ko = k + n - shape.len();
        st[ko] = if shape[k] == 1 && out[ko] != 1 {
            0
        } else {
            acc
        };
        acc *= shape[k];
    }
    st
}

/// Per-axis strides, inline up to 8 axes (a steady-state call allocates nothing).
type Strides = smallvec::SmallVec<[usize; 8]>;

/// Calls `f(out_index, a_offset, b_offset)` for every output element in order.
fn for_each_bcast(
    out: &[usize],
    sa: &[usize],
    sb: &[usize],
    mut f: impl FnMut(usize, usize, usize),
) {
    let n = out.len();
    let total: usize = out.iter().product();
    if total == 0 {
        return;
    }
    if n == 0 {
        f(0, 0, 0);
        return;
    }
    let inner = out[n - 1];
    let (ia, ib) = (sa[n - 1], sb[n - 1]);
    let mut idx: Strides = smallvec::smallvec![0usize; n];
    let (mut oa, mut ob) = (0usize, 0usize);
    let mut o = 0;
    while o < total {
        for j in 0..inner {
            f(o + j, oa + j * ia, ob + j * ib);
        }
        o += inner;
        // odometer over the outer axes
        let mut k = n - 1;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            oa += sa[k];
            ob += sb[k];
            if idx[k] < out[k] {
                break;
            }
            oa -= sa[k] * idx[k];
            ob -= sb[k] * idx[k];
            idx[k] = 0;
        }
    }
}

simd_fn! {
    fn add_same(a: &[f32], b: &[f32], y: &mut [f32]) {
        for ((o, &x), &z) in y.iter_mut().zip(a).zip(b) {
            *o = x + z;
        }
    }
}

simd_fn! {
    fn mul_same(a: &[f32], b: &[f32], y: &mut [f32]) {
        for ((o, &x), &z) in y.iter_mut().zip(a).zip(b) {
            *o = x * z;
        }
    }
}

simd_fn! {
    fn add_rows(a: &[f32], b: &[f32], y: &mut [f32]) {
        let w = b.len();
        for (orow, arow) in y.chunks_exact_mut(w).zip(a.chunks_exact(w)) {
            for ((o, &x), &z) in orow.iter_mut().zip(arow).zip(b) {
                *o = x + z;
            }
        }
    }
}

impl Binary {
    fn fwd_f32(&self, a: &Value, b: &Value, out: &mut Value) {
        let k = self.kind;
        let y = &mut out.f;
        if a.shape == b.shape {
            match k {
                BinKind::Add => add_same(&a.f, &b.f, y),
                BinKind::Mul => mul_same(&a.f, &b.f, y),
                _ => y
                    .iter_mut()
                    .zip(a.f.iter().zip(&b.f))
                    .for_each(|(o, (&x, &z))| *o = k.apply(x, z)),
            }
            return;
        }
        if b.f.len() == 1 && a.shape == out.shape {
            let z = b.f[0];
            y.iter_mut()
                .zip(&a.f)
                .for_each(|(o, &x)| *o = k.apply(x, z));
            return;
        }
        if a.f.len() == 1 && b.shape == out.shape {
            let x = a.f[0];
            y.iter_mut()
                .zip(&b.f)
                .for_each(|(o, &z)| *o = k.apply(x, z));
            return;
        }
        if a.shape == out.shape && is_trailing_block(&b.shape, &out.shape) && k == BinKind::Add {
            add_rows(&a.f, &b.f, y);
            return;
        }
        let sa = bstrides(&a.shape, &out.shape);
        let sb = bstrides(&b.shape, &out.shape);
        let (af, bf) = (&a.f, &b.f);
        for_each_bcast(&out.shape.clone(), &sa, &sb, |o, ia, ib| {
            y[o] = k.apply(af[ia], bf[ib])
        });
    }

    fn fwd_i32(&self, a: &Value, b: &Value, out: &mut Value) {
        let k = self.kind;
        let sa = bstrides(&a.shape, &out.shape);
        let sb = bstrides(&b.shape, &out.shape);
        let (ai, bi) = (&a.i, &b.i);
        let y = &mut out.f;
        for_each_bcast(&out.shape.clone(), &sa, &sb, |o, ia, ib| {
            let (x, z) = (ai[ia], bi[ib]);
            y[o] = match k {
                BinKind::Equal => x == z,
                BinKind::NotEqual => x != z,
                BinKind::Greater => x > z,
                BinKind::GreaterEqual => x >= z,
                BinKind::Less => x < z,
                _ => x <= z,
            } as i32 as f32;
        });
    }
}

/// True when `b` equals the trailing dims of `out` (after dropping leading 1s), i.e.
/// each contiguous block of `out` pairs with all of `b`.
fn is_trailing_block(b: &[usize], out: &[usize]) -> bool {
    let b: Vec<usize> = b.iter().copied().skip_while(|&d| d == 1).collect();
    b.len() <= out.len() && out[out.len() - b.len()..] == b[..]
}

impl Op for Binary {
    fn name(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(self.name, inputs, 2)?;
        let (a, b) = (&inputs[0], &inputs[1]);
        let ints = (a.dtype == DType::I32) as u8 + (b.dtype == DType::I32) as u8;
        if ints == 1 || (ints == 2 && !self.kind.is_cmp()) {
            return Err(Error::Type(format!(
                "{}: operands must both be float (or both int32 for comparisons), got {} and {}",
                self.name,
                a.dtype.name(),
                b.dtype.name()
            )));
        }
        let shape = broadcast_shapes(self.name, &a.shape, &b.shape)?;
        let dtype = if self.kind.is_cmp() {
            DType::Bool
        } else {
            DType::F32
        };
        Ok(TypeInfo { dtype, shape })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let (a, b) = (inputs[0], inputs[1]);
        if a.dt() == DType::I32 {
            self.fwd_i32(a, b, out);
        } else {
            self.fwd_f32(a, b, out);
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
        let (a, b) = (inputs[0], inputs[1]);
        let k = self.kind;
        if a.shape == b.shape && matches!(k, BinKind::Add | BinKind::Sub) {
            let s = if index == 1 && k == BinKind::Sub {
                -1.0
            } else {
                1.0
            };
            gin.iter_mut().zip(g).for_each(|(d, &g)| *d += s * g);
            return Ok(());
        }
        let sa = bstrides(&a.shape, &out.shape);
        let sb = bstrides(&b.shape, &out.shape);
        let (af, bf) = (&a.f, &b.f);
        for_each_bcast(&out.shape, &sa, &sb, |o, ia, ib| {
            let (da, db) = k.partials(af[ia], bf[ib]);
            if index == 0 {
                gin[ia] += g[o] * da;
            } else {
                gin[ib] += g[o] * db;
            }
        });
        Ok(())
    }

    fn has_grad(&self, _index: usize) -> bool {
        !self.kind.is_cmp()
    }
}

/// Registry entry for this family.
pub fn build(name: &str, _a: &Attrs) -> Option<Result<OpRef>> {
    use BinKind::*;
    let (kind, name) = match name {
        "add" => (Add, "add"),
        "sub" => (Sub, "sub"),
        "mul" => (Mul, "mul"),
        "div" => (Div, "div"),
        "maximum" => (Maximum, "maximum"),
        "minimum" => (Minimum, "minimum"),
        "equal" => (Equal, "equal"),
        "not_equal" => (NotEqual, "not_equal"),
        "greater" => (Greater, "greater"),
        "greater_equal" => (GreaterEqual, "greater_equal"),
        "less" => (Less, "less"),
        "less_equal" => (LessEqual, "less_equal"),
        _ => return None,
    };
    Some(Ok(Arc::new(Binary { kind, name })))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn naive(kind: BinKind, a: &Value, b: &Value) -> Vec<f32> {
        // reference broadcast through explicit index arithmetic
        let out = broadcast_shapes(
            "t",
            &crate::tensor::known(&a.shape),
            &crate::tensor::known(&b.shape),
        )
        .unwrap();
        let out: Vec<usize> = out.into_iter().map(|d| d.unwrap()).collect();
        let n = out.len();
        let total: usize = out.iter().product();
        let mut res = Vec::with_capacity(total);
        for o in 0..total {
            let mut rem = o;
            let mut idx = vec![0; n];
            for k in (0..n).rev() {
                idx[k] = rem % out[k];
                rem /= out[k];
            }
            let off = |s: &[usize]| {
                let mut off = 0;
                for (k, &d) in s.iter().enumerate() {
                    let i = idx[k + n - s.len()];
                    off = off * d + if d == 1 { 0 } else { i };
                }
                off
            };
            res.push(kind.apply(a.f[off(&a.shape)], b.f[off(&b.shape)]));
        }
        res
    }

    #[test]
    fn broadcasting_forward_matches_reference() {
        let shapes: &[(&[usize], &[usize])] = &[
            (&[2, 3], &[2, 3]),
            (&[2, 3], &[3]),
            (&[2, 3], &[]),
            (&[], &[2, 3]),
            (&[4, 1, 3], &[2, 1]),
            (&[1, 3], &[2, 1]),
            (&[2, 3, 4], &[3, 1]),
        ];
        for (i, &(sa, sb)) in shapes.iter().enumerate() {
            let a = rand(sa, i as u64, -2.0, 2.0);
            let b = rand(sb, 100 + i as u64, 0.5, 2.0);
            for name in [
                "add", "sub", "mul", "div", "maximum", "minimum", "greater", "equal",
            ] {
                let o = op(name, &[]);
                let y = forward(&o, &[a.clone(), b.clone()]);
                let kind = match name {
                    "add" => BinKind::Add,
                    "sub" => BinKind::Sub,
                    "mul" => BinKind::Mul,
                    "div" => BinKind::Div,
                    "maximum" => BinKind::Maximum,
                    "minimum" => BinKind::Minimum,
                    "greater" => BinKind::Greater,
                    _ => BinKind::Equal,
                };
                assert_close(&y.f, &naive(kind, &a, &b), 1e-6);
            }
        }
    }

    #[test]
    fn broadcasting_gradients_match_finite_differences() {
        let shapes: &[(&[usize], &[usize])] = &[
            (&[2, 3], &[2, 3]),
            (&[2, 3], &[3]),
            (&[2, 3], &[]),
            (&[4, 1, 3], &[2, 1]),
            (&[2, 3, 4], &[3, 1]),
        ];
        for (i, &(sa, sb)) in shapes.iter().enumerate() {
            let a = rand(sa, i as u64, -2.0, 2.0);
            let b = rand(sb, 50 + i as u64, 0.5, 2.0);
            for name in ["add", "sub", "mul", "div", "maximum", "minimum"] {
                grad_check(&op(name, &[]), &[a.clone(), b.clone()], 1e-3, 2e-2).unwrap();
            }
        }
    }

    #[test]
    fn incompatible_shapes_and_mixed_dtypes_are_errors() {
        let o = op("add", &[]);
        let t = |s: &[usize]| TypeInfo::f32(crate::tensor::known(s));
        assert!(o
            .infer(&[t(&[2, 3]), t(&[4])])
            .unwrap_err()
            .to_string()
            .contains("broadcast"));
        let i = TypeInfo {
            dtype: DType::I32,
            shape: vec![Some(3)],
        };
        assert!(matches!(
            o.infer(&[t(&[3]), i.clone()]),
            Err(Error::Type(_))
        ));
        let eq = op("equal", &[]);
        assert_eq!(eq.infer(&[i.clone(), i]).unwrap().dtype, DType::Bool);
        let y = forward(
            &eq,
            &[
                Value::from_i32(&[3], vec![1, 2, 3]).unwrap(),
                Value::from_i32(&[3], vec![1, 0, 3]).unwrap(),
            ],
        );
        assert_eq!(y.f, vec![1.0, 0.0, 1.0]);
    }

    #[test]
    fn unknown_dims_broadcast_symbolically() {
        let s = broadcast_shapes("add", &[None, Some(3)], &[Some(3)]).unwrap();
        assert_eq!(s, vec![None, Some(3)]);
    }
}
