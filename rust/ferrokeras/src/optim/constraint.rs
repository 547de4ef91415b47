//! Keras 1.2.2's weight constraints (`keras.constraints`), applied in place to a
//! parameter's new value right after the optimizer step.
//!
//! Formulas (eps = `K.epsilon()` = 1e-7, norms taken over `axis` with keepdims):
//! - `MaxNorm(m=2, axis=0)`: `p *= clip(norms, 0, m) / (eps + norms)`
//! - `NonNeg()`: `p *= (p >= 0)`
//! - `UnitNorm(axis=0)`: `p /= eps + norms`
//! - `MinMaxNorm(low=0, high=1, rate=1, axis=0)`:
//!   `p *= (rate * clip(norms, low, high) + (1 - rate) * norms) / (eps + norms)`
//!
//! Norms and factors are computed in f64 into a caller-provided buffer (reused from
//! step to step), and each element is rounded to f32 once.

use smallvec::SmallVec;

use crate::kernels::alloc::grow;
use crate::simd_fn;
use crate::tensor::{fmt_dims, numel};
use crate::{Error, Result};

use super::clip::sum_squares;

/// `K.epsilon()` in Keras 1.2.2 (written `10e-8` in its source).
pub const CONSTRAINT_EPSILON: f64 = 1e-7;

/// A weight constraint. `axis` lists the axes the norms are taken over (Keras accepts
/// an int or a list of ints; negative axes count from the end; an empty list takes each
/// element's own absolute value as its norm).
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// `MaxNorm(m=2, axis=0)` (alias `maxnorm`): rescales slices whose L2 norm exceeds `m`.
    MaxNorm {
        /// The largest norm allowed.
        m: f32,
        /// Axes of the norm.
        axis: Vec<i64>,
    },
    /// `NonNeg()` (alias `nonneg`): zeroes negative entries.
    NonNeg,
    /// `UnitNorm(axis=0)` (alias `unitnorm`): divides by the L2 norm.
    UnitNorm {
        /// Axes of the norm.
        axis: Vec<i64>,
    },
    /// `MinMaxNorm(low=0, high=1, rate=1, axis=0)`: pulls norms into `[low, high]`.
    MinMaxNorm {
        /// Lower bound of the norm.
        low: f32,
        /// Upper bound of the norm.
        high: f32,
        /// How far to move towards the clipped norm (1 = all the way).
        rate: f32,
        /// Axes of the norm.
        axis: Vec<i64>,
    },
}

/// A reduction over some axes in keep-dims layout, with runs of adjacent reduced (or
/// kept) axes merged and size-1 axes dropped.
struct Plan {
    dims: SmallVec<[usize; 6]>,
    istr: SmallVec<[usize; 6]>,
    ostr: SmallVec<[usize; 6]>,
    last_reduced: bool,
    n_out: usize,
}

impl Plan {
    fn new(shape: &[usize], reduced: &[bool]) -> Plan {
        let mut dims: SmallVec<[usize; 6]> = SmallVec::new();
        let mut red: SmallVec<[bool; 6]> = SmallVec::new();
        for (&d, &r) in shape.iter().zip(reduced) {
            if d == 1 {
                continue;
            }
            match (dims.last_mut(), red.last()) {
                (Some(last), Some(&lr)) if lr == r => *last *= d,
                _ => {
                    dims.push(d);
                    red.push(r);
                }
            }
        }
        if dims.is_empty() {
            dims.push(1);
            red.push(false);
        }
        let n = dims.len();
        let mut istr: SmallVec<[usize; 6]> = SmallVec::from_elem(0, n);
        let mut ostr: SmallVec<[usize; 6]> = SmallVec::from_elem(0, n);
        let (mut ia, mut oa) = (1usize, 1usize);
        for k in (0..n).rev() {
            istr[k] = ia;
            ia *= dims[k];
            if !red[k] {
                ostr[k] = oa;
                oa *= dims[k];
            }
        }
        Plan {
            last_reduced: red[n - 1],
            dims,
            istr,
            ostr,
            n_out: oa,
        }
    }

    /// Calls `f(input offset, output offset)` for each run along the last merged axis.
    fn for_each_row(&self, mut f: impl FnMut(usize, usize)) {
        let r = self.dims.len();
        let outer: usize = self.dims[..r - 1].iter().product();
        let mut idx: SmallVec<[usize; 6]> = SmallVec::from_elem(0, r - 1);
        let (mut io, mut oo) = (0usize, 0usize);
        for _ in 0..outer {
            f(io, oo);
            for k in (0..r - 1).rev() {
                idx[k] += 1;
                io += self.istr[k];
                oo += self.ostr[k];
                if idx[k] < self.dims[k] {
                    break;
                }
                io -= self.istr[k] * self.dims[k];
                oo -= self.ostr[k] * self.dims[k];
                idx[k] = 0;
            }
        }
    }

    fn row_len(&self) -> usize {
        self.dims[self.dims.len() - 1]
    }
}

simd_fn! {
    fn acc_squares_k(row: &[f32], acc: &mut [f64]) {
        for (a, &v) in acc.iter_mut().zip(row) {
            let v = v as f64;
            *a += v * v;
        }
    }
}

simd_fn! {
    fn scale_each_k(row: &mut [f32], f: &[f64]) {
        for (p, &s) in row.iter_mut().zip(f) {
            *p = (*p as f64 * s) as f32;
        }
    }
}

simd_fn! {
    fn scale_all_k(row: &mut [f32], s: f64) {
        for p in row.iter_mut() {
            *p = (*p as f64 * s) as f32;
        }
    }
}

simd_fn! {
    fn nonneg_k(p: &mut [f32]) {
        for v in p.iter_mut() {
            // Keras multiplies by the mask (so negatives become -0.0 and NaN stays NaN).
            *v *= if *v >= 0.0 { 1.0 } else { 0.0 };
        }
    }
}

/// Keras' `K.clip(x, lo, hi)` on the TensorFlow backend: `hi < lo` is raised to `lo`;
/// never panics (unlike `f64::clamp`).
fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    let hi = if hi < lo { lo } else { hi };
    x.max(lo).min(hi)
}

impl Constraint {
    /// The Keras class name (`MaxNorm`, `NonNeg`, `UnitNorm`, `MinMaxNorm`).
    pub fn name(&self) -> &'static str {
        match self {
            Constraint::MaxNorm { .. } => "MaxNorm",
            Constraint::NonNeg => "NonNeg",
            Constraint::UnitNorm { .. } => "UnitNorm",
            Constraint::MinMaxNorm { .. } => "MinMaxNorm",
        }
    }

    /// The axes of the norm (`None` for `NonNeg`).
    pub fn axis(&self) -> Option<&[i64]> {
        match self {
            Constraint::MaxNorm { axis, .. }
            | Constraint::UnitNorm { axis }
            | Constraint::MinMaxNorm { axis, .. } => Some(axis),
            Constraint::NonNeg => None,
        }
    }

    /// Checks that the constraint applies to a parameter of this shape (axes in range,
    /// none repeated); `var` names the parameter in the error.
    pub fn check(&self, shape: &[usize], var: &str) -> Result<()> {
        self.reduced_axes(shape, var).map(|_| ())
    }

    fn reduced_axes(&self, shape: &[usize], var: &str) -> Result<SmallVec<[bool; 6]>> {
        let rank = shape.len();
        let mut red: SmallVec<[bool; 6]> = SmallVec::from_elem(false, rank);
        for &a in self.axis().unwrap_or(&[]) {
            let k = if a < 0 { a + rank as i64 } else { a };
            if k < 0 || k >= rank as i64 {
                return Err(Error::Value(format!(
                    "{} constraint: axis {a} is out of range for parameter '{var}' of shape {}",
                    self.name(),
                    fmt_dims(shape)
                )));
            }
            let k = k as usize;
            if red[k] {
                return Err(Error::Value(format!(
                    "{} constraint: axis {a} is repeated in axis={:?} (parameter '{var}')",
                    self.name(),
                    self.axis().unwrap_or(&[])
                )));
            }
            red[k] = true;
        }
        Ok(red)
    }

    /// Applies the constraint in place to `data` laid out row-major with `shape`.
    /// `scratch` holds the per-slice norms (reused between calls; it grows only).
    pub fn apply(&self, data: &mut [f32], shape: &[usize], scratch: &mut Vec<f64>) -> Result<()> {
        self.apply_named(data, shape, scratch, "?")
    }

    /// [`Constraint::apply`] naming the parameter `var` in errors.
    pub fn apply_named(
        &self,
        data: &mut [f32],
        shape: &[usize],
        scratch: &mut Vec<f64>,
        var: &str,
    ) -> Result<()> {
        if numel(shape) != data.len() {
            return Err(Error::Shape(format!(
                "{} constraint: parameter '{var}' has {} elements, which does not fit shape {}",
                self.name(),
                data.len(),
                fmt_dims(shape)
            )));
        }
        let red = self.reduced_axes(shape, var)?;
        if let Constraint::NonNeg = self {
            nonneg_k(data);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let plan = Plan::new(shape, &red);
        let len = plan.row_len();
        scratch.clear();
        grow(scratch, plan.n_out, self.name())?;
        // Sum of squares per output slice.
        plan.for_each_row(|io, oo| {
            let row = &data[io..io + len];
            if plan.last_reduced {
                scratch[oo] += sum_squares(row);
            } else {
                acc_squares_k(row, &mut scratch[oo..oo + len]);
            }
        });
        let eps = CONSTRAINT_EPSILON;
        for s in scratch.iter_mut() {
            let n = s.sqrt();
            *s = match *self {
                Constraint::MaxNorm { m, .. } => clip(n, 0.0, m as f64) / (eps + n),
                Constraint::UnitNorm { .. } => 1.0 / (eps + n),
                Constraint::MinMaxNorm {
                    low, high, rate, ..
                } => {
                    let rate = rate as f64;
                    (rate * clip(n, low as f64, high as f64) + (1.0 - rate) * n) / (eps + n)
                }
                Constraint::NonNeg => 1.0,
            };
        }
        plan.for_each_row(|io, oo| {
            let row = &mut data[io..io + len];
            if plan.last_reduced {
                scale_all_k(row, scratch[oo]);
            } else {
                scale_each_k(row, &scratch[oo..oo + len]);
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent f64 reference: for each element, its norm is the L2 norm over the
    /// elements sharing its coordinates on the kept axes.
    fn reference(c: &Constraint, data: &[f32], shape: &[usize], axes: &[usize]) -> Vec<f64> {
        let n = data.len();
        let coords = |mut i: usize| {
            let mut co = vec![0usize; shape.len()];
            for k in (0..shape.len()).rev() {
                co[k] = i % shape[k];
                i /= shape[k];
            }
            co
        };
        let key = |i: usize| {
            let co = coords(i);
            (0..shape.len())
                .filter(|k| !axes.contains(k))
                .map(|k| co[k])
                .collect::<Vec<_>>()
        };
        (0..n)
            .map(|i| {
                let p = data[i] as f64;
                let ki = key(i);
                let norm = (0..n)
                    .filter(|&j| key(j) == ki)
                    .map(|j| (data[j] as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let eps = 1e-7;
                match c {
                    Constraint::MaxNorm { m, .. } => {
                        p * norm.min(*m as f64).max(0.0) / (eps + norm)
                    }
                    Constraint::UnitNorm { .. } => p / (eps + norm),
                    Constraint::MinMaxNorm {
                        low, high, rate, ..
                    } => {
                        let (low, high, rate) = (*low as f64, *high as f64, *rate as f64);
                        let desired = rate * norm.max(low).min(high) + (1.0 - rate) * norm;
                        p * desired / (eps + norm)
                    }
                    Constraint::NonNeg => {
                        if p >= 0.0 {
                            p
                        } else {
                            0.0
                        }
                    }
                }
            })
            .collect()
    }

    fn data(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104729) % 211) as f32 - 105.0) * 0.011)
            .collect()
    }

    fn check(c: &Constraint, shape: &[usize], axes: &[usize]) {
        let x = data(numel(shape), shape.len());
        let want = reference(c, &x, shape, axes);
        let mut got = x.clone();
        let mut scratch = Vec::new();
        c.apply(&mut got, shape, &mut scratch).unwrap();
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= 1e-6 * w.abs() + 1e-12,
                "{c:?} {shape:?} element {i}: got {g}, want {w}"
            );
        }
    }

    #[test]
    fn maxnorm_axis0_on_a_matrix() {
        // Some columns above m = 2, some below.
        let c = Constraint::MaxNorm {
            m: 2.0,
            axis: vec![0],
        };
        check(&c, &[7, 5], &[0]);
        let mut x = vec![3.0f32, 0.1, 4.0, 0.2]; // columns: (3,4) norm 5, (0.1,0.2)
        c.apply(&mut x, &[2, 2], &mut Vec::new()).unwrap();
        assert!((x[0] as f64 - 3.0 * 2.0 / (5.0 + 1e-7)).abs() < 1e-6);
        assert!((x[2] as f64 - 4.0 * 2.0 / (5.0 + 1e-7)).abs() < 1e-6);
        let n = (0.01f64 + 0.04).sqrt();
        assert!((x[1] as f64 - 0.1f32 as f64 * n / (n + 1e-7)).abs() < 1e-8);
    }

    #[test]
    fn every_constraint_on_4d_with_axes_012_and_others() {
        let cs = [
            Constraint::MaxNorm {
                m: 1.5,
                axis: vec![0, 1, 2],
            },
            Constraint::UnitNorm {
                axis: vec![0, 1, 2],
            },
            Constraint::MinMaxNorm {
                low: 0.5,
                high: 1.2,
                rate: 0.7,
                axis: vec![0, 1, 2],
            },
        ];
        for c in &cs {
            check(c, &[3, 2, 4, 5], &[0, 1, 2]);
        }
        let cs2 = [
            (Constraint::UnitNorm { axis: vec![0] }, vec![0usize]),
            (Constraint::UnitNorm { axis: vec![-1] }, vec![1]),
            (
                Constraint::MinMaxNorm {
                    low: 0.0,
                    high: 1.0,
                    rate: 1.0,
                    axis: vec![0],
                },
                vec![0],
            ),
            (
                Constraint::MaxNorm {
                    m: 0.3,
                    axis: vec![],
                },
                vec![],
            ),
        ];
        for (c, axes) in &cs2 {
            check(c, &[6, 4], axes);
        }
        check(
            &Constraint::UnitNorm { axis: vec![1, 3] },
            &[2, 3, 1, 4],
            &[1, 3],
        );
        check(
            &Constraint::MaxNorm {
                m: 0.5,
                axis: vec![0, 2],
            },
            &[3, 1, 4],
            &[0, 2],
        );
        check(&Constraint::UnitNorm { axis: vec![0] }, &[9], &[0]);
    }

    #[test]
    fn nonneg_zeroes_negatives_like_keras() {
        let mut x = vec![1.0f32, -2.0, 0.0, -0.0, f32::NAN];
        Constraint::NonNeg
            .apply(&mut x, &[5], &mut Vec::new())
            .unwrap();
        assert_eq!(&x[..3], &[1.0, 0.0, 0.0]);
        assert_eq!(x[1].to_bits(), (-0.0f32).to_bits());
        assert!(x[4].is_nan());
        check(&Constraint::NonNeg, &[4, 3], &[]);
    }

    #[test]
    fn bad_axes_are_value_errors() {
        let c = Constraint::MaxNorm {
            m: 2.0,
            axis: vec![2],
        };
        let e = c
            .apply(&mut [0.0; 4], &[2, 2], &mut Vec::new())
            .unwrap_err();
        assert!(
            matches!(e, Error::Value(ref m) if m.contains("out of range")),
            "{e}"
        );
        let c = Constraint::UnitNorm { axis: vec![0, -2] };
        let e = c.check(&[2, 2], "w").unwrap_err();
        assert!(
            matches!(e, Error::Value(ref m) if m.contains("repeated") && m.contains("'w'")),
            "{e}"
        );
        let c = Constraint::UnitNorm { axis: vec![0] };
        assert!(c.check(&[], "s").is_err());
        let e = c
            .apply(&mut [0.0; 3], &[2, 2], &mut Vec::new())
            .unwrap_err();
        assert!(matches!(e, Error::Shape(_)));
        // Bounds the wrong way round never panic.
        let c = Constraint::MinMaxNorm {
            low: 2.0,
            high: 1.0,
            rate: 1.0,
            axis: vec![0],
        };
        let mut x = vec![3.0f32, 4.0];
        c.apply(&mut x, &[2], &mut Vec::new()).unwrap();
        assert!((x[0] - 1.2).abs() < 1e-6);
        let c = Constraint::MaxNorm {
            m: -1.0,
            axis: vec![0],
        };
        c.apply(&mut x, &[2], &mut Vec::new()).unwrap();
        assert_eq!(x, vec![0.0, 0.0]);
    }

    #[test]
    fn zeros_stay_zero_and_empty_is_fine() {
        let mut x = vec![0.0f32; 6];
        Constraint::UnitNorm { axis: vec![0] }
            .apply(&mut x, &[3, 2], &mut Vec::new())
            .unwrap();
        assert_eq!(x, vec![0.0; 6]);
        let mut e: Vec<f32> = vec![];
        Constraint::UnitNorm { axis: vec![0] }
            .apply(&mut e, &[0, 3], &mut Vec::new())
            .unwrap();
    }
}
