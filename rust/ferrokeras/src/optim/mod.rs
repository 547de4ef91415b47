//! Keras 1.2.2's optimizers (`keras.optimizers`) as fused in-place variable updates.
//!
//! An [`OptimizerUpdate`] is an [`UpdateOp`]: a Program runs it at the end of a call,
//! after every gradient has been computed from the pre-step variables, and it updates
//! each parameter and its slot variables (momenta, accumulators, moments) in one pass,
//! then bumps `iterations` (and Nadam's `m_schedule`) where Keras does. Hyper-parameters
//! that Keras keeps as backend variables (`lr`, `decay`, `momentum`, `rho`, `beta_1`,
//! `beta_2`, `iterations`, `m_schedule`) are float32 scalar variables of the store, read
//! at every step, so `K.set_value(opt.lr, ...)` mid-training takes effect; `epsilon` is
//! a constant. The update equations are those of keras1-formats.md §7; gradient clipping
//! is in [`clip`], weight constraints in [`constraint`], the fused kernels in [`rules`].

pub mod clip;
pub mod constraint;
pub mod rules;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Mutex;

use smallvec::SmallVec;

use crate::graph::{UpdateOp, VarData, VarId};
use crate::tensor::{fmt_dims, numel, DType, Value};
use crate::{Error, Result};

pub use clip::Clip;
pub use constraint::Constraint;
pub use rules::{Decaying, HyperValues, Rule, Step};

/// Which Keras 1.2.2 optimizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// `SGD(lr=0.01, momentum=0., decay=0., nesterov=False)`.
    Sgd {
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// `RMSprop(lr=0.001, rho=0.9, epsilon=1e-8, decay=0.)`.
    RMSprop,
    /// `Adagrad(lr=0.01, epsilon=1e-8, decay=0.)`.
    Adagrad,
    /// `Adadelta(lr=1.0, rho=0.95, epsilon=1e-8, decay=0.)`.
    Adadelta,
    /// `Adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, decay=0.)`.
    Adam,
    /// `Adamax(lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-8, decay=0.)`.
    Adamax,
    /// `Nadam(lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-8, schedule_decay=0.004)`.
    Nadam {
        /// The momentum schedule's decay (a Python float in Keras, not a variable).
        schedule_decay: f32,
    },
}

impl OptimizerKind {
    /// The Keras class name.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd { .. } => "SGD",
            OptimizerKind::RMSprop => "RMSprop",
            OptimizerKind::Adagrad => "Adagrad",
            OptimizerKind::Adadelta => "Adadelta",
            OptimizerKind::Adam => "Adam",
            OptimizerKind::Adamax => "Adamax",
            OptimizerKind::Nadam { .. } => "Nadam",
        }
    }

    /// Names of the slot kinds, in Keras' `optimizer.weights` order: SGD `moments`,
    /// RMSprop / Adagrad `accumulators`, Adadelta `accumulators, delta_accumulators`,
    /// Adam / Nadam `m, v`, Adamax `m, u`.
    pub fn slot_names(&self) -> &'static [&'static str] {
        match self {
            OptimizerKind::Sgd { .. } => &["moments"],
            OptimizerKind::RMSprop | OptimizerKind::Adagrad => &["accumulators"],
            OptimizerKind::Adadelta => &["accumulators", "delta_accumulators"],
            OptimizerKind::Adam | OptimizerKind::Nadam { .. } => &["m", "v"],
            OptimizerKind::Adamax => &["m", "u"],
        }
    }

    /// Number of slot variables per parameter.
    pub fn slot_count(&self) -> usize {
        self.slot_names().len()
    }

    /// True for the optimizers that always increment `iterations` (Adam, Adamax,
    /// Nadam); the others increment it only when they decay (`decay > 0` at
    /// construction).
    pub fn always_counts(&self) -> bool {
        matches!(
            self,
            OptimizerKind::Adam | OptimizerKind::Adamax | OptimizerKind::Nadam { .. }
        )
    }

    /// True when Keras lists `iterations` first in `optimizer.weights` (SGD, Adam,
    /// Adamax, Nadam; not RMSprop, Adagrad, Adadelta).
    pub fn iterations_in_weights(&self) -> bool {
        !matches!(
            self,
            OptimizerKind::RMSprop | OptimizerKind::Adagrad | OptimizerKind::Adadelta
        )
    }
}

/// The hyper-parameter variables of an optimizer (float32 scalars of the store, read
/// at every step) and its constant `epsilon`. Which ones must be present:
///
/// | kind | momentum | rho | beta_1, beta_2 | m_schedule | decay |
/// |---|---|---|---|---|---|
/// | SGD | yes | – | – | – | optional |
/// | RMSprop, Adadelta | – | yes | – | – | optional |
/// | Adagrad | – | – | – | – | optional |
/// | Adam, Adamax | – | – | yes | – | optional |
/// | Nadam | – | – | yes | yes (starts at 1.0) | – |
///
/// A variable the kind does not use is an error (it would be silently ignored).
/// `decay` is `Some` exactly when Keras' constructor got `decay > 0` (its
/// `inital_decay > 0` test, made once at construction): then `lr` is decayed as
/// `lr / (1 + decay * iterations)` with the variable's current value, and SGD, RMSprop,
/// Adagrad and Adadelta increment `iterations`; with `None` they never touch it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// Learning rate.
    pub lr: VarId,
    /// Learning-rate decay; `Some` only when the optimizer was built with `decay > 0`.
    pub decay: Option<VarId>,
    /// Step counter (float32 scalar, 0 at the start).
    pub iterations: VarId,
    /// SGD momentum.
    pub momentum: Option<VarId>,
    /// RMSprop / Adadelta decay of the squared-gradient average.
    pub rho: Option<VarId>,
    /// Adam / Adamax / Nadam first-moment decay.
    pub beta_1: Option<VarId>,
    /// Adam / Adamax / Nadam second-moment decay.
    pub beta_2: Option<VarId>,
    /// Nadam's running momentum-schedule product (starts at 1.0).
    pub m_schedule: Option<VarId>,
    /// The constant fuzz factor (Keras default 1e-8; unused by SGD).
    pub epsilon: f32,
}

impl Hyper {
    /// `lr`, `iterations` and `epsilon`, with every optional variable absent.
    pub fn new(lr: VarId, iterations: VarId, epsilon: f32) -> Hyper {
        Hyper {
            lr,
            decay: None,
            iterations,
            momentum: None,
            rho: None,
            beta_1: None,
            beta_2: None,
            m_schedule: None,
            epsilon,
        }
    }

    /// `(name, variable)` for each hyper-parameter variable present, `lr` first.
    pub fn vars(&self) -> SmallVec<[(&'static str, VarId); 8]> {
        let mut out: SmallVec<[(&'static str, VarId); 8]> = SmallVec::new();
        out.push(("lr", self.lr));
        out.push(("iterations", self.iterations));
        let opt = [
            ("decay", self.decay),
            ("momentum", self.momentum),
            ("rho", self.rho),
            ("beta_1", self.beta_1),
            ("beta_2", self.beta_2),
            ("m_schedule", self.m_schedule),
        ];
        out.extend(opt.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))));
        out
    }
}

/// One optimizer's fused update of a list of parameters: the Keras
/// `optimizer.get_updates(params, constraints, loss)` of 1.2.2 as one [`UpdateOp`].
/// Its inputs (in [`crate::Update::Fused`]) are the gradients, one per parameter in
/// `params` order.
#[derive(Debug)]
pub struct OptimizerUpdate {
    kind: OptimizerKind,
    params: Vec<VarId>,
    slots: Vec<Vec<VarId>>,
    hyper: Hyper,
    clipnorm: Option<f32>,
    clipvalue: Option<f32>,
    constraints: Vec<Option<Constraint>>,
    /// Norms buffer of the constraints, reused from step to step.
    scratch: Mutex<Vec<f64>>,
}

impl OptimizerUpdate {
    /// Builds the update. `slots[j][i]` is the `j`-th slot kind of parameter `i`
    /// ([`OptimizerKind::slot_names`] order); `constraints` has one entry per parameter.
    /// `clipnorm` / `clipvalue` are active only when `> 0`, as in Keras.
    ///
    /// Errors (`Error::Value`): wrong number of slot lists or of slots in one,
    /// `constraints.len() != params.len()`, a required hyper-parameter variable missing
    /// or an unused one given (see [`Hyper`]), or a variable written twice (a parameter
    /// or slot listed twice, or shared with `iterations` / `m_schedule`). Variable
    /// dtypes and shapes are checked at each [`UpdateOp::apply`], against the store.
    pub fn new(
        kind: OptimizerKind,
        params: Vec<VarId>,
        slots: Vec<Vec<VarId>>,
        hyper: Hyper,
        clipnorm: Option<f32>,
        clipvalue: Option<f32>,
        constraints: Vec<Option<Constraint>>,
    ) -> Result<OptimizerUpdate> {
        let name = kind.name();
        let n = params.len();
        let names = kind.slot_names();
        if slots.len() != names.len() {
            return Err(Error::Value(format!(
                "{name} keeps {} slot variable(s) per parameter ({}), got {} slot list(s)",
                names.len(),
                names.join(", "),
                slots.len()
            )));
        }
        for (j, s) in slots.iter().enumerate() {
            if s.len() != n {
                return Err(Error::Value(format!(
                    "{name}: {} slot '{}' variable(s) given for {n} parameter(s)",
                    s.len(),
                    names[j]
                )));
            }
        }
        if constraints.len() != n {
            return Err(Error::Value(format!(
                "{name}: {} constraint(s) given for {n} parameter(s) (one entry, possibly None, per parameter)",
                constraints.len()
            )));
        }
        let needs: [(&str, Option<VarId>, bool); 6] = [
            (
                "momentum",
                hyper.momentum,
                matches!(kind, OptimizerKind::Sgd { .. }),
            ),
            (
                "rho",
                hyper.rho,
                matches!(kind, OptimizerKind::RMSprop | OptimizerKind::Adadelta),
            ),
            ("beta_1", hyper.beta_1, kind.always_counts()),
            ("beta_2", hyper.beta_2, kind.always_counts()),
            (
                "m_schedule",
                hyper.m_schedule,
                matches!(kind, OptimizerKind::Nadam { .. }),
            ),
            (
                "decay",
                hyper.decay,
                !matches!(kind, OptimizerKind::Nadam { .. }),
            ),
        ];
        for (what, var, used) in needs {
            match (var, used) {
                (None, true) if what != "decay" => {
                    return Err(Error::Value(format!(
                        "{name} needs the '{what}' hyper-parameter variable"
                    )))
                }
                (Some(_), false) => {
                    return Err(Error::Value(format!(
                        "{name} has no '{what}' hyper-parameter"
                    )))
                }
                _ => {}
            }
        }
        let up = OptimizerUpdate {
            kind,
            params,
            slots,
            hyper,
            clipnorm,
            clipvalue,
            constraints,
            scratch: Mutex::new(Vec::new()),
        };
        let mut seen = HashSet::new();
        for v in up.writes() {
            if !seen.insert(v) {
                return Err(Error::Value(format!(
                    "{name}: variable {} would be updated twice (listed twice among the parameters, \
                     slots, iterations and m_schedule)",
                    v.0
                )));
            }
        }
        Ok(up)
    }

    /// Number of slot variables per parameter for `kind`.
    pub fn slot_count(kind: OptimizerKind) -> usize {
        kind.slot_count()
    }

    /// The optimizer kind.
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// The parameters, in gradient order.
    pub fn params(&self) -> &[VarId] {
        &self.params
    }

    /// The slot variables: `slots()[j][i]` is slot kind `j` of parameter `i`.
    pub fn slots(&self) -> &[Vec<VarId>] {
        &self.slots
    }

    /// The hyper-parameter variables.
    pub fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    /// `clipnorm` as given.
    pub fn clipnorm(&self) -> Option<f32> {
        self.clipnorm
    }

    /// `clipvalue` as given.
    pub fn clipvalue(&self) -> Option<f32> {
        self.clipvalue
    }

    /// The per-parameter constraints.
    pub fn constraints(&self) -> &[Option<Constraint>] {
        &self.constraints
    }

    /// True when a step increments `iterations`: always for Adam, Adamax and Nadam,
    /// only with a decay for the others.
    pub fn increments_iterations(&self) -> bool {
        self.kind.always_counts() || self.hyper.decay.is_some()
    }

    /// Keras 1.2.2's `optimizer.weights` (what `/optimizer_weights` of a saved model
    /// holds, in order): `[iterations]` first for SGD, Adam, Adamax and Nadam, then the
    /// slots kind by kind (`m`s then `v`s ...). Nadam's `m_schedule` is not included.
    pub fn weights(&self) -> Vec<VarId> {
        let mut out = Vec::with_capacity(1 + self.slots.iter().map(Vec::len).sum::<usize>());
        if self.kind.iterations_in_weights() {
            out.push(self.hyper.iterations);
        }
        for s in &self.slots {
            out.extend_from_slice(s);
        }
        out
    }

    fn var_name(vars: &VarData, v: VarId) -> &str {
        vars.names.get(v.0).map(String::as_str).unwrap_or("?")
    }

    /// A variable of the store, or a Value error naming what it was meant to be.
    fn get<'a>(&self, vars: &'a VarData, v: VarId, role: &str) -> Result<&'a Value> {
        vars.values().get(v.0).ok_or_else(|| {
            Error::Value(format!(
                "{}: {role} refers to variable {}, which does not exist",
                self.kind.name(),
                v.0
            ))
        })
    }

    /// Reads a float32 scalar hyper-parameter.
    fn scalar(&self, vars: &VarData, v: VarId, what: &str) -> Result<f64> {
        let val = self.get(vars, v, &format!("hyper-parameter '{what}'"))?;
        let name = self.kind.name();
        if val.dt() != DType::F32 {
            return Err(Error::Type(format!(
                "{name}: hyper-parameter '{what}' (variable '{}') must be float32, got {}",
                Self::var_name(vars, v),
                val.dt().name()
            )));
        }
        if val.len() != 1 || val.f.len() != 1 {
            return Err(Error::Shape(format!(
                "{name}: hyper-parameter '{what}' (variable '{}') must be a scalar, got shape {}",
                Self::var_name(vars, v),
                fmt_dims(&val.shape)
            )));
        }
        Ok(val.f[0] as f64)
    }

    /// Checks a float32 variable of `len` elements matching its shape.
    fn check_f32(&self, vars: &VarData, v: VarId, role: &str) -> Result<()> {
        let val = self.get(vars, v, role)?;
        let name = self.kind.name();
        if val.dt() != DType::F32 {
            return Err(Error::Type(format!(
                "{name}: {role} '{}' is {}; optimizers update float32 variables only",
                Self::var_name(vars, v),
                val.dt().name()
            )));
        }
        if val.f.len() != numel(&val.shape) {
            return Err(Error::Shape(format!(
                "{name}: {role} '{}' holds {} values for shape {}",
                Self::var_name(vars, v),
                val.f.len(),
                fmt_dims(&val.shape)
            )));
        }
        Ok(())
    }

    /// Every check of a step, done before anything is written, so a failing step
    /// leaves all variables as they were.
    fn validate(&self, inputs: &[&Value], vars: &VarData) -> Result<HyperValues> {
        let name = self.kind.name();
        if inputs.len() != self.params.len() {
            return Err(Error::Value(format!(
                "{name}: expected {} gradient(s), one per parameter, got {}",
                self.params.len(),
                inputs.len()
            )));
        }
        let slot_names = self.kind.slot_names();
        for (i, (&pv, g)) in self.params.iter().zip(inputs).enumerate() {
            self.check_f32(vars, pv, "parameter")?;
            let p = &vars.values()[pv.0];
            let pname = Self::var_name(vars, pv);
            if g.dt() != DType::F32 {
                return Err(Error::Type(format!(
                    "{name}: the gradient of '{pname}' is {}, expected float32",
                    g.dt().name()
                )));
            }
            if g.f.len() != p.f.len() || g.len() != p.len() {
                return Err(Error::Shape(format!(
                    "{name}: the gradient of '{pname}' has {} element(s) (shape {}), the parameter has {} (shape {})",
                    g.f.len(),
                    fmt_dims(&g.shape),
                    p.f.len(),
                    fmt_dims(&p.shape)
                )));
            }
            for (j, s) in self.slots.iter().enumerate() {
                let role = format!("slot '{}' of '{pname}'", slot_names[j]);
                self.check_f32(vars, s[i], &role)?;
                let sv = &vars.values()[s[i].0];
                if sv.f.len() != p.f.len() {
                    return Err(Error::Shape(format!(
                        "{name}: {role} (variable '{}') has shape {}, the parameter has shape {}",
                        Self::var_name(vars, s[i]),
                        fmt_dims(&sv.shape),
                        fmt_dims(&p.shape)
                    )));
                }
            }
            if let Some(c) = &self.constraints[i] {
                c.check(&p.shape, pname)?;
            }
        }
        let h = &self.hyper;
        let opt = |v: Option<VarId>, what: &str| v.map(|v| self.scalar(vars, v, what)).transpose();
        Ok(HyperValues {
            lr: self.scalar(vars, h.lr, "lr")?,
            decay: opt(h.decay, "decay")?,
            iterations: self.scalar(vars, h.iterations, "iterations")?,
            momentum: opt(h.momentum, "momentum")?.unwrap_or(0.0),
            rho: opt(h.rho, "rho")?.unwrap_or(0.0),
            beta_1: opt(h.beta_1, "beta_1")?.unwrap_or(0.0),
            beta_2: opt(h.beta_2, "beta_2")?.unwrap_or(0.0),
            m_schedule: opt(h.m_schedule, "m_schedule")?.unwrap_or(1.0),
            epsilon: h.epsilon as f64,
        })
    }

    /// Updates parameter `i` (and its slots) in place, then applies its constraint.
    fn step_param(
        &self,
        i: usize,
        rule: &Rule,
        clip: Clip,
        grad: &Value,
        vars: &mut VarData,
        scratch: &mut Vec<f64>,
    ) -> Result<()> {
        let pv = self.params[i];
        // Take the buffers out of the store (distinct variables, checked in `new`), so
        // the parameter and its slots can be borrowed mutably together.
        let mut p = std::mem::take(&mut vars.values_mut()[pv.0]);
        let mut s: SmallVec<[Value; 2]> = self
            .slots
            .iter()
            .map(|s| std::mem::take(&mut vars.values_mut()[s[i].0]))
            .collect();
        let mut empty: [f32; 0] = [];
        {
            let (s0, rest) = match s.split_first_mut() {
                Some((a, rest)) => (&mut a.f[..], rest),
                None => (&mut empty[..], &mut [][..]),
            };
            let s1 = match rest.first_mut() {
                Some(b) => &mut b.f[..],
                None => &mut [][..],
            };
            rule.run(&mut p.f, s0, s1, &grad.f, clip);
        }
        let r = match &self.constraints[i] {
            Some(c) => {
                let name = Self::var_name(vars, pv).to_string();
                let shape = p.shape.clone();
                c.apply_named(&mut p.f, &shape, scratch, &name)
            }
            None => Ok(()),
        };
        vars.values_mut()[pv.0] = p;
        for (sv, v) in self.slots.iter().zip(s) {
            vars.values_mut()[sv[i].0] = v;
        }
        r
    }
}

impl UpdateOp for OptimizerUpdate {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn as_optimizer(&self) -> Option<&OptimizerUpdate> {
        Some(self)
    }

    /// Parameters, slots, then `iterations` (when incremented) and `m_schedule`.
    fn writes(&self) -> Vec<VarId> {
        let mut out = self.params.clone();
        for s in &self.slots {
            out.extend_from_slice(s);
        }
        if self.increments_iterations() {
            out.push(self.hyper.iterations);
        }
        if let Some(m) = self.hyper.m_schedule {
            out.push(m);
        }
        out
    }

    /// One optimizer step: validates everything, reads the pre-step hyper-parameters,
    /// measures the clip, updates each parameter and its slots in one fused pass,
    /// applies the constraints to the new values, then increments `iterations` and
    /// writes Nadam's new `m_schedule`.
    fn apply(&self, inputs: &[&Value], vars: &mut VarData) -> Result<()> {
        let hv = self.validate(inputs, vars)?;
        let step = Step::new(self.kind, &hv);
        let clip = if self.clipnorm.is_some_and(|c| c > 0.0) {
            let grads: SmallVec<[&[f32]; 16]> = inputs.iter().map(|g| &g.f[..]).collect();
            Clip::new(self.clipnorm, self.clipvalue, &grads)
        } else {
            Clip::new(None, self.clipvalue, &[])
        };
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        for (i, g) in inputs.iter().enumerate() {
            self.step_param(i, &step.rule, clip, g, vars, &mut scratch)?;
        }
        if self.increments_iterations() {
            vars.values_mut()[self.hyper.iterations.0].f[0] += 1.0;
        }
        if let (Some(m), Some(s)) = (self.hyper.m_schedule, step.m_schedule_new) {
            vars.values_mut()[m.0].f[0] = s as f32;
        }
        Ok(())
    }
}
