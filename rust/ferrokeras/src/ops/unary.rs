//! Elementwise unary math: neg, abs, square, sqrt, exp, log, sign, round (half to
//! even), sin, cos, clip, pow, plus `cast` and `stop_gradient`.
//!
//! Every kernel is a single pass over a contiguous buffer; the hot ones go through
//! `simd_fn!` so they run with AVX2/AVX-512 when the CPU has it.

use super::{
    elementwise_forward_backward, expect_floats, expect_inputs, pass_through_backward, Attrs, Op,
    OpCtx, OpRef, TypeInfo,
};
use crate::kernels::simd;
use crate::simd_map;
use crate::tensor::{DType, Value};
use crate::{Error, Result};
use std::sync::Arc;

/// Which function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryKind {
    /// -x
    Neg,
    /// |x|
    Abs,
    /// x^2
    Square,
    /// sqrt(x) (Keras clips the argument at 0 first).
    Sqrt,
    /// e^x
    Exp,
    /// ln x
    Log,
    /// -1, 0 or 1
    Sign,
    /// Round half to even.
    Round,
    /// sin x
    Sin,
    /// cos x
    Cos,
    /// clip(x, lo, hi)
    Clip(f32, f32),
    /// x^a
    Pow(f32),
    /// identity without gradient
    StopGradient,
    /// identity (also used as a named copy)
    Identity,
    /// a constant of the input's shape (`zeros_like`, `ones_like`); no gradient
    Fill(f32),
}

/// An elementwise unary op.
#[derive(Debug)]
pub struct Unary {
    kind: UnaryKind,
    name: &'static str,
}

simd_map! {
    fn square_f() |v| v * v;
    fn exp_f() |v| simd::exp(v);
    // NaN stays NaN, as in numpy / TensorFlow (f32::max would drop it).
    fn clip_f(lo: f32, hi: f32) |v| if v < lo { lo } else if v > hi { hi } else { v };
    fn sqrt_f() |v| v.max(0.0).sqrt();
}

impl Unary {
    fn fwd(&self, x: &[f32], y: &mut [f32]) {
        use UnaryKind::*;
        match self.kind {
            Neg => y.iter_mut().zip(x).for_each(|(o, &v)| *o = -v),
            Abs => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v.abs()),
            Square => square_f(x, y),
            Sqrt => sqrt_f(x, y),
            Exp => exp_f(x, y),
            Log => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v.ln()),
            Sign => y.iter_mut().zip(x).for_each(|(o, &v)| {
                *o = if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }),
            Round => y
                .iter_mut()
                .zip(x)
                .for_each(|(o, &v)| *o = v.round_ties_even()),
            Sin => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v.sin()),
            Cos => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v.cos()),
            Clip(lo, hi) => clip_f(x, y, lo, hi),
            Pow(a) => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v.powf(a)),
            StopGradient | Identity => y.copy_from_slice(x),
            Fill(c) => y.fill(c),
        }
    }

    fn bwd(&self, x: &[f32], y: &[f32], g: &[f32], gin: &mut [f32]) {
        use UnaryKind::*;
        let it = gin.iter_mut().zip(g).zip(x.iter().zip(y));
        match self.kind {
            Neg => it.for_each(|((d, &g), _)| *d -= g),
            Abs => it.for_each(|((d, &g), (&x, _))| *d += g * sign(x)),
            Square => it.for_each(|((d, &g), (&x, _))| *d += 2.0 * x * g),
            // d sqrt(max(x,0)) = 1/(2 sqrt x) for x > 0, 0 where clipped
            Sqrt => it.for_each(|((d, &g), (&x, &y))| {
                if x > 0.0 {
                    *d += g * 0.5 / y
                }
            }),
            Exp => it.for_each(|((d, &g), (_, &y))| *d += g * y),
            Log => it.for_each(|((d, &g), (&x, _))| *d += g / x),
            Sign | Round | StopGradient | Fill(_) => {}
            Sin => it.for_each(|((d, &g), (&x, _))| *d += g * x.cos()),
            Cos => it.for_each(|((d, &g), (&x, _))| *d -= g * x.sin()),
            // Gradient passes where the input is inside [lo, hi] (Theano's convention:
            // boundaries included).
            Clip(lo, hi) => it.for_each(|((d, &g), (&x, _))| {
                if x >= lo && x <= hi {
                    *d += g
                }
            }),
            Pow(a) => it.for_each(|((d, &g), (&x, _))| {
                if a != 0.0 {
                    *d += g * a * x.powf(a - 1.0)
                }
            }),
            Identity => it.for_each(|((d, &g), _)| *d += g),
        }
    }
}

fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl Op for Unary {
    fn name(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_floats(self.name, inputs, 1)?;
        let dtype = match self.kind {
            UnaryKind::StopGradient | UnaryKind::Identity | UnaryKind::Neg | UnaryKind::Abs => {
                inputs[0].dtype
            }
            _ => DType::F32,
        };
        Ok(TypeInfo {
            dtype,
            shape: inputs[0].shape.clone(),
        })
    }

    elementwise_forward_backward!();

    fn has_grad(&self, _index: usize) -> bool {
        !matches!(
            self.kind,
            UnaryKind::Sign | UnaryKind::Round | UnaryKind::StopGradient | UnaryKind::Fill(_)
        )
    }
}

/// Converts between dtypes. Float to int truncates toward zero (numpy's `astype`);
/// anything to bool is `x != 0`. Gradient flows only float to float.
#[derive(Debug)]
pub struct Cast {
    to: DType,
}

impl Op for Cast {
    fn name(&self) -> &str {
        "cast"
    }
    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("cast", inputs, 1)?;
        Ok(TypeInfo {
            dtype: self.to,
            shape: inputs[0].shape.clone(),
        })
    }
    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        match (x.dt(), self.to) {
            (DType::I32, DType::I32) => out.i.copy_from_slice(&x.i),
            (DType::I32, DType::F32) => {
                out.f.iter_mut().zip(&x.i).for_each(|(o, &v)| *o = v as f32)
            }
            (DType::I32, DType::Bool) => out
                .f
                .iter_mut()
                .zip(&x.i)
                .for_each(|(o, &v)| *o = (v != 0) as i32 as f32),
            (_, DType::I32) => {
                for (o, &v) in out.i.iter_mut().zip(&x.f) {
                    if !v.is_finite() {
                        return Err(Error::Value(format!("cast: cannot convert {v} to int32")));
                    }
                    *o = v as i32;
                }
            }
            (_, DType::Bool) => out
                .f
                .iter_mut()
                .zip(&x.f)
                .for_each(|(o, &v)| *o = (v != 0.0) as i32 as f32),
            (_, DType::F32) => out.f.copy_from_slice(&x.f),
        }
        Ok(())
    }
    pass_through_backward!();
    fn has_grad(&self, _index: usize) -> bool {
        self.to == DType::F32
    }
}

/// Identity that writes a message and the value to stderr each time it runs
/// (`K.print_tensor`, like TensorFlow's `tf.Print`).
#[derive(Debug)]
pub struct Print {
    message: String,
}

impl Op for Print {
    fn name(&self) -> &str {
        "print"
    }
    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("print", inputs, 1)?;
        Ok(inputs[0].clone())
    }
    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        out.assign_from(inputs[0]);
        let x = inputs[0];
        let shown: Vec<String> = (0..x.len().min(20))
            .map(|k| format!("{}", x.get_f64(k)))
            .collect();
        let more = if x.len() > 20 { ", ..." } else { "" };
        eprintln!("{}[{}{more}]", self.message, shown.join(", "));
        Ok(())
    }
    pass_through_backward!();
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    use UnaryKind::*;
    let (kind, name): (UnaryKind, &'static str) = match name {
        "neg" => (Neg, "neg"),
        "abs" => (Abs, "abs"),
        "square" => (Square, "square"),
        "sqrt" => (Sqrt, "sqrt"),
        "exp" => (Exp, "exp"),
        "log" => (Log, "log"),
        "sign" => (Sign, "sign"),
        "round" => (Round, "round"),
        "sin" => (Sin, "sin"),
        "cos" => (Cos, "cos"),
        "stop_gradient" => (StopGradient, "stop_gradient"),
        "identity" => (Identity, "identity"),
        "fill_like" => match a.float("value", 0.0) {
            Ok(v) => (Fill(v as f32), "fill_like"),
            Err(e) => return Some(Err(e)),
        },
        "print" => {
            return Some(a.str_opt("message").map(|m| {
                Arc::new(Print {
                    message: m.unwrap_or_default(),
                }) as OpRef
            }))
        }
        "clip" => {
            let r = (|| {
                let lo = a.float("min_value", f64::NEG_INFINITY)? as f32;
                let hi = a.float("max_value", f64::INFINITY)? as f32;
                // Keras 1: max_value < min_value is silently raised to min_value.
                Ok(Clip(lo, hi.max(lo)))
            })();
            match r {
                Ok(k) => (k, "clip"),
                Err(e) => return Some(Err(e)),
            }
        }
        "pow" => match a.float_opt("a") {
            Ok(Some(p)) => (Pow(p as f32), "pow"),
            Ok(None) => {
                return Some(Err(Error::Type(
                    "pow: missing required argument 'a'".into(),
                )))
            }
            Err(e) => return Some(Err(e)),
        },
        "cast" => {
            return Some((|| {
                let to = a
                    .str_opt("dtype")?
                    .ok_or_else(|| Error::Type("cast: missing required argument 'dtype'".into()))?;
                Ok(Arc::new(Cast {
                    to: DType::parse(&to)?,
                }) as OpRef)
            })())
        }
        _ => return None,
    };
    Some(Ok(Arc::new(Unary { kind, name })))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::Attr;

    #[test]
    fn forward_matches_reference() {
        let x = val(&[2, 3], &[-2.5, -0.5, 0.0, 0.5, 1.5, 2.5]);
        type Case<'a> = (&'a str, Vec<(&'a str, Attr)>, Box<dyn Fn(f32) -> f32>);
        let cases: Vec<Case> = vec![
            ("neg", vec![], Box::new(|v| -v)),
            ("abs", vec![], Box::new(|v: f32| v.abs())),
            ("square", vec![], Box::new(|v| v * v)),
            ("sqrt", vec![], Box::new(|v: f32| v.max(0.0).sqrt())),
            ("exp", vec![], Box::new(|v: f32| v.exp())),
            (
                "sign",
                vec![],
                Box::new(|v: f32| {
                    if v > 0.0 {
                        1.0
                    } else if v < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
                }),
            ),
            ("sin", vec![], Box::new(|v: f32| v.sin())),
            ("cos", vec![], Box::new(|v: f32| v.cos())),
            (
                "clip",
                vec![
                    ("min_value", Attr::Float(-1.0)),
                    ("max_value", Attr::Float(1.0)),
                ],
                Box::new(|v: f32| v.clamp(-1.0, 1.0)),
            ),
            (
                "pow",
                vec![("a", Attr::Float(2.0))],
                Box::new(|v: f32| v.powf(2.0)),
            ),
        ];
        for (name, attrs, f) in cases {
            let y = forward(&op(name, &attrs), std::slice::from_ref(&x));
            let want: Vec<f32> = x.f.iter().map(|&v| f(v)).collect();
            assert_close(&y.f, &want, 1e-6);
        }
        // round half to even, as numpy
        let y = forward(&op("round", &[]), std::slice::from_ref(&x));
        assert_eq!(y.f, vec![-2.0, -0.0, 0.0, 0.0, 2.0, 2.0]);
        let y = forward(&op("log", &[]), &[val(&[2], &[1.0, std::f32::consts::E])]);
        assert_close(&y.f, &[0.0, 1.0], 1e-6);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = rand(&[3, 4], 5, 0.2, 2.0);
        for name in [
            "neg", "abs", "square", "sqrt", "exp", "log", "sin", "cos", "identity",
        ] {
            grad_check(&op(name, &[]), std::slice::from_ref(&x), 1e-3, 2e-2).unwrap();
        }
        grad_check(
            &op("pow", &[("a", Attr::Float(3.0))]),
            std::slice::from_ref(&x),
            1e-3,
            2e-2,
        )
        .unwrap();
        let xc = rand(&[3, 4], 6, -2.0, 2.0);
        grad_check(
            &op(
                "clip",
                &[
                    ("min_value", Attr::Float(-0.9)),
                    ("max_value", Attr::Float(0.7)),
                ],
            ),
            &[xc],
            1e-3,
            2e-2,
        )
        .unwrap();
    }

    #[test]
    fn no_gradient_through_sign_round_stop_gradient() {
        for name in ["sign", "round", "stop_gradient"] {
            assert!(!op(name, &[]).has_grad(0));
        }
    }

    #[test]
    fn cast_round_trips_and_rejects_nan_to_int() {
        let c = op("cast", &[("dtype", Attr::Str("int32".into()))]);
        let y = forward(&c, &[val(&[3], &[1.7, -1.7, 3.0])]);
        assert_eq!(y.i, vec![1, -1, 3]);
        let mut sc = Default::default();
        assert!(forward_with(&c, &[val(&[1], &[f32::NAN])], &mut sc).is_err());
        let b = forward(
            &op("cast", &[("dtype", Attr::Str("bool".into()))]),
            &[val(&[3], &[0.0, 2.0, -1.0])],
        );
        assert_eq!(b.f, vec![0.0, 1.0, 1.0]);
    }

    #[test]
    fn unknown_arguments_are_rejected() {
        let a = Attrs::new("exp").with("bogus", Attr::Int(1));
        let e = crate::ops::build("exp", &a).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }
}
