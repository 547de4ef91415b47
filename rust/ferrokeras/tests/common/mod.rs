//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use ferrokeras::{Attr, Attrs, DType, Graph, NodeId, Update, Value};

/// Adds an op with `(key, attr)` arguments.
pub fn op(g: &mut Graph, name: &str, inputs: &[NodeId], attrs: &[(&str, Attr)]) -> NodeId {
    let mut a = Attrs::new(name);
    for (k, v) in attrs {
        a.set(k, v.clone());
    }
    g.op(name, inputs, &a)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Deterministic pseudo-random float data.
pub fn data(shape: &[usize], seed: u64) -> Value {
    let n: usize = shape.iter().product();
    let mut v = vec![0.0; n];
    ferrokeras::kernels::rng::fill_uniform(seed, 0, &mut v);
    Value::from_f32(shape, v.into_iter().map(|u| u - 0.5).collect()).unwrap()
}

/// One-hot targets for `n` rows of `k` classes.
pub fn onehot(n: usize, k: usize) -> Value {
    let mut v = vec![0.0; n * k];
    for i in 0..n {
        v[i * k + (i * 7) % k] = 1.0;
    }
    Value::from_f32(&[n, k], v).unwrap()
}

/// A two-layer MLP with softmax cross-entropy. Returns (graph, x, y, loss, params).
pub fn mlp(
    d_in: usize,
    hidden: usize,
    k: usize,
    dropout: bool,
) -> (Graph, NodeId, NodeId, NodeId, Vec<NodeId>) {
    let mut g = Graph::new();
    let x = g.placeholder(DType::F32, vec![None, Some(d_in)], "x");
    let y = g.placeholder(DType::F32, vec![None, Some(k)], "y");
    let w1 = g.variable(data(&[d_in, hidden], 1), "w1");
    let b1 = g.variable(Value::zeros(DType::F32, &[hidden]), "b1");
    let w2 = g.variable(data(&[hidden, k], 2), "w2");
    let b2 = g.variable(Value::zeros(DType::F32, &[k]), "b2");
    let h = op(&mut g, "matmul", &[x, w1], &[]);
    let h = op(&mut g, "bias_add", &[h, b1], &[]);
    let mut h = op(&mut g, "relu", &[h], &[]);
    if dropout {
        let lp = g.learning_phase();
        h = op(
            &mut g,
            "dropout",
            &[h, lp],
            &[("level", Attr::Float(0.5)), ("seed", Attr::Int(42))],
        );
    }
    let o = op(&mut g, "matmul", &[h, w2], &[]);
    let o = op(&mut g, "bias_add", &[o, b2], &[]);
    let p = op(&mut g, "softmax", &[o], &[]);
    let l = op(&mut g, "categorical_crossentropy", &[p, y], &[]);
    let loss = op(&mut g, "mean", &[l], &[]);
    (g, x, y, loss, vec![w1, b1, w2, b2])
}

/// Plain gradient-descent updates of `params` on `loss`: each becomes `p - lr · dloss/dp`.
pub fn sgd_updates(g: &mut Graph, loss: NodeId, params: &[NodeId], lr: f32) -> Vec<Update> {
    let grads = g.gradients(loss, params).unwrap();
    let lr = g.constant(Value::scalar(lr), "lr");
    params
        .iter()
        .zip(&grads)
        .map(|(&p, &gr)| {
            let step = op(g, "mul", &[gr, lr], &[]);
            Update::Assign {
                var: g.var_id(p).unwrap(),
                value: op(g, "sub", &[p, step], &[]),
            }
        })
        .collect()
}
