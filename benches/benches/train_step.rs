//! One whole training step of the W3 MNIST MLP (784-512-512-10, relu, dropout 0.2,
//! softmax cross-entropy, fused RMSprop) at batch 128, run from Rust alone: forward,
//! reverse sweep and optimizer update in one Program call. Throughput is reported in
//! samples per second; compare with the end-to-end figure of benches/python/workloads.py
//! to see what the Python loop costs on top.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokeras::graph::Update;
use ferrokeras::optim::{Hyper, OptimizerKind, OptimizerUpdate};
use ferrokeras::{Attr, Attrs, DType, Graph, NodeId, Value};

fn op(g: &mut Graph, name: &str, inputs: &[NodeId], attrs: &[(&str, Attr)]) -> NodeId {
    let mut a = Attrs::new(name);
    for (k, v) in attrs {
        a.set(k, v.clone());
    }
    g.op(name, inputs, &a).expect("valid op")
}

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut v = vec![0.0; n];
    ferrokeras::kernels::rng::fill_uniform(seed, 0, &mut v);
    v.iter().map(|u| (u - 0.5) * 0.1).collect()
}

fn bench_train_step(c: &mut Criterion) {
    let (batch, sizes) = (128usize, [784usize, 512, 512, 10]);
    let mut g = Graph::new();
    let x = g.placeholder(DType::F32, vec![None, Some(784)], "x");
    let y = g.placeholder(DType::F32, vec![None, Some(10)], "y");
    let lp = g.learning_phase();
    let mut h = x;
    let mut params = Vec::new();
    for (i, w) in sizes.windows(2).enumerate() {
        let wv = g.variable(
            Value::from_f32(&[w[0], w[1]], data(w[0] * w[1], i as u64)).unwrap(),
            "W",
        );
        let bv = g.variable(Value::zeros(DType::F32, &[w[1]]), "b");
        params.extend([wv, bv]);
        h = op(&mut g, "matmul", &[h, wv], &[]);
        h = op(&mut g, "bias_add", &[h, bv], &[]);
        if i < 2 {
            h = op(&mut g, "relu", &[h], &[]);
            h = op(
                &mut g,
                "dropout",
                &[h, lp],
                &[("level", Attr::Float(0.2)), ("seed", Attr::Int(i as i64))],
            );
        }
    }
    let p = op(&mut g, "softmax", &[h], &[]);
    let xent = op(&mut g, "categorical_crossentropy", &[p, y], &[]);
    let loss = op(&mut g, "mean", &[xent], &[]);
    let grads = g.gradients(loss, &params).unwrap();
    let mut scalar = |v: f32| {
        let n = g.variable(Value::scalar(v), "hyper");
        g.var_id(n).unwrap()
    };
    let hyper = Hyper {
        rho: Some(scalar(0.9)),
        ..Hyper::new(scalar(0.001), scalar(0.0), 1e-8)
    };
    let mut slots = Vec::new();
    for &p in &params {
        let shape = g.get_value(g.var_id(p).unwrap()).unwrap().shape;
        let s = g.variable(Value::zeros(DType::F32, &shape), "acc");
        slots.push(g.var_id(s).unwrap());
    }
    let pids = params
        .iter()
        .map(|&p| g.var_id(p).unwrap())
        .collect::<Vec<_>>();
    let n = pids.len();
    let upd = OptimizerUpdate::new(
        OptimizerKind::RMSprop,
        pids,
        vec![slots],
        hyper,
        None,
        None,
        vec![None; n],
    )
    .unwrap();
    let train = g
        .compile(
            &[x, y, lp],
            &[loss],
            vec![Update::Fused {
                op: Arc::new(upd),
                inputs: grads,
            }],
        )
        .unwrap();
    let xb = data(batch * 784, 9);
    let mut yb = vec![0.0f32; batch * 10];
    for i in 0..batch {
        yb[i * 10 + i % 10] = 1.0;
    }
    let mut group = c.benchmark_group("train_step");
    group.throughput(Throughput::Elements(batch as u64));
    group.sample_size(30);
    group.bench_function("mnist_mlp_b128_rmsprop", |b| {
        b.iter(|| {
            let mut s = train.session();
            s.feed_f32(0, &[batch, 784], &xb).unwrap();
            s.feed_f32(1, &[batch, 10], &yb).unwrap();
            s.feed_f32(2, &[], &[1.0]).unwrap();
            s.run().unwrap();
            s.output(0).f[0]
        })
    });
    group.finish();
}

criterion_group!(benches, bench_train_step);
criterion_main!(benches);
