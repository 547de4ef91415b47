//! A steady-state Program call allocates nothing: a counting global allocator watches
//! ten train steps (forward, backward, updates) after two warm-up calls. This file is its
//! own test binary so no other test allocates concurrently; allocations are counted on
//! the test's thread and on the rayon workers only (the test harness's main thread does
//! its own bookkeeping meanwhile, which is not the engine's).
//!
//! All the products of these steps run on the engine's own gemm kernels
//! (`kernels::sgemm_small`, per-thread packing buffers reused), so the total must be zero
//! bytes, allocations inside the `gemm` crate included (counted apart to say where a
//! regression comes from). What still allocates elsewhere, and is therefore not covered
//! here: products above `OWN_MAX_MACS` go to the `gemm` crate, which allocates its
//! packing buffers on every call; and a product large enough to be split across threads
//! (`PARALLEL_MIN_MACS`) posts its helper jobs to rayon from outside its pool, which
//! boxes each job (`kernels::pool::parallel_for`; the state it shares is reused). The
//! shapes below stay serial.

mod common;
#[path = "common/counting.rs"]
mod counting;

use common::*;
use counting::{steady_allocations, Steady};

/// What ten steady-state train steps of a `d_in -> hidden -> classes` MLP with dropout
/// on a batch of `batch` rows allocate.
fn train_step_allocations(d_in: usize, hidden: usize, classes: usize, batch: usize) -> Steady {
    let (mut g, x, y, loss, params) = mlp(d_in, hidden, classes, true);
    let updates = sgd_updates(&mut g, loss, &params, 0.1);
    let lp = g.learning_phase();
    let one = ferrokeras::Value::scalar(1.0);
    let prog = g.compile(&[x, y, lp], &[loss], updates).unwrap();
    let (xb, yb) = (data(&[batch, d_in], 5), onehot(batch, classes));
    steady_allocations(&prog, &[xb, yb, one])
}

#[test]
fn steady_state_train_step_allocates_nothing() {
    // A tiny MLP. (A 784 -> 32 -> 10 MLP at batch 8, every product serial, was seen to
    // allocate once, 2304 bytes, in about one run of seven, outside the gemm code; not
    // yet traced, so not asserted here.)
    let (d_in, hidden, classes, batch) = (20, 32, 10, 16);
    let s = train_step_allocations(d_in, hidden, classes, batch);
    assert_eq!(
        (s.allocs, s.bytes),
        (0, 0),
        "{d_in}->{hidden}->{classes}, batch {batch}: ten steady-state steps allocated \
         {} times ({} bytes; {} of them inside the gemm crate)",
        s.allocs,
        s.bytes,
        s.in_gemm
    );
}
