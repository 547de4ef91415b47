//! Low-level kernels shared by the ops: the activation functions (`act`), fallible buffer growth (`alloc`), the gemm wrapper (the only caller of the `gemm`
//! crate) and the engine's own packed gemm for small and medium products, floating-point mode control, the geometry of window sweeps and the row moves of im2col/col2im (`window`), the Winograd 3x3 correlation (`winograd`), the thread pool, the counter-based RNG and
//! runtime-dispatched SIMD loops.

pub mod act;
pub mod alloc;
pub mod fpmode;
pub mod gemm;
pub mod pool;
pub mod rng;
pub mod runs;
mod sgemm_micro;
pub mod sgemm_small;
pub mod simd;
pub mod transpose;
pub mod window;
pub mod winograd;
