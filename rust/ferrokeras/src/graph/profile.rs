//! Optional per-op timing of Program runs, for finding where a step's time goes.
//!
//! Enabled by setting `FERROKERAS_PROFILE=1` in the environment before the first run;
//! [`report`] returns the accumulated (op, phase, calls, seconds) rows. When disabled the
//! cost is one relaxed atomic load per node.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static STATE: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 off, 2 on
/// (op name, phase) -> (calls, seconds).
type Table = HashMap<(String, &'static str), (u64, f64)>;

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// True when profiling is on.
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var("FERROKERAS_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0");
            STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        s => s == 2,
    }
}

/// Starts timing when profiling is on.
pub fn start() -> Option<Instant> {
    enabled().then(Instant::now)
}

/// Adds the time since `t0` to the (op, phase) row.
pub fn record(op: &str, phase: &'static str, t0: Option<Instant>) {
    if let Some(t0) = t0 {
        let dt = t0.elapsed().as_secs_f64();
        let mut t = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let e = t
            .get_or_insert_with(HashMap::new)
            .entry((op.to_string(), phase))
            .or_insert((0, 0.0));
        e.0 += 1;
        e.1 += dt;
    }
}

/// The accumulated rows, slowest first, and clears them.
pub fn report() -> Vec<(String, String, u64, f64)> {
    let mut t = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let mut rows: Vec<_> = t
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(|((op, ph), (n, s))| (op, ph.to_string(), n, s))
        .collect();
    rows.sort_by(|a, b| b.3.total_cmp(&a.3));
    rows
}
