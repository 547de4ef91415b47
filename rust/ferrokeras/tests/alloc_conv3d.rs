//! A steady-state train step through `conv3d`, `maxpool3d` and `avgpool3d` allocates
//! nothing outside the gemm crate (the twin of `alloc.rs` for the 3-D ops; its own test
//! binary so no other test allocates concurrently), nor one through the channels-last
//! pooling kernels (`layout` `"nhwc"` / `"ndhwc"`). The batch is large enough for the
//! per-sample parallel conv3d path on a multi-core machine; its products are split
//! across threads too, and posting a product's helper jobs to rayon boxes one small job
//! per helper (`kernels::pool::handing_off`), which is not counted either.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use ferrokeras::{Attr, DType, Graph, NodeId, Program, Update, Value};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the thread that runs the measured steps.
    static MEASURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Counts the measured thread and the rayon workers only: the test harness's main
/// thread does its own bookkeeping meanwhile (it made this test flaky), which is not the
/// engine's.
fn count() {
    if !MEASURED.with(|m| m.get()) && rayon::current_thread_index().is_none() {
        return;
    }
    if !ferrokeras::kernels::gemm::in_gemm() && !ferrokeras::kernels::pool::handing_off() {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        static IN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !IN.swap(true, Ordering::SeqCst) {
            if std::env::var_os("BT").is_some() {
                eprintln!("{}", std::backtrace::Backtrace::force_capture());
            }
            IN.store(false, Ordering::SeqCst);
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counting around it never touches the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from this allocator, i.e. from `System`, with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: `p` came from `System` with layout `l`; the caller upholds the rest.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_conv3d_pool3d_train_step_allocates_nothing() {
    let mut g = Graph::new();
    let shape = [8, 2, 6, 8, 8];
    let x = g.placeholder(
        DType::F32,
        vec![None, Some(2), Some(6), Some(8), Some(8)],
        "x",
    );
    let k = g.variable(data(&[3, 2, 3, 3, 3], 1), "k");
    let h = op(
        &mut g,
        "conv3d",
        &[x, k],
        &[("pads", Attr::Ints(vec![1; 6])), ("flip", Attr::Bool(true))],
    );
    let h = op(&mut g, "relu", &[h], &[]);
    let h = op(
        &mut g,
        "maxpool3d",
        &[h],
        &[("pool", Attr::Ints(vec![2, 2, 2]))],
    );
    let h = op(
        &mut g,
        "avgpool3d",
        &[h],
        &[
            ("pool", Attr::Ints(vec![2, 2, 2])),
            ("strides", Attr::Ints(vec![1, 1, 1])),
            ("pads", Attr::Ints(vec![0, 1, 0, 1, 0, 1])),
        ],
    );
    let sq = op(&mut g, "square", &[h], &[]);
    let loss = op(&mut g, "mean", &[sq], &[]);
    let grads = g.gradients(loss, &[k]).unwrap();
    let lr = g.constant(Value::scalar(0.01), "lr");
    let step = op(&mut g, "mul", &[grads[0], lr], &[]);
    let newk = op(&mut g, "sub", &[k, step], &[]);
    let updates = vec![Update::Assign {
        var: g.var_id(k).unwrap(),
        value: newk,
    }];
    let prog = g.compile(&[x], &[loss], updates).unwrap();
    MEASURED.with(|m| m.set(true));
    steady_state_descends(&prog, &data(&shape, 5));
    channels_last_pooling_step();
}

/// Runs `prog` (one input, the loss out) twice, then ten times counting allocations
/// (none allowed), and checks the loss went down.
fn steady_state_descends(prog: &Program, xb: &Value) {
    let run = |count: bool| {
        let mut s = prog.session();
        s.feed_f32(0, &xb.shape, &xb.f).unwrap();
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
    let first = run(false);
    run(false);
    let mut last = first;
    for _ in 0..10 {
        last = run(true);
        assert!(last.is_finite());
    }
    // gradient descent on the mean square of the output shrinks it
    assert!(last < first, "{first} -> {last}");
}

/// x + k (k a variable of x's shape) -> maxpool2d 2x2 -> avgpool2d 3x3 'same' (both
/// "nhwc") -> reshape to 5-D -> maxpool3d "ndhwc". Small enough to stay on the calling
/// thread: on a loaded 2-core host the parallel loop's shared states can all still be
/// held by helper jobs waiting in rayon's queue, and then a call makes a new one (an
/// allocation of the thread pool's, not of these kernels).
fn channels_last_pooling_step() {
    let mut g = Graph::new();
    let shape = [2, 16, 16, 8];
    let x = g.placeholder(DType::F32, vec![None, Some(16), Some(16), Some(8)], "x");
    let k = g.variable(data(&shape, 2), "k");
    let h = op(&mut g, "add", &[x, k], &[]);
    let nhwc = || ("layout", Attr::Str("nhwc".into()));
    let h = op(&mut g, "maxpool2d", &[h], &[nhwc()]);
    let h = op(
        &mut g,
        "avgpool2d",
        &[h],
        &[
            ("pool", Attr::Ints(vec![3, 3])),
            ("strides", Attr::Ints(vec![1, 1])),
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            nhwc(),
        ],
    );
    let h = op(
        &mut g,
        "reshape",
        &[h],
        &[("shape", Attr::Ints(vec![-1, 2, 4, 8, 8]))],
    );
    let h: NodeId = op(
        &mut g,
        "maxpool3d",
        &[h],
        &[("layout", Attr::Str("ndhwc".into()))],
    );
    let sq = op(&mut g, "square", &[h], &[]);
    let loss = op(&mut g, "mean", &[sq], &[]);
    let grads = g.gradients(loss, &[k]).unwrap();
    let lr = g.constant(Value::scalar(0.5), "lr");
    let step = op(&mut g, "mul", &[grads[0], lr], &[]);
    let newk = op(&mut g, "sub", &[k, step], &[]);
    let updates = vec![Update::Assign {
        var: g.var_id(k).unwrap(),
        value: newk,
    }];
    let prog = g.compile(&[x], &[loss], updates).unwrap();
    steady_state_descends(&prog, &data(&shape, 6));
}
