//! Tests of the optimizers against an independent f64 implementation of the Keras 1.2.2
//! update rules (keras1-formats.md §7), written out per element from the equations.
//! Variables are float32 in Keras, so the reference rounds its state to f32 after each
//! step (and reads its hyper-parameters as f32 values), then computes in f64.

use std::sync::Arc;

use super::*;
use crate::graph::{Graph, Update};
use crate::ops::Attrs;

fn r32(x: f64) -> f64 {
    x as f32 as f64
}

/// The reference optimizer: hyper-parameters as the f32 values the variables hold.
#[derive(Debug, Clone)]
struct RefOpt {
    kind: OptimizerKind,
    lr: f64,
    decay: Option<f64>,
    momentum: f64,
    rho: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    clipnorm: Option<f64>,
    clipvalue: Option<f64>,
}

impl RefOpt {
    fn new(kind: OptimizerKind, lr: f32) -> RefOpt {
        RefOpt {
            kind,
            lr: lr as f64,
            decay: None,
            momentum: 0.0,
            rho: r32(0.9),
            b1: r32(0.9),
            b2: r32(0.999),
            eps: r32(1e-8),
            clipnorm: None,
            clipvalue: None,
        }
    }
}

/// Reference state: `p[i]`, `s[j][i]`, iterations `k`, Nadam's schedule product.
#[derive(Debug, Clone)]
struct RefState {
    p: Vec<Vec<f64>>,
    s: Vec<Vec<Vec<f64>>>,
    k: f64,
    sched: f64,
}

fn ref_step(o: &RefOpt, st: &mut RefState, grads: &[Vec<f64>]) {
    // Clipping: clipnorm over all gradients, then clipvalue.
    let mut grads = grads.to_vec();
    if let Some(c) = o.clipnorm {
        let n = grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
        if n >= c {
            grads.iter_mut().flatten().for_each(|g| *g = *g * c / n);
        }
    }
    if let Some(v) = o.clipvalue {
        grads
            .iter_mut()
            .flatten()
            .for_each(|g| *g = g.max(-v).min(v));
    }
    let k = st.k;
    let lr = match o.decay {
        Some(d) => o.lr / (1.0 + d * k),
        None => o.lr,
    };
    let t = k + 1.0;
    let (b1, b2, eps) = (o.b1, o.b2, o.eps);
    // Nadam schedule.
    let (mut mu_t, mut mu_t1, mut s_new, mut s_next) = (0.0, 0.0, 0.0, 0.0);
    if let OptimizerKind::Nadam { schedule_decay } = o.kind {
        let sd = schedule_decay as f64;
        mu_t = b1 * (1.0 - 0.5 * 0.96f64.powf(t * sd));
        mu_t1 = b1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * sd));
        s_new = st.sched * mu_t;
        s_next = s_new * mu_t1;
    }
    for (i, g) in grads.iter().enumerate() {
        for e in 0..g.len() {
            let g = g[e];
            let p = st.p[i][e];
            let new_p = match o.kind {
                OptimizerKind::Sgd { nesterov } => {
                    let v = o.momentum * st.s[0][i][e] - lr * g;
                    st.s[0][i][e] = v;
                    if nesterov {
                        p + o.momentum * v - lr * g
                    } else {
                        p + v
                    }
                }
                OptimizerKind::RMSprop => {
                    let a = o.rho * st.s[0][i][e] + (1.0 - o.rho) * g * g;
                    st.s[0][i][e] = a;
                    p - lr * g / (a.sqrt() + eps)
                }
                OptimizerKind::Adagrad => {
                    let a = st.s[0][i][e] + g * g;
                    st.s[0][i][e] = a;
                    p - lr * g / (a.sqrt() + eps)
                }
                OptimizerKind::Adadelta => {
                    let a = o.rho * st.s[0][i][e] + (1.0 - o.rho) * g * g;
                    let d = st.s[1][i][e];
                    let delta = g * (d + eps).sqrt() / (a + eps).sqrt();
                    st.s[0][i][e] = a;
                    st.s[1][i][e] = o.rho * d + (1.0 - o.rho) * delta * delta;
                    p - lr * delta
                }
                OptimizerKind::Adam => {
                    let alpha = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
                    let m = b1 * st.s[0][i][e] + (1.0 - b1) * g;
                    let v = b2 * st.s[1][i][e] + (1.0 - b2) * g * g;
                    st.s[0][i][e] = m;
                    st.s[1][i][e] = v;
                    p - alpha * m / (v.sqrt() + eps)
                }
                OptimizerKind::Adamax => {
                    let alpha = lr / (1.0 - b1.powf(t));
                    let m = b1 * st.s[0][i][e] + (1.0 - b1) * g;
                    let u = (b2 * st.s[1][i][e]).max(g.abs());
                    st.s[0][i][e] = m;
                    st.s[1][i][e] = u;
                    p - alpha * m / (u + eps)
                }
                OptimizerKind::Nadam { .. } => {
                    let g_hat = g / (1.0 - s_new);
                    let m = b1 * st.s[0][i][e] + (1.0 - b1) * g;
                    let m_hat = m / (1.0 - s_next);
                    let v = b2 * st.s[1][i][e] + (1.0 - b2) * g * g;
                    let v_hat = v / (1.0 - b2.powf(t));
                    let m_bar = (1.0 - mu_t) * g_hat + mu_t1 * m_hat;
                    st.s[0][i][e] = m;
                    st.s[1][i][e] = v;
                    p - o.lr * m_bar / (v_hat.sqrt() + eps)
                }
            };
            st.p[i][e] = new_p;
        }
    }
    let counts = matches!(
        o.kind,
        OptimizerKind::Adam | OptimizerKind::Adamax | OptimizerKind::Nadam { .. }
    ) || o.decay.is_some();
    if counts {
        st.k += 1.0;
    }
    if matches!(o.kind, OptimizerKind::Nadam { .. }) {
        st.sched = r32(s_new);
    }
    // Keras' variables are float32.
    st.p.iter_mut().flatten().for_each(|x| *x = r32(*x));
    st.s.iter_mut()
        .flatten()
        .flatten()
        .for_each(|x| *x = r32(*x));
}

/// A store holding the parameters, their zeroed slots and the hyper-parameters, and the
/// update built over it.
struct Rig {
    vars: VarData,
    up: OptimizerUpdate,
    st: RefState,
    o: RefOpt,
}

fn push(vars: &mut VarData, v: Value, name: &str) -> VarId {
    vars.values_mut().push(v);
    vars.names.push(name.to_string());
    VarId(vars.values().len() - 1)
}

fn rig(
    o: &RefOpt,
    params: &[(Vec<usize>, Vec<f32>)],
    k0: f32,
    constraints: Vec<Option<Constraint>>,
) -> Rig {
    let mut vars = VarData::default();
    let pids: Vec<VarId> = params
        .iter()
        .enumerate()
        .map(|(i, (sh, d))| {
            push(
                &mut vars,
                Value::from_f32(sh, d.clone()).unwrap(),
                &format!("p{i}"),
            )
        })
        .collect();
    let names = o.kind.slot_names();
    let slots: Vec<Vec<VarId>> = names
        .iter()
        .map(|sn| {
            params
                .iter()
                .enumerate()
                .map(|(i, (sh, _))| {
                    push(
                        &mut vars,
                        Value::zeros(DType::F32, sh),
                        &format!("p{i}_{sn}"),
                    )
                })
                .collect()
        })
        .collect();
    let lr = push(&mut vars, Value::scalar(o.lr as f32), "lr");
    let it = push(&mut vars, Value::scalar(k0), "iterations");
    let mut h = Hyper::new(lr, it, o.eps as f32);
    h.decay = o
        .decay
        .map(|d| push(&mut vars, Value::scalar(d as f32), "decay"));
    match o.kind {
        OptimizerKind::Sgd { .. } => {
            h.momentum = Some(push(
                &mut vars,
                Value::scalar(o.momentum as f32),
                "momentum",
            ))
        }
        OptimizerKind::RMSprop | OptimizerKind::Adadelta => {
            h.rho = Some(push(&mut vars, Value::scalar(o.rho as f32), "rho"))
        }
        OptimizerKind::Adagrad => {}
        _ => {
            h.beta_1 = Some(push(&mut vars, Value::scalar(o.b1 as f32), "beta_1"));
            h.beta_2 = Some(push(&mut vars, Value::scalar(o.b2 as f32), "beta_2"));
        }
    }
    if let OptimizerKind::Nadam { .. } = o.kind {
        h.m_schedule = Some(push(&mut vars, Value::scalar(1.0), "m_schedule"));
    }
    let up = OptimizerUpdate::new(
        o.kind,
        pids,
        slots,
        h,
        o.clipnorm.map(|c| c as f32),
        o.clipvalue.map(|c| c as f32),
        constraints,
    )
    .unwrap();
    let st = RefState {
        p: params
            .iter()
            .map(|(_, d)| d.iter().map(|&x| x as f64).collect())
            .collect(),
        s: names
            .iter()
            .map(|_| params.iter().map(|(_, d)| vec![0.0; d.len()]).collect())
            .collect(),
        k: k0 as f64,
        sched: 1.0,
    };
    Rig {
        vars,
        up,
        st,
        o: o.clone(),
    }
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-6 * want.abs() + 1e-12 || (got.is_nan() && want.is_nan()),
        "{what}: got {got}, want {want}"
    );
}

impl Rig {
    /// The gradients of step `step` ([`gdata`]), one per parameter.
    fn grads(&self, step: usize) -> Vec<Vec<f32>> {
        let params = self.up.params();
        let len = |p: &VarId| self.vars.values()[p.0].len();
        params
            .iter()
            .enumerate()
            .map(|(i, p)| gdata(len(p), i, step))
            .collect()
    }

    /// Runs step `step` of both and compares parameters, slots and counters.
    fn step(&mut self, step: usize) {
        let grads = self.grads(step);
        self.apply(&grads);
        self.compare(step);
    }

    /// Applies `grads` to the update and to the reference.
    fn apply(&mut self, grads: &[Vec<f32>]) {
        let gv: Vec<Value> = self
            .up
            .params()
            .iter()
            .zip(grads)
            .map(|(p, g)| Value::from_f32(&self.vars.values()[p.0].shape, g.clone()).unwrap())
            .collect();
        let refs: Vec<&Value> = gv.iter().collect();
        self.up.apply(&refs, &mut self.vars).unwrap();
        let g64: Vec<Vec<f64>> = grads
            .iter()
            .map(|g| g.iter().map(|&x| x as f64).collect())
            .collect();
        ref_step(&self.o, &mut self.st, &g64);
    }

    fn compare(&self, step: usize) {
        let kind = self.o.kind.name();
        for (i, p) in self.up.params().iter().enumerate() {
            for (e, &x) in self.vars.values()[p.0].f.iter().enumerate() {
                close(
                    x as f64,
                    self.st.p[i][e],
                    &format!("{kind} step {step} param {i}[{e}]"),
                );
            }
            for (j, s) in self.up.slots().iter().enumerate() {
                for (e, &x) in self.vars.values()[s[i].0].f.iter().enumerate() {
                    close(
                        x as f64,
                        self.st.s[j][i][e],
                        &format!("{kind} step {step} slot {j} of {i}[{e}]"),
                    );
                }
            }
        }
        let it = self.vars.values()[self.up.hyper().iterations.0].f[0];
        assert_eq!(it as f64, self.st.k, "{kind} step {step}: iterations");
        if let Some(m) = self.up.hyper().m_schedule {
            close(
                self.vars.values()[m.0].f[0] as f64,
                self.st.sched,
                "m_schedule",
            );
        }
    }
}

/// Parameter values with magnitude in [0.5, 1.5).
fn pdata(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|e| {
            let u = ((e * 7919 + seed * 6151) % 997) as f32 / 997.0;
            let s = if (e + seed).is_multiple_of(3) {
                -1.0
            } else {
                1.0
            };
            s * (0.5 + u)
        })
        .collect()
}

/// Gradients whose sign per element is fixed across steps (no cancellation in the
/// slots), magnitude in [0.05, 0.65).
fn gdata(n: usize, param: usize, step: usize) -> Vec<f32> {
    (0..n)
        .map(|e| {
            let u = ((e * 4099 + param * 733 + step * 2731) % 1009) as f32 / 1009.0;
            let s = if (e * 5 + param) % 4 == 1 { -1.0 } else { 1.0 };
            s * (0.05 + 0.6 * u)
        })
        .collect()
}

fn shapes() -> Vec<(Vec<usize>, Vec<f32>)> {
    vec![
        (vec![4, 3], pdata(12, 1)),
        (vec![5], pdata(5, 2)),
        (vec![2, 1, 3, 2], pdata(12, 3)),
    ]
}

/// Three steps of `o` from iterations = `k0`.
fn run3(o: &RefOpt, k0: f32) -> Rig {
    let params = shapes();
    let mut r = rig(o, &params, k0, vec![None; params.len()]);
    for step in 0..3 {
        r.step(step);
    }
    r
}

fn iterations(r: &Rig) -> f32 {
    r.vars.values()[r.up.hyper().iterations.0].f[0]
}

#[test]
fn sgd_plain_does_not_count() {
    let o = RefOpt::new(OptimizerKind::Sgd { nesterov: false }, 0.01);
    let r = run3(&o, 0.0);
    assert_eq!(iterations(&r), 0.0);
    assert!(!r.up.writes().contains(&r.up.hyper().iterations));
}

#[test]
fn sgd_momentum_and_nesterov_with_decay() {
    for nesterov in [false, true] {
        let mut o = RefOpt::new(OptimizerKind::Sgd { nesterov }, 0.1);
        o.momentum = r32(0.9);
        let r = run3(&o, 0.0);
        assert_eq!(iterations(&r), 0.0);
        o.decay = Some(r32(0.05));
        let r = run3(&o, 0.0);
        assert_eq!(iterations(&r), 3.0);
        let r = run3(&o, 5.0);
        assert_eq!(iterations(&r), 8.0);
        assert!(r.up.writes().contains(&r.up.hyper().iterations));
    }
}

/// A change of the hyper-parameters of a [`RefOpt`].
type Tweak = fn(&mut RefOpt);

/// A row of the decay test: (kind, lr, tweak, iterations after three steps from 0,
/// decay, second tweak, the start of three more steps, their iterations).
type DecayRow = (OptimizerKind, f32, Tweak, f32, f64, Tweak, f32, f32);

#[test]
fn the_other_rules_count_with_a_decay_and_adam_always() {
    // (kind, lr, tweak, iterations of three steps from 0; then a decay and a second
    // tweak, the start of three more steps and their iterations); every step is checked
    // against the reference by `run3`
    use OptimizerKind::*;
    #[rustfmt::skip]
    let rows: [DecayRow; 5] = [
        (RMSprop, 0.001, |_| {}, 0.0, 0.1, |o| o.rho = r32(0.8), 2.0, 5.0),
        (Adagrad, 0.01, |_| {}, 0.0, 0.01, |_| {}, 0.0, 3.0),
        (Adadelta, 1.0, |o| o.rho = r32(0.95), 0.0, 0.2, |o| o.eps = r32(1e-6), 0.0, 3.0),
        (Adam, 0.001, |_| {}, 3.0, 0.3, |o| o.b1 = r32(0.8), 4.0, 7.0),
        (Adamax, 0.002, |_| {}, 3.0, 0.01, |_| {}, 0.0, 3.0),
    ];
    for (kind, lr, tweak, plain, decay, retweak, k0, decayed) in rows {
        let mut o = RefOpt::new(kind, lr);
        tweak(&mut o);
        assert_eq!(iterations(&run3(&o, 0.0)), plain, "{kind:?}");
        o.decay = Some(r32(decay));
        retweak(&mut o);
        assert_eq!(iterations(&run3(&o, k0)), decayed, "{kind:?} with a decay");
    }
}

#[test]
fn nadam_schedule_and_counts() {
    let o = RefOpt::new(
        OptimizerKind::Nadam {
            schedule_decay: 0.004,
        },
        0.002,
    );
    let r = run3(&o, 0.0);
    assert_eq!(iterations(&r), 3.0);
    // m_schedule = prod_{t=1..3} mu_t.
    let b1 = r32(0.9);
    let sd = 0.004f32 as f64;
    let want: f64 = (1..=3)
        .map(|t| b1 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * sd)))
        .product();
    let got = r.vars.values()[r.up.hyper().m_schedule.unwrap().0].f[0] as f64;
    assert!((got - want).abs() < 1e-6 * want);
    let o = RefOpt::new(
        OptimizerKind::Nadam {
            schedule_decay: 0.04,
        },
        0.01,
    );
    run3(&o, 3.0);
}

#[test]
fn clipnorm_and_clipvalue() {
    for kind in [
        OptimizerKind::Sgd { nesterov: false },
        OptimizerKind::Adam,
        OptimizerKind::RMSprop,
    ] {
        // The gradients' global norm is about 2.4: 1.0 clips, 10 does not.
        for (cn, cv) in [
            (Some(1.0), None),
            (Some(10.0), None),
            (None, Some(0.2)),
            (Some(1.0), Some(0.1)),
        ] {
            let mut o = RefOpt::new(kind, 0.05);
            o.clipnorm = cn.map(r32);
            o.clipvalue = cv.map(r32);
            run3(&o, 0.0);
        }
    }
    // The clip really changes the result.
    let mut o = RefOpt::new(OptimizerKind::Sgd { nesterov: false }, 0.05);
    let free = run3(&o, 0.0);
    o.clipnorm = Some(1.0);
    let clipped = run3(&o, 0.0);
    let p = free.up.params()[0].0;
    assert!((free.vars.values()[p].f[0] - clipped.vars.values()[p].f[0]).abs() > 1e-4);
}

#[test]
fn constraints_apply_to_the_new_value() {
    let cs = vec![
        Some(Constraint::MaxNorm {
            m: 0.9,
            axis: vec![0],
        }),
        Some(Constraint::NonNeg),
        Some(Constraint::UnitNorm {
            axis: vec![0, 1, 2],
        }),
    ];
    let params = shapes();
    let o = RefOpt::new(OptimizerKind::Adam, 0.01);
    let mut r = rig(&o, &params, 0.0, cs.clone());
    let mut scratch = Vec::new();
    for step in 0..3 {
        r.apply(&r.grads(step));
        // The constraint, in f64 on the reference's new value.
        for (i, c) in cs.iter().enumerate() {
            let shape = &params[i].0;
            let mut v: Vec<f32> = r.st.p[i].iter().map(|&x| x as f32).collect();
            c.as_ref()
                .unwrap()
                .apply(&mut v, shape, &mut scratch)
                .unwrap();
            r.st.p[i] = v.iter().map(|&x| x as f64).collect();
        }
        r.compare(step);
    }
    // Each constraint holds on the result.
    let w = &r.vars.values()[r.up.params()[0].0].f;
    for col in 0..3 {
        let n: f64 = (0..4)
            .map(|row| (w[row * 3 + col] as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(n <= 0.9 + 1e-6, "column {col} norm {n}");
    }
    assert!(r.vars.values()[r.up.params()[1].0]
        .f
        .iter()
        .all(|&x| x >= 0.0));
    let u = &r.vars.values()[r.up.params()[2].0].f;
    for last in 0..2 {
        let n: f64 = u
            .iter()
            .skip(last)
            .step_by(2)
            .map(|&x| (x as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((n - 1.0).abs() < 1e-5, "slice {last} norm {n}");
    }
}

#[test]
fn large_parameters_take_the_parallel_path() {
    let cases = [
        (OptimizerKind::Adam, rules::PAR_MIN * 2 + 37),
        (
            OptimizerKind::Sgd { nesterov: true },
            rules::PAR_MIN * 2 + 37,
        ),
        (OptimizerKind::RMSprop, rules::PAR_MIN_DIVIDING * 3 + 5),
    ];
    for (kind, n) in cases {
        let params = vec![(vec![n], pdata(n, 9)), (vec![3], pdata(3, 1))];
        let mut o = RefOpt::new(kind, 0.01);
        o.momentum = r32(0.5);
        let mut r = rig(&o, &params, 0.0, vec![None, None]);
        for step in 0..2 {
            r.step(step);
        }
    }
}

#[test]
fn hyper_parameters_are_read_at_each_step() {
    let o = RefOpt::new(OptimizerKind::Sgd { nesterov: false }, 0.1);
    let params = shapes();
    let mut r = rig(&o, &params, 0.0, vec![None; 3]);
    let lr = r.up.hyper().lr;
    r.vars.values_mut()[lr.0].f[0] = 0.0;
    let before = r.vars.values()[r.up.params()[0].0].clone();
    let gv: Vec<Value> = params
        .iter()
        .map(|(sh, d)| Value::from_f32(sh, vec![1.0; d.len()]).unwrap())
        .collect();
    let refs: Vec<&Value> = gv.iter().collect();
    r.up.apply(&refs, &mut r.vars).unwrap();
    assert_eq!(r.vars.values()[r.up.params()[0].0], before);
    r.vars.values_mut()[lr.0].f[0] = 0.5;
    r.up.apply(&refs, &mut r.vars).unwrap();
    assert_eq!(r.vars.values()[r.up.params()[0].0].f[0], before.f[0] - 0.5);
}

#[test]
fn weights_follow_keras_order() {
    for (kind, with_it) in [
        (OptimizerKind::Sgd { nesterov: false }, true),
        (OptimizerKind::RMSprop, false),
        (OptimizerKind::Adagrad, false),
        (OptimizerKind::Adadelta, false),
        (OptimizerKind::Adam, true),
        (OptimizerKind::Adamax, true),
        (
            OptimizerKind::Nadam {
                schedule_decay: 0.004,
            },
            true,
        ),
    ] {
        let r = rig(&RefOpt::new(kind, 0.1), &shapes(), 0.0, vec![None; 3]);
        let w = r.up.weights();
        assert_eq!(
            w.len(),
            with_it as usize + 3 * kind.slot_count(),
            "{}",
            kind.name()
        );
        assert_eq!(w[0] == r.up.hyper().iterations, with_it);
        let flat: Vec<VarId> = r.up.slots().iter().flatten().copied().collect();
        assert_eq!(&w[with_it as usize..], &flat[..]);
        assert_eq!(OptimizerUpdate::slot_count(kind), kind.slot_count());
        assert_eq!(
            r.vars.names[r.up.slots()[0][1].0],
            format!("p1_{}", kind.slot_names()[0])
        );
    }
}

#[test]
fn runs_inside_a_program() {
    // loss = sum(w^2), so g = 2w; SGD(lr=0.1): w <- 0.8 w per step.
    let mut g = Graph::new();
    let w = g.variable(Value::from_f32(&[3], vec![1.0, -2.0, 3.0]).unwrap(), "w");
    let vel = g.variable(Value::zeros(DType::F32, &[3]), "w_moment");
    let lr = g.variable(Value::scalar(0.1), "lr");
    let it = g.variable(Value::scalar(0.0), "iterations");
    let mom = g.variable(Value::scalar(0.0), "momentum");
    let sq = g.op("square", &[w], &Attrs::new("square")).unwrap();
    let loss = g.op("sum", &[sq], &Attrs::new("sum")).unwrap();
    let grads = g.gradients(loss, &[w]).unwrap();
    let [w, vel, lr, it, mom] = [w, vel, lr, it, mom].map(|n| g.var_id(n).unwrap());
    let mut h = Hyper::new(lr, it, 1e-8);
    h.momentum = Some(mom);
    let up = OptimizerUpdate::new(
        OptimizerKind::Sgd { nesterov: false },
        vec![w],
        vec![vec![vel]],
        h,
        None,
        None,
        vec![None],
    )
    .unwrap();
    let f = g
        .compile(
            &[],
            &[loss],
            vec![Update::Fused {
                op: Arc::new(up),
                inputs: grads,
            }],
        )
        .unwrap();
    let mut want = [1.0f32, -2.0, 3.0];
    for _ in 0..3 {
        let out = f.run_values(&[]).unwrap();
        let l: f32 = want.iter().map(|x| x * x).sum();
        assert!(
            (out[0].f[0] - l).abs() < 1e-5 * l,
            "loss is computed before the update"
        );
        want.iter_mut().for_each(|x| *x -= 0.1f32 * (2.0 * *x));
    }
    let got = g.get_value(w).unwrap();
    for (a, b) in got.f.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-6 * b.abs());
    }
    // K.set_value(opt.lr, 0) during training freezes the weights.
    g.set_value(lr, Value::scalar(0.0)).unwrap();
    f.run_values(&[]).unwrap();
    assert_eq!(g.get_value(w).unwrap(), got);
}

#[test]
fn wrong_gradient_length_is_a_shape_error_and_changes_nothing() {
    let o = RefOpt::new(OptimizerKind::Adam, 0.01);
    let params = shapes();
    let mut r = rig(&o, &params, 0.0, vec![None; 3]);
    let before = r.vars.values().to_vec();
    let mut gv: Vec<Value> = params
        .iter()
        .map(|(sh, d)| Value::from_f32(sh, vec![0.5; d.len()]).unwrap())
        .collect();
    gv[2] = Value::from_f32(&[11], vec![0.5; 11]).unwrap();
    let refs: Vec<&Value> = gv.iter().collect();
    let e = r.up.apply(&refs, &mut r.vars).unwrap_err();
    assert!(
        matches!(e, Error::Shape(ref m) if m.contains("'p2'")),
        "{e}"
    );
    assert_eq!(r.vars.values(), before);
    // Too few gradients.
    let e = r.up.apply(&refs[..2], &mut r.vars).unwrap_err();
    assert!(matches!(e, Error::Value(_)), "{e}");
    // An int gradient.
    gv[2] = Value::from_i32(&[2, 1, 3, 2], vec![1; 12]).unwrap();
    let refs: Vec<&Value> = gv.iter().collect();
    assert!(matches!(
        r.up.apply(&refs, &mut r.vars),
        Err(Error::Type(_))
    ));
    assert_eq!(r.vars.values(), before);
}

#[test]
fn bad_store_contents_are_reported() {
    let o = RefOpt::new(OptimizerKind::Adam, 0.01);
    let params = shapes();
    let good: Vec<Value> = params
        .iter()
        .map(|(sh, d)| Value::from_f32(sh, vec![0.5; d.len()]).unwrap())
        .collect();
    let refs: Vec<&Value> = good.iter().collect();
    // The error of a step whose store `spoil` changed after the rig was built.
    let spoiled = |spoil: &dyn Fn(&mut Rig)| {
        let mut r = rig(&o, &params, 0.0, vec![None; 3]);
        spoil(&mut r);
        r.up.apply(&refs, &mut r.vars).unwrap_err()
    };
    // An int32 parameter.
    let e = spoiled(&|r| {
        let p1 = r.up.params()[1].0;
        r.vars.values_mut()[p1] = Value::from_i32(&[5], vec![1; 5]).unwrap();
    });
    assert!(matches!(e, Error::Type(ref m) if m.contains("'p1'")), "{e}");
    // A slot of the wrong shape.
    let e = spoiled(&|r| {
        let v0 = r.up.slots()[1][0].0;
        r.vars.values_mut()[v0] = Value::zeros(DType::F32, &[2]);
    });
    assert!(
        matches!(e, Error::Shape(ref m) if m.contains("p0_v")),
        "{e}"
    );
    // A non-scalar lr.
    let e = spoiled(&|r| {
        let lr = r.up.hyper().lr.0;
        r.vars.values_mut()[lr] = Value::zeros(DType::F32, &[2]);
    });
    assert!(
        matches!(e, Error::Shape(ref m) if m.contains("'lr'")),
        "{e}"
    );
    // A variable id outside the store.
    let e = spoiled(&|r| {
        let last = r.vars.values().len() - 1;
        r.vars.values_mut().truncate(last);
    });
    assert!(
        matches!(e, Error::Value(ref m) if m.contains("does not exist")),
        "{e}"
    );
    // A constraint axis that does not fit the parameter: nothing is written.
    let mut cs = vec![None; 3];
    cs[1] = Some(Constraint::MaxNorm {
        m: 2.0,
        axis: vec![1],
    });
    let mut r = rig(&o, &params, 0.0, cs);
    let before = r.vars.values().to_vec();
    let e = r.up.apply(&refs, &mut r.vars).unwrap_err();
    assert!(
        matches!(e, Error::Value(ref m) if m.contains("'p1'")),
        "{e}"
    );
    assert_eq!(r.vars.values(), before);
}

/// A rejected constructor call: (kind, slots, hyper-parameters, number of constraints,
/// what the error names).
type BadNew = (OptimizerKind, Vec<Vec<VarId>>, Hyper, usize, &'static str);

#[test]
fn constructor_validates_counts_and_hyper_vars() {
    use OptimizerKind::*;
    let (p, s, lr, it, b1, b2) = (VarId(0), VarId(1), VarId(2), VarId(3), VarId(4), VarId(5));
    let v6 = VarId(6);
    let h0 = Hyper::new(lr, it, 1e-8);
    let mut h1 = h0;
    h1.beta_1 = Some(b1);
    let mut h = h1;
    h.beta_2 = Some(b2);
    // an unused hyper-parameter
    let mut hs = h;
    hs.momentum = Some(VarId(9));
    let mut hn = h;
    hn.m_schedule = Some(VarId(7));
    hn.decay = Some(VarId(8));
    let new = |kind, slots: Vec<Vec<VarId>>, hyper, constraints: usize| {
        OptimizerUpdate::new(
            kind,
            vec![p],
            slots,
            hyper,
            None,
            None,
            vec![None; constraints],
        )
    };
    let nadam = Nadam {
        schedule_decay: 0.004,
    };
    // (kind, slots, hyper-parameters, number of constraints, what the error names):
    // a missing hyper-parameter, a wrong number of slot kinds / of slots / of
    // constraints, a variable written twice, an unused or a missing hyper-parameter.
    #[rustfmt::skip]
    let rows: [BadNew; 11] = [
        (Adam, vec![vec![s], vec![v6]], h1, 1, "beta_2"),
        (Adam, vec![vec![s]], h, 1, "slot"),
        (Adam, vec![vec![s], vec![]], h, 1, "'v'"),
        (Adam, vec![vec![s], vec![v6]], h, 0, "constraint"),
        (Adam, vec![vec![s], vec![p]], h, 1, "twice"),
        (Adam, vec![vec![s], vec![it]], h, 1, "twice"),
        (Sgd { nesterov: false }, vec![vec![s]], hs, 1, "no 'beta_1'"),
        (Sgd { nesterov: true }, vec![vec![s]], h0, 1, "momentum"),
        (RMSprop, vec![vec![s]], h0, 1, "rho"),
        (nadam, vec![vec![s], vec![v6]], h, 1, "m_schedule"),
        (nadam, vec![vec![s], vec![v6]], hn, 1, "decay"),
    ];
    for (kind, slots, hyper, constraints, needle) in rows {
        match new(kind, slots, hyper, constraints) {
            Err(Error::Value(m)) => assert!(m.contains(needle), "{m} lacks {needle}"),
            other => panic!("expected a Value error with {needle}, got {other:?}"),
        }
    }
    assert!(new(Adam, vec![vec![s], vec![v6]], h, 1).is_ok());
    assert!(new(Adagrad, vec![vec![s]], h0, 1).is_ok());
    let empty = OptimizerUpdate::new(
        Adagrad,
        vec![],
        vec![vec![]],
        h0,
        Some(1.0),
        Some(0.5),
        vec![],
    );
    assert!(empty.is_ok());
}

#[test]
fn no_parameters_still_counts() {
    let mut vars = VarData::default();
    let lr = push(&mut vars, Value::scalar(0.1), "lr");
    let it = push(&mut vars, Value::scalar(0.0), "iterations");
    let b1 = push(&mut vars, Value::scalar(0.9), "beta_1");
    let b2 = push(&mut vars, Value::scalar(0.999), "beta_2");
    let mut h = Hyper::new(lr, it, 1e-8);
    h.beta_1 = Some(b1);
    h.beta_2 = Some(b2);
    let up = OptimizerUpdate::new(
        OptimizerKind::Adamax,
        vec![],
        vec![vec![], vec![]],
        h,
        Some(1.0),
        None,
        vec![],
    )
    .unwrap();
    up.apply(&[], &mut vars).unwrap();
    assert_eq!(vars.values()[it.0].f[0], 1.0);
}
