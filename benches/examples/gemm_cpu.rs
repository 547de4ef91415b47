//! Serial gemm throughput measured in this thread's CPU time (not wall time), so the
//! figure holds while other processes share the cores: `sgemm_serial` (the engine's own
//! kernels) at the workload shapes and the batch-256 dense layers.
//!
//! Run: `cargo run --release -p ferrokeras-benches --example gemm_cpu`

use ferrokeras::kernels::gemm::sgemm_serial;
use ferrokeras_benches::{thread_cpu_seconds, Product};

fn main() {
    for mut p in Product::all_shapes() {
        let reps = ((2e9 / p.flops()) as usize).max(10);
        let mut best = f64::MAX;
        for _ in 0..7 {
            let t0 = thread_cpu_seconds();
            for _ in 0..reps {
                p.run(sgemm_serial);
            }
            best = best.min((thread_cpu_seconds() - t0) / reps as f64);
        }
        println!(
            "{}: {:.1} GFLOP/s ({:.2} us)",
            p.name(),
            p.flops() / best * 1e-9,
            best * 1e6
        );
    }
}
