//! Serial gemm throughput measured in this thread's CPU time (not wall time), so the
//! figure holds while other processes share the cores: `sgemm_serial` (the engine's own
//! kernels) next to the `gemm` crate forced to one thread, at the workload shapes.
//!
//! Run: `cargo run --release -p ferrokeras-benches --example gemm_cpu`

use std::hint::black_box;

use ferrokeras::kernels::gemm::{sgemm_serial, Operand};
use ferrokeras_benches::{data, thread_cpu_seconds, WORKLOAD_GEMMS};

fn main() {
    for (m, k, n, at, bt) in WORKLOAD_GEMMS {
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
