//! Criterion benchmarks of 2-D max and average pooling (2x2, stride 2: Keras'
//! MaxPooling2D / AveragePooling2D defaults) in both layouts on the same data, at the
//! shapes the W4 and W4b workloads pool (the outputs of their second and fourth
//! convolutions, batch 32).
//!
//! Ids: `<op>_fwd_bwd/<layout>/<shape>`, one training step of the layer (forward, then
//! the input gradient), throughput in input elements; `<shape>` is N x C x H x W.
//! Layouts:
//! - `nchw`: the channels-first op on (N, C, H, W) ('th' ordering);
//! - `nhwc`: the channels-last op (`layout = "nhwc"`) on (N, H, W, C) ('tf' ordering);
//! - `nhwc_permuted`: what 'tf' ordering paid before the channels-last op: permute to
//!   (N, C, H, W), the channels-first op, permute back (and the permutes' backward).
//!
//! After the criterion groups, one line per op and shape gives the ratios from
//! interleaved rounds (the fastest round of each): `ratio <op> <shape>: nhwc/nchw fwd
//! <r>x, fwd+bwd <r>x; nhwc/permuted fwd+bwd <r>x`.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo bench -p ferrokeras-benches --bench pool`

mod common;

use std::hint::black_box;

use common::group;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokeras::ops::OpRef;
use ferrokeras::{Attr, Value};
use ferrokeras_benches::{data, ints, op, ratio, Step};

/// (name, N, C, H, W) of the pooled feature maps.
const SHAPES: &[(&str, [usize; 4])] = &[
    ("w4_32x32x28x28", [32, 32, 28, 28]),
    ("w4_32x64x10x10", [32, 64, 10, 10]),
    ("w4b_32x32x96x96", [32, 32, 96, 96]),
    ("w4b_32x64x44x44", [32, 64, 44, 44]),
];

fn pool_op(name: &str, layout: &str) -> OpRef {
    op(
        name,
        &[
            ("pool", ints(&[2, 2])),
            ("layout", Attr::Str(layout.into())),
        ],
    )
}

fn permute(pattern: &[i64]) -> OpRef {
    op("permute", &[("pattern", Attr::Ints(pattern.to_vec()))])
}

fn bench_pool(c: &mut Criterion) {
    let mut grp = group(c, "pool");
    let mut lines = Vec::new();
    for &(name, [n, ch, h, w]) in SHAPES {
        let (oh, ow) = (h / 2, w / 2);
        let len = n * ch * h * w;
        let x_cf = Value::from_f32(&[n, ch, h, w], data(len, 1)).unwrap();
        let x_cl = Value::from_f32(&[n, h, w, ch], data(len, 1)).unwrap();
        let gy = data(n * ch * oh * ow, 2);
        grp.throughput(Throughput::Elements(len as u64));
        for opname in ["maxpool2d", "avgpool2d"] {
            let mut cf = Step::new(pool_op(opname, "nchw"), len, &[n, ch, oh, ow]);
            let mut cl = Step::new(pool_op(opname, "nhwc"), len, &[n, oh, ow, ch]);
            // the permuted path: x_cl -> (N, C, H, W) -> pool -> (N, OH, OW, C)
            let mut p_in = Step::new(permute(&[0, 3, 1, 2]), len, &[n, ch, h, w]);
            let mut p_pool = Step::new(pool_op(opname, "nchw"), len, &[n, ch, oh, ow]);
            let mut p_out = Step::new(permute(&[0, 2, 3, 1]), gy.len(), &[n, oh, ow, ch]);

            let mut nchw_fwd = || {
                cf.fwd(&x_cf);
                black_box(&cf.y);
            };
            let mut nhwc_fwd = || {
                cl.fwd(&x_cl);
                black_box(&cl.y);
            };
            let fwd_ratio = ratio(&mut nhwc_fwd, &mut nchw_fwd);

            let mut nchw = || {
                cf.fwd(&x_cf);
                cf.bwd(&x_cf, &gy);
                black_box(&cf.gx);
            };
            let mut nhwc = || {
                cl.fwd(&x_cl);
                cl.bwd(&x_cl, &gy);
                black_box(&cl.gx);
            };
            let mut permuted = || {
                p_in.fwd(&x_cl);
                p_pool.fwd(&p_in.y);
                p_out.fwd(&p_pool.y);
                p_out.bwd(&p_pool.y, &gy);
                p_pool.bwd(&p_in.y, &p_out.gx);
                p_in.bwd(&x_cl, &p_pool.gx);
                black_box(&p_in.gx);
            };
            grp.bench_function(format!("{opname}_fwd_bwd/nchw/{name}"), |b| {
                b.iter(&mut nchw)
            });
            grp.bench_function(format!("{opname}_fwd_bwd/nhwc/{name}"), |b| {
                b.iter(&mut nhwc)
            });
            grp.bench_function(format!("{opname}_fwd_bwd/nhwc_permuted/{name}"), |b| {
                b.iter(&mut permuted)
            });
            let step_ratio = ratio(&mut nhwc, &mut nchw);
            let perm_ratio = ratio(&mut nhwc, &mut permuted);
            lines.push(format!(
                "ratio {opname} {name}: nhwc/nchw fwd {fwd_ratio:.2}x, fwd+bwd {step_ratio:.2}x; \
                 nhwc/permuted fwd+bwd {perm_ratio:.2}x"
            ));
        }
    }
    grp.finish();
    for l in lines {
        println!("{l}");
    }
}

criterion_group!(benches, bench_pool);
criterion_main!(benches);
