//! A steady-state Program call allocates nothing: a counting global allocator watches
//! ten train steps (forward, backward, updates) after two warm-up calls. This file is its
//! own test binary so no other test allocates concurrently.
//!
//! The one exception is inside the `gemm` crate, which allocates its packing buffers on
//! every call (two allocations per product, freed before it returns); those are counted
//! separately and reported, everything else must be zero.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use ferrokeras::{Attr, Update};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

static GEMM_ALLOCS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    if ferrokeras::kernels::gemm::in_gemm() {
        GEMM_ALLOCS.fetch_add(1, Ordering::SeqCst);
    } else {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_train_step_allocates_nothing() {
    let (mut g, x, y, loss, params) = mlp(20, 32, 10, true);
    let grads = g.gradients(loss, &params).unwrap();
    let lr = g.constant(ferrokeras::Value::scalar(0.1), "lr");
    let mut updates = Vec::new();
    for (&p, &gr) in params.iter().zip(&grads) {
        let step = op(&mut g, "mul", &[gr, lr], &[]);
        let newp = op(&mut g, "sub", &[p, step], &[]);
        updates.push(Update::Assign {
            var: g.var_id(p).unwrap(),
            value: newp,
        });
    }
    let lp = g.learning_phase();
    let one = ferrokeras::Value::scalar(1.0);
    let prog = g.compile(&[x, y, lp], &[loss], updates).unwrap();
    let (xb, yb) = (data(&[16, 20], 5), onehot(16, 10));
    let mut losses = Vec::new();
    let run = |count: bool| {
        let mut s = prog.session();
        s.feed_f32(0, &xb.shape, &xb.f).unwrap();
        s.feed_f32(1, &yb.shape, &yb.f).unwrap();
        s.feed_f32(2, &[], &one.f).unwrap();
        let before = ALLOCS.load(Ordering::SeqCst);
        s.run().unwrap();
        let l = s.output(0).f[0];
        let after = ALLOCS.load(Ordering::SeqCst);
        drop(s);
        if count {
            assert_eq!(
                after - before,
                0,
                "a steady-state call allocated {} times",
                after - before
            );
        }
        l
    };
    run(false);
    run(false);
    let gemm_before = GEMM_ALLOCS.load(Ordering::SeqCst);
    for _ in 0..10 {
        losses.push(run(true));
    }
    eprintln!(
        "allocations inside the gemm crate over 10 steps: {}",
        GEMM_ALLOCS.load(Ordering::SeqCst) - gemm_before
    );
    assert!(losses.iter().all(|l| l.is_finite()));
    let _ = Attr::None;
}
