//! The one rayon pool. It is rayon's global pool, built on first use so that its
//! workers run with denormals flushed; its size honours `RAYON_NUM_THREADS` (rayon's
//! own rule) and defaults to the number of cores.

use std::sync::Once;

static INIT: Once = Once::new();

/// Builds the global pool if nobody has yet. Cheap after the first call.
pub fn init() {
    INIT.call_once(|| {
        // An error means some other code built the global pool first; then its workers
        // keep their own FP mode, which only costs speed on subnormal inputs.
        let _ = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("ferrokeras-{i}"))
            .start_handler(|_| super::fpmode::enable_for_thread())
            .build_global();
    });
}

/// Number of threads of the pool.
pub fn threads() -> usize {
    init();
    rayon::current_num_threads()
}
