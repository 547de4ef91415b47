//! The machine's single-core f32 FMA peak, measured: `CHAINS` independent vector FMA
//! chains timed in this thread's CPU time, so the figure holds while other processes
//! share the cores. The kernel figures of the README (gemm, conv, LSTM step) are quoted
//! as a percentage of this.
//!
//! The chain count must cover the FMA latency on every FMA pipe (Zen 3: 4 cycles x 2
//! pipes = 8 chains in flight; Intel since Skylake: 4 x 2) *and* leave every chain in a
//! register: x86-64 has 16 vector registers without AVX-512, and the two constants take
//! two, so 16 AVX2 chains spill to the stack and time store-to-load forwarding instead
//! of the FMA units (that version read 53 GFLOP/s on a Zen 3 where the gemm runs at 87).
//! 12 chains fit both bounds (with AVX-512, 32 registers, 24).
//!
//! Run: `cargo run --release -p ferrokeras-benches --example fma_peak`

use ferrokeras_benches::thread_cpu_seconds;

/// FLOPs of one call of a kernel below (`chains` x `iters` FMAs x lanes x 2).
fn flops(chains: usize, iters: usize, lanes: usize) -> f64 {
    (chains * iters * lanes * 2) as f64
}

/// AVX-512 chains: 24 of 32 registers.
const CHAINS_512: usize = 24;
/// AVX2 chains: 12 of 16 registers.
const CHAINS_256: usize = 12;

/// Defines `unsafe fn $name(iters: usize) -> f32`: `$chains` FMA chains of `$lanes`-wide
/// vectors through the given intrinsics, `iters` steps each, summed at the end (so the
/// work is not optimised away). Safety: the CPU has `$feature`.
macro_rules! fma_chains {
    ($name:ident, $feature:literal, $chains:expr, $lanes:literal, $set1:ident, $fmadd:ident, $add:ident, $storeu:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(iters: usize) -> f32 {
            use std::arch::x86_64::*;
            let m = $set1(0.999_999);
            let a = $set1(1e-7);
            let mut acc = [$set1(1.0); $chains];
            for _ in 0..iters {
                for v in acc.iter_mut() {
                    *v = $fmadd(*v, m, a);
                }
            }
            let mut s = $set1(0.0);
            for v in acc {
                s = $add(s, v);
            }
            let mut out = [0.0f32; $lanes];
            // SAFETY: `out` holds one vector of floats.
            unsafe { $storeu(out.as_mut_ptr(), s) };
            out.iter().sum()
        }
    };
}

fma_chains!(
    chains512,
    "avx512f",
    CHAINS_512,
    16,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_storeu_ps
);
fma_chains!(
    chains256,
    "avx2,fma",
    CHAINS_256,
    8,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_storeu_ps
);

fn best_of(reps: usize, f: impl Fn() -> f32) -> f64 {
    let mut best = f64::MAX;
    let mut sink = 0.0f32;
    for _ in 0..reps {
        let t0 = thread_cpu_seconds();
        sink += f();
        best = best.min(thread_cpu_seconds() - t0);
    }
    std::hint::black_box(sink);
    best
}

fn main() {
    let iters = 20_000_000;
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            let s = best_of(5, || unsafe { chains512(iters) });
            println!(
                "AVX-512 FMA peak, one core: {:.1} GFLOP/s",
                flops(CHAINS_512, iters, 16) / s / 1e9
            );
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            let s = best_of(5, || unsafe { chains256(iters) });
            println!(
                "AVX2 FMA peak, one core: {:.1} GFLOP/s",
                flops(CHAINS_256, iters, 8) / s / 1e9
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    println!("fma_peak measures x86_64 vector units only");
}
