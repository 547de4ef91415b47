//! Criterion pieces the benches share (included by `mod common;` in each): the group
//! settings, a two-input op's forward and backward steps (one case, or a family's
//! cases), and a plain gemm of a convolution's shape.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use ferrokeras::kernels::gemm::{sgemm, Operand};
use ferrokeras::ops::{OpCtx, OpRef, Scratch};
use ferrokeras::{DType, Value};

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

/// A convolution-like case of [`bench_xk_cases`]: its id, input, kernel, op, output
/// shape and the forward's multiply-adds.
pub struct XkCase {
    pub id: String,
    pub x: Value,
    pub k: Value,
    pub op: OpRef,
    pub y: Vec<usize>,
    pub macs: usize,
}

/// Benchmarks each case's forward in group `{family}_fwd` (2·macs FLOPs), then its
/// backward (kernel and input gradients, from the scratch its forward left) in
/// `{family}_bwd` (4·macs FLOPs).
pub fn bench_xk_cases(c: &mut Criterion, family: &str, cases: &[XkCase]) {
    let mut fwd = group(c, &format!("{family}_fwd"));
    let mut outs = vec![];
    for case in cases {
        let mut y = Value::zeros(DType::F32, &case.y);
        let mut scratch = Scratch::default();
        fwd.throughput(Throughput::Elements(2 * case.macs as u64));
        let xk = (&case.x, &case.k);
        bench_forward_xk(&mut fwd, &case.id, &case.op, xk, &mut y, &mut scratch);
        outs.push((y, scratch));
    }
    fwd.finish();
    let mut bwd = group(c, &format!("{family}_bwd"));
    for (case, (y, scratch)) in cases.iter().zip(&mut outs) {
        let g = ferrokeras_benches::data(y.len(), 3);
        bwd.throughput(Throughput::Elements(4 * case.macs as u64));
        let xk = (&case.x, &case.k);
        bench_backward_xk(&mut bwd, &case.id, &case.op, xk, y, &g, scratch);
    }
    bwd.finish();
}

/// Benchmarks, as `id`, one `sgemm` of an (m x kk) by (kk x nn) product, neither
/// transposed: the product a convolution of that shape lowers to.
pub fn bench_sgemm(grp: &mut BenchmarkGroup<WallTime>, id: &str, m: usize, kk: usize, nn: usize) {
    let a = ferrokeras_benches::data(m * kk, 1);
    let b_ = ferrokeras_benches::data(kk * nn, 2);
    let mut out = vec![0.0f32; m * nn];
    grp.throughput(Throughput::Elements((2 * m * kk * nn) as u64));
    grp.bench_function(id, |b| {
        b.iter(|| {
            let operand = |data| Operand { data, trans: false };
            sgemm(m, nn, kk, operand(&a), operand(&b_), &mut out, false);
            black_box(&out);
        })
    });
}
