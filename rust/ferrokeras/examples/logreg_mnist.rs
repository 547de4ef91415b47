//! Trains a softmax regression on real MNIST digits with the engine crate alone (no
//! Python): graph, gradients, a fused RMSprop step and the executor.
//!
//! `cargo run --release -p ferrokeras --example logreg_mnist`
//! reads the MNIST test set bundled in `examples/data/mnist`, trains on the first 8,000
//! images and reports accuracy on the last 2,000.

use std::io::Read;

use ferrokeras::graph::Update;
use ferrokeras::optim::{Hyper, OptimizerKind, OptimizerUpdate};
use ferrokeras::{Attr, Attrs, DType, Graph, NodeId, Value};

fn read_gz(path: &str) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_end(&mut out)?;
    Ok(out)
}

fn op(
    g: &mut Graph,
    name: &str,
    inputs: &[NodeId],
    attrs: &[(&str, Attr)],
) -> ferrokeras::Result<NodeId> {
    let mut a = Attrs::new(name);
    for (k, v) in attrs {
        a.set(k, v.clone());
    }
    g.op(name, inputs, &a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/mnist");
    let images = read_gz(&format!("{dir}/t10k-images-idx3-ubyte.gz"))?;
    let labels = read_gz(&format!("{dir}/t10k-labels-idx1-ubyte.gz"))?;
    let x: Vec<f32> = images[16..].iter().map(|&p| p as f32 / 255.0).collect();
    let y: Vec<usize> = labels[8..].iter().map(|&l| l as usize).collect();
    let (n_train, n, d, k) = (8000, y.len(), 784, 10);

    let mut g = Graph::new();
    let xp = g.placeholder(DType::F32, vec![None, Some(d)], "x");
    let yp = g.placeholder(DType::F32, vec![None, Some(k)], "y");
    let w = g.variable(Value::zeros(DType::F32, &[d, k]), "W");
    let b = g.variable(Value::zeros(DType::F32, &[k]), "b");
    let logits = op(&mut g, "matmul", &[xp, w], &[])?;
    let logits = op(&mut g, "bias_add", &[logits, b], &[])?;
    let p = op(&mut g, "softmax", &[logits], &[])?;
    let xent = op(&mut g, "categorical_crossentropy", &[p, yp], &[])?;
    let loss = op(&mut g, "mean", &[xent], &[])?;
    let grads = g.gradients(loss, &[w, b])?;

    // RMSprop(lr=0.001) as Keras 1 sets it up: scalar variables for the hyper-parameters,
    // one accumulator per parameter.
    let scalar = |g: &mut Graph, v: f32, name: &str| {
        let node = g.variable(Value::scalar(v), name);
        g.var_id(node).expect("a variable node")
    };
    let lr = scalar(&mut g, 0.001, "lr");
    let rho = scalar(&mut g, 0.9, "rho");
    let iterations = scalar(&mut g, 0.0, "iterations");
    let acc_w = g.variable(Value::zeros(DType::F32, &[d, k]), "acc_W");
    let acc_b = g.variable(Value::zeros(DType::F32, &[k]), "acc_b");
    let hyper = Hyper {
        lr,
        decay: None,
        iterations,
        momentum: None,
        rho: Some(rho),
        beta_1: None,
        beta_2: None,
        m_schedule: None,
        epsilon: 1e-8,
    };
    let step = OptimizerUpdate::new(
        OptimizerKind::RMSprop,
        vec![g.var_id(w)?, g.var_id(b)?],
        vec![vec![g.var_id(acc_w)?, g.var_id(acc_b)?]],
        hyper,
        None,
        None,
        vec![None, None],
    )?;
    let train = g.compile(
        &[xp, yp],
        &[loss],
        vec![Update::Fused {
            op: std::sync::Arc::new(step),
            inputs: grads,
        }],
    )?;
    let predict = g.compile(&[xp], &[p], vec![])?;

    let batch = 128;
    for epoch in 0..5 {
        let mut total = 0.0;
        let mut count = 0;
        for start in (0..n_train).step_by(batch) {
            let end = (start + batch).min(n_train);
            let mut onehot = vec![0.0f32; (end - start) * k];
            for (i, &l) in y[start..end].iter().enumerate() {
                onehot[i * k + l] = 1.0;
            }
            let mut s = train.session();
            s.feed_f32(0, &[end - start, d], &x[start * d..end * d])?;
            s.feed_f32(1, &[end - start, k], &onehot)?;
            s.run()?;
            total += s.output(0).f[0] as f64 * (end - start) as f64;
            count += end - start;
        }
        let mut s = predict.session();
        s.feed_f32(0, &[n - n_train, d], &x[n_train * d..])?;
        s.run()?;
        let probs = &s.output(0).f;
        let correct = (n_train..n)
            .filter(|&i| {
                let row = &probs[(i - n_train) * k..(i - n_train + 1) * k];
                let arg = (0..k)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0);
                arg == y[i]
            })
            .count();
        println!(
            "epoch {} - loss: {:.4} - test accuracy: {:.4}",
            epoch + 1,
            total / count as f64,
            correct as f64 / (n - n_train) as f64
        );
    }
    Ok(())
}
