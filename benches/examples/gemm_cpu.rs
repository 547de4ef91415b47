//! Serial gemm throughput measured in this thread's CPU time (not wall time), so the
//! figure holds while other processes share the cores: `sgemm_serial` (the engine's own
//! kernels) next to the `gemm` crate forced to one thread, at the workload shapes.
//!
//! Run: `cargo run --release -p ferrokeras-benches --example gemm_cpu`

use std::hint::black_box;

use ferrokeras::kernels::gemm::{sgemm_serial, Operand};

/// (M, K, N, transpose A, transpose B), as in `benches/gemm.rs`.
const SHAPES: &[(usize, usize, usize, bool, bool)] = &[
    (32, 784, 32, false, false),
    (784, 32, 32, true, false),
    (32, 32, 784, false, true),
    (128, 784, 512, false, false),
    (128, 784, 512, false, true),
    (128, 512, 512, false, false),
    (32, 128, 512, false, false),
];

fn thread_cpu_seconds() -> f64 {
    let mut ts = libc_timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { clock_gettime(3, &mut ts) }; // CLOCK_THREAD_CPUTIME_ID
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[repr(C)]
struct libc_timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clk: i32, ts: *mut libc_timespec) -> i32;
}

fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
        })
        .collect()
}

fn main() {
    for &(m, k, n, at, bt) in SHAPES {
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let reps = ((2e9 / flops) as usize).max(10);
        let mut best = f64::MAX;
        for _ in 0..7 {
            let t0 = thread_cpu_seconds();
            for _ in 0..reps {
                sgemm_serial(
                    m,
                    n,
                    k,
                    Operand {
                        data: black_box(&a),
                        trans: at,
                    },
                    Operand {
                        data: black_box(&b),
                        trans: bt,
                    },
                    &mut c,
                    false,
                );
            }
            best = best.min((thread_cpu_seconds() - t0) / reps as f64);
        }
        println!(
            "{m}x{k}x{n}{}{}: {:.1} GFLOP/s ({:.2} us)",
            if at { "_at" } else { "" },
            if bt { "_bt" } else { "" },
            flops / best * 1e-9,
            best * 1e6
        );
    }
}
