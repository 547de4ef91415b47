//! A training step run as one fused Program equals, bit for bit, the same step run as
//! two Programs (one returning every gradient as one flat float32 buffer, one applying
//! such a buffer) — the split data-parallel training needs. Also: dropout masks, and so
//! whole training runs, do not depend on the number of threads.

mod common;

use std::sync::Arc;

use common::*;
use ferrokeras::graph::Update;
use ferrokeras::optim::{Constraint, Hyper, OptimizerKind, OptimizerUpdate};
use ferrokeras::{Attr, DType, Graph, NodeId, Program, Value};

struct Model {
    g: Graph,
    x: NodeId,
    y: NodeId,
    loss: NodeId,
    params: Vec<NodeId>,
}

/// `f` run on a fresh pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn model() -> Model {
    let (g, x, y, loss, params) = mlp(12, 40, 5, true);
    Model {
        g,
        x,
        y,
        loss,
        params,
    }
}

/// Adam with clipnorm and a max-norm constraint on the first kernel; `grads[i]` feeds
/// parameter i.
fn adam(g: &mut Graph, params: &[NodeId], grads: Vec<NodeId>) -> Update {
    let mut scalar = |v: f32, n: &str| {
        let node = g.variable(Value::scalar(v), n);
        g.var_id(node).unwrap()
    };
    let hyper = Hyper {
        lr: scalar(0.01, "lr"),
        decay: Some(scalar(1e-3, "decay")),
        iterations: scalar(0.0, "iterations"),
        momentum: None,
        rho: None,
        beta_1: Some(scalar(0.9, "beta_1")),
        beta_2: Some(scalar(0.999, "beta_2")),
        m_schedule: None,
        epsilon: 1e-8,
    };
    let mut slots = vec![Vec::new(), Vec::new()];
    let mut pids = Vec::new();
    for &p in params {
        let shape = g.get_value(g.var_id(p).unwrap()).unwrap().shape;
        for s in slots.iter_mut() {
            let node = g.variable(Value::zeros(DType::F32, &shape), "slot");
            s.push(g.var_id(node).unwrap());
        }
        pids.push(g.var_id(p).unwrap());
    }
    let mut cons = vec![None; params.len()];
    cons[0] = Some(Constraint::MaxNorm {
        m: 0.5,
        axis: vec![0],
    });
    let upd = OptimizerUpdate::new(
        OptimizerKind::Adam,
        pids,
        slots,
        hyper,
        Some(1.0),
        None,
        cons,
    )
    .unwrap();
    Update::Fused {
        op: Arc::new(upd),
        inputs: grads,
    }
}

fn fused(m: &mut Model) -> Program {
    let grads = m.g.gradients(m.loss, &m.params).unwrap();
    let upd = adam(&mut m.g, &m.params.clone(), grads);
    let lp = m.g.learning_phase();
    m.g.compile(&[m.x, m.y, lp], &[m.loss], vec![upd]).unwrap()
}

fn split(m: &mut Model) -> (Program, Program) {
    let grads = m.g.gradients(m.loss, &m.params).unwrap();
    let flat = op(&mut m.g, "concat_flat", &grads, &[]);
    let lp = m.g.learning_phase();
    let grad_prog =
        m.g.compile(&[m.x, m.y, lp], &[m.loss, flat], vec![])
            .unwrap();
    let total = m.g.info(flat).unwrap().shape[0];
    let fp = m.g.placeholder(DType::F32, vec![total], "flat_grads");
    let mut slices = Vec::new();
    let mut offset = 0;
    for &p in &m.params.clone() {
        let shape = m.g.info(p).unwrap().shape.clone();
        let dims: Vec<i64> = shape.iter().map(|d| d.unwrap() as i64).collect();
        let n: i64 = dims.iter().product();
        slices.push(op(
            &mut m.g,
            "slice_flat",
            &[fp],
            &[("offset", Attr::Int(offset)), ("shape", Attr::Ints(dims))],
        ));
        offset += n;
    }
    let upd = adam(&mut m.g, &m.params.clone(), slices);
    let apply_prog = m.g.compile(&[fp], &[], vec![upd]).unwrap();
    (grad_prog, apply_prog)
}

fn weights(m: &Model) -> Vec<Vec<u32>> {
    let s = m.g.store().lock();
    s.values()
        .iter()
        .map(|v| v.f.iter().map(|x| x.to_bits()).collect())
        .collect()
}

fn batches() -> Vec<(Value, Value)> {
    (0..6)
        .map(|i| (data(&[8, 12], 10 + i), onehot(8, 5)))
        .collect()
}

#[test]
fn fused_step_equals_gradient_then_apply_bitwise() {
    let mut a = model();
    let mut b = model();
    let train = fused(&mut a);
    let (grad_prog, apply_prog) = split(&mut b);
    let one = Value::scalar(1.0);
    for (x, y) in batches() {
        let la = train
            .run_values(&[x.clone(), y.clone(), one.clone()])
            .unwrap();
        let out = grad_prog.run_values(&[x, y, one.clone()]).unwrap();
        apply_prog.run_values(&[out[1].clone()]).unwrap();
        assert_eq!(la[0].f[0].to_bits(), out[0].f[0].to_bits(), "losses differ");
    }
    assert_eq!(weights(&a), weights(&b), "fused and split steps diverged");
}

#[test]
fn training_is_independent_of_the_thread_count() {
    let run_with = |threads: usize| {
        on_threads(threads, || {
            let mut m = model();
            let train = fused(&mut m);
            let mut losses = Vec::new();
            for (x, y) in batches() {
                losses
                    .push(train.run_values(&[x, y, Value::scalar(1.0)]).unwrap()[0].f[0].to_bits());
            }
            (losses, weights(&m))
        })
    };
    assert_eq!(run_with(1), run_with(2));
}

#[test]
fn big_dropout_masks_are_identical_with_one_and_two_threads() {
    let mask = |threads: usize| {
        on_threads(threads, || {
            let mut g = Graph::new();
            let x = g.placeholder(DType::F32, vec![None, Some(1000)], "x");
            let lp = g.learning_phase();
            let d = op(
                &mut g,
                "dropout",
                &[x, lp],
                &[("level", Attr::Float(0.3)), ("seed", Attr::Int(7))],
            );
            let f = g.compile(&[x, lp], &[d], vec![]).unwrap();
            let ones = Value::from_f32(&[300, 1000], vec![1.0; 300_000]).unwrap();
            let a = f.run_values(&[ones.clone(), Value::scalar(1.0)]).unwrap();
            let b = f.run_values(&[ones, Value::scalar(1.0)]).unwrap();
            (a, b)
        })
    };
    let (a1, b1) = mask(1);
    let (a2, b2) = mask(2);
    assert_eq!(a1, a2);
    assert_eq!(b1, b2);
    assert_ne!(a1, b1, "successive calls draw new masks");
    let kept = a1[0].f.iter().filter(|&&v| v != 0.0).count() as f64 / 300_000.0;
    assert!((kept - 0.7).abs() < 0.01, "kept fraction {kept}");
}
