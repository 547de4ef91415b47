//! Winograd F(2x2, 3x3) correlation against the direct gathered product at the W4
//! layer shapes (channels-last), per sample, in this thread's CPU time.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo run --release -p ferrokeras-benches --example winograd_parts`

use ferrokeras::kernels::winograd::{correlate, transform_kernel, Plan};
use ferrokeras_benches::{data, thread_cpu_seconds};

/// Best of 7 timings of `reps` calls, in µs per call.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t0 = thread_cpu_seconds();
        for _ in 0..reps {
            f();
        }
        best = best.min((thread_cpu_seconds() - t0) / reps as f64);
    }
    best * 1e6
}

fn main() {
    for &(c, h, w, o) in &[
        (32, 30, 30, 32),
        (32, 14, 14, 64),
        (64, 12, 12, 64),
        (64, 26, 26, 64),
    ] {
        let p = Plan { h, w, c, o };
        let x = data(h * w * c, 1);
        let g = data(9 * c * o, 2);
        let mut kbuf = vec![0.0; p.kernel_len()];
        let mut tmp = vec![0.0; p.kernel_tmp_len()];
        let u = transform_kernel(
            &p,
            |a, b, ci, oi| g[((a * 3 + b) * c + ci) * o + oi],
            &mut tmp,
            &mut kbuf,
        );
        let mut scratch = vec![0.0; p.scratch_len()];
        let mut y = vec![0.0; (h - 2) * (w - 2) * o];
        let us = time(200, || {
            correlate(&p, &x, &u, &mut y, false, &mut scratch, 1)
        });
        let flops = 2.0 * ((h - 2) * (w - 2) * o * c * 9) as f64;
        println!(
            "C{c} {h}x{w} O{o}: winograd {us:.1} us ({:.0} direct-equivalent GF/s)",
            flops / us / 1e3
        );
    }
}
