//! Criterion benchmarks of `batch_norm_train` (forward, then the backward of x, gamma
//! and beta: one training step of a BatchNormalization layer) next to `relu` forward +
//! backward over the same tensor, the cheapest elementwise layer. The target is BN
//! within 3x of relu.
//!
//! Ids: `bn_train_fwd_bwd/<name>`, `relu_fwd_bwd/<name>`; throughput in tensor elements.
//! Shapes: a Dense output (features last), the MNIST CNN's second conv output
//! (channels first, axis 1) and a channels-last image batch (axis 3).
//!
//! After the criterion groups, one line per shape states the ratio BN / relu from
//! interleaved timing rounds (the fastest round of each, so a busy machine that slows
//! one of them for a while does not skew it): `ratio bn/relu <name>: <r>x`.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo bench -p ferrokeras-benches --bench normalization`

mod common;

use std::hint::black_box;

use common::group;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokeras::ops::{build, OpCtx, Scratch};
use ferrokeras::{Attr, Attrs, DType, Value};
use ferrokeras_benches::{data, ratio};

/// (name, shape, feature axis).
const SHAPES: &[(&str, &[usize], i64)] = &[
    ("dense_128x512", &[128, 512], -1),
    ("conv_th_128x32x24x24", &[128, 32, 24, 24], 1),
    ("conv_tf_32x30x30x32", &[32, 30, 30, 32], 3),
];

fn bench_bn(c: &mut Criterion) {
    let mut grp = group(c, "normalization");
    let mut ratios = Vec::new();
    for &(name, shape, axis) in SHAPES {
        let n: usize = shape.iter().product();
        let ax = if axis < 0 {
            shape.len() - 1
        } else {
            axis as usize
        };
        let ch = shape[ax];
        let x = Value::from_f32(shape, data(n, 1)).unwrap();
        let g = data(n, 2);
        let gamma = Value::from_f32(&[ch], data(ch, 3)).unwrap();
        let beta = Value::from_f32(&[ch], data(ch, 4)).unwrap();
        grp.throughput(Throughput::Elements(n as u64));

        let bn = build(
            "batch_norm_train",
            &Attrs::new("batch_norm_train").with("axis", Attr::Int(axis)),
        )
        .unwrap();
        let mut y = Value::zeros(DType::F32, shape);
        let mut scratch = Scratch::default();
        let mut dx = vec![0.0f32; n];
        let mut dgamma = vec![0.0f32; ch];
        let mut dbeta = vec![0.0f32; ch];
        let mut bn_step = || {
            let ins = [&x, &gamma, &beta];
            let mut ctx = OpCtx {
                scratch: &mut scratch,
            };
            bn.forward(&ins, &mut y, &mut ctx).unwrap();
            bn.backward_one(0, &ins, &y, &g, &mut dx, &mut ctx).unwrap();
            bn.backward_one(1, &ins, &y, &g, &mut dgamma, &mut ctx)
                .unwrap();
            bn.backward_one(2, &ins, &y, &g, &mut dbeta, &mut ctx)
                .unwrap();
            black_box((&y, &dx));
        };
        grp.bench_function(format!("bn_train_fwd_bwd/{name}"), |b| b.iter(&mut bn_step));

        let relu = build("relu", &Attrs::new("relu")).unwrap();
        let mut y2 = Value::zeros(DType::F32, shape);
        let mut dx2 = vec![0.0f32; n];
        let mut scratch2 = Scratch::default();
        let mut relu_step = || {
            let ins = [&x];
            let mut ctx = OpCtx {
                scratch: &mut scratch2,
            };
            relu.forward(&ins, &mut y2, &mut ctx).unwrap();
            relu.backward(0, &ins, &y2, &g, &mut dx2, &mut ctx).unwrap();
            black_box((&y2, &dx2));
        };
        grp.bench_function(format!("relu_fwd_bwd/{name}"), |b| b.iter(&mut relu_step));
        ratios.push((name, ratio(&mut bn_step, &mut relu_step)));
    }
    grp.finish();
    for (name, r) in ratios {
        println!("ratio bn/relu {name}: {r:.2}x");
    }
}

criterion_group!(benches, bench_bn);
criterion_main!(benches);
