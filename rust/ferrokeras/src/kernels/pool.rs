//! The one rayon pool, and the engine's caller-participating parallel loop.
//!
//! The pool is rayon's global pool, built on first use so that its workers run with
//! denormals flushed; its size honours `RAYON_NUM_THREADS` (rayon's own rule) and
//! defaults to the number of cores.
//!
//! [`parallel_for`] exists because the executor runs on the caller's (Python's) thread,
//! outside the pool. `rayon::join` from there parks the caller, wakes two workers and
//! needs a third wake-up to resume the caller; in a virtual machine each wake-up of an
//! idle vCPU costs tens of microseconds, more than a 32x784x32 product takes. And when
//! the host is oversubscribed one vCPU can run at a fraction of the other's speed, so a
//! fixed half-and-half split waits for the slow half. `parallel_for` instead lets the
//! caller claim chunks itself from a shared counter while the helpers it posts to the
//! pool claim the rest whenever they get to run: nobody waits for a wake-up, and a slow
//! or late thread simply takes fewer chunks. The caller returns once every chunk is
//! done; a helper that starts after that finds no chunk and touches nothing else.
//!
//! A helper does not leave when its call is done: it lingers for 300 µs (`LINGER_US`),
//! spinning, and joins the next call the moment it is posted (a mailbox holding the
//! latest call), so a chain of short parallel calls (a small model's training step:
//! each product, then serial ops, then Python's loop) keeps one awake helper instead of
//! paying a worker's wake-up per call; the caller wakes rayon workers only for the
//! participants the lingering helpers do not make up. At most `threads - 1` helpers
//! linger (the caller needs the last core). Measured on one build with lingering off
//! (`FERROKERAS_LINGER_US=0`) against on (`benches/python/build_ab.py`, 6 rounds,
//! on / off): W1b 0.95, W4 0.96, W5 0.96, W7 0.92.
//!
//! [`parallel_for_from_both_ends`] is the same loop with the caller taking chunks from
//! the front (0, 1, 2, ...) and the helpers from the back (n-1, n-2, ...): each thread
//! works through a contiguous range, and from one call to the next with the same shapes
//! the caller tends to get the same chunks and the helper the same ones, so the data a
//! chunk reads (a gemm's B columns, its C block) is still in that core's own L2. The
//! threaded gemm uses it (10-20% faster at the 128-row dense shapes, measured
//! interleaved); the other loops keep the single counter (not measured either way on a
//! quiet machine).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

static INIT: Once = Once::new();

/// Builds the global pool if nobody has yet. Cheap after the first call.
pub fn init() {
    INIT.call_once(|| {
        // An error means some other code built the global pool first; then its workers
        // keep their own FP mode, which only costs speed on subnormal inputs.
        let _ = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("ferrokeras-{i}"))
            .start_handler(|_| {
                super::fpmode::enable_for_thread();
                super::sgemm_small::reserve_pack();
            })
            .build_global();
    });
}

/// Number of threads of the pool.
pub fn threads() -> usize {
    init();
    rayon::current_num_threads()
}

/// The loop body as the helpers see it: a pointer to the caller's closure, with its
/// lifetime erased. It is dereferenced only for a chunk index below the count, and every
/// such call finishes before [`parallel_for`] returns (it waits for `done == n`).
#[derive(Clone, Copy)]
struct Body(*const (dyn Fn(usize, usize) + Sync));
// SAFETY: the closure is `Sync`; see the type's doc for the lifetime argument.
unsafe impl Send for Body {}

/// State shared between the caller and its helpers (outlives both through the `Arc`).
struct Shared {
    n: AtomicUsize,
    /// Participants the call runs on (the caller included).
    parts: AtomicUsize,
    /// Helpers that have joined: each takes the next participant number, and one
    /// numbered `parts` or more leaves at once.
    joined: AtomicUsize,
    /// Tickets handed out: a participant that draws one below `n` owns a chunk: the
    /// ticket itself, or with `both_ends` one taken from the front (the caller) or from
    /// the back (helpers). With at most `n` tickets drawn, `front + back <= n`, so the
    /// two ends never meet on the same chunk.
    next: AtomicUsize,
    both_ends: AtomicBool,
    front: AtomicUsize,
    back: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
    payload: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

impl Shared {
    /// Joins as the next helper participant and runs chunks until none is left (or
    /// leaves at once when the call already has all its participants).
    ///
    /// # Safety
    /// As [`Shared::work`].
    unsafe fn join(&self, body: Body) {
        let who = self.joined.fetch_add(1, Ordering::Relaxed) + 1;
        if who < self.parts.load(Ordering::Relaxed) {
            // SAFETY: forwarded.
            unsafe { self.work(body, who) }
        }
    }

    /// Claims and runs chunks until none is left, as participant `who`.
    ///
    /// # Safety
    /// `body` is valid while `done < n` (see [`Body`]).
    unsafe fn work(&self, body: Body, who: usize) {
        let n = self.n.load(Ordering::Relaxed);
        loop {
            let ticket = self.next.fetch_add(1, Ordering::Relaxed);
            if ticket >= n {
                return;
            }
            let i = if !self.both_ends.load(Ordering::Relaxed) {
                ticket
            } else if who == 0 {
                self.front.fetch_add(1, Ordering::Relaxed)
            } else {
                n - 1 - self.back.fetch_add(1, Ordering::Relaxed)
            };
            // SAFETY: i < n, so the caller is still waiting and the closure is alive.
            let f = unsafe { &*body.0 };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(i, who))) {
                self.panicked.store(true, Ordering::Relaxed);
                if let Ok(mut slot) = self.payload.lock() {
                    slot.get_or_insert(p);
                }
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// Runs `f(i, who)` for every chunk `i` in `0..n`, each exactly once, on the calling
/// thread and up to `threads - 1` pool workers, and returns when all are done. `who`
/// names the participant running the chunk (`0` the caller, then the helpers; always
/// below [`participants`]`(n, threads)`), so each can keep its own scratch. Chunks run
/// in any order and concurrently: `f` must only touch what chunk `i` and participant
/// `who` own. Inside a pool worker (a parallel region already) or with `threads <= 1` it
/// is a plain loop. A panic in any chunk is re-raised here after the others finish.
pub fn parallel_for(n: usize, threads: usize, f: &(dyn Fn(usize, usize) + Sync)) {
    run(n, threads, f, false)
}

/// Like [`parallel_for`], the caller claiming chunks from the front and the helpers from
/// the back (see the module doc).
pub fn parallel_for_from_both_ends(n: usize, threads: usize, f: &(dyn Fn(usize, usize) + Sync)) {
    run(n, threads, f, true)
}

fn run(n: usize, threads: usize, f: &(dyn Fn(usize, usize) + Sync), both_ends: bool) {
    if participants(n, threads) <= 1 {
        (0..n).for_each(|i| f(i, 0));
        return;
    }
    init();
    let parts = participants(n, threads);
    let shared = shared_state(n, parts, both_ends);
    // SAFETY: only the lifetime is erased (see `Body`); the wait below keeps `f` alive
    // for every call a helper can make.
    let body = Body(unsafe {
        std::mem::transmute::<
            *const (dyn Fn(usize, usize) + Sync + '_),
            *const (dyn Fn(usize, usize) + Sync),
        >(f as *const _)
    });
    // Post the call for the helpers lingering after an earlier call, then wake rayon
    // workers only for the participants they do not make up.
    let gen = post(&shared, body);
    let lingering = LINGERING.load(Ordering::SeqCst);
    HANDING_OFF.with(|f| f.set(true));
    for _ in 1 + lingering.min(parts - 1)..parts {
        let s = Arc::clone(&shared);
        rayon::spawn(move || {
            let body = body;
            // SAFETY: as in `Shared::work`.
            unsafe { s.join(body) };
            drop(s);
            linger(gen);
        });
    }
    HANDING_OFF.with(|f| f.set(false));
    // The caller's chunks run inside the parallel region as the helpers' do: what they
    // call runs serially (see `in_parallel_region`).
    let outer = IN_CHUNK.with(|c| c.replace(true));
    // SAFETY: `f` is alive for this whole call.
    unsafe { shared.work(body, 0) };
    IN_CHUNK.with(|c| c.set(outer));
    // Chunks claimed by helpers may still be running: wait for them (briefly spinning,
    // then yielding the core, which a helper on the same core may need).
    let mut spins = 0u32;
    while shared.done.load(Ordering::Acquire) < n {
        if spins < 200 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
    unpost(gen);
    if shared.panicked.load(Ordering::Relaxed) {
        let payload = shared.payload.lock().ok().and_then(|mut p| p.take());
        resume_unwind(payload.unwrap_or_else(|| Box::new("a parallel chunk panicked")));
    }
}

thread_local! {
    /// True while the calling thread runs chunks of its own [`parallel_for`].
    static IN_CHUNK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside a parallel region: a pool worker, or a caller running
/// chunks of its [`parallel_for`]. Work started there runs on this thread alone (the
/// other participants are busy with the region's other chunks).
pub fn in_parallel_region() -> bool {
    rayon::current_thread_index().is_some() || IN_CHUNK.with(|c| c.get())
}

/// Runs `f(i, part)` for each `len`-long part `i` of `data` (the last one shorter) as
/// [`parallel_for`] on up to `threads` participants: the caller-participating form of
/// rayon's `par_chunks_mut(len).enumerate().for_each(..)`, which parks the caller while
/// pool workers wake.
pub fn for_each_part<T: Send>(
    data: &mut [T],
    len: usize,
    threads: usize,
    f: &(dyn Fn(usize, &mut [T]) + Sync),
) {
    let (total, len) = (data.len(), len.max(1));
    let n = total.div_ceil(len);
    let parts = Disjoint::new(data);
    parallel_for(n, threads, &|i, _| {
        let lo = i * len;
        // SAFETY: part i is claimed by one participant only.
        f(i, unsafe { parts.part(lo, len.min(total - lo)) })
    });
}

/// How many threads [`parallel_for`]`(n, threads, ..)` runs on: 1 inside a parallel
/// region (no nested parallelism), else at most one per chunk and per thread.
pub fn participants(n: usize, threads: usize) -> usize {
    if in_parallel_region() {
        1
    } else {
        n.min(threads).max(1)
    }
}

/// A mutable slice whose disjoint parts [`parallel_for`] chunks write concurrently
/// (each chunk or participant takes the part only it owns).
pub struct Disjoint<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: it only hands out parts of a `&mut [T]` it borrows; `part`'s contract makes
// the parts disjoint.
unsafe impl<T: Send> Sync for Disjoint<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Disjoint<'_, T> {}

impl<'a, T> Disjoint<'a, T> {
    /// Borrows `s` for the parallel loop.
    pub fn new(s: &'a mut [T]) -> Self {
        Disjoint {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            _borrow: std::marker::PhantomData,
        }
    }

    /// The part `lo..lo + len` (panics when out of range).
    ///
    /// # Safety
    /// No other live reference obtained from this `Disjoint` overlaps that range.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn part(&self, lo: usize, len: usize) -> &mut [T] {
        assert!(
            lo <= self.len && len <= self.len - lo,
            "Disjoint::part out of range"
        );
        // SAFETY: in range (checked) and unaliased (the caller's contract).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(lo), len) }
    }
}

/// States each thread makes on its first call: a state is reused once no helper job of
/// an earlier call holds it any more, and jobs outlive their call only while they wait
/// in the queue. On a loaded host a descheduled worker can leave the jobs of many
/// short calls queued, so when every state is held a new one is made and kept (up to
/// [`STATES_MAX`]): the set grows to what the workload needs once, and a steady state
/// then allocates nothing (the `tests/alloc_*.rs` tests count).
const STATES_KEPT: usize = 32;
/// Most states a thread keeps.
const STATES_MAX: usize = 512;

thread_local! {
    /// This thread's [`Shared`] states, made together on its first [`parallel_for`].
    static STATES: std::cell::RefCell<Vec<Arc<Shared>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn new_state(n: usize, parts: usize, both_ends: bool) -> Arc<Shared> {
    Arc::new(Shared {
        n: AtomicUsize::new(n),
        parts: AtomicUsize::new(parts),
        joined: AtomicUsize::new(0),
        next: AtomicUsize::new(0),
        both_ends: AtomicBool::new(both_ends),
        front: AtomicUsize::new(0),
        back: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        payload: Mutex::new(None),
    })
}

/// A state for `n` chunks that no helper of an earlier call can still look at.
fn shared_state(n: usize, parts: usize, both_ends: bool) -> Arc<Shared> {
    STATES.with(|cell| {
        let mut states = cell.borrow_mut();
        if states.is_empty() {
            states.extend((0..STATES_KEPT).map(|_| new_state(0, 0, false)));
        }
        // A count of 1 means only this thread holds it.
        match states.iter().find(|s| Arc::strong_count(s) == 1) {
            Some(s) => {
                s.n.store(n, Ordering::Relaxed);
                s.parts.store(parts, Ordering::Relaxed);
                s.joined.store(0, Ordering::Relaxed);
                s.next.store(0, Ordering::Relaxed);
                s.both_ends.store(both_ends, Ordering::Relaxed);
                s.front.store(0, Ordering::Relaxed);
                s.back.store(0, Ordering::Relaxed);
                s.done.store(0, Ordering::Relaxed);
                s.panicked.store(false, Ordering::Relaxed);
                Arc::clone(s)
            }
            None => {
                // Every kept state is still held by a helper job waiting in rayon's
                // queue (a loaded host runs them late): a fresh one, counted with the
                // job posting (`handing_off`), being the thread pool's allocation too.
                HANDING_OFF.with(|f| f.set(true));
                let s = new_state(n, parts, both_ends);
                if states.len() < STATES_MAX {
                    states.push(Arc::clone(&s));
                }
                HANDING_OFF.with(|f| f.set(false));
                s
            }
        }
    })
}

/// How long a helper stays on after its call, spinning for the next one. A training
/// step of a small model is a chain of short parallel calls with serial ops and
/// Python's loop between them; a rayon worker goes to sleep after a few tens of
/// microseconds without work, and waking an idle vCPU costs tens of microseconds
/// more, so without this the helper of such a step joins each call late or not at all.
/// OpenMP runtimes spin for the same reason (GNU's default is about 300 ms); this
/// lingers far less, so an idle process gives its cores back almost at once.
/// `FERROKERAS_LINGER_US` sets it (read once; 0 turns lingering off).
const LINGER_US: u64 = 300;

/// The linger time in force ([`LINGER_US`] unless `FERROKERAS_LINGER_US` says
/// otherwise).
fn linger_time() -> Duration {
    static US: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    Duration::from_micros(*US.get_or_init(|| {
        std::env::var("FERROKERAS_LINGER_US")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(LINGER_US)
    }))
}

/// The latest call open to lingering helpers: its state, its body and its number.
static MAILBOX: Mutex<Option<(Arc<Shared>, Body, u64)>> = Mutex::new(None);
/// Number of the latest posted call (0: none yet).
static POSTED: AtomicU64 = AtomicU64::new(0);
/// Helpers lingering now.
static LINGERING: AtomicUsize = AtomicUsize::new(0);

/// Opens a call to lingering helpers; returns its number.
fn post(shared: &Arc<Shared>, body: Body) -> u64 {
    let mut slot = MAILBOX.lock().unwrap_or_else(|e| e.into_inner());
    let gen = POSTED.load(Ordering::Relaxed) + 1;
    // Replaced here (under the lock), the earlier call's state is released now rather
    // than after this call.
    *slot = Some((Arc::clone(shared), body, gen));
    POSTED.store(gen, Ordering::SeqCst);
    gen
}

/// Closes call `gen` (when still the latest) once all its chunks are done, releasing
/// its state for reuse.
fn unpost(gen: u64) {
    let mut slot = MAILBOX.lock().unwrap_or_else(|e| e.into_inner());
    if slot.as_ref().is_some_and(|s| s.2 == gen) {
        *slot = None;
    }
}

/// The latest posted call, if newer than `seen`.
fn latest_after(seen: u64) -> Option<(Arc<Shared>, Body, u64)> {
    if POSTED.load(Ordering::SeqCst) == seen {
        return None;
    }
    let slot = MAILBOX.lock().unwrap_or_else(|e| e.into_inner());
    slot.as_ref()
        .filter(|s| s.2 != seen)
        .map(|(s, b, g)| (Arc::clone(s), *b, *g))
}

/// Run by a helper after its call: joins each newer posted call, until none has come
/// for [`linger_time`]. A joined call that has already finished hands out no chunk (its
/// tickets are spent), so its body is never touched.
fn linger(mut seen: u64) {
    let linger = linger_time();
    if linger.is_zero() {
        return;
    }
    // The caller of a parallel call runs on a core of its own, so at most `threads - 1`
    // helpers linger: one more would spin on the core the caller needs.
    if LINGERING.fetch_add(1, Ordering::SeqCst) + 1 >= threads() {
        LINGERING.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let mut until = Instant::now() + linger;
    let mut spins = 0u32;
    loop {
        if let Some((s, body, gen)) = latest_after(seen) {
            seen = gen;
            // SAFETY: the state keeps the call's chunk count; see `Shared::work`.
            unsafe { s.join(body) };
            drop(s);
            until = Instant::now() + linger;
            continue;
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) && Instant::now() >= until {
            LINGERING.fetch_sub(1, Ordering::SeqCst);
            // A call posted just as this helper left counted it as lingering and woke
            // no worker for it: stay and take that call after all.
            if latest_after(seen).is_none() {
                return;
            }
            LINGERING.fetch_add(1, Ordering::SeqCst);
        }
        std::hint::spin_loop();
    }
}

thread_local! {
    static HANDING_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True while this thread posts [`parallel_for`]'s helper jobs to rayon. `rayon::spawn`
/// boxes each job (one small allocation per helper, freed when it has run; rayon has no
/// allocation-free way to post work from outside its pool), and when every kept shared
/// state is still held by an earlier call's helper job that has not run yet (a loaded
/// host), [`parallel_for`] makes a fresh one; the allocation tests use this to tell those
/// apart from the engine's own.
pub fn handing_off() -> bool {
    HANDING_OFF.with(|f| f.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_chunk_runs_exactly_once() {
        type Loop = fn(usize, usize, &(dyn Fn(usize, usize) + Sync));
        for (threads, each) in [1, 2, 3, 8].into_iter().flat_map(|t| {
            [
                (t, parallel_for as Loop),
                (t, parallel_for_from_both_ends as Loop),
            ]
        }) {
            for n in [0, 1, 2, 7, 100] {
                let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                // Asked on this (the caller's) thread: on a pool worker it answers 1.
                let parts = participants(n, threads);
                each(n, threads, &|i, who| {
                    assert!(who < parts);
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
    }

    #[test]
    fn the_caller_takes_a_prefix_and_the_helpers_a_suffix() {
        for threads in [2, 3] {
            for n in [2, 5, 16, 64] {
                let owner: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(u32::MAX)).collect();
                parallel_for_from_both_ends(n, threads, &|i, who| {
                    // Slow chunks, so that the helpers get some when they start late.
                    std::thread::sleep(std::time::Duration::from_micros(200));
                    owner[i].store(who as u32, Ordering::Relaxed);
                });
                let by_caller: Vec<bool> = owner
                    .iter()
                    .map(|o| o.load(Ordering::Relaxed) == 0)
                    .collect();
                let split = by_caller.iter().take_while(|&&c| c).count();
                assert!(
                    by_caller[split..].iter().all(|&c| !c),
                    "threads {threads} n {n}: caller's chunks {by_caller:?}"
                );
            }
        }
    }

    #[test]
    fn a_panicking_chunk_is_reraised_after_the_others() {
        let hits = AtomicU32::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            parallel_for(50, 2, &|i, _| {
                hits.fetch_add(1, Ordering::Relaxed);
                if i == 17 {
                    panic!("chunk 17");
                }
            })
        }));
        assert!(r.is_err());
        assert_eq!(hits.load(Ordering::Relaxed), 50);
    }

    /// Back-to-back calls from two threads at once: the lingering helpers join
    /// whichever call is posted last, and a call they miss runs on its other
    /// participants; either way every chunk runs once, under a participant number
    /// below the call's count, and no call waits for a helper that never comes.
    #[test]
    fn lingering_helpers_serve_concurrent_callers() {
        std::thread::scope(|sc| {
            for caller in 0..2u32 {
                sc.spawn(move || {
                    for round in 0..2000u32 {
                        let n = 1 + ((round * 7 + caller) % 13) as usize;
                        let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                        let parts = participants(n, 2);
                        let each = if round % 2 == 0 {
                            parallel_for
                        } else {
                            parallel_for_from_both_ends
                        };
                        each(n, 2, &|i, who| {
                            assert!(who < parts);
                            hits[i].fetch_add(1, Ordering::Relaxed);
                        });
                        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
                    }
                });
            }
        });
    }

    #[test]
    fn nested_calls_run_serially_inside_workers() {
        let total = AtomicU32::new(0);
        parallel_for(4, 2, &|_, _| {
            parallel_for(3, 2, &|_, _| {
                total.fetch_add(1, Ordering::Relaxed);
            })
        });
        assert_eq!(total.load(Ordering::Relaxed), 12);
    }
}
