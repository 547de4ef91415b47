//! The per-parameter update rules of Keras 1.2.2's optimizers (keras1-formats.md §7)
//! as fused kernels: one pass over a parameter reads its gradient (clipped on the fly),
//! its pre-step value and slots, and writes the new parameter and slots in place.
//!
//! The step's scalar coefficients (decayed learning rate, bias corrections, Nadam's
//! momentum schedule) are computed once per step in f64 from the float32 hyper-parameter
//! variables, then rounded to f32 for the elementwise loops, which run in f32 like
//! Keras' float32 graphs. Each loop is a `simd_fn!` (AVX-512 / AVX2 at run time);
//! large parameters are split across the pool in fixed chunks (elementwise work, so the
//! result does not depend on the thread count): SGD from [`PAR_MIN`] elements, the
//! rules with a square root and a division per element from [`PAR_MIN_DIVIDING`].

use crate::kernels::pool::{parallel_for, threads, Disjoint};

use super::clip::Clip;
use super::OptimizerKind;
use crate::simd_fn;

/// SGD updates parameters with at least this many elements in parallel (a few loads
/// and stores per element: small parameters finish before a helper would join).
pub const PAR_MIN: usize = 1 << 16;
/// The other rules update parameters with at least this many elements in parallel:
/// their `sqrt` and division cost about 1 ns per element (W1's 25k-weight Dense kernel
/// took 23 µs on one core under RMSprop).
pub const PAR_MIN_DIVIDING: usize = 1 << 13;

/// How a rule splits one parameter: parallel from `min` elements, in `chunk`s.
#[derive(Clone, Copy)]
struct Split {
    min: usize,
    chunk: usize,
}

const SPLIT_SGD: Split = Split {
    min: PAR_MIN,
    chunk: 1 << 14,
};
const SPLIT_DIVIDING: Split = Split {
    min: PAR_MIN_DIVIDING,
    chunk: 1 << 12,
};

/// Pre-step values of the hyper-parameter variables, as f64.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HyperValues {
    /// `lr`.
    pub lr: f64,
    /// `decay`, when the optimizer decays its learning rate.
    pub decay: Option<f64>,
    /// `iterations` before the step (`k`).
    pub iterations: f64,
    /// SGD `momentum`.
    pub momentum: f64,
    /// RMSprop / Adadelta `rho`.
    pub rho: f64,
    /// Adam family `beta_1`.
    pub beta_1: f64,
    /// Adam family `beta_2`.
    pub beta_2: f64,
    /// Nadam `m_schedule` before the step.
    pub m_schedule: f64,
    /// The constant `epsilon`.
    pub epsilon: f64,
}

/// One step's f32 coefficients, per optimizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// `v = mu*v - lr*g; p += v` or (nesterov) `p = p + mu*v - lr*g`.
    Sgd {
        /// momentum
        mu: f32,
        /// decayed learning rate
        lr: f32,
        /// Nesterov momentum
        nesterov: bool,
    },
    /// `a = rho*a + (1-rho)*g^2; p -= lr*g/(sqrt(a)+eps)`.
    RmsProp(Decaying),
    /// `a += g^2; p -= lr*g/(sqrt(a)+eps)`.
    Adagrad {
        /// decayed learning rate
        lr: f32,
        /// epsilon
        eps: f32,
    },
    /// `a = rho*a + (1-rho)*g^2; u = g*sqrt(d+eps)/sqrt(a+eps); p -= lr*u;
    /// d = rho*d + (1-rho)*u^2`.
    Adadelta(Decaying),
    /// `m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr_t*m/(sqrt(v)+eps)`.
    Adam {
        /// beta_1
        b1: f32,
        /// 1 - beta_1
        c1: f32,
        /// beta_2
        b2: f32,
        /// 1 - beta_2
        c2: f32,
        /// `lr_k * sqrt(1 - b2^t) / (1 - b1^t)`
        lr: f32,
        /// epsilon
        eps: f32,
    },
    /// `m = b1*m + (1-b1)*g; u = max(b2*u, |g|); p -= lr_t*m/(u+eps)`.
    Adamax {
        /// beta_1
        b1: f32,
        /// 1 - beta_1
        c1: f32,
        /// beta_2
        b2: f32,
        /// `lr_k / (1 - b1^t)`
        lr: f32,
        /// epsilon
        eps: f32,
    },
    /// `m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; mbar = a1*g + a2*m;
    /// p -= lr*mbar/(sqrt(v*cv)+eps)`.
    Nadam {
        /// beta_1
        b1: f32,
        /// 1 - beta_1
        c1: f32,
        /// beta_2
        b2: f32,
        /// 1 - beta_2
        c2: f32,
        /// `(1 - mu_t) / (1 - S_new)`
        a1: f32,
        /// `mu_{t+1} / (1 - S_next)`
        a2: f32,
        /// `1 / (1 - b2^t)`
        cv: f32,
        /// learning rate (Nadam has no decay)
        lr: f32,
        /// epsilon
        eps: f32,
    },
}

/// The coefficients of the rules with a decaying average of `g^2` (RMSprop, Adadelta).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decaying {
    /// rho
    pub rho: f32,
    /// 1 - rho
    pub c: f32,
    /// decayed learning rate
    pub lr: f32,
    /// epsilon
    pub eps: f32,
}

/// The coefficients of one step, and Nadam's new `m_schedule` (written after the step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Elementwise rule.
    pub rule: Rule,
    /// Nadam: `m_schedule * mu_t`, the value `m_schedule` takes after the step.
    pub m_schedule_new: Option<f64>,
}

impl Step {
    /// Computes the step's coefficients from the pre-step hyper-parameters.
    pub fn new(kind: OptimizerKind, h: &HyperValues) -> Step {
        let k = h.iterations;
        // lr_k = lr / (1 + decay*k), pre-increment k; only when the optimizer decays.
        let lr_k = match h.decay {
            Some(d) => h.lr * (1.0 / (1.0 + d * k)),
            None => h.lr,
        };
        let t = k + 1.0;
        let eps = h.epsilon as f32;
        let (b1, b2) = (h.beta_1, h.beta_2);
        let mut m_schedule_new = None;
        let decaying = Decaying {
            rho: h.rho as f32,
            c: (1.0 - h.rho) as f32,
            lr: lr_k as f32,
            eps,
        };
        let rule = match kind {
            OptimizerKind::Sgd { nesterov } => Rule::Sgd {
                mu: h.momentum as f32,
                lr: lr_k as f32,
                nesterov,
            },
            OptimizerKind::RMSprop => Rule::RmsProp(decaying),
            OptimizerKind::Adagrad => Rule::Adagrad {
                lr: lr_k as f32,
                eps,
            },
            OptimizerKind::Adadelta => Rule::Adadelta(decaying),
            OptimizerKind::Adam => Rule::Adam {
                b1: b1 as f32,
                c1: (1.0 - b1) as f32,
                b2: b2 as f32,
                c2: (1.0 - b2) as f32,
                lr: (lr_k * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t))) as f32,
                eps,
            },
            OptimizerKind::Adamax => Rule::Adamax {
                b1: b1 as f32,
                c1: (1.0 - b1) as f32,
                b2: b2 as f32,
                lr: (lr_k / (1.0 - b1.powf(t))) as f32,
                eps,
            },
            OptimizerKind::Nadam { schedule_decay } => {
                let sd = schedule_decay as f64;
                let mu_t = b1 * (1.0 - 0.5 * 0.96f64.powf(t * sd));
                let mu_t1 = b1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * sd));
                let s_new = h.m_schedule * mu_t;
                let s_next = h.m_schedule * mu_t * mu_t1;
                m_schedule_new = Some(s_new);
                Rule::Nadam {
                    b1: b1 as f32,
                    c1: (1.0 - b1) as f32,
                    b2: b2 as f32,
                    c2: (1.0 - b2) as f32,
                    a1: ((1.0 - mu_t) / (1.0 - s_new)) as f32,
                    a2: (mu_t1 / (1.0 - s_next)) as f32,
                    cv: (1.0 / (1.0 - b2.powf(t))) as f32,
                    lr: h.lr as f32,
                    eps,
                }
            }
        };
        Step {
            rule,
            m_schedule_new,
        }
    }
}

impl Rule {
    /// Updates one parameter `p` and its slots `s0` (and `s1` for two-slot optimizers;
    /// ignored otherwise) in place from its gradient `g`. All slices have equal length
    /// (checked by the caller).
    pub fn run(&self, p: &mut [f32], s0: &mut [f32], s1: &mut [f32], g: &[f32], clip: Clip) {
        match *self {
            Rule::Sgd { mu, lr, nesterov } => par1(SPLIT_SGD, p, s0, g, |p, v, g| {
                sgd_k(p, v, g, mu, lr, nesterov, clip)
            }),
            Rule::RmsProp(Decaying { rho, c, lr, eps }) => {
                par1(SPLIT_DIVIDING, p, s0, g, |p, a, g| {
                    rmsprop_k(p, a, g, rho, c, lr, eps, clip)
                })
            }
            Rule::Adagrad { lr, eps } => par1(SPLIT_DIVIDING, p, s0, g, |p, a, g| {
                adagrad_k(p, a, g, lr, eps, clip)
            }),
            Rule::Adadelta(Decaying { rho, c, lr, eps }) => {
                par2(SPLIT_DIVIDING, p, s0, s1, g, |p, a, d, g| {
                    adadelta_k(p, a, d, g, rho, c, lr, eps, clip)
                })
            }
            Rule::Adam {
                b1,
                c1,
                b2,
                c2,
                lr,
                eps,
            } => par2(SPLIT_DIVIDING, p, s0, s1, g, |p, m, v, g| {
                adam_k(p, m, v, g, [b1, c1, b2, c2, lr, eps], clip)
            }),
            Rule::Adamax {
                b1,
                c1,
                b2,
                lr,
                eps,
            } => par2(SPLIT_DIVIDING, p, s0, s1, g, |p, m, u, g| {
                adamax_k(p, m, u, g, [b1, c1, b2, lr, eps], clip)
            }),
            Rule::Nadam {
                b1,
                c1,
                b2,
                c2,
                a1,
                a2,
                cv,
                lr,
                eps,
            } => par2(SPLIT_DIVIDING, p, s0, s1, g, |p, m, v, g| {
                nadam_k(p, m, v, g, [b1, c1, b2, c2, a1, a2, cv, lr, eps], clip)
            }),
        }
    }
}

/// Runs `f` over (parameter, slot, gradient), in parallel chunks when large.
fn par1(
    split: Split,
    p: &mut [f32],
    s0: &mut [f32],
    g: &[f32],
    f: impl Fn(&mut [f32], &mut [f32], &[f32]) + Sync,
) {
    if p.len() < split.min {
        f(p, s0, g);
    } else {
        let (ps, s0s) = (Disjoint::new(p), Disjoint::new(s0));
        chunked(g.len(), split.chunk, &|lo, len| {
            // SAFETY: the chunk at lo is claimed once.
            let (p, s0) = unsafe { (ps.part(lo, len), s0s.part(lo, len)) };
            f(p, s0, &g[lo..lo + len])
        });
    }
}

/// Runs `f` over (parameter, slot 0, slot 1, gradient), in parallel chunks when large.
fn par2(
    split: Split,
    p: &mut [f32],
    s0: &mut [f32],
    s1: &mut [f32],
    g: &[f32],
    f: impl Fn(&mut [f32], &mut [f32], &mut [f32], &[f32]) + Sync,
) {
    if p.len() < split.min {
        f(p, s0, s1, g);
    } else {
        let (ps, s0s, s1s) = (Disjoint::new(p), Disjoint::new(s0), Disjoint::new(s1));
        chunked(g.len(), split.chunk, &|lo, len| {
            // SAFETY: the chunk at lo is claimed once.
            let (p, s0, s1) = unsafe { (ps.part(lo, len), s0s.part(lo, len), s1s.part(lo, len)) };
            f(p, s0, s1, &g[lo..lo + len])
        });
    }
}

/// Calls `f(start, len)` for each `chunk`-long piece of `0..n`, the pieces claimed by
/// the caller and the pool ([`parallel_for`]): the caller starts at once instead of
/// waiting for a rayon worker to wake. Every element is updated by the same code
/// whatever the split, so results do not depend on the thread count.
fn chunked(n: usize, chunk: usize, f: &(dyn Fn(usize, usize) + Sync)) {
    parallel_for(n.div_ceil(chunk), threads(), &|i, _| {
        let lo = i * chunk;
        f(lo, chunk.min(n - lo))
    });
}

// The kernels mirror Keras' expression order (e.g. `p - lr*g/(sqrt(a)+eps)` is
// `p - ((lr*g) / (sqrt(a)+eps))`), so the f32 rounding follows the same path.

simd_fn! {
    fn sgd_k(p: &mut [f32], vel: &mut [f32], g: &[f32], mu: f32, lr: f32, nesterov: bool, clip: Clip) {
        if nesterov {
            for ((p, v), &g) in p.iter_mut().zip(vel.iter_mut()).zip(g) {
                let g = clip.apply(g);
                let nv = mu * *v - lr * g;
                *v = nv;
                *p = *p + mu * nv - lr * g;
            }
        } else {
            for ((p, v), &g) in p.iter_mut().zip(vel.iter_mut()).zip(g) {
                let g = clip.apply(g);
                let nv = mu * *v - lr * g;
                *v = nv;
                *p += nv;
            }
        }
    }
}

simd_fn! {
    #[allow(clippy::too_many_arguments)]
    fn rmsprop_k(p: &mut [f32], acc: &mut [f32], g: &[f32], rho: f32, c: f32, lr: f32, eps: f32, clip: Clip) {
        for ((p, a), &g) in p.iter_mut().zip(acc.iter_mut()).zip(g) {
            let g = clip.apply(g);
            let na = rho * *a + c * (g * g);
            *a = na;
            *p -= (lr * g) / (na.sqrt() + eps);
        }
    }
}

simd_fn! {
    fn adagrad_k(p: &mut [f32], acc: &mut [f32], g: &[f32], lr: f32, eps: f32, clip: Clip) {
        for ((p, a), &g) in p.iter_mut().zip(acc.iter_mut()).zip(g) {
            let g = clip.apply(g);
            let na = *a + g * g;
            *a = na;
            *p -= (lr * g) / (na.sqrt() + eps);
        }
    }
}

simd_fn! {
    #[allow(clippy::too_many_arguments)]
    fn adadelta_k(
        p: &mut [f32],
        acc: &mut [f32],
        dacc: &mut [f32],
        g: &[f32],
        rho: f32,
        c: f32,
        lr: f32,
        eps: f32,
        clip: Clip,
    ) {
        for (((p, a), d), &g) in p.iter_mut().zip(acc.iter_mut()).zip(dacc.iter_mut()).zip(g) {
            let g = clip.apply(g);
            let na = rho * *a + c * (g * g);
            // The new accumulator and the old delta accumulator.
            let u = g * (*d + eps).sqrt() / (na + eps).sqrt();
            *a = na;
            *p -= lr * u;
            *d = rho * *d + c * (u * u);
        }
    }
}

simd_fn! {
    fn adam_k(p: &mut [f32], ms: &mut [f32], vs: &mut [f32], g: &[f32], k: [f32; 6], clip: Clip) {
        let [b1, c1, b2, c2, lr, eps] = k;
        for (((p, m), v), &g) in p.iter_mut().zip(ms.iter_mut()).zip(vs.iter_mut()).zip(g) {
            let g = clip.apply(g);
            let nm = b1 * *m + c1 * g;
            let nv = b2 * *v + c2 * (g * g);
            *m = nm;
            *v = nv;
            *p -= (lr * nm) / (nv.sqrt() + eps);
        }
    }
}

simd_fn! {
    fn adamax_k(p: &mut [f32], ms: &mut [f32], us: &mut [f32], g: &[f32], k: [f32; 5], clip: Clip) {
        let [b1, c1, b2, lr, eps] = k;
        for (((p, m), u), &g) in p.iter_mut().zip(ms.iter_mut()).zip(us.iter_mut()).zip(g) {
            let g = clip.apply(g);
            let nm = b1 * *m + c1 * g;
            let nu = (b2 * *u).max(g.abs());
            *m = nm;
            *u = nu;
            *p -= (lr * nm) / (nu + eps);
        }
    }
}

simd_fn! {
    fn nadam_k(p: &mut [f32], ms: &mut [f32], vs: &mut [f32], g: &[f32], k: [f32; 9], clip: Clip) {
        let [b1, c1, b2, c2, a1, a2, cv, lr, eps] = k;
        for (((p, m), v), &g) in p.iter_mut().zip(ms.iter_mut()).zip(vs.iter_mut()).zip(g) {
            let g = clip.apply(g);
            let nm = b1 * *m + c1 * g;
            let nv = b2 * *v + c2 * (g * g);
            *m = nm;
            *v = nv;
            let mbar = a1 * g + a2 * nm;
            *p -= (lr * mbar) / ((nv * cv).sqrt() + eps);
        }
    }
}
