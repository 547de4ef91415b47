//! Criterion benchmarks of the fused `lstm_sequence` / `gru_sequence` ops at the
//! shapes of the W5 (IMDB LSTM) and W7 (GRU sequence model) workloads, next to the
//! per-step recurrent gemm of the same size.
//!
//! Ids: `rnn_fwd/<cell>_<shape>`, `rnn_fwdbwd/<cell>_<shape>` (forward plus the
//! gradients of every input, what a training step runs) and `gemm_step/<cell>_<shape>`
//! (one `sgemm` of B x U x G·U, the recurrent product of one timestep). Throughput
//! counts the gemm FLOPs of the op: forward 2·T·B·G·U·(D + U), forward + backward three
//! times that, so criterion's "elem/s" is GFLOP/s of useful gemm work (gate math and
//! copies are overhead on top).
//!
//! Run: `RAYON_NUM_THREADS=2 cargo bench -p ferrokeras-benches --bench recurrent`

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::group;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokeras::kernels::gemm::{sgemm, Operand};
use ferrokeras::ops::{build, OpCtx, Scratch};
use ferrokeras::{Attrs, DType, Value};
use ferrokeras_benches::{data_scaled, rnn_inputs};

/// (name, batch, timesteps, input_dim, units)
const SHAPES: &[(&str, usize, usize, usize, usize)] = &[
    ("w5_b32_t80_i128_u128", 32, 80, 128, 128),
    ("w7a_b16_t16_i256_u128", 16, 16, 256, 128),
    ("w7b_b16_t16_i128_u256", 16, 16, 128, 256),
];

const CELLS: &[(&str, &str, usize)] = &[("lstm", "lstm_sequence", 4), ("gru", "gru_sequence", 3)];

struct Case {
    id: String,
    ins: Vec<Value>,
    op: ferrokeras::ops::OpRef,
    out: Value,
    scratch: Scratch,
    flops: u64,
}

fn cases() -> Vec<Case> {
    let mut v = vec![];
    for &(cell, opname, g) in CELLS {
        for &(shape, b, t, d, u) in SHAPES {
            let ins = rnn_inputs(g, b, t, d, u);
            let op = build(opname, &Attrs::new(opname)).unwrap();
            v.push(Case {
                id: format!("{cell}_{shape}"),
                ins,
                op,
                out: Value::zeros(DType::F32, &[b, t, u]),
                scratch: Scratch::default(),
                flops: (2 * t * b * g * u * (d + u)) as u64,
            });
        }
    }
    v
}

fn bench_recurrent(c: &mut Criterion) {
    let mut cases = cases();
    let mut fwd = group(c, "rnn_fwd");
    for cs in cases.iter_mut() {
        fwd.throughput(Throughput::Elements(cs.flops));
        let refs: Vec<&Value> = cs.ins.iter().collect();
        fwd.bench_function(&cs.id, |bench| {
            bench.iter(|| {
                let mut ctx = OpCtx {
                    scratch: &mut cs.scratch,
                };
                cs.op.forward(&refs, &mut cs.out, &mut ctx).unwrap();
                black_box(&cs.out);
            })
        });
    }
    fwd.finish();

    let mut both = group(c, "rnn_fwdbwd");
    for cs in cases.iter_mut() {
        both.throughput(Throughput::Elements(3 * cs.flops));
        let refs: Vec<&Value> = cs.ins.iter().collect();
        let gout = data_scaled(cs.out.len(), 7, 0.1);
        let mut grads: Vec<Vec<f32>> = cs.ins.iter().map(|x| vec![0.0; x.len()]).collect();
        let wanted: Vec<usize> = (0..cs.ins.len()).collect();
        both.bench_function(&cs.id, |bench| {
            bench.iter(|| {
                let mut ctx = OpCtx {
                    scratch: &mut cs.scratch,
                };
                cs.op.forward(&refs, &mut cs.out, &mut ctx).unwrap();
                for gin in grads.iter_mut() {
                    gin.fill(0.0);
                }
                // one call for every input gradient, as the executor makes it
                let mut gs: Vec<&mut [f32]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
                cs.op
                    .backward_many(&wanted, &refs, &cs.out, &gout, &mut gs, &mut ctx)
                    .unwrap();
                black_box(&grads);
            })
        });
    }
    both.finish();

    let mut gemm = c.benchmark_group("gemm_step");
    gemm.sample_size(20);
    gemm.warm_up_time(Duration::from_millis(500));
    gemm.measurement_time(Duration::from_millis(1500));
    for &(cell, _, g) in CELLS {
        for &(shape, b, _, _, u) in SHAPES {
            let a = data_scaled(b * u, 1, 1.0);
            let w = data_scaled(u * g * u, 2, 0.1);
            let mut out = vec![0.0f32; b * g * u];
            gemm.throughput(Throughput::Elements((2 * b * u * g * u) as u64));
            gemm.bench_function(format!("{cell}_{shape}"), |bench| {
                bench.iter(|| {
                    sgemm(
                        b,
                        g * u,
                        u,
                        Operand {
                            data: &a,
                            trans: false,
                        },
                        Operand {
                            data: &w,
                            trans: false,
                        },
                        &mut out,
                        false,
                    );
                    black_box(&out);
                })
            });
        }
    }
    gemm.finish();
}

criterion_group!(benches, bench_recurrent);
criterion_main!(benches);
