//! Criterion benchmarks of the `conv3d` op (volumetric im2col + gemm), next to one gemm
//! of the same size.
//!
//! Shapes: a small C3D-style video block (16 frames of 32x32, 3x3x3 'same' kernels, the
//! layout Keras 1's Convolution3D examples use) and a 1x1x1 channel mix, channels-first.
//!
//! Ids: `conv3d_fwd/<name>`, `conv3d_bwd/<name>` (kernel and input gradients, the
//! backward of a training step) and `gemm_same3d/<name>`: one `sgemm` of
//! M = nb_filter, K = stack·k1·k2·k3, N = batch·d_out·h_out·w_out, the FLOPs of the
//! forward. Throughput is 2·M·N·K (forward) and 4·M·N·K (backward) elements, so
//! criterion's "elem/s" is FLOP/s.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo bench -p ferrokeras-benches --bench conv3d`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokeras::kernels::gemm::{sgemm, Operand};
use ferrokeras::ops::{build, OpCtx, Scratch};
use ferrokeras::{Attr, Attrs, DType, Value};
use ferrokeras_benches::data;

/// (name, batch, stack, depth, rows, cols, nb_filter, kernel side); 'same' padding.
type Shape = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

const SHAPES: &[Shape] = &[
    ("c3d_3to16_16x32x32_k3", 8, 3, 16, 32, 32, 16, 3),
    ("c3d_16to32_8x16x16_k3", 8, 16, 8, 16, 16, 32, 3),
    ("mix_32to32_8x16x16_k1", 8, 32, 8, 16, 16, 32, 1),
];

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(800));
    g.measurement_time(Duration::from_millis(2500));
    g
}

fn bench_conv3d(c: &mut Criterion) {
    let mut fwd = group(c, "conv3d_fwd");
    let mut cases = vec![];
    for &(name, n, ci, d, h, w, o, k) in SHAPES {
        let x = Value::from_f32(&[n, ci, d, h, w], data(n * ci * d * h * w, 1)).unwrap();
        let kv = Value::from_f32(&[o, ci, k, k, k], data(o * ci * k * k * k, 2)).unwrap();
        let p = (k / 2) as i64;
        let op = build(
            "conv3d",
            &Attrs::new("conv3d")
                .with("flip", Attr::Bool(true))
                .with("pads", Attr::Ints(vec![p; 6])),
        )
        .unwrap();
        let mut y = Value::zeros(DType::F32, &[n, o, d, h, w]);
        let mut scratch = Scratch::default();
        let macs = o * ci * k * k * k * n * d * h * w;
        fwd.throughput(Throughput::Elements(2 * macs as u64));
        fwd.bench_function(name, |b| {
            b.iter(|| {
                op.forward(
                    &[&x, &kv],
                    &mut y,
                    &mut OpCtx {
                        scratch: &mut scratch,
                    },
                )
                .unwrap();
                black_box(&y);
            })
        });
        cases.push((name, x, kv, op, y, scratch, macs));
    }
    fwd.finish();

    let mut bwd = group(c, "conv3d_bwd");
    for (name, x, k, op, y, scratch, macs) in cases.iter_mut() {
        let g = data(y.len(), 3);
        let mut gx = vec![0.0f32; x.len()];
        let mut gk = vec![0.0f32; k.len()];
        bwd.throughput(Throughput::Elements(4 * *macs as u64));
        bwd.bench_function(*name, |b| {
            b.iter(|| {
                let mut ctx = OpCtx { scratch };
                op.backward(1, &[x, k], y, &g, &mut gk, &mut ctx).unwrap();
                op.backward(0, &[x, k], y, &g, &mut gx, &mut ctx).unwrap();
                black_box((&gx, &gk));
            })
        });
    }
    bwd.finish();

    let mut gemm = group(c, "gemm_same3d");
    for &(name, n, ci, d, h, w, o, k) in SHAPES {
        let (m, kk, nn) = (o, ci * k * k * k, n * d * h * w);
        let a = data(m * kk, 1);
        let b_ = data(kk * nn, 2);
        let mut out = vec![0.0f32; m * nn];
        gemm.throughput(Throughput::Elements((2 * m * kk * nn) as u64));
        gemm.bench_function(name, |b| {
            b.iter(|| {
                sgemm(
                    m,
                    nn,
                    kk,
                    Operand {
                        data: &a,
                        trans: false,
                    },
                    Operand {
                        data: &b_,
                        trans: false,
                    },
                    &mut out,
                    false,
                );
                black_box(&out);
            })
        });
    }
    gemm.finish();
}

criterion_group!(benches, bench_conv3d);
criterion_main!(benches);
