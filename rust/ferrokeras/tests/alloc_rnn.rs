//! A steady-state train step through the fused recurrent ops allocates nothing (the
//! twin of `alloc.rs` for `lstm_sequence` / `gru_sequence` / `simple_rnn_sequence`):
//! the packed recurrent weights, the lanes' states and the BPTT results all live in the
//! node's scratch, and one `backward_many` call serves every input gradient. A
//! counting global allocator watches ten steps after two warm-up calls; its own test
//! binary, so no other test allocates concurrently. The sizes stay below the kernels'
//! parallel thresholds.

mod common;
#[path = "common/counting.rs"]
mod counting;

use common::*;
use counting::steady_allocations;
use ferrokeras::{DType, Graph, Value};

#[test]
fn steady_state_recurrent_step_allocates_nothing() {
    let (b, t, d, u) = (4usize, 5usize, 3usize, 6usize);
    for (name, gates) in [
        ("lstm_sequence", 4usize),
        ("gru_sequence", 3),
        ("simple_rnn_sequence", 1),
    ] {
        let mut g = Graph::new();
        let x = g.placeholder(DType::F32, vec![Some(b), Some(t), Some(d)], "x");
        let w = g.variable(data(&[d, gates * u], 1), "W");
        let uw = g.variable(data(&[u, gates * u], 2), "U");
        let bias = g.variable(data(&[gates * u], 3), "b");
        let h0 = g.constant(Value::zeros(DType::F32, &[b, u]), "h0");
        let mut ins = vec![x, w, uw, bias, h0];
        if gates == 4 {
            ins.push(g.constant(Value::zeros(DType::F32, &[b, u]), "c0"));
        }
        let y = op(&mut g, name, &ins, &[]);
        let sq = op(&mut g, "mul", &[y, y], &[]);
        let loss = op(&mut g, "mean", &[sq], &[]);
        let params = [w, uw, bias];
        let updates = sgd_updates(&mut g, loss, &params, 0.01);
        let prog = g.compile(&[x], &[loss], updates).unwrap();
        let counting::Steady { allocs, bytes, .. } =
            steady_allocations(&prog, &[data(&[b, t, d], 4)]);
        assert_eq!(
            (allocs, bytes),
            (0, 0),
            "{name}: ten steady-state steps allocated {allocs} times ({bytes} bytes)"
        );
    }
}
