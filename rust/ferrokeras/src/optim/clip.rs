//! Gradient clipping as Keras 1.2.2's `Optimizer.get_gradients` does it: `clipnorm`
//! first (one global L2 norm over all the gradients), then `clipvalue` (elementwise).
//!
//! Nothing is allocated and no gradient is rewritten: the global norm is measured once,
//! turned into a scale factor, and the fused update kernels apply [`Clip::apply`] to
//! each gradient element as they read it.

use crate::simd_fn;

/// How to clip each gradient element: `g -> clamp(g * scale, -limit, limit)`.
///
/// `scale` is 1 when `clipnorm` is off or the global norm is below it, and `limit` is
/// infinite when `clipvalue` is off, so the identity clip leaves every value (NaN and
/// the sign of zero included) bit for bit unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clip {
    /// Factor from `clipnorm` (`clipnorm / norm` when the norm reaches `clipnorm`).
    pub scale: f32,
    /// Bound from `clipvalue` (`+inf` when off).
    pub limit: f32,
}

impl Clip {
    /// No clipping.
    pub const NONE: Clip = Clip {
        scale: 1.0,
        limit: f32::INFINITY,
    };

    /// The clip for one step. As in Keras, a setting is active only when it is `> 0`
    /// (so `None`, zero, negative and NaN settings all mean "off"); `clipnorm` `c`
    /// scales every gradient by `c / N` when the global norm `N` of all `grads` is
    /// `>= c` (a NaN norm compares false and leaves the gradients alone, like Keras'
    /// `K.switch(n >= c, ...)`). The norm is accumulated in f64.
    pub fn new(clipnorm: Option<f32>, clipvalue: Option<f32>, grads: &[&[f32]]) -> Clip {
        let mut clip = Clip::NONE;
        if let Some(c) = clipnorm.filter(|&c| c > 0.0) {
            let norm = global_norm(grads);
            let c = c as f64;
            if norm >= c {
                clip.scale = (c / norm) as f32;
            }
        }
        if let Some(v) = clipvalue.filter(|&v| v > 0.0) {
            clip.limit = v;
        }
        clip
    }

    /// Clips one gradient element. NaN passes through (Keras' `K.clip` keeps NaN).
    #[inline(always)]
    pub fn apply(self, g: f32) -> f32 {
        let g = g * self.scale;
        if g < -self.limit {
            -self.limit
        } else if g > self.limit {
            self.limit
        } else {
            g
        }
    }
}

/// The L2 norm of all the gradients together, `sqrt(sum_i sum(g_i^2))`, in f64.
pub fn global_norm(grads: &[&[f32]]) -> f64 {
    let mut total = 0.0f64;
    for g in grads {
        total += sum_squares(g);
    }
    total.sqrt()
}

/// `sum(x^2)` accumulated in f64 (16 independent lanes, so it vectorises and is
/// deterministic: the order does not depend on threads).
pub fn sum_squares(x: &[f32]) -> f64 {
    let mut out = 0.0;
    sum_squares_k(x, &mut out);
    out
}

simd_fn! {
    fn sum_squares_k(x: &[f32], out: &mut f64) {
        let mut acc = [0.0f64; 16];
        let chunks = x.chunks_exact(16);
        let rest = chunks.remainder();
        for c in chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                let v = v as f64;
                *a += v * v;
            }
        }
        let mut s: f64 = acc.iter().sum();
        for &v in rest {
            let v = v as f64;
            s += v * v;
        }
        *out = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_squares_matches_naive() {
        let x: Vec<f32> = (0..1037)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect();
        let naive: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
        assert!((sum_squares(&x) - naive).abs() <= 1e-12 * naive);
        assert_eq!(sum_squares(&[]), 0.0);
    }

    #[test]
    fn clipnorm_scales_only_at_or_above_the_threshold() {
        let a = [3.0f32, 0.0];
        let b = [4.0f32];
        // norm 5
        let c = Clip::new(Some(2.5), None, &[&a, &b]);
        assert_eq!(c.scale, 0.5);
        assert_eq!(c.apply(3.0), 1.5);
        let c = Clip::new(Some(5.0), None, &[&a, &b]);
        assert_eq!(c.scale, 1.0); // n >= c: c / n = 1
        let c = Clip::new(Some(5.5), None, &[&a, &b]);
        assert_eq!(c, Clip::NONE);
        for off in [Some(0.0), Some(-1.0), Some(f32::NAN), None] {
            assert_eq!(Clip::new(off, off, &[&a, &b]), Clip::NONE);
        }
    }

    #[test]
    fn clipvalue_clamps_after_scaling_and_keeps_nan() {
        let c = Clip::new(Some(1.0), Some(0.3), &[&[2.0f32]]);
        assert_eq!(c.apply(2.0), 0.3); // 2 * 0.5 = 1 -> 0.3
        assert_eq!(c.apply(-0.4), -0.2);
        assert!(c.apply(f32::NAN).is_nan());
        let id = Clip::NONE;
        assert_eq!(id.apply(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(id.apply(f32::INFINITY), f32::INFINITY);
    }
}
