//! A steady-state train step through BatchNormalization allocates nothing (the twin of
//! `alloc.rs` for the normalization ops, with a broadcasting `mul` and a 7-input node,
//! which once spilled the executor's inline input lists and the broadcast strides onto
//! the heap). A counting global allocator watches ten steps after two warm-up calls, on
//! the test's thread and the rayon workers only; its own test binary, so no other test
//! allocates concurrently. The sizes stay below the kernels' parallel thresholds.

mod common;
#[path = "common/counting.rs"]
mod counting;

use common::*;
use counting::steady_allocations;
use ferrokeras::{Attr, DType, Graph, Update, Value};

/// Ten steady-state train steps of a layer followed by BatchNormalization (mode 0 as the
/// Python layer builds it: one batch_moments node read by batch_norm_train and by the
/// moving-average updates), features last and channels first, allocate nothing.
#[test]
fn steady_state_batch_norm_step_allocates_nothing() {
    // (input shape, feature axis); sizes below the kernels' parallel threshold
    for (shape, axis) in [(vec![16usize, 24], 1usize), (vec![4, 6, 5, 5], 1)] {
        let c = shape[axis];
        let mut g = Graph::new();
        let dims: Vec<Option<usize>> = shape.iter().map(|&d| Some(d)).collect();
        let x = g.placeholder(DType::F32, dims, "x");
        let w = g.variable(data(&[1], 7), "w");
        let gamma = g.variable(data(&[c], 8), "gamma");
        let beta = g.variable(data(&[c], 9), "beta");
        let rm = g.variable(Value::zeros(DType::F32, &[c]), "running_mean");
        let rv = g.variable(Value::zeros(DType::F32, &[c]), "running_var");
        let lp = g.learning_phase();
        // a scaled input so that the x gradient (through w) is computed too
        let h = op(&mut g, "mul", &[x, w], &[]);
        let ax = ("axis", Attr::Int(axis as i64));
        let both = op(
            &mut g,
            "batch_moments",
            &[h, lp],
            &[ax.clone(), ("stat", Attr::Str("both".into()))],
        );
        let y = op(
            &mut g,
            "batch_norm_train",
            &[h, gamma, beta, rm, rv, lp, both],
            &[ax],
        );
        let sq = op(&mut g, "mul", &[y, y], &[]);
        let loss = op(&mut g, "mean", &[sq], &[]);
        let params = [w, gamma, beta];
        let mut updates = sgd_updates(&mut g, loss, &params, 0.01);
        // the moving averages: running <- running * 0.99 + batch * 0.01, the batch
        // moments summed as 0.01 * both (2, C) -> rows by a constant row selector
        let momentum = g.constant(Value::scalar(0.99), "momentum");
        for (row, var) in [(0usize, rm), (1, rv)] {
            let mut sel = vec![0.0f32; 2];
            sel[row] = 0.01;
            let sel = g.constant(Value::from_f32(&[1, 2], sel).unwrap(), "sel");
            let batch = op(&mut g, "matmul", &[sel, both], &[]);
            let batch = op(
                &mut g,
                "reshape",
                &[batch],
                &[("shape", Attr::Ints(vec![c as i64]))],
            );
            let old = op(&mut g, "mul", &[var, momentum], &[]);
            let new = op(&mut g, "add", &[old, batch], &[]);
            updates.push(Update::Assign {
                var: g.var_id(var).unwrap(),
                value: new,
            });
        }
        let prog = g.compile(&[x, lp], &[loss], updates).unwrap();
        let feeds = [data(&shape, 10), Value::scalar(1.0)];
        let counting::Steady { allocs, bytes, .. } = steady_allocations(&prog, &feeds);
        assert_eq!(
            (allocs, bytes),
            (0, 0),
            "batch norm on {shape:?} axis {axis}: ten steady-state steps allocated \
             {allocs} times ({bytes} bytes)"
        );
    }
}
