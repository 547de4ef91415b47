//! A steady-state train step through BatchNormalization allocates nothing (the twin of
//! `alloc.rs` for the normalization ops, with a broadcasting `mul` and a 7-input node,
//! which once spilled the executor's inline input lists and the broadcast strides onto
//! the heap). A counting global allocator watches ten steps after two warm-up calls, on
//! the test's thread and the rayon workers only; its own test binary, so no other test
//! allocates concurrently. The sizes stay below the kernels' parallel thresholds.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use ferrokeras::{Attr, DType, Graph, Program, Update, Value};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static GEMM_ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the thread that runs the measured steps.
    static MEASURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count(bytes: usize) {
    if !MEASURED.with(|m| m.get()) && rayon::current_thread_index().is_none() {
        return;
    }
    if ferrokeras::kernels::gemm::in_gemm() {
        GEMM_ALLOCS.fetch_add(1, Ordering::SeqCst);
    }
    ALLOCS.fetch_add(1, Ordering::SeqCst);
    BYTES.fetch_add(bytes, Ordering::SeqCst);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count(n);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocation count, bytes and gemm-crate allocations over ten calls of `prog` on
/// `feeds` (one output, a finite loss) after two warm-up calls.
fn steady_allocations(prog: &Program, feeds: &[Value]) -> (usize, usize, usize) {
    // Reserved up front: the test's own bookkeeping must not count as the engine's.
    let mut losses = Vec::with_capacity(12);
    let mut totals = (0, 0, 0);
    MEASURED.with(|m| m.set(true));
    let mut run = |count: bool| {
        let mut s = prog.session();
        for (i, v) in feeds.iter().enumerate() {
            s.feed_f32(i, &v.shape, &v.f).unwrap();
        }
        let before = (
            ALLOCS.load(Ordering::SeqCst),
            BYTES.load(Ordering::SeqCst),
            GEMM_ALLOCS.load(Ordering::SeqCst),
        );
        s.run().unwrap();
        let l = s.output(0).f[0];
        if count {
            totals.0 += ALLOCS.load(Ordering::SeqCst) - before.0;
            totals.1 += BYTES.load(Ordering::SeqCst) - before.1;
            totals.2 += GEMM_ALLOCS.load(Ordering::SeqCst) - before.2;
        }
        drop(s);
        losses.push(l);
    };
    run(false);
    run(false);
    for _ in 0..10 {
        run(true);
    }
    MEASURED.with(|m| m.set(false));
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    let _ = Attr::None;
    totals
}

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
        let grads = g.gradients(loss, &params).unwrap();
        let lr = g.constant(Value::scalar(0.01), "lr");
        let mut updates = Vec::new();
        for (&p, &gr) in params.iter().zip(&grads) {
            let step = op(&mut g, "mul", &[gr, lr], &[]);
            let newp = op(&mut g, "sub", &[p, step], &[]);
            updates.push(Update::Assign {
                var: g.var_id(p).unwrap(),
                value: newp,
            });
        }
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
        let (allocs, bytes, _) = steady_allocations(&prog, &feeds);
        assert_eq!(
            (allocs, bytes),
            (0, 0),
            "batch norm on {shape:?} axis {axis}: ten steady-state steps allocated \
             {allocs} times ({bytes} bytes)"
        );
    }
}
