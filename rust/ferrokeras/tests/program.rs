//! Executor behaviour: functions with updates, gradients through chains and shared
//! nodes, buffer reuse across batch sizes, and the errors users can trigger.

mod common;

use common::*;
use ferrokeras::{Attr, DType, Error, Graph, Update, Value};

#[test]
fn gradient_accumulates_over_several_consumers() {
    // f(x) = sum(x*x + exp(x) * x)  =>  df/dx = 2x + exp(x)(1 + x)
    let mut g = Graph::new();
    let x = g.placeholder(DType::F32, vec![None, Some(3)], "x");
    let a = op(&mut g, "mul", &[x, x], &[]);
    let e = op(&mut g, "exp", &[x], &[]);
    let b = op(&mut g, "mul", &[e, x], &[]);
    let s = op(&mut g, "add", &[a, b], &[]);
    let f = op(&mut g, "sum", &[s], &[]);
    let dx = g.gradients(f, &[x]).unwrap();
    let prog = g.compile(&[x], &[dx[0]], vec![]).unwrap();
    let xv = Value::from_f32(&[2, 3], vec![-1.0, -0.5, 0.0, 0.5, 1.0, 2.0]).unwrap();
    let out = prog.run_values(std::slice::from_ref(&xv)).unwrap();
    for (gv, &xv) in out[0].f.iter().zip(&xv.f) {
        let want = 2.0 * xv + xv.exp() * (1.0 + xv);
        assert!(
            (gv - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{gv} vs {want}"
        );
    }
}

#[test]
fn function_with_assign_updates_uses_pre_step_values() {
    // updates: a <- a + 1, b <- a * 2 (reads the OLD a), output a (old value)
    let mut g = Graph::new();
    let a = g.variable(Value::scalar(1.0), "a");
    let b = g.variable(Value::scalar(0.0), "b");
    let one = g.constant(Value::scalar(1.0), "one");
    let two = g.constant(Value::scalar(2.0), "two");
    let a1 = op(&mut g, "add", &[a, one], &[]);
    let a2 = op(&mut g, "mul", &[a, two], &[]);
    let (va, vb) = (g.var_id(a).unwrap(), g.var_id(b).unwrap());
    let f = g
        .compile(
            &[],
            &[a],
            vec![
                Update::Assign { var: va, value: a1 },
                Update::Assign { var: vb, value: a2 },
            ],
        )
        .unwrap();
    let out = f.run_values(&[]).unwrap();
    assert_eq!(out[0].f, vec![1.0]);
    assert_eq!(g.get_value(va).unwrap().f, vec![2.0]);
    assert_eq!(g.get_value(vb).unwrap().f, vec![2.0]);
    let out = f.run_values(&[]).unwrap();
    assert_eq!(out[0].f, vec![2.0]);
    assert_eq!(g.get_value(vb).unwrap().f, vec![4.0]);
}

#[test]
fn batch_size_changes_reuse_the_program() {
    let (mut g, x, y, loss, params) = mlp(5, 7, 3, false);
    let grads = g.gradients(loss, &params).unwrap();
    let mut outs = vec![loss];
    outs.extend(&grads);
    let f = g.compile(&[x, y], &outs, vec![]).unwrap();
    let big = f.run_values(&[data(&[8, 5], 3), onehot(8, 3)]).unwrap();
    let small = f.run_values(&[data(&[3, 5], 4), onehot(3, 3)]).unwrap();
    let big2 = f.run_values(&[data(&[8, 5], 3), onehot(8, 3)]).unwrap();
    assert_eq!(big, big2);
    assert_eq!(small[1].shape, vec![5, 7]);
}

#[test]
fn errors_are_reported_not_panicked() {
    let mut g = Graph::new();
    let x = g.placeholder(DType::F32, vec![None, Some(4)], "x");
    let w = g.variable(data(&[4, 2], 1), "w");
    let y = op(&mut g, "matmul", &[x, w], &[]);
    // non-scalar loss
    assert!(matches!(g.gradients(y, &[w]), Err(Error::Value(m)) if m.contains("scalar")));
    // unknown op and unknown argument
    assert!(g
        .op("no_such_op", &[x], &ferrokeras::Attrs::new("no_such_op"))
        .is_err());
    let bad = ferrokeras::Attrs::new("relu").with("slope", Attr::Float(1.0));
    assert!(matches!(g.op("relu", &[x], &bad), Err(Error::Type(m)) if m.contains("slope")));
    // shape error at build time names the shapes
    let v = g.variable(data(&[3, 2], 1), "v");
    let e = g
        .op("matmul", &[x, v], &ferrokeras::Attrs::new("matmul"))
        .unwrap_err();
    assert!(
        e.to_string().contains("(None, 4)") && e.to_string().contains("(3, 2)"),
        "{e}"
    );
    // missing input
    assert!(g.compile(&[], &[y], vec![]).is_err());
    let f = g.compile(&[x], &[y], vec![]).unwrap();
    // wrong shape, wrong dtype, empty batch, wrong count
    assert!(matches!(
        f.run_values(&[data(&[2, 5], 1)]),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        f.run_values(&[Value::from_i32(&[1, 4], vec![1, 2, 3, 4]).unwrap()]),
        Err(Error::Type(_))
    ));
    assert!(matches!(
        f.run_values(&[Value::from_f32(&[0, 4], vec![]).unwrap()]),
        Err(Error::Value(_))
    ));
    assert!(f.run_values(&[]).is_err());
    // still usable afterwards
    assert_eq!(
        f.run_values(&[data(&[2, 4], 1)]).unwrap()[0].shape,
        vec![2, 2]
    );
}

#[test]
fn nan_inputs_propagate_like_keras() {
    let mut g = Graph::new();
    let x = g.placeholder(DType::F32, vec![None], "x");
    let y = op(&mut g, "exp", &[x], &[]);
    let f = g.compile(&[x], &[y], vec![]).unwrap();
    let out = f
        .run_values(&[Value::from_f32(&[2], vec![f32::NAN, 0.0]).unwrap()])
        .unwrap();
    assert!(out[0].f[0].is_nan());
    assert_eq!(out[0].f[1], 1.0);
}

#[test]
fn learning_phase_defaults_to_test_and_can_be_fed() {
    let (g, x, _y, _loss, _p) = mlp(6, 50, 3, true);
    // the dropout node's output: predict twice in test phase -> identical
    let nodes = g.len();
    let drop = ferrokeras::NodeId(
        (0..nodes)
            .find(|&i| g.node(ferrokeras::NodeId(i)).unwrap().name == "dropout")
            .unwrap(),
    );
    let f_test = g.compile(&[x], &[drop], vec![]).unwrap();
    let a = f_test.run_values(&[data(&[4, 6], 1)]).unwrap();
    let b = f_test.run_values(&[data(&[4, 6], 1)]).unwrap();
    assert_eq!(a, b);
    let lp = g.learning_phase();
    let f_train = g.compile(&[x, lp], &[drop], vec![]).unwrap();
    let c = f_train
        .run_values(&[data(&[4, 6], 1), Value::scalar(1.0)])
        .unwrap();
    let d = f_train
        .run_values(&[data(&[4, 6], 1), Value::scalar(1.0)])
        .unwrap();
    assert_ne!(c, d, "each training call draws a new mask");
    let zeros = c[0].f.iter().filter(|&&v| v == 0.0).count();
    assert!(zeros > 0);
}

#[test]
fn row_offset_and_random_counters_let_shards_reproduce_a_batch() {
    // Two identical graphs: one runs a batch of 5 rows, the other its rows 2..5 with
    // a row offset of 2 after its counter was moved to the first graph's.
    let build = || {
        let (g, x, _y, _loss, _p) = mlp(6, 50, 3, true);
        let drop = ferrokeras::NodeId(
            (0..g.len())
                .find(|&i| g.node(ferrokeras::NodeId(i)).unwrap().name == "dropout")
                .unwrap(),
        );
        let lp = g.learning_phase();
        let f = g.compile(&[x, lp], &[drop], vec![]).unwrap();
        (g, drop, f)
    };
    let (g1, d1, f1) = build();
    let (g2, d2, f2) = build();
    let xb = data(&[5, 6], 3);
    f1.run_values(&[xb.clone(), Value::scalar(1.0)]).unwrap();
    assert_eq!(g1.random_counter(d1).unwrap(), 1);
    let full = f1.run_values(&[xb.clone(), Value::scalar(1.0)]).unwrap();
    assert_eq!(g1.random_counter(d1).unwrap(), 2);
    assert_eq!(g2.random_counter(d2).unwrap(), 0);
    g2.set_random_counter(d2, 1).unwrap();
    let tail = Value::from_f32(&[3, 6], xb.f[12..].to_vec()).unwrap();
    let mut s = f2.session();
    s.feed(0, &tail).unwrap();
    s.feed(1, &Value::scalar(1.0)).unwrap();
    s.set_row_offset(2);
    s.run().unwrap();
    let row = full[0].f.len() / 5;
    assert_eq!(s.output(0).f, full[0].f[2 * row..]);
    // the offset is for one run only: the next run starts at row 0 again
    s.feed(0, &tail).unwrap();
    s.feed(1, &Value::scalar(1.0)).unwrap();
    s.run().unwrap();
    drop(s);
    assert_eq!(g2.random_counter(d2).unwrap(), 3);
    assert!(g2.random_counter(ferrokeras::NodeId(0)).is_err());
    assert!(g2.set_random_counter(ferrokeras::NodeId(0), 1).is_err());
}

#[test]
fn op_names_list_the_ops_a_program_runs() {
    // a channels-last pooling step: no permute anywhere, forward or backward
    let mut g = Graph::new();
    let x = g.placeholder(DType::F32, vec![None, Some(4), Some(4), Some(3)], "x");
    let p = op(
        &mut g,
        "maxpool2d",
        &[x],
        &[("layout", Attr::Str("nhwc".into()))],
    );
    let s = op(&mut g, "sum", &[p], &[]);
    let dx = g.gradients(s, &[x]).unwrap();
    let prog = g.compile(&[x], &[s, dx[0]], vec![]).unwrap();
    assert_eq!(prog.op_names(), vec!["maxpool2d", "sum"]);
    let t = op(
        &mut g,
        "permute",
        &[p],
        &[("pattern", Attr::Ints(vec![0, 3, 1, 2]))],
    );
    let prog = g.compile(&[x], &[t], vec![]).unwrap();
    assert_eq!(prog.op_names(), vec!["maxpool2d", "permute"]);
}
