//! Criterion pieces the benches share (included by `mod common;` in each): the group
//! settings, a two-input op's forward and backward steps, and a plain gemm of a convolution's shape.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use ferrokeras::kernels::gemm::{sgemm, Operand};
use ferrokeras::ops::{OpCtx, OpRef, Scratch};
use ferrokeras::Value;

/// A benchmark group with the settings every bench here uses: 20 samples, 0.8 s warm-up,
/// 2.5 s measurement.
pub fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(800));
    g.measurement_time(Duration::from_millis(2500));
    g
}

/// Benchmarks, as `id`, the forward of a convolution-like `op` on inputs `x` and `k`
/// into `y`.
pub fn bench_forward_xk(
    grp: &mut BenchmarkGroup<WallTime>,
    id: &str,
    op: &OpRef,
    (x, k): (&Value, &Value),
    y: &mut Value,
    scratch: &mut Scratch,
) {
    grp.bench_function(id, |b| {
        b.iter(|| {
            let mut ctx = OpCtx {
                scratch: &mut *scratch,
            };
            op.forward(&[x, k], y, &mut ctx).unwrap();
            black_box(&*y);
        })
    });
}

/// Benchmarks, as `id`, the backward of a convolution-like `op` on inputs `x` and `k`
/// with output `y`: the kernel gradient, then the input gradient, for the output
/// gradient `g` (the scratch the forward left).
pub fn bench_backward_xk(
    grp: &mut BenchmarkGroup<WallTime>,
    id: &str,
    op: &OpRef,
    (x, k): (&Value, &Value),
    y: &Value,
    g: &[f32],
    scratch: &mut Scratch,
) {
    let mut gx = vec![0.0f32; x.len()];
    let mut gk = vec![0.0f32; k.len()];
    grp.bench_function(id, |b| {
        b.iter(|| {
            let mut ctx = OpCtx {
                scratch: &mut *scratch,
            };
            op.backward_one(1, &[x, k], y, g, &mut gk, &mut ctx)
                .unwrap();
            op.backward_one(0, &[x, k], y, g, &mut gx, &mut ctx)
                .unwrap();
            black_box((&gx, &gk));
        })
    });
}

/// Benchmarks, as `id`, one `sgemm` of an (m x kk) by (kk x nn) product, neither
/// transposed: the product a convolution of that shape lowers to.
pub fn bench_sgemm(grp: &mut BenchmarkGroup<WallTime>, id: &str, m: usize, kk: usize, nn: usize) {
    let a = ferrokeras_benches::data(m * kk, 1);
    let b_ = ferrokeras_benches::data(kk * nn, 2);
    let mut out = vec![0.0f32; m * nn];
    grp.throughput(criterion::Throughput::Elements((2 * m * kk * nn) as u64));
    grp.bench_function(id, |b| {
        b.iter(|| {
            let operand = |data| Operand { data, trans: false };
            sgemm(m, nn, kk, operand(&a), operand(&b_), &mut out, false);
            black_box(&out);
        })
    });
}
