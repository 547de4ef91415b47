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

use common::{bench_backward_xk, bench_forward_xk, bench_sgemm, group};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokeras::ops::{build, Scratch};
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
        bench_forward_xk(&mut fwd, name, &op, (&x, &kv), &mut y, &mut scratch);
        cases.push((name, x, kv, op, y, scratch, macs));
    }
    fwd.finish();

    let mut bwd = group(c, "conv3d_bwd");
    for (name, x, k, op, y, scratch, macs) in cases.iter_mut() {
        let g = data(y.len(), 3);
        bwd.throughput(Throughput::Elements(4 * *macs as u64));
        bench_backward_xk(&mut bwd, name, op, (x, k), y, &g, scratch);
    }
    bwd.finish();

    let mut gemm = group(c, "gemm_same3d");
    for &(name, n, ci, d, h, w, o, k) in SHAPES {
        bench_sgemm(&mut gemm, name, o, ci * k * k * k, n * d * h * w);
    }
    gemm.finish();
}

criterion_group!(benches, bench_conv3d);
criterion_main!(benches);
