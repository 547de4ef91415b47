//! The activation functions, one enum for all their users: the elementwise ops
//! (`ops/activation.rs`), the epilogues of producers that apply an activation in their
//! own pass (`ops/epilogue.rs`) and the recurrent cells (`ops/recurrent.rs`).
//!
//! Each function is written once, as a scalar `#[inline(always)]` function that the
//! vectorised loops of its users inline, so a fused graph, an unfused one and a
//! recurrent cell compute the same bits. [`Act::d`] is the derivative expressed through
//! the function's output `y`, which is what a producer or a cell keeps; the elementwise
//! ops, which keep their input too, differentiate some functions through it instead
//! (see `ops/activation.rs`).

use crate::kernels::simd;
use crate::simd_fn;
use crate::{Error, Result};

/// An activation function, as Keras names it (`activation='tanh'`), with Keras'
/// default parameters; the `relu` and `elu` ops add theirs (see [`capped_relu`],
/// [`leaky_relu`], [`elu`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Identity.
    Linear,
    /// `max(x, 0)` (NaN stays NaN).
    Relu,
    /// `tanh(x)` ([`simd::tanh`]).
    Tanh,
    /// `1 / (1 + e^-x)` ([`simd::sigmoid`]).
    Sigmoid,
    /// `clip(0.2 x + 0.5, 0, 1)`.
    HardSigmoid,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `log(1 + e^x)`, as `max(x, 0) + log1p(e^-|x|)`.
    Softplus,
    /// `x > 0 ? x : e^x - 1`.
    Elu,
}

impl Act {
    /// Every activation, in the order of [`Act::NAMES`].
    pub const ALL: [Act; 8] = [
        Act::Linear,
        Act::Relu,
        Act::Tanh,
        Act::Sigmoid,
        Act::HardSigmoid,
        Act::Softsign,
        Act::Softplus,
        Act::Elu,
    ];
    /// Names as Keras and the `activation` attributes spell them.
    pub const NAMES: [&'static str; 8] = [
        "linear",
        "relu",
        "tanh",
        "sigmoid",
        "hard_sigmoid",
        "softsign",
        "softplus",
        "elu",
    ];
    /// The activations a producer applies in its epilogue (`ops/epilogue.rs`).
    pub const EPILOGUE: [Act; 4] = [Act::Linear, Act::Relu, Act::Tanh, Act::Sigmoid];

    /// The activation called `name`, if it is one of [`Act::NAMES`].
    pub fn from_name(name: &str) -> Option<Act> {
        Act::NAMES
            .iter()
            .position(|&n| n == name)
            .map(|i| Act::ALL[i])
    }

    /// The activation called `name`, or an error of op `op` listing the names.
    pub fn parse(op: &str, name: &str) -> Result<Act> {
        Act::from_name(name).ok_or_else(|| {
            Error::Value(format!(
                "{op}: unsupported activation '{name}' ({})",
                Act::NAMES.join(", ")
            ))
        })
    }

    /// The Keras spelling.
    pub fn name(self) -> &'static str {
        Act::NAMES[self as usize]
    }

    /// Whether a producer can apply it in its epilogue (one of [`Act::EPILOGUE`]).
    pub fn in_epilogue(self) -> bool {
        Act::EPILOGUE.contains(&self)
    }

    /// The function at `x`.
    #[inline(always)]
    pub fn f(self, x: f32) -> f32 {
        match self {
            Act::Linear => x,
            Act::Relu => relu(x),
            Act::Tanh => simd::tanh(x),
            Act::Sigmoid => simd::sigmoid(x),
            Act::HardSigmoid => hard_sigmoid(x),
            Act::Softsign => softsign(x),
            Act::Softplus => softplus(x),
            Act::Elu => elu(x, 1.0),
        }
    }

    /// `x = f(x)` over a slice ([`apply`]).
    pub fn apply(self, x: &mut [f32]) {
        apply(x, self)
    }

    /// `out = f'` at the points whose outputs are `y` ([`derivative`]).
    pub fn deriv(self, y: &[f32], out: &mut [f32]) {
        derivative(y, out, self)
    }

    /// The derivative at the point whose output is `y`.
    #[inline(always)]
    pub fn d(self, y: f32) -> f32 {
        match self {
            Act::Linear => 1.0,
            Act::Relu => (y > 0.0) as i32 as f32,
            Act::Tanh => 1.0 - y * y,
            Act::Sigmoid => y * (1.0 - y),
            Act::HardSigmoid => {
                if y > 0.0 && y < 1.0 {
                    0.2
                } else {
                    0.0
                }
            }
            // x = y / (1 - |y|), so 1 / (1 + |x|)^2 = (1 - |y|)^2
            Act::Softsign => {
                let s = 1.0 - y.abs();
                s * s
            }
            // sigmoid(x) = 1 - e^-y
            Act::Softplus => 1.0 - simd::exp(-y),
            Act::Elu => {
                if y > 0.0 {
                    1.0
                } else {
                    y + 1.0
                }
            }
        }
    }
}

/// `max(x, 0)`; NaN propagates.
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    if x <= 0.0 {
        0.0
    } else {
        x
    }
}

/// `min(max(x, 0), hi)`; NaN propagates (`min`/`max` alone would turn it into 0 or
/// `hi`).
#[inline(always)]
pub fn capped_relu(x: f32, hi: f32) -> f32 {
    let r = if x > 0.0 { x.min(hi) } else { 0.0 };
    if x.is_nan() {
        x
    } else {
        r
    }
}

/// `x > 0 ? min(x, hi) : alpha x` (Keras' `K.relu` with `alpha`).
#[inline(always)]
pub fn leaky_relu(x: f32, alpha: f32, hi: f32) -> f32 {
    if x > 0.0 {
        x.min(hi)
    } else {
        alpha * x
    }
}

/// `x > 0 ? x : alpha (e^x - 1)`.
#[inline(always)]
pub fn elu(x: f32, alpha: f32) -> f32 {
    let neg = alpha * (simd::exp(x) - 1.0);
    if x > 0.0 {
        x
    } else {
        neg
    }
}

/// `log(1 + e^x)` without overflow.
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + simd::exp(-x.abs()).ln_1p()
}

/// `x / (1 + |x|)`.
#[inline(always)]
pub fn softsign(x: f32) -> f32 {
    x / (1.0 + x.abs())
}

/// `clip(0.2 x + 0.5, 0, 1)`.
#[inline(always)]
pub fn hard_sigmoid(x: f32) -> f32 {
    (0.2 * x + 0.5).clamp(0.0, 1.0)
}

simd_fn! {
    /// `y = act(y)` in place (one loop per activation, so each vectorises).
    pub fn apply(y: &mut [f32], act: Act) {
        match act {
            Act::Linear => {}
            Act::Relu => y.iter_mut().for_each(|v| *v = relu(*v)),
            Act::Tanh => y.iter_mut().for_each(|v| *v = simd::tanh(*v)),
            Act::Sigmoid => y.iter_mut().for_each(|v| *v = simd::sigmoid(*v)),
            Act::HardSigmoid => y.iter_mut().for_each(|v| *v = hard_sigmoid(*v)),
            other => y.iter_mut().for_each(|v| *v = other.f(*v)),
        }
    }
}

simd_fn! {
    /// `out = act'` at the points whose outputs are `y`.
    pub fn derivative(y: &[f32], out: &mut [f32], act: Act) {
        let pairs = out.iter_mut().zip(y);
        match act {
            Act::Tanh => pairs.for_each(|(o, &v)| *o = Act::Tanh.d(v)),
            Act::Sigmoid => pairs.for_each(|(o, &v)| *o = Act::Sigmoid.d(v)),
            Act::HardSigmoid => pairs.for_each(|(o, &v)| *o = Act::HardSigmoid.d(v)),
            other => pairs.for_each(|(o, &v)| *o = other.d(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: Act, x: f64) -> f64 {
        match a {
            Act::Linear => x,
            Act::Relu => x.max(0.0),
            Act::Tanh => x.tanh(),
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::HardSigmoid => (0.2 * x + 0.5).clamp(0.0, 1.0),
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Softplus => (1.0 + x.exp()).ln(),
            Act::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp() - 1.0
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for a in Act::ALL {
            assert_eq!(Act::from_name(a.name()), Some(a));
        }
        assert_eq!(Act::from_name("softmax"), None);
        let e = Act::parse("lstm", "softmax").unwrap_err().to_string();
        assert!(e.contains("lstm: unsupported activation 'softmax'"), "{e}");
        assert!(Act::EPILOGUE.iter().all(|a| a.in_epilogue()));
        assert!(!Act::Elu.in_epilogue());
    }

    #[test]
    fn values_and_derivatives_from_the_output_match_references() {
        for a in Act::ALL {
            // away from the kinks of relu and hard_sigmoid
            for &x in &[-3.1f64, -0.7, -0.3, 0.4, 1.7, 2.9] {
                let y = a.f(x as f32);
                assert!((y as f64 - reference(a, x)).abs() < 1e-6, "{a:?} at {x}");
                let fd = (reference(a, x + 1e-4) - reference(a, x - 1e-4)) / 2e-4;
                assert!((a.d(y) as f64 - fd).abs() < 1e-3, "{a:?}' at {x}");
            }
        }
    }

    #[test]
    fn slice_kernels_equal_the_scalar_functions_bitwise() {
        let x: Vec<f32> = (0..53).map(|i| (i as f32 - 26.0) * 0.173).collect();
        for a in Act::ALL {
            let mut y = x.clone();
            apply(&mut y, a);
            let want: Vec<f32> = x.iter().map(|&v| a.f(v)).collect();
            assert_eq!(y, want, "{a:?}");
            let mut d = vec![9.0; y.len()];
            derivative(&y, &mut d, a);
            let want: Vec<f32> = y.iter().map(|&v| a.d(v)).collect();
            assert_eq!(d, want, "{a:?}'");
        }
    }

    #[test]
    fn relus_propagate_nan() {
        assert!(relu(f32::NAN).is_nan());
        assert!(capped_relu(f32::NAN, 6.0).is_nan());
        assert!(leaky_relu(f32::NAN, 0.1, 6.0).is_nan());
        assert_eq!(capped_relu(7.0, 6.0), 6.0);
        assert_eq!(leaky_relu(-2.0, 0.1, 6.0), -0.2);
    }
}
