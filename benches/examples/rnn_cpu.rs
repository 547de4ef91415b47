//! The fused recurrent ops at the W5/W6/W7 shapes, timed in this thread's CPU time (so
//! the figures hold on a shared host): forward, and one `backward_many` for every input
//! gradient (what a training step runs after it). Prints the median and the fastest of
//! `--reps` timings per phase, the gemm GFLOP/s of the fastest (forward 2·T·B·G·U·(D+U)
//! FLOPs, backward twice that), and a checksum of the output and the gradients, so two
//! builds can be compared for bitwise-equal results as well as for time.
//!
//! With `--wall` it times wall-clock seconds instead: the figure for more than one
//! thread (the lanes run on the pool's threads, whose CPU time the calling thread's
//! clock does not see); on a shared host, compare builds only interleaved.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo run --release -p ferrokeras-benches --example rnn_cpu
//! [-- --reps N] [--case SUBSTRING] [--wall]`

use std::hint::black_box;
use std::time::Instant;

use ferrokeras::ops::{build, OpCtx, Scratch};
use ferrokeras::{Attrs, DType, Value};
use ferrokeras_benches::{data_scaled, rnn_inputs, thread_cpu_seconds};

/// (name, op, gates, batch, timesteps, input_dim, units)
const CASES: &[(&str, &str, usize, usize, usize, usize, usize)] = &[
    (
        "lstm_w5_b32_t80_i128_u128",
        "lstm_sequence",
        4,
        32,
        80,
        128,
        128,
    ),
    ("lstm_w6_b64_t8_i32_u32", "lstm_sequence", 4, 64, 8, 32, 32),
    (
        "gru_w7a_b16_t16_i256_u128",
        "gru_sequence",
        3,
        16,
        16,
        256,
        128,
    ),
    (
        "gru_w7b_b16_t16_i128_u256",
        "gru_sequence",
        3,
        16,
        16,
        128,
        256,
    ),
];

/// FNV-1a over the bits of every value (order-sensitive).
fn checksum(vs: &[&[f32]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for v in vs {
        for x in v.iter() {
            h = (h ^ x.to_bits() as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let only = args
        .iter()
        .position(|a| a == "--case")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let start = Instant::now();
    let wall = args.iter().any(|a| a == "--wall");
    let clock = || {
        if wall {
            start.elapsed().as_secs_f64()
        } else {
            thread_cpu_seconds()
        }
    };
    for &(id, opname, g, b, t, d, u) in CASES.iter().filter(|c| c.0.contains(&only)) {
        let ins = rnn_inputs(g, b, t, d, u);
        let op = build(opname, &Attrs::new(opname)).unwrap();
        let refs: Vec<&Value> = ins.iter().collect();
        let mut out = Value::zeros(DType::F32, &[b, t, u]);
        let mut scratch = Scratch::default();
        let gout = data_scaled(out.len(), 7, 0.1);
        let wanted: Vec<usize> = (0..ins.len()).collect();
        let mut grads: Vec<Vec<f32>> = ins.iter().map(|x| vec![0.0; x.len()]).collect();
        let flops = 2.0 * (t * b * g * u * (d + u)) as f64;
        let inner = ((2e8 / flops) as usize).max(1);
        let (mut fw, mut bw) = (vec![], vec![]);
        for _ in 0..reps {
            // forward and backward alternate, as in training (a backward always follows
            // its own forward)
            let (mut tf, mut tb) = (0.0, 0.0);
            for _ in 0..inner {
                let mut ctx = OpCtx {
                    scratch: &mut scratch,
                };
                for gin in grads.iter_mut() {
                    gin.fill(0.0);
                }
                let t0 = clock();
                op.forward(&refs, &mut out, &mut ctx).unwrap();
                let t1 = clock();
                let mut gs: Vec<&mut [f32]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
                op.backward_many(&wanted, &refs, &out, &gout, &mut gs, &mut ctx)
                    .unwrap();
                tb += clock() - t1;
                tf += t1 - t0;
            }
            fw.push(tf / inner as f64);
            bw.push(tb / inner as f64);
            black_box(&grads);
        }
        let (fmin, bmin) = (
            fw.iter().copied().fold(f64::MAX, f64::min),
            bw.iter().copied().fold(f64::MAX, f64::min),
        );
        let mut all: Vec<&[f32]> = vec![&out.f];
        all.extend(grads.iter().map(|v| v.as_slice()));
        println!(
            "{id}: forward {:.3} ms (min {:.3}, {:.1} GFLOP/s), backward {:.3} ms (min {:.3}, {:.1} GFLOP/s), checksum {:016x}",
            median(&mut fw) * 1e3,
            fmin * 1e3,
            flops / fmin * 1e-9,
            median(&mut bw) * 1e3,
            bmin * 1e3,
            2.0 * flops / bmin * 1e-9,
            checksum(&all)
        );
    }
}
