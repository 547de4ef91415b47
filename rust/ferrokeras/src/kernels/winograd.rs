//! Winograd F(2x2, 3x3) correlation of channels-last samples: the 3x3, stride-1,
//! undilated convolution with 16 multiplies per 2x2 output tile and channel pair
//! instead of 36 (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks").
//!
//! `y (OH, OW, O) = sum over (a, b, c) of x[oy + a, ox + b, c] · g[a, b, c, o]`, x a
//! (H, W, C) sample, OH = H - 2, OW = W - 2. The output is cut into 2x2 tiles, each
//! reading a 4x4 window of the input (tiles overlap by two pixels). With the
//! transforms `V = Bᵀ d B` of each input window (per channel) and `U = G g Gᵀ` of each
//! kernel (per channel pair), the tile is `Aᵀ M A` with `M[ξ] = Σ_c V[ξ, c] · U[ξ, c, o]`
//! for each of the 16 positions ξ of the 4x4 transform: 16 products (tiles x C) ·
//! (C x O) on the engine's gemm, which carry all the multiplies; the transforms are
//! additions (and halvings of the kernel), vectorised over the channels, which are
//! contiguous in this layout. Tiles run in blocks of 48, so that a block's
//! transformed inputs and products stay in L2.
//!
//! Numerics: the transforms only add, subtract and halve (exact up to one rounding per
//! addition), so the result differs from the direct sum by a few ulp of the terms'
//! magnitude, as a direct sum in another order would; the same inputs give the same
//! bits whatever the thread count (each tile's result depends on that tile alone).
//!
//! The convolution ops use it where it pays: see `ops::conv::winograd_pays`.

use super::gemm::{
    n as nop, pack_b, packed_b_len, sgemm_packed_serial, sgemm_serial, t as top, PackedB,
};
use super::pool::{parallel_for, participants, Disjoint};

/// Positions of the 4x4 transform domain.
const XI: usize = 16;
/// Tiles per block: the block's transformed inputs (16 x tiles x C floats) and products
/// (16 x tiles x O) stay in L2 for C, O up to 128.
const BLOCK_TILES: usize = 48;

/// Floats between the matrices of consecutive positions ξ in a block's operands of
/// `ch` channels: the block's size plus one cache line, so that the 16 streams a tile's
/// transform stores to (or loads from) fall in different L1 sets. Without the extra
/// line, 48 tiles of 32 channels put the streams 6 KiB apart (two sets for all 16) and
/// of 64 channels 12 KiB apart (one set): conv_parts at W4's 30x30 layer ran 100 or
/// 130 µs per sample from one process to the next.
fn stride(ch: usize) -> usize {
    BLOCK_TILES * ch + 16
}
/// Channels per step of the portable transforms and of the kernel gradient's back
/// transform (the width of one AVX-512 register).
const L: usize = 16;

/// The geometry of one correlation: a (h, w, c) input, a (h - 2, w - 2, o) output.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Input rows.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Output channels.
    pub o: usize,
}

impl Plan {
    /// Output rows and columns.
    fn out(&self) -> (usize, usize) {
        (self.h - 2, self.w - 2)
    }

    /// Tile rows and columns (the last ones half outside an odd output).
    fn tiles(&self) -> (usize, usize) {
        let (oh, ow) = self.out();
        (oh.div_ceil(2), ow.div_ceil(2))
    }

    /// Floats [`transform_kernel`] writes: 16 packed (C x O) matrices.
    pub fn kernel_len(&self) -> usize {
        XI * packed_b_len(self.c, self.o)
    }

    /// Floats of work space [`transform_kernel`] needs.
    pub fn kernel_tmp_len(&self) -> usize {
        XI * self.c * self.o
    }

    /// Floats of the transform-domain kernel gradient [`kernel_gradient`] sums into:
    /// 16 (C x O) matrices.
    pub fn kernel_grad_len(&self) -> usize {
        XI * self.c * self.o
    }

    /// Floats of work space [`correlate`] needs per part, and [`kernel_gradient`].
    pub fn scratch_len(&self) -> usize {
        XI * (stride(self.c) + stride(self.o))
    }
}

/// The 16 transformed kernel matrices `U[ξ] (C x O)` of the 3x3 kernel `g(a, b, c, o)`,
/// packed for the gemm into `dst` ([`Plan::kernel_len`] floats), using `tmp`
/// ([`Plan::kernel_tmp_len`] floats) on the way.
pub fn transform_kernel<'a>(
    plan: &Plan,
    g: impl Fn(usize, usize, usize, usize) -> f32,
    tmp: &mut [f32],
    dst: &'a mut [f32],
) -> [PackedB<'a>; XI] {
    let (c, o) = (plan.c, plan.o);
    let co = c * o;
    let tmp = &mut tmp[..XI * co];
    for ci in 0..c {
        for oi in 0..o {
            let k = |a: usize, b: usize| g(a, b, ci, oi);
            // G g, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (per kernel column)
            let col = |b: usize| {
                let (g0, g1, g2) = (k(0, b), k(1, b), k(2, b));
                [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]
            };
            let cols = [col(0), col(1), col(2)];
            let t: [[f32; 3]; 4] = std::array::from_fn(|r| [cols[0][r], cols[1][r], cols[2][r]]);
            // (G g) Gᵀ, the same on each row
            for (r, t) in t.iter().enumerate() {
                let v = [
                    t[0],
                    0.5 * (t[0] + t[1] + t[2]),
                    0.5 * (t[0] - t[1] + t[2]),
                    t[2],
                ];
                for (s, v) in v.into_iter().enumerate() {
                    tmp[(r * 4 + s) * co + ci * o + oi] = v;
                }
            }
        }
    }
    let per = packed_b_len(c, o);
    let mut out = [PackedB::default(); XI];
    let mut rest = dst;
    for (xi, slot) in out.iter_mut().enumerate() {
        let (mine, more) = std::mem::take(&mut rest).split_at_mut(per);
        rest = more;
        *slot = pack_b(c, o, &tmp[xi * co..(xi + 1) * co], 0, o, 1, mine);
    }
    out
}

/// `y (OH, OW, O) (+)= ` the valid correlation of the (H, W, C) sample `x` with the
/// kernel whose transform is `u` (see the module doc), its tile blocks on up to `parts`
/// threads (1: the calling thread alone); `scratch` holds [`Plan::scratch_len`] floats
/// per part. The result does not depend on `parts`: each tile is computed alone.
pub fn correlate(
    plan: &Plan,
    x: &[f32],
    u: &[PackedB; XI],
    y: &mut [f32],
    accumulate: bool,
    scratch: &mut [f32],
    parts: usize,
) {
    correlate_with(Isa::here(), plan, x, u, y, accumulate, scratch, parts)
}

/// [`correlate`] with the transforms of `isa`.
#[allow(clippy::too_many_arguments)]
fn correlate_with(
    isa: Isa,
    plan: &Plan,
    x: &[f32],
    u: &[PackedB; XI],
    y: &mut [f32],
    accumulate: bool,
    scratch: &mut [f32],
    parts: usize,
) {
    let (c, o) = (plan.c, plan.o);
    let (oh, ow) = plan.out();
    let (th, tw) = plan.tiles();
    assert!(x.len() >= plan.h * plan.w * c, "winograd: input too small");
    assert!(y.len() >= oh * ow * o, "winograd: output too small");
    let tiles = th * tw;
    let blocks = tiles.div_ceil(BLOCK_TILES);
    let len = plan.scratch_len();
    let parts = participants(blocks, parts);
    let (work, yp) = (
        Disjoint::new(&mut scratch[..parts * len]),
        OutPtr(y.as_mut_ptr()),
    );
    parallel_for(blocks, parts, &|blk, who| {
        // SAFETY: participant `who`'s part of the scratch is its own.
        let (v, m) = unsafe { work.part(who * len, len) }.split_at_mut(XI * stride(c));
        let (yp, t0) = (&yp, blk * BLOCK_TILES);
        let nt = BLOCK_TILES.min(tiles - t0);
        transform_block(isa, Block::Input, plan, x, t0, nt, v);
        for (xi, u) in u.iter().enumerate() {
            let a = &v[xi * stride(c)..][..nt * c];
            let mm = &mut m[xi * stride(o)..][..nt * o];
            sgemm_packed_serial(nt, nop(a), *u, mm, false);
        }
        // SAFETY: y holds the (OH, OW, O) output (asserted above); this block's tiles
        // write output pixels no other block writes.
        unsafe { output_block(isa, plan, m, t0, nt, yp.0, accumulate) };
    });
}

/// The kernel gradient of [`correlate`] in the transform domain: `du[ξ] (C x O) (+)=
/// Σ_tiles V[ξ]ᵀ · (A dY Aᵀ)[ξ]` for the (H, W, C) sample `x` and the (OH, OW, O)
/// gradient `gy` of its output (`y = Aᵀ (U ⊙ V) A` gives `dU = Σ V ⊙ (A dY Aᵀ)`): per
/// tile block, the input transform, the gradient transform and 16 (C x T)(T x O)
/// products. [`kernel_gradient_back`] turns a sum of these into the 3x3 kernel's
/// gradient. On the calling thread; `scratch` holds [`Plan::scratch_len`] floats.
pub fn kernel_gradient(
    plan: &Plan,
    x: &[f32],
    gy: &[f32],
    du: &mut [f32],
    accumulate: bool,
    scratch: &mut [f32],
) {
    let (c, o) = (plan.c, plan.o);
    let (oh, ow) = plan.out();
    let (th, tw) = plan.tiles();
    assert!(x.len() >= plan.h * plan.w * c, "winograd: input too small");
    assert!(
        gy.len() >= oh * ow * o,
        "winograd: output gradient too small"
    );
    let du = &mut du[..XI * c * o];
    let isa = Isa::here();
    let tiles = th * tw;
    let (v, m) = scratch[..plan.scratch_len()].split_at_mut(XI * stride(c));
    for t0 in (0..tiles).step_by(BLOCK_TILES) {
        let nt = BLOCK_TILES.min(tiles - t0);
        transform_block(isa, Block::Input, plan, x, t0, nt, v);
        transform_block(isa, Block::Gradient, plan, gy, t0, nt, m);
        for (xi, du) in du.chunks_exact_mut(c * o).enumerate() {
            let a = &v[xi * stride(c)..][..nt * c];
            let b = &m[xi * stride(o)..][..nt * o];
            sgemm_serial(c, o, nt, top(a), nop(b), du, accumulate || t0 > 0);
        }
    }
}

/// `dw (3·3·C x O) = Gᵀ du[·, c, o] G` for each channel pair: the 3x3 kernel's gradient
/// from a transform-domain one ([`kernel_gradient`]), tap (a, b) of channel c in row
/// `row(a, b, c)`.
pub fn kernel_gradient_back(
    plan: &Plan,
    du: &[f32],
    dw: &mut [f32],
    row: impl Fn(usize, usize, usize) -> usize,
) {
    let (c, o) = (plan.c, plan.o);
    let co = c * o;
    let (du, dw) = (&du[..XI * co], &mut dw[..9 * co]);
    // Gᵀ = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1] on a 4-vector, lane by lane over
    // L consecutive output channels (a plain loop the compiler vectorises; per channel
    // pair with closures it was a quarter of W4's 64-channel kernel gradient).
    let gt = |x: [&[f32; L]; 4], out: &mut [[f32; L]; 3]| {
        for l in 0..L {
            let half = 0.5 * (x[1][l] + x[2][l]);
            out[0][l] = x[0][l] + half;
            out[1][l] = 0.5 * (x[1][l] - x[2][l]);
            out[2][l] = half + x[3][l];
        }
    };
    for ci in 0..c {
        let mut o0 = 0;
        while o0 < o {
            let len = L.min(o - o0);
            let at = ci * o + o0;
            // (copies of a constant L floats where they can be: a length known only
            // at run time makes each a call to memcpy)
            let mut d = [[0.0f32; L]; XI];
            for (xi, d) in d.iter_mut().enumerate() {
                let src = &du[xi * co + at..][..len];
                match <&[f32; L]>::try_from(src) {
                    Ok(full) => *d = *full,
                    Err(_) => d[..len].copy_from_slice(src),
                }
            }
            // Gᵀ X down each column s (rows r = 0..4 are positions 4r + s), then along
            // each row a of the result
            let mut cols = [[[0.0f32; L]; 3]; 4];
            for (s, col) in cols.iter_mut().enumerate() {
                gt([&d[s], &d[4 + s], &d[8 + s], &d[12 + s]], col);
            }
            for a in 0..3 {
                let mut taps = [[0.0f32; L]; 3];
                gt(
                    [&cols[0][a], &cols[1][a], &cols[2][a], &cols[3][a]],
                    &mut taps,
                );
                for (b, tap) in taps.iter().enumerate() {
                    let dst = &mut dw[row(a, b, ci) * o + o0..][..len];
                    match <&mut [f32; L]>::try_from(&mut *dst) {
                        Ok(full) => *full = *tap,
                        Err(_) => dst.copy_from_slice(&tap[..len]),
                    }
                }
            }
            o0 += len;
        }
    }
}

/// The transformed output gradients `A dY Aᵀ` of tiles `t0..t0 + nt` into `m` (position
/// ξ of block tile `t`, channel `o`, at `m[ξ·stride(O) + t·O + o]`); a tile's
/// pixels outside the output count as zero. `A = [1 0; 1 1; 1 -1; 0 -1]`.
///
/// # Safety
/// `V`'s ISA available; `gy` the plan's (OH, OW, O) output gradient, `m`
/// 16·stride(O) floats, the tiles inside the plan's and `nt` at most BLOCK_TILES.
#[inline(always)]
unsafe fn gradient_block_with<V: Lanes>(
    plan: &Plan,
    gy: &[f32],
    t0: usize,
    nt: usize,
    m: &mut [f32],
) {
    let o = plan.o;
    let (oh, ow) = plan.out();
    let (_, tw) = plan.tiles();
    let (gp, mp) = (gy.as_ptr(), m.as_mut_ptr());
    for t in 0..nt {
        let (y0, x0) = (2 * ((t0 + t) / tw), 2 * ((t0 + t) % tw));
        let mut o0 = 0;
        while o0 < o {
            let len = V::N.min(o - o0);
            let mut d = [V::zero(); 4];
            for (q, d) in d.iter_mut().enumerate() {
                let (oy, ox) = (y0 + q / 2, x0 + q % 2);
                if oy < oh && ox < ow {
                    // SAFETY: output (oy, ox) is inside gy, o0 + len <= O.
                    *d = unsafe { V::load(gp.add((oy * ow + ox) * o + o0), len) };
                }
            }
            // A dY (rows p, q / r, s -> four rows), then each row [u, v] -> [u, u+v, u-v, -v]
            let [p, q, r, s] = d;
            let rows = [
                [p, q],
                [p.add(r), q.add(s)],
                [p.sub(r), q.sub(s)],
                [V::zero().sub(r), V::zero().sub(s)],
            ];
            for (i, [u, v]) in rows.into_iter().enumerate() {
                let out = [u, u.add(v), u.sub(v), V::zero().sub(v)];
                for (j, e) in out.into_iter().enumerate() {
                    // SAFETY: t < BLOCK_TILES and o0 + len <= O keep it inside m.
                    unsafe { e.store(mp.add((i * 4 + j) * stride(o) + t * o + o0), len) };
                }
            }
            o0 += len;
        }
    }
}

/// The output's address, shared by the blocks (each writes its own tiles' pixels).
struct OutPtr(*mut f32);
// SAFETY: a plain address; the blocks write disjoint elements through it.
unsafe impl Sync for OutPtr {}

/// `N` channels of one pixel, the vector the transforms work on: an AVX-512 register
/// (16), an AVX register (8), or a plain array of 16 elsewhere.
trait Lanes: Copy {
    /// Channels per vector.
    const N: usize;
    /// The `len` (at most `N`) floats at `p`, zeros after.
    ///
    /// # Safety
    /// `p` readable for `len` floats; the vector ISA available.
    unsafe fn load(p: *const f32, len: usize) -> Self;
    /// Stores the first `len` floats at `p`.
    ///
    /// # Safety
    /// `p` writable for `len` floats; the vector ISA available.
    unsafe fn store(self, p: *mut f32, len: usize);
    fn zero() -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
}

impl Lanes for [f32; L] {
    const N: usize = L;
    #[inline(always)]
    unsafe fn load(p: *const f32, len: usize) -> Self {
        let mut a = [0.0; L];
        // SAFETY: the caller's contract.
        a[..len].copy_from_slice(unsafe { std::slice::from_raw_parts(p, len) });
        a
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, len: usize) {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(p, len) }.copy_from_slice(&self[..len]);
    }
    #[inline(always)]
    fn zero() -> Self {
        [0.0; L]
    }
    #[inline(always)]
    fn add(mut self, o: Self) -> Self {
        for (a, b) in self.iter_mut().zip(o) {
            *a += b;
        }
        self
    }
    #[inline(always)]
    fn sub(mut self, o: Self) -> Self {
        for (a, b) in self.iter_mut().zip(o) {
            *a -= b;
        }
        self
    }
}

/// The vector instructions the transforms run on, picked once per call from what the
/// CPU has. The transforms only add and subtract, lane by lane, so every choice gives
/// the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// 16 channels per AVX-512 register.
    Avx512,
    /// 8 channels per AVX register (with AVX2 and FMA for the products).
    Avx2,
    /// Plain arrays of 16: correct, but slower than the direct product.
    Portable,
}

impl Isa {
    /// The fastest this CPU runs.
    fn here() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Every choice this CPU can run (for the tests).
    #[cfg(test)]
    fn all_here() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut all = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                all.push(Isa::Avx2);
            }
            if std::is_x86_feature_detected!("avx512f") {
                all.push(Isa::Avx512);
            }
        }
        all
    }
}

/// The body of an ISA's module: its register type `$reg` (a `$vec` of `$n` lanes) with
/// `impl Lanes` (full-width loads and stores where `len == $n`, the ISA's masked ones otherwise), and
/// `pub(super) unsafe fn transform_block` and `output_block`, the generic block functions
/// on those lanes compiled with the ISA's `target_feature`, so that the lanes'
/// intrinsics inline there (the lanes' methods run nowhere else).
#[cfg(target_arch = "x86_64")]
macro_rules! isa_lanes {
    (
        $feature:literal, $reg:ident($vec:ty, $n:literal),
        load $loadu:ident | $lp:ident, $ll:ident | $masked_load:expr,
        store $storeu:ident | $sp:ident, $sl:ident, $sv:ident | $masked_store:expr,
        zero $zero:ident, add $add:ident, sub $sub:ident $(,)?
    ) => {
        /// One register of lanes.
        #[derive(Clone, Copy)]
        pub(super) struct $reg($vec);

        impl super::Lanes for $reg {
            const N: usize = $n;
            #[inline(always)]
            unsafe fn load($lp: *const f32, $ll: usize) -> Self {
                // SAFETY: the caller's contract (masked-off lanes are not read and
                // cannot fault).
                unsafe {
                    if $ll == $n {
                        $reg($loadu($lp))
                    } else {
                        $reg($masked_load)
                    }
                }
            }
            #[inline(always)]
            unsafe fn store(self, $sp: *mut f32, $sl: usize) {
                let $sv = self.0;
                // SAFETY: the caller's contract (masked-off lanes are not written).
                unsafe {
                    if $sl == $n {
                        $storeu($sp, $sv)
                    } else {
                        $masked_store
                    }
                }
            }
            #[inline(always)]
            fn zero() -> Self {
                // SAFETY: only called inside this module's target_feature functions.
                $reg(unsafe { $zero() })
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                // SAFETY: as `zero`.
                $reg(unsafe { $add(self.0, o.0) })
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                // SAFETY: as `zero`.
                $reg(unsafe { $sub(self.0, o.0) })
            }
        }

        /// [`super::transform_block_with`] on this module's lanes.
        ///
        /// # Safety
        /// The ISA available; the contract of the block's transform.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn transform_block(
            kind: super::Block,
            p: &super::Plan,
            src: &[f32],
            t0: usize,
            nt: usize,
            dst: &mut [f32],
        ) {
            // SAFETY: forwarded contract.
            unsafe { super::transform_block_with::<$reg>(kind, p, src, t0, nt, dst) }
        }

        /// [`super::output_block_with`] on this module's lanes.
        ///
        /// # Safety
        /// The ISA available; the contract of `output_block_with`.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn output_block(
            p: &super::Plan,
            m: &[f32],
            t0: usize,
            nt: usize,
            y: *mut f32,
            accumulate: bool,
        ) {
            // SAFETY: forwarded contract.
            unsafe { super::output_block_with::<$reg>(p, m, t0, nt, y, accumulate) }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// The mask of the first `len` lanes.
    #[inline(always)]
    fn mask(len: usize) -> __mmask16 {
        ((1u32 << len) - 1) as __mmask16
    }

    isa_lanes!(
        "avx512f", Z(__m512, 16),
        load _mm512_loadu_ps |p, len| _mm512_maskz_loadu_ps(mask(len), p),
        store _mm512_storeu_ps |p, len, v| _mm512_mask_storeu_ps(p, mask(len), v),
        zero _mm512_setzero_ps, add _mm512_add_ps, sub _mm512_sub_ps,
    );
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The mask of the first `len` lanes (a lane's sign bit selects it). Only called
    /// inside the avx2 functions of this module.
    #[inline(always)]
    fn mask(len: usize) -> __m256i {
        // SAFETY: AVX2 is available where this runs (see above).
        unsafe {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(len as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
    }

    // 8 channels a register: 16 of them, a tile's transform, fit the 16 registers, where
    // 16-channel pairs of registers would spill.
    isa_lanes!(
        "avx2", Y(__m256, 8),
        load _mm256_loadu_ps |p, len| _mm256_maskload_ps(p, mask(len)),
        store _mm256_storeu_ps |p, len, v| _mm256_maskstore_ps(p, mask(len), v),
        zero _mm256_setzero_ps, add _mm256_add_ps, sub _mm256_sub_ps,
    );
}

/// Whether the correlation runs at full speed here: with the AVX-512 or AVX2
/// transforms (the portable ones are correct but slower than the direct product).
pub fn fast() -> bool {
    Isa::here() != Isa::Portable
}

/// Calls `$f` of `$isa`'s module, or `$with` on plain arrays for the portable
/// transforms, with the arguments; the caller upholds the function's contract and
/// `$isa` is one [`Isa::here`] found (or [`Isa::all_here`] lists).
macro_rules! on_isa {
    ($isa:expr, $f:ident / $with:ident($($a:expr),*)) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX-512F; the caller's contract.
            Isa::Avx512 => unsafe { avx512::$f($($a),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX2; the caller's contract.
            Isa::Avx2 => unsafe { avx2::$f($($a),*) },
            // SAFETY: the caller's contract, on plain arrays.
            _ => unsafe { $with::<[f32; L]>($($a),*) },
        }
    };
}

/// The transforms that fill a block's operands: the input windows' (`Bᵀ d B`, into V)
/// or the output gradient tiles' (`A dY Aᵀ`, into the products' place).
#[derive(Clone, Copy)]
enum Block {
    Input,
    Gradient,
}

/// Runs the `kind` transform of tiles `t0..t0 + nt` from `src` into `dst` on `isa`
/// (one this CPU has).
fn transform_block(
    isa: Isa,
    kind: Block,
    plan: &Plan,
    src: &[f32],
    t0: usize,
    nt: usize,
    dst: &mut [f32],
) {
    // The bounds are checked by the callers (`correlate`, `kernel_gradient`).
    on_isa!(
        isa,
        transform_block / transform_block_with(kind, plan, src, t0, nt, dst)
    )
}

/// [`input_block_with`] or [`gradient_block_with`].
///
/// # Safety
/// The contract of the one `kind` names.
#[inline(always)]
unsafe fn transform_block_with<V: Lanes>(
    kind: Block,
    plan: &Plan,
    src: &[f32],
    t0: usize,
    nt: usize,
    dst: &mut [f32],
) {
    // SAFETY: forwarded contract.
    unsafe {
        match kind {
            Block::Input => input_block_with::<V>(plan, src, t0, nt, dst),
            Block::Gradient => gradient_block_with::<V>(plan, src, t0, nt, dst),
        }
    }
}

/// The output tiles of a block on `isa` (one this CPU has): see [`output_block_with`].
///
/// # Safety
/// `y` the plan's (OH, OW, O) output, its tiles `t0..t0 + nt` written by nobody else
/// meanwhile.
unsafe fn output_block(
    isa: Isa,
    plan: &Plan,
    m: &[f32],
    t0: usize,
    nt: usize,
    y: *mut f32,
    accumulate: bool,
) {
    on_isa!(
        isa,
        output_block / output_block_with(plan, m, t0, nt, y, accumulate)
    )
}

/// The transformed input windows of tiles `t0..t0 + nt` into `v`: position ξ of block
/// tile `t`, channel `c`, at `v[ξ·stride(C) + t·C + c]`. Window (i, j) of tile
/// (ty, tx) is input pixel (2ty + i, 2tx + j), zero outside the sample; `Bᵀ d B` with
/// `Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`.
///
/// # Safety
/// `V`'s ISA available; `x` holds the plan's (H, W, C) sample, `v` 16·stride(C)
/// floats, `t0 + nt` at most the plan's tiles and `nt` at most BLOCK_TILES (checked by
/// [`correlate`]).
#[inline(always)]
unsafe fn input_block_with<V: Lanes>(plan: &Plan, x: &[f32], t0: usize, nt: usize, v: &mut [f32]) {
    let (h, w, c) = (plan.h, plan.w, plan.c);
    let (_, tw) = plan.tiles();
    let (xp, vp) = (x.as_ptr(), v.as_mut_ptr());
    for t in 0..nt {
        let (y0, x0) = (2 * ((t0 + t) / tw), 2 * ((t0 + t) % tw));
        let inside = y0 + 4 <= h && x0 + 4 <= w;
        let mut c0 = 0;
        while c0 < c {
            let len = V::N.min(c - c0);
            let mut d = [V::zero(); XI];
            for (q, d) in d.iter_mut().enumerate() {
                let (i, j) = (q / 4, q % 4);
                if inside || (y0 + i < h && x0 + j < w) {
                    // SAFETY: pixel (y0 + i, x0 + j) is inside the sample, c0 + len <= C.
                    *d = unsafe { V::load(xp.add(((y0 + i) * w + x0 + j) * c + c0), len) };
                }
            }
            // Bᵀ d (down each column), then (.) B (along each row)
            let mut r = [V::zero(); XI];
            for j in 0..4 {
                let (d0, d1, d2, d3) = (d[j], d[4 + j], d[8 + j], d[12 + j]);
                r[j] = d0.sub(d2);
                r[4 + j] = d1.add(d2);
                r[8 + j] = d2.sub(d1);
                r[12 + j] = d1.sub(d3);
            }
            for i in 0..4 {
                let (r0, r1, r2, r3) = (r[i * 4], r[i * 4 + 1], r[i * 4 + 2], r[i * 4 + 3]);
                let out = [r0.sub(r2), r1.add(r2), r2.sub(r1), r1.sub(r3)];
                for (j, e) in out.into_iter().enumerate() {
                    let xi = i * 4 + j;
                    // SAFETY: t < BLOCK_TILES and c0 + len <= C keep it inside v.
                    unsafe { e.store(vp.add(xi * stride(c) + t * c + c0), len) };
                }
            }
            c0 += len;
        }
    }
}

/// The output tiles `t0..t0 + nt` from the block's products `m` (position ξ of block
/// tile `t`, channel `o`, at `m[ξ·stride(O) + t·O + o]`): `Aᵀ m A` with
/// `Aᵀ = [1 1 1 0; 0 1 -1 -1]`, written or added into `y` where it falls inside the
/// output.
///
/// # Safety
/// As [`input_block_with`], with `m` 16·stride(O) floats and `yp` the (OH, OW, O)
/// output, its tiles `t0..t0 + nt` written by nobody else meanwhile.
#[inline(always)]
unsafe fn output_block_with<V: Lanes>(
    plan: &Plan,
    m: &[f32],
    t0: usize,
    nt: usize,
    yp: *mut f32,
    accumulate: bool,
) {
    let o = plan.o;
    let (oh, ow) = plan.out();
    let (_, tw) = plan.tiles();
    let mp = m.as_ptr();
    for t in 0..nt {
        let (y0, x0) = (2 * ((t0 + t) / tw), 2 * ((t0 + t) % tw));
        let mut o0 = 0;
        while o0 < o {
            let len = V::N.min(o - o0);
            let mut mt = [V::zero(); XI];
            for (xi, e) in mt.iter_mut().enumerate() {
                // SAFETY: t < BLOCK_TILES and o0 + len <= O keep it inside m.
                *e = unsafe { V::load(mp.add(xi * stride(o) + t * o + o0), len) };
            }
            // Aᵀ m (down each column), then (.) A (along each row)
            let mut s = [V::zero(); 8];
            for j in 0..4 {
                let (m0, m1, m2, m3) = (mt[j], mt[4 + j], mt[8 + j], mt[12 + j]);
                s[j] = m0.add(m1).add(m2);
                s[4 + j] = m1.sub(m2).sub(m3);
            }
            for a in 0..2 {
                let (s0, s1, s2, s3) = (s[a * 4], s[a * 4 + 1], s[a * 4 + 2], s[a * 4 + 3]);
                let row = [s0.add(s1).add(s2), s1.sub(s2).sub(s3)];
                for (b, mut e) in row.into_iter().enumerate() {
                    let (oy, ox) = (y0 + a, x0 + b);
                    if oy >= oh || ox >= ow {
                        continue;
                    }
                    // SAFETY: output (oy, ox) is inside y, o0 + len <= O.
                    unsafe {
                        let at = yp.add((oy * ow + ox) * o + o0);
                        if accumulate {
                            e = e.add(V::load(at, len));
                        }
                        e.store(at, len);
                    }
                }
            }
            o0 += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The direct correlation in float64.
    fn direct(p: &Plan, x: &[f32], g: &[f32]) -> Vec<f64> {
        let (oh, ow) = p.out();
        let mut y = vec![0.0f64; oh * ow * p.o];
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..p.o {
                    let mut s = 0.0f64;
                    for a in 0..3 {
                        for b in 0..3 {
                            for c in 0..p.c {
                                s += x[((oy + a) * p.w + ox + b) * p.c + c] as f64
                                    * g[((a * 3 + b) * p.c + c) * p.o + o] as f64;
                            }
                        }
                    }
                    y[(oy * ow + ox) * p.o + o] = s;
                }
            }
        }
        y
    }

    #[test]
    fn matches_the_direct_correlation_on_odd_and_even_shapes_and_channel_tails() {
        // odd and even outputs, more tiles than a block, channels below, at and above a lane
        for &(h, w, c, o) in &[
            (3, 3, 1, 1),
            (4, 4, 3, 5),
            (5, 7, 16, 16),
            (9, 8, 17, 33),
            (16, 18, 32, 8),
            (30, 30, 4, 20),
        ] {
            let p = Plan { h, w, c, o };
            let x = data(h * w * c, 1);
            let g = data(9 * c * o, 2);
            let mut kbuf = vec![0.0; p.kernel_len()];
            let mut tmp = vec![0.0; p.kernel_tmp_len()];
            let u = transform_kernel(
                &p,
                |a, b, ci, oi| g[((a * 3 + b) * c + ci) * o + oi],
                &mut tmp,
                &mut kbuf,
            );
            let mut scratch = vec![f32::NAN; 2 * p.scratch_len()];
            let (oh, ow) = p.out();
            let mut y = vec![f32::NAN; oh * ow * o];
            let want = direct(&p, &x, &g);
            let mut first: Option<Vec<f32>> = None;
            for isa in Isa::all_here() {
                correlate_with(isa, &p, &x, &u, &mut y, false, &mut scratch, 1);
                let mut y2 = vec![f32::NAN; y.len()];
                correlate_with(isa, &p, &x, &u, &mut y2, false, &mut scratch, 2);
                assert_eq!(y, y2, "threads change no bit");
                // the transforms add and subtract lane by lane: every ISA, the same bits
                match &first {
                    Some(f) => assert_eq!(&y, f, "{isa:?}: {h}x{w}x{c}->{o}"),
                    None => first = Some(y.clone()),
                }
                let bound = 1e-5 * (9 * c) as f64;
                for (i, (&a, &b)) in y.iter().zip(&want).enumerate() {
                    assert!(
                        (a as f64 - b).abs() <= bound,
                        "{h}x{w}x{c}->{o} at {i}: {a} vs {b}"
                    );
                }
                // accumulate adds onto what is there
                let base = data(y.len(), 3);
                let mut y2 = base.clone();
                correlate_with(isa, &p, &x, &u, &mut y2, true, &mut scratch, 2);
                for ((&a, &b), &s) in y2.iter().zip(&want).zip(&base) {
                    assert!((a as f64 - (b + s as f64)).abs() <= bound + 1e-6);
                }
            }
        }
    }

    #[test]
    fn the_kernel_gradient_matches_the_direct_one() {
        // dL/dg for L = <y, gy>: sum over output pixels of x-window * gy
        for &(h, w, c, o) in &[(3, 3, 1, 1), (5, 7, 16, 3), (9, 8, 17, 33), (16, 18, 32, 8)] {
            let p = Plan { h, w, c, o };
            let (oh, ow) = p.out();
            let x = data(h * w * c, 4);
            let gy = data(oh * ow * o, 5);
            let mut want = vec![0.0f64; 9 * c * o];
            for oy in 0..oh {
                for ox in 0..ow {
                    for a in 0..3 {
                        for b in 0..3 {
                            for ci in 0..c {
                                let xv = x[((oy + a) * w + ox + b) * c + ci] as f64;
                                for oi in 0..o {
                                    want[((a * 3 + b) * c + ci) * o + oi] +=
                                        xv * gy[(oy * ow + ox) * o + oi] as f64;
                                }
                            }
                        }
                    }
                }
            }
            let mut scratch = vec![f32::NAN; p.scratch_len()];
            let mut du = vec![f32::NAN; p.kernel_grad_len()];
            kernel_gradient(&p, &x, &gy, &mut du, false, &mut scratch);
            // accumulate: a second sample (the same) doubles it
            let mut du2 = du.clone();
            kernel_gradient(&p, &x, &gy, &mut du2, true, &mut scratch);
            let mut dw = vec![f32::NAN; 9 * c * o];
            let mut dw2 = dw.clone();
            let row = |a: usize, b: usize, ci: usize| (a * 3 + b) * c + ci;
            kernel_gradient_back(&p, &du, &mut dw, row);
            kernel_gradient_back(&p, &du2, &mut dw2, row);
            let bound = 1e-5 * (oh * ow) as f64;
            for (i, ((&a, &a2), &b)) in dw.iter().zip(&dw2).zip(&want).enumerate() {
                assert!(
                    (a as f64 - b).abs() <= bound,
                    "{h}x{w}x{c}->{o} at {i}: {a} vs {b}"
                );
                assert!(
                    (a2 as f64 - 2.0 * b).abs() <= 2.0 * bound,
                    "accumulated at {i}"
                );
            }
        }
    }

    #[test]
    fn the_gradient_transform_gives_the_same_bits_on_every_isa() {
        // channel counts below, at and between the 8 and 16 lanes; odd outputs (tiles
        // half outside)
        for &(h, w, o) in &[(3, 3, 1), (5, 7, 3), (9, 8, 33), (16, 18, 8), (7, 10, 20)] {
            let p = Plan { h, w, c: 1, o };
            let (oh, ow) = p.out();
            let (th, tw) = p.tiles();
            let gy = data(oh * ow * o, 6);
            let nt = (th * tw).min(BLOCK_TILES);
            let mut first: Option<Vec<f32>> = None;
            for isa in Isa::all_here() {
                let mut m = vec![0.0f32; XI * stride(o)];
                transform_block(isa, Block::Gradient, &p, &gy, 0, nt, &mut m);
                match &first {
                    Some(f) => assert_eq!(&m, f, "{isa:?}: {h}x{w}->{o}"),
                    None => first = Some(m),
                }
            }
        }
    }
}
