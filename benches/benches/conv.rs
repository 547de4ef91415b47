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

mod common;

use common::{bench_sgemm, bench_xk_cases, group, XkCase};
use criterion::{criterion_group, criterion_main, Criterion};
use ferrokeras::ops::build;
use ferrokeras::{Attr, Attrs, Value};
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
        cases.push(XkCase {
            id: if last {
                format!("{name}_nhwc")
            } else {
                name.to_string()
            },
            x: Value::from_f32(&xs, data(n * ci * h * w, 1)).unwrap(),
            k: Value::from_f32(&ks, data(o * ci * 9, 2)).unwrap(),
            op: build("conv2d", &attrs).unwrap(),
            y: ys.to_vec(),
            macs: o * ci * 9 * n * oh * ow,
        });
    }
    bench_xk_cases(c, "conv2d", &cases);

    let mut gemm = group(c, "gemm_same");
    for &(name, n, ci, h, w, o) in SHAPES {
        bench_sgemm(&mut gemm, name, o, ci * 9, n * (h - 2) * (w - 2));
    }
    gemm.finish();
}

/// Forward and backward (kernel then input gradient) of each layout case, 'th' and 'tf'.
fn bench_layouts(c: &mut Criterion) {
    for case in ferrokeras_benches::layouts::cases() {
        let last = if case.tf.x.len() == 5 {
            "_ndhwc"
        } else {
            "_nhwc"
        };
        let sides = [(&case.th, ""), (&case.tf, last)].map(|(side, suffix)| {
            let (x, k) = side.inputs();
            XkCase {
                id: format!("{}{suffix}", case.name),
                x,
                k,
                op: side.op.clone(),
                y: side.y.clone(),
                macs: case.macs,
            }
        });
        bench_xk_cases(c, case.family, &sides);
    }
}

criterion_group!(benches, bench_conv, bench_layouts);
criterion_main!(benches);
