//! Shared pieces of the benchmarks in `benches/benches/` and the measuring examples in
//! `benches/examples/`: the inputs, the workload gemm shapes, a per-thread CPU clock and
//! the layer shapes run in both orderings ([`layouts`]).

pub mod layouts;

use ferrokeras::kernels::gemm::Operand;

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

/// The W3/W8a shapes at the predict batch of 256 (first and hidden dense layer), which
/// the threaded measurements add to [`WORKLOAD_GEMMS`].
pub const BATCH256_GEMMS: [(usize, usize, usize, bool, bool); 2] =
    [(256, 784, 512, false, false), (256, 512, 512, false, false)];

/// A gemm entry point of the engine (`sgemm`, `sgemm_serial`, ...).
pub type Gemm = fn(usize, usize, usize, Operand, Operand, &mut [f32], bool);

/// One product of a benchmark shape with its operands, to be run over and over.
pub struct Product {
    /// (M, K, N, transpose A, transpose B)
    pub shape: (usize, usize, usize, bool, bool),
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Product {
    /// Deterministic operands for `shape` (stored `m x k` or `k x m` when used
    /// transposed: the same length either way; likewise B).
    pub fn new(shape: (usize, usize, usize, bool, bool)) -> Product {
        let (m, k, n, _, _) = shape;
        Product {
            shape,
            a: data(m * k, 1),
            b: data(k * n, 2),
            c: vec![0.0; m * n],
        }
    }

    /// Computes C = op(A) op(B) with `f`.
    pub fn run(&mut self, f: Gemm) {
        let (m, k, n, at, bt) = self.shape;
        let a = Operand {
            data: std::hint::black_box(&self.a),
            trans: at,
        };
        let b = Operand {
            data: std::hint::black_box(&self.b),
            trans: bt,
        };
        f(m, n, k, a, b, std::hint::black_box(&mut self.c), false);
    }

    /// FLOPs of one product (2 per multiply-add).
    pub fn flops(&self) -> f64 {
        let (m, k, n, _, _) = self.shape;
        2.0 * (m * n * k) as f64
    }

    /// `MxKxN`, with `_at` / `_bt` for a transposed operand.
    pub fn name(&self) -> String {
        let (m, k, n, at, bt) = self.shape;
        format!(
            "{m}x{k}x{n}{}{}",
            if at { "_at" } else { "" },
            if bt { "_bt" } else { "" }
        )
    }
}

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
    // 3 is CLOCK_THREAD_CPUTIME_ID on Linux.
    cpu_clock(3)
}

/// The CPU time of all this process's threads in seconds (`CLOCK_PROCESS_CPUTIME_ID`):
/// compared with one thread's time for the same work, the work a parallel split adds
/// (spinning, repacking, cache misses), whatever the host's load does to wall time.
#[cfg(target_os = "linux")]
pub fn process_cpu_seconds() -> f64 {
    // 2 is CLOCK_PROCESS_CPUTIME_ID on Linux.
    cpu_clock(2)
}

#[cfg(target_os = "linux")]
fn cpu_clock(clk: i32) -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { clock_gettime(clk, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}
