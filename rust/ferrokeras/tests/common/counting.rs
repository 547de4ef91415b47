//! A counting global allocator for the allocation tests (`alloc*.rs`): included by path
//! into each of those test binaries (each its own process, so no other test allocates
//! concurrently). It counts only on the thread that runs the measured steps and on the
//! rayon workers: the harness's main thread does its own bookkeeping meanwhile, which is
//! not the engine's. Allocations inside the gemm crate, and those made while posting
//! helper jobs to rayon (`kernels::pool::handing_off`), are counted apart too, so a test
//! can hold the engine's own code to zero where those two are out of its hands. With
//! the environment variable `BT` set, each allocation of the engine's own prints a
//! backtrace (to find where a regression allocates).
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ferrokeras::{Program, Value};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static GEMM_ALLOCS: AtomicUsize = AtomicUsize::new(0);
static ENGINE_ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the thread that runs the measured steps.
    static MEASURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count(bytes: usize) {
    if !MEASURED.with(|m| m.get()) && rayon::current_thread_index().is_none() {
        return;
    }
    let in_gemm = ferrokeras::kernels::gemm::in_gemm();
    if in_gemm {
        GEMM_ALLOCS.fetch_add(1, Ordering::SeqCst);
    } else if !ferrokeras::kernels::pool::handing_off() {
        ENGINE_ALLOCS.fetch_add(1, Ordering::SeqCst);
        // the backtrace allocates: not while one is being printed
        static IN: AtomicBool = AtomicBool::new(false);
        if std::env::var_os("BT").is_some() && !IN.swap(true, Ordering::SeqCst) {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
            IN.store(false, Ordering::SeqCst);
        }
    }
    ALLOCS.fetch_add(1, Ordering::SeqCst);
    BYTES.fetch_add(bytes, Ordering::SeqCst);
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counting around it never touches the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size());
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from this allocator, i.e. from `System`, with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count(n);
        // SAFETY: `p` came from `System` with layout `l`; the caller upholds the rest.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What ten steady-state calls allocated, after two warm-up calls.
#[derive(Debug)]
pub struct Steady {
    /// Allocations, all told.
    pub allocs: usize,
    /// Their bytes.
    pub bytes: usize,
    /// Allocations inside the gemm crate.
    pub in_gemm: usize,
    /// Allocations neither inside the gemm crate nor while posting helper jobs to rayon:
    /// the engine's own.
    pub engine: usize,
    /// The loss of every call, the two warm-up calls first (all finite).
    pub losses: Vec<f32>,
}

/// What ten calls of `prog` on `feeds` (one output, a finite loss) allocate after two
/// warm-up calls.
pub fn steady_allocations(prog: &Program, feeds: &[Value]) -> Steady {
    let counters = [&ALLOCS, &BYTES, &GEMM_ALLOCS, &ENGINE_ALLOCS];
    // Reserved up front: the test's own bookkeeping must not count as the engine's.
    let mut losses = Vec::with_capacity(12);
    let mut totals = [0; 4];
    MEASURED.with(|m| m.set(true));
    let mut run = |count: bool| {
        let mut s = prog.session();
        for (i, v) in feeds.iter().enumerate() {
            s.feed_f32(i, &v.shape, &v.f).unwrap();
        }
        let before = counters.map(|c| c.load(Ordering::SeqCst));
        s.run().unwrap();
        let l = s.output(0).f[0];
        if count {
            for ((t, c), b) in totals.iter_mut().zip(counters).zip(before) {
                *t += c.load(Ordering::SeqCst) - b;
            }
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
    let [allocs, bytes, in_gemm, engine] = totals;
    Steady {
        allocs,
        bytes,
        in_gemm,
        engine,
        losses,
    }
}

/// Ten steady-state calls of `prog` (one input `x`, the loss out) allocate nothing in
/// the engine's own code (see [`Steady::engine`]), and the loss goes down: gradient
/// descent on a mean square shrinks it.
pub fn assert_steady_descent(prog: &Program, x: &Value) {
    let s = steady_allocations(prog, std::slice::from_ref(x));
    assert_eq!(
        s.engine, 0,
        "ten steady-state calls allocated {} times outside the gemm crate and rayon's job \
         posting",
        s.engine
    );
    let (first, last) = (s.losses[0], s.losses[s.losses.len() - 1]);
    assert!(last < first, "{first} -> {last}");
}
