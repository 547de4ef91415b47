//! Wall-clock time of the threaded `sgemm` against `sgemm_serial`, interleaved call by
//! call so that a drifting host load affects both alike. Prints the median of each.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo run --release -p ferrokeras-benches --example gemm_par`

use std::hint::black_box;
use std::time::Instant;

use ferrokeras::kernels::gemm::{sgemm, sgemm_serial, Operand};
use ferrokeras_benches::{data, WORKLOAD_GEMMS};

fn shapes() -> impl Iterator<Item = (usize, usize, usize, bool, bool)> {
    WORKLOAD_GEMMS
        .into_iter()
        .chain([(256, 784, 512, false, false)])
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    for (m, k, n, at, bt) in shapes() {
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let reps = ((5e8 / flops) as usize).clamp(5, 2000);
        let (mut par, mut ser) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            type Gemm = fn(usize, usize, usize, Operand, Operand, &mut [f32], bool);
            for (which, f) in [(0, sgemm as Gemm), (1, sgemm_serial)] {
                let t0 = Instant::now();
                f(
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
                let dt = t0.elapsed().as_secs_f64();
                if which == 0 {
                    par.push(dt)
                } else {
                    ser.push(dt)
                }
            }
        }
        let (p, s) = (median(&mut par), median(&mut ser));
        println!(
            "{m}x{k}x{n}{}{}: threaded {:.1} GFLOP/s, serial {:.1} GFLOP/s, speed-up {:.2}",
            if at { "_at" } else { "" },
            if bt { "_bt" } else { "" },
            flops / p * 1e-9,
            flops / s * 1e-9,
            s / p
        );
    }
}
