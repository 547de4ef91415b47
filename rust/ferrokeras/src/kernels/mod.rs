//! Low-level kernels shared by the ops: the gemm wrapper (the only caller of the `gemm`
//! crate), floating-point mode control, the thread pool, the counter-based RNG and
//! runtime-dispatched SIMD loops.

pub mod fpmode;
pub mod gemm;
pub mod pool;
pub mod rng;
pub mod simd;
