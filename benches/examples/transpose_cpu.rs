//! The blocked transpose at the per-sample shapes of channels-first Winograd
//! convolutions (C x HW into HW x C and back), in this thread's CPU time.
//!
//! Run: `cargo run --release -p ferrokeras-benches --example transpose_cpu`

use std::hint::black_box;

use ferrokeras::kernels::transpose::transpose;
use ferrokeras_benches::thread_cpu_seconds;

const CASES: &[(usize, usize)] = &[
    (32, 900),
    (784, 32),
    (32, 196),
    (144, 64),
    (64, 144),
    (100, 64),
];

fn main() {
    for &(rows, cols) in CASES {
        let n = rows * cols;
        // A batch of 256 samples (cold: 256 x the sample is far beyond L2) vs one (hot).
        for (samples, dst_samples) in [(1usize, 1usize), (256, 1), (1, 256)] {
            let src: Vec<f32> = (0..n * samples).map(|i| i as f32).collect();
            let mut dst = vec![0.0f32; n * dst_samples];
            let mut best = f64::INFINITY;
            for _ in 0..10 {
                let t = thread_cpu_seconds();
                for k in 0..256 {
                    let s = k % samples;
                    transpose(
                        black_box(&src[s * n..][..n]),
                        rows,
                        cols,
                        black_box(&mut dst[(k % dst_samples) * n..][..n]),
                    );
                }
                best = best.min((thread_cpu_seconds() - t) / 256.0);
            }
            println!(
                "{rows:4}x{cols:<4} {}: {:7.2} us  {:5.2} ns/element",
                match (samples, dst_samples) {
                    (1, 1) => "hot         ",
                    (1, _) => "cold dst    ",
                    _ => "cold src    ",
                },
                best * 1e6,
                best * 1e9 / n as f64
            );
        }
    }
}
