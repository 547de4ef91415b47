//! Criterion benchmarks of the `conv2d` op (implicit gemm) at the layer shapes of the
//! W4 workload (`w4_vgg_small`: channels-first (3, 32, 32), batch 32, 3x3 'valid'
//! convolutions) and of the MNIST CNN, next to one gemm of the same size.
//!
//! Ids: `conv2d_fwd/<name>`, `conv2d_bwd/<name>` (kernel and input gradients, the
//! backward of a training step) and `gemm_same/<name>`: one `sgemm` of
//! M = nb_filter, K = stack·kh·kw, N = batch·rows_out·cols_out, the FLOPs of the forward.
//! `conv2d_fwd/<name>_nhwc` and `conv2d_bwd/<name>_nhwc` run the same shapes channels-last
//! (`layout` "nhwc", an HWIO kernel without flip: Keras 'tf'), next to the channels-first
//! rows (a true convolution with an OIHW kernel: Keras 'th').
//! Throughput is 2·M·N·K (forward) and 4·M·N·K (backward) elements, so criterion's
//! "elem/s" is FLOP/s.
//!
//! `<family>_fwd/<name>` and `<family>_bwd/<name>` (and `<name>_nhwc`, `<name>_ndhwc`)
//! run the shapes of `ferrokeras_benches::layouts` in both orderings: transposed
//! convolutions (`deconv2d`), depthwise convolutions and the pointwise 1x1 after them
//! (`depthwise2d`, `pointwise2d`: SeparableConvolution2D's two halves) and volumetric
//! convolutions (`conv3d_layout`); the same throughput convention, M·N·K the forward's
//! multiply-adds. For 'tf' vs 'th' ratios on a busy host prefer the interleaved
//! `cargo run --release -p ferrokeras-benches --example layout_ab`.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo bench -p ferrokeras-benches --bench conv`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokeras::kernels::gemm::{sgemm, Operand};
use ferrokeras::ops::{build, OpCtx, Scratch};
use ferrokeras::{Attr, Attrs, DType, Value};
use ferrokeras_benches::data;

/// (name, batch, stack, rows, cols, nb_filter) with 3x3 'valid' kernels.
const SHAPES: &[(&str, usize, usize, usize, usize, usize)] = &[
    ("w4_conv1_3to32_32x32", 32, 3, 32, 32, 32),
    ("w4_conv2_32to32_30x30", 32, 32, 30, 30, 32),
    ("w4_conv3_32to64_14x14", 32, 32, 14, 14, 64),
    ("w4_conv4_64to64_12x12", 32, 64, 12, 12, 64),
    ("mnist_conv2_32to32_26x26", 128, 32, 26, 26, 32),
];

fn bench_conv(c: &mut Criterion) {
    let mut fwd = c.benchmark_group("conv2d_fwd");
    fwd.sample_size(20);
    fwd.warm_up_time(Duration::from_millis(800));
    fwd.measurement_time(Duration::from_millis(2500));
    let mut cases = vec![];
    for (&(name, n, ci, h, w, o), last) in SHAPES.iter().flat_map(|s| [(s, false), (s, true)]) {
        let (oh, ow) = (h - 2, w - 2);
        let (xs, ks, ys, attrs) = if last {
            (
                [n, h, w, ci],
                [3, 3, ci, o],
                [n, oh, ow, o],
                Attrs::new("conv2d")
                    .with("layout", Attr::Str("nhwc".into()))
                    .with("kernel_layout", Attr::Str("hwio".into())),
            )
        } else {
            (
                [n, ci, h, w],
                [o, ci, 3, 3],
                [n, o, oh, ow],
                Attrs::new("conv2d").with("flip", Attr::Bool(true)),
            )
        };
        let x = Value::from_f32(&xs, data(n * ci * h * w, 1)).unwrap();
        let k = Value::from_f32(&ks, data(o * ci * 9, 2)).unwrap();
        let op = build("conv2d", &attrs).unwrap();
        let mut y = Value::zeros(DType::F32, &ys);
        let mut scratch = Scratch::default();
        let macs = o * ci * 9 * n * oh * ow;
        let name = if last {
            format!("{name}_nhwc")
        } else {
            name.to_string()
        };
        fwd.throughput(Throughput::Elements(2 * macs as u64));
        fwd.bench_function(&name, |b| {
            b.iter(|| {
                op.forward(
                    &[&x, &k],
                    &mut y,
                    &mut OpCtx {
                        scratch: &mut scratch,
                    },
                )
                .unwrap();
                black_box(&y);
            })
        });
        cases.push((name, x, k, op, y, scratch, macs));
    }
    fwd.finish();

    let mut bwd = c.benchmark_group("conv2d_bwd");
    bwd.sample_size(20);
    bwd.warm_up_time(Duration::from_millis(800));
    bwd.measurement_time(Duration::from_millis(2500));
    for (name, x, k, op, y, scratch, macs) in cases.iter_mut() {
        let g = data(y.len(), 3);
        let mut gx = vec![0.0f32; x.len()];
        let mut gk = vec![0.0f32; k.len()];
        bwd.throughput(Throughput::Elements(4 * *macs as u64));
        bwd.bench_function(name.as_str(), |b| {
            b.iter(|| {
                let mut ctx = OpCtx { scratch };
                op.backward(1, &[x, k], y, &g, &mut gk, &mut ctx).unwrap();
                op.backward(0, &[x, k], y, &g, &mut gx, &mut ctx).unwrap();
                black_box((&gx, &gk));
            })
        });
    }
    bwd.finish();

    let mut gemm = c.benchmark_group("gemm_same");
    gemm.sample_size(20);
    gemm.warm_up_time(Duration::from_millis(800));
    gemm.measurement_time(Duration::from_millis(2500));
    for &(name, n, ci, h, w, o) in SHAPES {
        let (m, kk, nn) = (o, ci * 9, n * (h - 2) * (w - 2));
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

/// Forward and backward (kernel then input gradient) of each layout case, 'th' then 'tf'.
fn bench_layouts(c: &mut Criterion) {
    for case in ferrokeras_benches::layouts::cases() {
        let last = if case.tf.x.len() == 5 {
            "_ndhwc"
        } else {
            "_nhwc"
        };
        for (side, suffix) in [(&case.th, ""), (&case.tf, last)] {
            let id = format!("{}{suffix}", case.name);
            let (x, k) = side.inputs();
            let mut y = Value::zeros(DType::F32, &side.y);
            let mut scratch = Scratch::default();
            let mut fwd = c.benchmark_group(format!("{}_fwd", case.family));
            fwd.sample_size(20);
            fwd.warm_up_time(Duration::from_millis(800));
            fwd.measurement_time(Duration::from_millis(2500));
            fwd.throughput(Throughput::Elements(2 * case.macs as u64));
            fwd.bench_function(&id, |b| {
                b.iter(|| {
                    let mut ctx = OpCtx {
                        scratch: &mut scratch,
                    };
                    side.op.forward(&[&x, &k], &mut y, &mut ctx).unwrap();
                    black_box(&y);
                })
            });
            fwd.finish();
            let g = data(y.len(), 3);
            let mut gx = vec![0.0f32; x.len()];
            let mut gk = vec![0.0f32; k.len()];
            let mut bwd = c.benchmark_group(format!("{}_bwd", case.family));
            bwd.sample_size(20);
            bwd.warm_up_time(Duration::from_millis(800));
            bwd.measurement_time(Duration::from_millis(2500));
            bwd.throughput(Throughput::Elements(4 * case.macs as u64));
            bwd.bench_function(&id, |b| {
                b.iter(|| {
                    let mut ctx = OpCtx {
                        scratch: &mut scratch,
                    };
                    side.op
                        .backward(1, &[&x, &k], &y, &g, &mut gk, &mut ctx)
                        .unwrap();
                    side.op
                        .backward(0, &[&x, &k], &y, &g, &mut gx, &mut ctx)
                        .unwrap();
                    black_box((&gx, &gk));
                })
            });
            bwd.finish();
        }
    }
}

criterion_group!(benches, bench_conv, bench_layouts);
criterion_main!(benches);
