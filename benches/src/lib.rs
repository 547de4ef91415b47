//! Shared pieces of the benchmarks in `benches/benches/` and the measuring examples in
//! `benches/examples/`: the inputs, the workload gemm shapes, a per-thread CPU clock,
//! an op built from arguments, one op's training step ([`Step`]), the recurrent ops'
//! inputs, interleaved timing ([`ratio`]) and the layer shapes run in both orderings
//! ([`layouts`]).

use std::time::Instant;

use ferrokeras::ops::{build, OpCtx, OpRef, Scratch};
use ferrokeras::{Attr, Attrs, DType, Value};

pub mod layouts;

use ferrokeras::kernels::gemm::Operand;

/// The gemm shapes the benchmark workloads use, as (M, K, N, transpose A, transpose B):
/// the small MNIST MLP layer and its two gradients (batch 32, then the forward and
/// weight gradient at batch 128), the MNIST MLP's first dense layer
/// (and its transposed-B backward), its hidden layer, and an LSTM gate product.
pub const WORKLOAD_GEMMS: [(usize, usize, usize, bool, bool); 9] = [
    (32, 784, 32, false, false),
    (784, 32, 32, true, false),
    (128, 784, 32, false, false),
    (784, 128, 32, true, false),
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

/// W5's LSTM products over a whole batch (B 32, T 80, D = U 128, 4 gates): the input
/// projection, and the backward's dx = dZ·Wᵀ, dW = xᵀ·dZ (dU = hᵀ·dZ has the same shape).
/// The per-step recurrent product is `WORKLOAD_GEMMS`' 32x128x512.
pub const RNN_GEMMS: [(usize, usize, usize, bool, bool); 3] = [
    (2560, 128, 512, false, false),
    (2560, 512, 128, false, true),
    (128, 2560, 512, true, false),
];

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
    /// A product for each shape of [`WORKLOAD_GEMMS`], [`BATCH256_GEMMS`] and
    /// [`RNN_GEMMS`], in that order (the gemm examples' list).
    pub fn all_shapes() -> impl Iterator<Item = Product> {
        WORKLOAD_GEMMS
            .into_iter()
            .chain(BATCH256_GEMMS)
            .chain(RNN_GEMMS)
            .map(Product::new)
    }

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

/// Deterministic values in [-scale, scale): [`data`] scaled.
pub fn data_scaled(len: usize, seed: u32, scale: f32) -> Vec<f32> {
    data(len, seed).into_iter().map(|v| v * scale).collect()
}

/// An `Ints` attribute.
pub fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&a| a as i64).collect())
}

/// The op `name` with `(key, attr)` arguments.
pub fn op(name: &str, attrs: &[(&str, Attr)]) -> OpRef {
    let mut a = Attrs::new(name);
    for (k, v) in attrs {
        a.set(k, v.clone());
    }
    build(name, &a).unwrap()
}

/// One op on one input: buffers for its output and input gradient, and its scratch.
pub struct Step {
    /// The op.
    pub op: OpRef,
    /// Its output.
    pub y: Value,
    /// The input gradient of the last [`Step::bwd`].
    pub gx: Vec<f32>,
    scratch: Scratch,
}

impl Step {
    /// The step of `op` on an input of `in_len` floats, giving an output of `out_shape`.
    pub fn new(op: OpRef, in_len: usize, out_shape: &[usize]) -> Step {
        Step {
            op,
            y: Value::zeros(DType::F32, out_shape),
            gx: vec![0.0; in_len],
            scratch: Scratch::default(),
        }
    }

    /// Forward on `x`.
    pub fn fwd(&mut self, x: &Value) {
        let mut ctx = OpCtx {
            scratch: &mut self.scratch,
        };
        self.op.forward(&[x], &mut self.y, &mut ctx).unwrap();
    }

    /// Input gradient for `gy` (overwritten, as the executor hands out zeroed buffers).
    pub fn bwd(&mut self, x: &Value, gy: &[f32]) {
        self.gx.fill(0.0);
        let mut ctx = OpCtx {
            scratch: &mut self.scratch,
        };
        self.op
            .backward_one(0, &[x], &self.y, gy, &mut self.gx, &mut ctx)
            .unwrap();
    }
}

/// The inputs of a fused recurrent op of `gates` gates (4: LSTM, which also takes an
/// initial cell state; 3: GRU; 1: SimpleRNN): x (batch, steps, input_dim), W, U, b and
/// the initial state(s), deterministic, the weights and states small.
pub fn rnn_inputs(
    gates: usize,
    batch: usize,
    steps: usize,
    input_dim: usize,
    units: usize,
) -> Vec<Value> {
    let (g, u) = (gates, units);
    let f = |s: &[usize], seed, scale| {
        Value::from_f32(s, data_scaled(s.iter().product(), seed, scale)).unwrap()
    };
    let mut ins = vec![
        f(&[batch, steps, input_dim], 1, 1.0),
        f(&[input_dim, g * u], 2, 0.1),
        f(&[u, g * u], 3, 0.1),
        f(&[g * u], 4, 0.1),
        f(&[batch, u], 5, 0.5),
    ];
    if gates == 4 {
        ins.push(f(&[batch, u], 6, 0.5));
    }
    ins
}

/// Fastest-round time of `a` over fastest-round time of `b`, from 15 interleaved rounds
/// of enough calls for about 20 ms each (wall time; the fastest round of each, so a
/// busy machine that slows one of them for a while does not skew it).
pub fn ratio(a: &mut impl FnMut(), b: &mut impl FnMut()) -> f64 {
    let calls = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        (0.02 / t.elapsed().as_secs_f64().max(1e-7)).clamp(1.0, 10_000.0) as usize
    };
    let (na, nb) = (calls(a), calls(b));
    let round = |f: &mut dyn FnMut(), k: usize| {
        let t = Instant::now();
        for _ in 0..k {
            f();
        }
        t.elapsed().as_secs_f64() / k as f64
    };
    let (mut ta, mut tb) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..15 {
        ta = ta.min(round(a, na));
        tb = tb.min(round(b, nb));
    }
    ta / tb
}
