//! Tests of the fusion pass: a fused graph computes the unfused graph's bits.

use crate::graph::{Graph, NodeId};
use crate::ops::{Attr, Attrs};
use crate::tensor::{DType, Value};
use crate::Result;

fn rand(shape: &[usize], seed: u64) -> Value {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let f = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Value::from_f32(shape, f).unwrap()
}

/// conv2d of `x` and `k`, channels-first or, with `nhwc`, channels-last with an HWIO
/// kernel, then `bias_add` of `b` along `axis`.
fn conv_bias(
    g: &mut Graph,
    (x, k, b): (NodeId, NodeId, NodeId),
    nhwc: bool,
    axis: i64,
) -> Result<NodeId> {
    let mut attrs = Attrs::new("conv2d");
    if nhwc {
        attrs = attrs
            .with("layout", Attr::Str("nhwc".into()))
            .with("kernel_layout", Attr::Str("hwio".into()));
    }
    let c = g.op("conv2d", &[x, k], &attrs)?;
    let bias = Attrs::new("bias_add").with("axis", Attr::Int(axis));
    g.op("bias_add", &[c, b], &bias)
}

/// x -> conv2d -> bias_add -> act -> sum, with the gradients of the sum with
/// respect to x, the kernel and the bias; channels-first (bias along axis 1) or, with
/// `nhwc`, channels-last (an HWIO kernel, bias along the last axis, given as -1);
/// returns (node count of the compiled Program, outputs).
fn conv_chain(act: &str, fusion: bool, nhwc: bool) -> Result<(usize, Vec<Value>)> {
    let mut g = Graph::new();
    g.set_fusion(fusion);
    let (xs, ks, ys, axis) = if nhwc {
        ([3, 7, 6, 2], [3, 3, 2, 4], [3, 5, 4, 4], -1)
    } else {
        ([3, 2, 7, 6], [4, 2, 3, 3], [3, 4, 5, 4], 1)
    };
    let x = g.placeholder(DType::F32, xs.iter().map(|&d| Some(d)).collect(), "x");
    let k = g.variable(rand(&ks, 1), "k");
    let b = g.variable(rand(&[4], 2), "b");
    let y = conv_bias(&mut g, (x, k, b), nhwc, axis)?;
    let a = g.op(act, &[y], &Attrs::new(act))?;
    let w = g.constant(rand(&ys, 3), "w");
    let m = g.op("mul", &[a, w], &Attrs::new("mul"))?;
    let loss = g.op("sum", &[m], &Attrs::new("sum"))?;
    let grads = g.gradients(loss, &[x, k, b])?;
    let mut outs = vec![a, loss];
    outs.extend(grads);
    let p = g.compile(&[x], &outs, vec![])?;
    let n = p.n_nodes();
    let mut s = p.session();
    s.feed(0, &rand(&xs, 4))?;
    s.run()?;
    Ok((n, (0..outs.len()).map(|i| s.output(i).clone()).collect()))
}

#[test]
fn conv_bias_activation_fuse_into_one_node_with_identical_results() {
    for nhwc in [false, true] {
        for act in ["relu", "tanh", "sigmoid"] {
            let (n_fused, fused) = conv_chain(act, true, nhwc).unwrap();
            let (n_plain, plain) = conv_chain(act, false, nhwc).unwrap();
            assert_eq!(
                n_plain - n_fused,
                2,
                "{act} nhwc {nhwc}: conv2d, bias_add and {act} are one node"
            );
            for (f, p) in fused.iter().zip(&plain) {
                assert_eq!(f.shape, p.shape);
                assert_eq!(
                    f.f, p.f,
                    "{act} nhwc {nhwc}: fused and unfused results differ"
                );
            }
        }
    }
}

#[test]
fn a_producer_read_elsewhere_is_not_folded() -> Result<()> {
    for fusion in [true, false] {
        let mut g = Graph::new();
        g.set_fusion(fusion);
        let x = g.placeholder(DType::F32, vec![None, Some(5)], "x");
        let b = g.variable(rand(&[5], 1), "b");
        let y = g.op("bias_add", &[x, b], &Attrs::new("bias_add"))?;
        let r = g.op("relu", &[y], &Attrs::new("relu"))?;
        // y is an output too: it must keep its pre-activation value.
        let p = g.compile(&[x], &[y, r], vec![])?;
        assert_eq!(p.n_nodes(), 4, "x, b, bias_add, relu");
        let mut s = p.session();
        let xv = rand(&[2, 5], 7);
        s.feed(0, &xv)?;
        s.run()?;
        let want: Vec<f32> =
            xv.f.iter()
                .zip(b_vals(&g, b).iter().cycle())
                .map(|(a, c)| a + c)
                .collect();
        assert_eq!(s.output(0).f, want);
        assert!(s
            .output(1)
            .f
            .iter()
            .zip(&want)
            .all(|(&r, &y)| r == y.max(0.0)));
    }
    Ok(())
}

fn b_vals(g: &Graph, b: NodeId) -> Vec<f32> {
    g.get_value(g.var_id(b).unwrap()).unwrap().f
}

#[test]
fn leaky_or_capped_relu_and_other_axes_stay_separate() -> Result<()> {
    let mut g = Graph::new();
    let x = g.placeholder(DType::F32, vec![None, Some(2), Some(3), Some(3)], "x");
    let k = g.variable(rand(&[2, 2, 1, 1], 1), "k");
    let b = g.variable(rand(&[3], 2), "b");
    // bias along the last axis is not a per-channel epilogue of conv2d
    let y = conv_bias(&mut g, (x, k, b), false, -1)?;
    let r = g.op(
        "relu",
        &[y],
        &Attrs::new("relu").with("alpha", Attr::Float(0.1)),
    )?;
    let p = g.compile(&[x], &[r], vec![])?;
    assert_eq!(
        p.n_nodes(),
        6,
        "x, k, b, conv2d, bias_add, relu: nothing folded"
    );
    // nor is a bias along the channels-first axis into a channels-last conv2d
    let x = g.placeholder(DType::F32, vec![None, Some(3), Some(3), Some(2)], "x");
    let k = g.variable(rand(&[1, 1, 2, 3], 3), "k");
    let b = g.variable(rand(&[3], 4), "b");
    let y = conv_bias(&mut g, (x, k, b), true, 1)?;
    let p = g.compile(&[x], &[y], vec![])?;
    assert_eq!(p.n_nodes(), 5, "x, k, b, conv2d, bias_add: nothing folded");
    Ok(())
}
