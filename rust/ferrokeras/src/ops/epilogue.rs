//! Activations applied in a producer's own pass (an "epilogue"): `bias_add` and
//! `conv2d` can finish with relu, tanh or sigmoid while their output is still in cache,
//! instead of a separate elementwise node reading and writing the whole tensor again.
//!
//! Every function here computes exactly what the separate ops compute, operation for
//! operation (`x + b`, then the activation; backward `g · act'(y)` from the saved
//! output), so a fused graph gives the same bits as the unfused one. The executor's
//! fusion pass (`graph/fuse.rs`) relies on that.

use super::Attrs;
pub(crate) use crate::kernels::act::apply as activate;
pub(crate) use crate::kernels::act::Act;
use crate::simd_fn;
use crate::{Error, Result};

/// The `activation` attribute of op `op` (a producer with an epilogue): one of
/// [`Act::EPILOGUE`], `linear` when absent.
pub(crate) fn parse_activation(op: &str, name: Option<String>) -> Result<Act> {
    let Some(name) = name else {
        return Ok(Act::Linear);
    };
    Act::from_name(&name)
        .filter(|a| a.in_epilogue())
        .ok_or_else(|| {
            Error::Value(format!(
                "{op}: activation must be one of {:?}, got '{name}'",
                Act::EPILOGUE.map(Act::name)
            ))
        })
}

impl Act {
    /// The `activation` attribute of op `op` in its attributes (see [`parse_activation`]).
    pub(crate) fn from_attrs(a: &Attrs, op: &str) -> Result<Act> {
        parse_activation(op, a.str_opt("activation")?)
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

/// d act / d pre-activation from the activation's output `y`: [`Act::d`], matched on
/// the epilogue activations alone so that the loops below unswitch on a small match.
#[inline(always)]
pub(crate) fn dact(act: Act, y: f32) -> f32 {
    match act {
        Act::Relu => Act::Relu.d(y),
        Act::Tanh => Act::Tanh.d(y),
        Act::Sigmoid => Act::Sigmoid.d(y),
        // Linear: no producer is built with an activation outside `Act::EPILOGUE`
        _ => Act::Linear.d(y),
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
    fn in_place_and_copying_epilogues_agree_bitwise() {
        let x: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.173).collect();
        for a in Act::EPILOGUE {
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
        for a in Act::EPILOGUE {
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
