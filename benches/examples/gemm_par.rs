//! Wall-clock time of the threaded `sgemm` against `sgemm_serial`, interleaved call by
//! call so that a drifting host load affects both alike. Prints the median of each, and
//! the process CPU time per threaded call over the serial call's: the work the split
//! adds (1.00 = none), which the host's load does not change the way it changes wall
//! time.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo run --release -p ferrokeras-benches --example gemm_par`

use std::time::Instant;

use ferrokeras::kernels::gemm::{sgemm, sgemm_serial};
use ferrokeras_benches::{process_cpu_seconds, Gemm, Product};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    for mut p in Product::all_shapes() {
        let reps = ((5e8 / p.flops()) as usize).clamp(5, 2000);
        // [threaded, serial] wall times and CPU times.
        let (mut wall, mut cpu) = ([Vec::new(), Vec::new()], [0.0, 0.0]);
        for _ in 0..reps {
            for (which, f) in [sgemm as Gemm, sgemm_serial].into_iter().enumerate() {
                let (t0, c0) = (Instant::now(), process_cpu_seconds());
                p.run(f);
                wall[which].push(t0.elapsed().as_secs_f64());
                cpu[which] += process_cpu_seconds() - c0;
            }
        }
        let [par, ser] = &mut wall;
        let (t, s) = (median(par), median(ser));
        println!(
            "{}: threaded {:.1} GFLOP/s, serial {:.1} GFLOP/s, speed-up {:.2}, CPU time {:.2}x",
            p.name(),
            p.flops() / t * 1e-9,
            p.flops() / s * 1e-9,
            s / t,
            cpu[0] / cpu[1]
        );
    }
}
