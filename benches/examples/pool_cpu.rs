//! Serial 2x2 max / average pooling measured in this thread's CPU time (not wall time),
//! so the figures hold while other processes share the cores: the channels-first op
//! (`nchw`), the channels-last op (`nhwc`) on the same data transposed, and the
//! permute + channels-first + permute path that 'tf' ordering took before (`permuted`),
//! forward alone and forward + backward, at the pooled shapes of W4 and W4b (as in the
//! `pool` bench), a 3x3, stride-2 'same' pooling (the general window loop: overlapping,
//! clipped windows) at the first W4 shape, and a 1-D pooling of 2 steps. Variants are timed in interleaved rounds; the
//! fastest round counts.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo run --release -p ferrokeras-benches --example pool_cpu`
//! (one thread: the CPU clock of the calling thread sees all the work). On a crowded
//! host, `POOL_CPU_SCALE=0.25` does a quarter of the rounds and calls (at least 2 and 3)
//! so that before/after builds can alternate more often.

use std::hint::black_box;

use ferrokeras::{Attr, Value};
use ferrokeras_benches::{data, ints, op, thread_cpu_seconds, Step};

/// (name, N x C x H x W, pool = strides, pads (top, bottom, left, right)).
type Case = (&'static str, [usize; 4], [usize; 2], [usize; 2], [usize; 4]);
const CASES: &[Case] = &[
    ("w4_32x32x28x28", [32, 32, 28, 28], [2, 2], [2, 2], [0; 4]),
    ("w4_32x64x10x10", [32, 64, 10, 10], [2, 2], [2, 2], [0; 4]),
    ("w4b_32x32x96x96", [32, 32, 96, 96], [2, 2], [2, 2], [0; 4]),
    ("w4b_32x64x44x44", [32, 64, 44, 44], [2, 2], [2, 2], [0; 4]),
    (
        "3x3s2same_32x32x28x28",
        [32, 32, 28, 28],
        [3, 3],
        [2, 2],
        [0, 1, 0, 1],
    ),
    // MaxPooling1D(2) on (32, 100 steps, 64 features), as the 1-D layers run it
    ("1d_32x64x100x1", [32, 64, 100, 1], [2, 1], [2, 1], [0; 4]),
];

fn main() {
    if ferrokeras::kernels::pool::threads() != 1 {
        eprintln!("note: run with RAYON_NUM_THREADS=1 (CPU time of this thread only)");
    }
    let scale: f64 = std::env::var("POOL_CPU_SCALE").map_or(1.0, |v| {
        v.parse()
            .expect("POOL_CPU_SCALE: a number (1 = the full run)")
    });
    let rounds = ((9.0 * scale).round() as usize).max(2);
    println!("op shape: CPU microseconds per call, fwd | fwd+bwd (nchw, nhwc, permuted)");
    for &(name, [n, c, h, w], pool_size, st, pd) in CASES {
        let oh = (h + pd[0] + pd[1] - pool_size[0]) / st[0] + 1;
        let ow = (w + pd[2] + pd[3] - pool_size[1]) / st[1] + 1;
        let len = n * c * h * w;
        let x_cf = Value::from_f32(&[n, c, h, w], data(len, 1)).unwrap();
        let x_cl = Value::from_f32(&[n, h, w, c], data(len, 1)).unwrap();
        let gy = data(n * c * oh * ow, 2);
        for opname in ["maxpool2d", "avgpool2d"] {
            let pool = |layout: &str| {
                op(
                    opname,
                    &[
                        ("pool", ints(&pool_size)),
                        ("strides", ints(&st)),
                        ("pads", ints(&pd)),
                        ("layout", Attr::Str(layout.into())),
                    ],
                )
            };
            let perm = |p: &[i64]| op("permute", &[("pattern", Attr::Ints(p.to_vec()))]);
            let mut cf = Step::new(pool("nchw"), len, &[n, c, oh, ow]);
            let mut cl = Step::new(pool("nhwc"), len, &[n, oh, ow, c]);
            let mut p_in = Step::new(perm(&[0, 3, 1, 2]), len, &[n, c, h, w]);
            let mut p_pool = Step::new(pool("nchw"), len, &[n, c, oh, ow]);
            let mut p_out = Step::new(perm(&[0, 2, 3, 1]), n * c * oh * ow, &[n, oh, ow, c]);
            let reps = (2e8 * scale / len as f64).max(3.0) as usize;
            let mut best = [f64::MAX; 6];
            for _ in 0..rounds {
                for (v, b) in best.iter_mut().enumerate() {
                    let t0 = thread_cpu_seconds();
                    for _ in 0..reps {
                        let bwd = v >= 3;
                        match v % 3 {
                            0 => {
                                cf.fwd(&x_cf);
                                if bwd {
                                    cf.bwd(&x_cf, &gy);
                                }
                            }
                            1 => {
                                cl.fwd(&x_cl);
                                if bwd {
                                    cl.bwd(&x_cl, &gy);
                                }
                            }
                            _ => {
                                p_in.fwd(&x_cl);
                                p_pool.fwd(&p_in.y);
                                p_out.fwd(&p_pool.y);
                                if bwd {
                                    p_out.bwd(&p_pool.y, &gy);
                                    p_pool.bwd(&p_in.y, &p_out.gx);
                                    p_in.bwd(&x_cl, &p_pool.gx);
                                }
                            }
                        }
                        black_box((&cf.gx, &cl.gx, &p_in.gx));
                    }
                    *b = b.min((thread_cpu_seconds() - t0) / reps as f64);
                }
            }
            let us = best.map(|t| t * 1e6);
            println!(
                "{opname} {name}: fwd {:.0} {:.0} {:.0} | fwd+bwd {:.0} {:.0} {:.0}  \
                 (nhwc/nchw {:.2}x {:.2}x, nhwc/permuted {:.2}x {:.2}x)",
                us[0],
                us[1],
                us[2],
                us[3],
                us[4],
                us[5],
                us[1] / us[0],
                us[4] / us[3],
                us[1] / us[2],
                us[4] / us[5]
            );
        }
    }
}
