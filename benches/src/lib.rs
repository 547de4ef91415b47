//! Shared pieces of the benchmarks in `benches/benches/` and the measuring examples in
//! `benches/examples/`: the inputs, the workload gemm shapes, a per-thread CPU clock and
//! the layer shapes run in both orderings ([`layouts`]).

pub mod layouts;

/// The gemm shapes the benchmark workloads use, as (M, K, N, transpose A, transpose B):
/// the small MNIST MLP layer and its two gradients, the MNIST MLP's first dense layer
/// (and its transposed-B backward), its hidden layer, and an LSTM gate product.
pub const WORKLOAD_GEMMS: [(usize, usize, usize, bool, bool); 7] = [
    (32, 784, 32, false, false),
    (784, 32, 32, true, false),
    (32, 32, 784, false, true),
    (128, 784, 512, false, false),
    (128, 784, 512, false, true),
    (128, 512, 512, false, false),
    (32, 128, 512, false, false),
];

/// Deterministic values in [-1, 1) (a multiplicative hash of the index).
pub fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
        })
        .collect()
}

/// This thread's CPU time in seconds (`CLOCK_THREAD_CPUTIME_ID`): what another
/// process's load changes least, unlike wall time.
#[cfg(target_os = "linux")]
pub fn thread_cpu_seconds() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec; 3 is CLOCK_THREAD_CPUTIME_ID on Linux.
    unsafe { clock_gettime(3, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}
