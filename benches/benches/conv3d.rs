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

mod common;

use common::{bench_sgemm, bench_xk_cases, group, XkCase};
use criterion::{criterion_group, criterion_main, Criterion};
use ferrokeras::ops::build;
use ferrokeras::{Attr, Attrs, Value};
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

fn bench_conv3d(c: &mut Criterion) {
    let mut cases = vec![];
    for &(name, n, ci, d, h, w, o, k) in SHAPES {
        let p = (k / 2) as i64;
        let op = build(
            "conv3d",
            &Attrs::new("conv3d")
                .with("flip", Attr::Bool(true))
                .with("pads", Attr::Ints(vec![p; 6])),
        )
        .unwrap();
        cases.push(XkCase {
            id: name.to_string(),
            x: Value::from_f32(&[n, ci, d, h, w], data(n * ci * d * h * w, 1)).unwrap(),
            k: Value::from_f32(&[o, ci, k, k, k], data(o * ci * k * k * k, 2)).unwrap(),
            op,
            y: vec![n, o, d, h, w],
            macs: o * ci * k * k * k * n * d * h * w,
        });
    }
    bench_xk_cases(c, "conv3d", &cases);

    let mut gemm = group(c, "gemm_same3d");
    for &(name, n, ci, d, h, w, o, k) in SHAPES {
        bench_sgemm(&mut gemm, name, o, ci * k * k * k, n * d * h * w);
    }
    gemm.finish();
}

criterion_group!(benches, bench_conv3d);
criterion_main!(benches);
