//! A counting global allocator for the allocation tests (`alloc.rs`, `alloc_bn.rs`):
//! included by path into each of those test binaries (each its own process, so no other
//! test allocates concurrently). It counts only on the thread that runs the measured
//! steps and on the rayon workers: the harness's main thread does its own bookkeeping
//! meanwhile, which is not the engine's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrokeras::{Program, Value};

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

/// Allocation count, bytes and gemm-crate allocations over ten calls of `prog` on
/// `feeds` (one output, a finite loss) after two warm-up calls.
pub fn steady_allocations(prog: &Program, feeds: &[Value]) -> (usize, usize, usize) {
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
    totals
}
