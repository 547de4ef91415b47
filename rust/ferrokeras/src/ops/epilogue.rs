//! Activations applied in a producer's own pass (an "epilogue"): `bias_add` and
//! `conv2d` can finish with relu, tanh or sigmoid while their output is still in cache,
//! instead of a separate elementwise node reading and writing the whole tensor again.
//!
//! Every function here computes exactly what the separate ops compute, operation for
//! operation (`x + b`, then the activation; backward `g · act'(y)` from the saved
//! output), so a fused graph gives the same bits as the unfused one. The executor's
//! fusion pass (`graph/fuse.rs`) relies on that.

use super::Attrs;
use crate::simd_fn;
use crate::{Error, Result};

/// An activation a producer can apply in its epilogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Identity.
    Linear,
    /// `max(x, 0)` (Keras' relu with alpha 0 and no max_value; NaN stays NaN).
    Relu,
    /// `tanh(x)`, with [`crate::kernels::simd::tanh`] as the `tanh` op uses.
    Tanh,
    /// `1 / (1 + e^-x)`, with [`crate::kernels::simd::sigmoid`] as the `sigmoid` op uses.
    Sigmoid,
}

impl Act {
    /// Every activation, in the order of their names in [`Act::NAMES`].
    pub const ALL: [Act; 4] = [Act::Linear, Act::Relu, Act::Tanh, Act::Sigmoid];
    /// Names as the `activation` attribute spells them.
    pub const NAMES: [&'static str; 4] = ["linear", "relu", "tanh", "sigmoid"];

    /// The activation called `name`, if it is one of [`Act::NAMES`].
    pub fn from_name(name: &str) -> Option<Act> {
        Act::NAMES
            .iter()
            .position(|&n| n == name)
            .map(|i| Act::ALL[i])
    }

    /// The attribute spelling.
    pub fn name(self) -> &'static str {
        Act::NAMES[self as usize]
    }

    /// The `activation` attribute of op `op` (default linear).
    pub(crate) fn from_attrs(a: &Attrs, op: &str) -> Result<Act> {
        match a.str_opt("activation")? {
            None => Ok(Act::Linear),
            Some(name) => Act::from_name(&name).ok_or_else(|| {
                Error::Value(format!(
                    "{op}: activation must be one of {:?}, got '{name}'",
                    Act::NAMES
                ))
            }),
        }
    }
}

/// The epilogue of one channels-last sample: `y = act(y + b)` with the bias along the
/// last axis when `bias` is given, else `y = act(y)`.
pub(crate) fn bias_activate_last(y: &mut [f32], bias: Option<&[f32]>, act: Act) {
    match bias {
        Some(b) => add_rows_activate_in_place(y, b, act),
        None => activate(y, act),
    }
}

simd_fn! {
    /// `y = act(y)` in place.
    pub(crate) fn activate(y: &mut [f32], act: Act) {
        match act {
            // NaN propagates, as in the `relu` op.
            Act::Relu => y.iter_mut().for_each(|v| *v = if *v <= 0.0 { 0.0 } else { *v }),
            Act::Tanh => y.iter_mut().for_each(|v| *v = crate::kernels::simd::tanh(*v)),
            Act::Sigmoid => y.iter_mut().for_each(|v| *v = crate::kernels::simd::sigmoid(*v)),
            Act::Linear => {}
        }
    }
}

simd_fn! {
    /// `y = act(x + b)`: one channel block of a channels-first map.
    pub(crate) fn add_scalar_activate(x: &[f32], b: f32, y: &mut [f32], act: Act) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v + b;
        }
        activate(y, act);
    }
}

simd_fn! {
    /// `y = act(y + b)` in place.
    pub(crate) fn add_scalar_activate_in_place(y: &mut [f32], b: f32, act: Act) {
        for o in y.iter_mut() {
            *o += b;
        }
        activate(y, act);
    }
}

/// Floats of a channels-last block [`add_rows_activate_in_place`] biases before it
/// activates them (a few rows, so they are still in L1).
const ROW_BLOCK: usize = 2048;

simd_fn! {
    /// `y = act(y + b)` in place on rows of `b.len()` floats (a channels-last block:
    /// the bias along the last axis), the same operations as `bias_add` along the last
    /// axis followed by the activation.
    pub(crate) fn add_rows_activate_in_place(y: &mut [f32], b: &[f32], act: Act) {
        let w = b.len();
        if w == 0 {
            return;
        }
        for blk in y.chunks_mut((ROW_BLOCK / w).max(1) * w) {
            for row in blk.chunks_exact_mut(w) {
                for (v, &bv) in row.iter_mut().zip(b) {
                    *v += bv;
                }
            }
            activate(blk, act);
        }
    }
}

/// d act / d pre-activation, from the activation's output `y`.
#[inline(always)]
pub(crate) fn dact(act: Act, y: f32) -> f32 {
    match act {
        Act::Relu => (y > 0.0) as i32 as f32,
        Act::Tanh => 1.0 - y * y,
        Act::Sigmoid => y * (1.0 - y),
        Act::Linear => 1.0,
    }
}

simd_fn! {
    /// `d += g · act'(y)`.
    pub(crate) fn grad_through(g: &[f32], y: &[f32], d: &mut [f32], act: Act) {
        for ((o, &gv), &yv) in d.iter_mut().zip(g).zip(y) {
            *o += gv * dact(act, yv);
        }
    }
}

simd_fn! {
    /// `d = g · act'(y)` (overwrites).
    pub(crate) fn grad_through_into(g: &[f32], y: &[f32], d: &mut [f32], act: Act) {
        for ((o, &gv), &yv) in d.iter_mut().zip(g).zip(y) {
            *o = gv * dact(act, yv);
        }
    }
}

simd_fn! {
    /// Column sums of `g · act'(y)` added to `d` (rows of `d.len()`): the bias gradient
    /// of a channels-last tensor.
    pub(crate) fn col_sums_through(g: &[f32], y: &[f32], d: &mut [f32], act: Act) {
        let w = d.len();
        for (gr, yr) in g.chunks_exact(w).zip(y.chunks_exact(w)) {
            for ((o, &gv), &yv) in d.iter_mut().zip(gr).zip(yr) {
                *o += gv * dact(act, yv);
            }
        }
    }
}

/// Lanes of independent partial sums in [`sum_through`]: a float sum does not
/// vectorise unless its order is spelled out like this (16 = one AVX-512 register).
const LANES: usize = 16;

simd_fn! {
    /// `sum(g · act'(y))` over one channel's contiguous block (the bias gradient of a
    /// channels-first map), in [`LANES`] interleaved partial sums.
    pub(crate) fn sum_through(g: &[f32], y: &[f32], act: Act) -> f32 {
        let mut acc = [0.0f32; LANES];
        let (gc, yc) = (g.chunks_exact(LANES), y.chunks_exact(LANES));
        let (gr, yr) = (gc.remainder(), yc.remainder());
        for (gv, yv) in gc.zip(yc) {
            for l in 0..LANES {
                acc[l] += gv[l] * dact(act, yv[l]);
            }
        }
        let tail: f32 = gr.iter().zip(yr).map(|(&gv, &yv)| gv * dact(act, yv)).sum();
        acc.iter().sum::<f32>() + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Act::ALL {
            assert_eq!(Act::from_name(a.name()), Some(a));
        }
        assert_eq!(Act::from_name("softmax"), None);
    }

    #[test]
    fn derivative_from_output_matches_finite_differences() {
        let f = |a: Act, x: f64| -> f64 {
            match a {
                Act::Linear => x,
                Act::Relu => x.max(0.0),
                Act::Tanh => x.tanh(),
                Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            }
        };
        for a in Act::ALL {
            for &x in &[-2.0f64, -0.3, 0.4, 1.7] {
                let mut y = [x as f32];
                activate(&mut y, a);
                assert!((y[0] as f64 - f(a, x)).abs() < 1e-6, "{a:?} at {x}");
                let fd = (f(a, x + 1e-4) - f(a, x - 1e-4)) / 2e-4;
                assert!((dact(a, y[0]) as f64 - fd).abs() < 1e-4, "{a:?}' at {x}");
            }
        }
    }

    #[test]
    fn in_place_and_copying_epilogues_agree_bitwise() {
        let x: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.173).collect();
        for a in Act::ALL {
            let mut y = vec![0.0; x.len()];
            add_scalar_activate(&x, 0.31, &mut y, a);
            let mut z = x.clone();
            add_scalar_activate_in_place(&mut z, 0.31, a);
            assert_eq!(y, z, "{a:?}");
            let g: Vec<f32> = (0..37).map(|i| (i as f32).sin()).collect();
            let mut d1 = vec![0.0; x.len()];
            grad_through(&g, &y, &mut d1, a);
            let mut d2 = vec![7.0; x.len()];
            grad_through_into(&g, &y, &mut d2, a);
            assert_eq!(d1, d2, "{a:?}");
            let want: f32 = d1.iter().sum();
            assert!((sum_through(&g, &y, a) - want).abs() < 1e-5, "{a:?}");
        }
    }

    #[test]
    fn row_bias_epilogue_matches_add_then_activate() {
        // 7 columns x 700 rows: several row blocks, the last one partial.
        let b: Vec<f32> = (0..7).map(|i| i as f32 * 0.37 - 1.1).collect();
        let x: Vec<f32> = (0..7 * 700)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.041)
            .collect();
        for a in Act::ALL {
            let mut want = x.clone();
            for (i, v) in want.iter_mut().enumerate() {
                *v += b[i % 7];
            }
            activate(&mut want, a);
            let mut got = x.clone();
            add_rows_activate_in_place(&mut got, &b, a);
            assert_eq!(got, want, "{a:?}");
        }
    }
}
