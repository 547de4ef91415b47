//! A steady-state train step through channels-last `conv2d` (`layout` "nhwc") allocates
//! nothing outside the gemm crate (the twin of `alloc_conv3d.rs`; its own test binary so
//! no other test allocates concurrently). The layers take every channels-last path: a
//! padded first layer with a fused bias and relu (no input gradient), col2im input
//! gradients (16 channels; stride 2), a full-correlation one (32 channels, stride 1) and
//! a 1x1 one. The shapes keep every layer serial: with four convolutions split over the batch, the
//! eight `parallel_for` calls of a step can outrun the pool's kept states while their
//! helper jobs wait in rayon's queue on a loaded machine, and `kernels::pool` then makes
//! a new one (an allocation of the pool, whatever the layout; `alloc_conv3d.rs` covers
//! the per-sample parallel path with one layer).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use ferrokeras::{Attr, DType, Graph, Update, Value};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the thread that runs the measured steps.
    static MEASURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Counts the measured thread and the rayon workers only (see `alloc_conv3d.rs`).
fn count() {
    if !MEASURED.with(|m| m.get()) && rayon::current_thread_index().is_none() {
        return;
    }
    if !ferrokeras::kernels::gemm::in_gemm() && !ferrokeras::kernels::pool::handing_off() {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
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
fn steady_state_channels_last_conv_train_step_allocates_nothing() {
    let mut g = Graph::new();
    let shape = [1, 5, 5, 3];
    let x = g.placeholder(DType::F32, vec![None, Some(5), Some(5), Some(3)], "x");
    // (kernel shape (rows, cols, in, out), strides, pads)
    let layers: [([usize; 4], i64, i64); 5] = [
        ([3, 3, 3, 16], 1, 1),
        ([3, 3, 16, 32], 1, 1),
        ([3, 3, 32, 32], 1, 1),
        ([3, 3, 32, 8], 2, 0),
        ([1, 1, 8, 4], 1, 0),
    ];
    let mut h = x;
    let mut params = Vec::new();
    for (i, &(ks, stride, pad)) in layers.iter().enumerate() {
        let k = g.variable(data(&ks, 1 + i as u64), &format!("k{i}"));
        let b = g.variable(data(&[ks[3]], 11 + i as u64), &format!("b{i}"));
        h = op(
            &mut g,
            "conv2d",
            &[h, k],
            &[
                ("layout", Attr::Str("nhwc".into())),
                ("kernel_layout", Attr::Str("hwio".into())),
                ("strides", Attr::Ints(vec![stride; 2])),
                ("pads", Attr::Ints(vec![pad; 4])),
            ],
        );
        h = op(&mut g, "bias_add", &[h, b], &[("axis", Attr::Int(-1))]);
        h = op(&mut g, "relu", &[h], &[]);
        params.extend([k, b]);
    }
    let sq = op(&mut g, "square", &[h], &[]);
    let loss = op(&mut g, "mean", &[sq], &[]);
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
    let prog = g.compile(&[x], &[loss], updates).unwrap();
    let xb = data(&shape, 5);
    MEASURED.with(|m| m.set(true));
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
    assert!(last < first, "{first} -> {last}");
}
