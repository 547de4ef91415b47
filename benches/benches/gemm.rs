//! Criterion benchmarks of `ferrokeras::kernels::gemm::sgemm` at the shapes the
//! benchmark workloads use (MNIST MLP / CNN heads, IMDB LSTM gates) plus a square
//! 1024^3 product.
//!
//! Ids are `gemm/MxKxN` (C = A·B, nothing transposed), `gemm/MxKxN_bt` (B stored
//! `N x K` and used transposed, as in the dense backward `dx = dy · Wᵀ`) and
//! `gemm/MxKxN_at` (A stored `K x M` and used transposed, as in `dW = xᵀ · dy`).
//! Throughput is `2·M·N·K` elements, so criterion's "elem/s" is FLOP/s.
//!
//! The group `gemm_serial` times `sgemm_serial` (never threaded) at the same shapes
//! except 1024^3, to check `PARALLEL_MIN_MACS`: where it beats `gemm`, threading
//! does not pay at that size. The group `gemm_crate` times the `gemm` crate at the
//! same threading as `gemm`, to check `OWN_MAX_MACS` (where the engine's own kernels
//! stop winning).
//!
//! Run: `RAYON_NUM_THREADS=2 cargo bench -p ferrokeras-benches --bench gemm`
//! (`benches/python/gemm_compare.py` runs it and compares with numpy).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokeras::kernels::gemm::{sgemm, sgemm_gemm_crate, sgemm_serial};
use ferrokeras_benches::{Gemm, Product, WORKLOAD_GEMMS};

/// (M, K, N, transpose A, transpose B)
fn shapes() -> impl Iterator<Item = (usize, usize, usize, bool, bool)> {
    WORKLOAD_GEMMS
        .into_iter()
        .chain([(1024, 1024, 1024, false, false)])
}

fn bench_gemm(c: &mut Criterion) {
    run_group(c, "gemm", sgemm, usize::MAX);
    run_group(c, "gemm_serial", sgemm_serial, 1 << 28);
    run_group(c, "gemm_crate", sgemm_gemm_crate, usize::MAX);
}

/// Times `f` at every shape of at most `max_macs` multiply-adds.
fn run_group(c: &mut Criterion, name: &str, f: Gemm, max_macs: usize) {
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(1000));
    group.measurement_time(Duration::from_millis(2500));
    for shape in shapes().filter(|s| s.0 * s.1 * s.2 <= max_macs) {
        let mut p = Product::new(shape);
        group.throughput(Throughput::Elements(p.flops() as u64));
        group.bench_function(p.name(), |bench| bench.iter(|| p.run(f)));
    }
    group.finish();
}

criterion_group!(benches, bench_gemm);
criterion_main!(benches);
