//! Register-blocked f32 microkernels for [`super::sgemm_small`], one per instruction set
//! (AVX-512F 8x32, AVX2+FMA 6x16, portable 4x8), chosen at run time.
//!
//! A microkernel computes one `mr x NR` tile of C over a block of `kc` steps:
//! `C[i, j] (=|+=) sum_p A(i, p) * Bp[p, j]`. A is read in place through strides (row
//! step `a_rs`, column step `a_cs`; no packing: each step broadcasts `mr` scalars, which
//! costs the same loads whether A is packed or not), B comes as `kc` rows of `NR`
//! contiguous floats `b_rs` apart: packed by [`Micro::pack_b`] (`b_rs = NR`, zero-padded
//! past the `nv` valid columns, so the inner loop never branches) or, for a full-width
//! panel of a row-major B used by few row strips, read in place (`b_rs` = B's row
//! stride), which saves a copy of B that would be read only once or twice. A may also
//! be gathered (row `i` at its own offset, step `p` at a table's offset: an implicit
//! im2col matrix), one more scalar load per step. The accumulators stay in registers for the whole
//! block; C is touched once per tile. Edge columns are stored through a mask (AVX-512)
//! or a stack tile; edge rows use the kernel instantiated for fewer rows.

/// One microkernel call. Pointers are valid for the extents the fields describe.
pub(crate) struct Tile {
    /// Number of k steps.
    pub kc: usize,
    /// A(i, p) is at `a + i*a_rs + p*a_cs`, or, when `a_steps` is not null (a gathered
    /// A), at `a + a_rows[i] + a_steps[p]` (the strides are then unused).
    pub a: *const f32,
    pub a_rs: isize,
    pub a_cs: isize,
    /// Per-row offsets of a gathered A (`mr` of them), or null.
    pub a_rows: *const i32,
    /// Per-step offsets of a gathered A (`kc` of them), or null.
    pub a_steps: *const i32,
    /// B panel: `kc` rows of `NR` floats, row `p` at `b + p*b_rs`.
    pub b: *const f32,
    pub b_rs: usize,
    /// C(i, j) is at `c + i*ldc + j`.
    pub c: *mut f32,
    pub ldc: usize,
    /// Add to C (otherwise C is overwritten without being read).
    pub add: bool,
    /// Valid columns of the tile (1..=NR).
    pub nv: usize,
}

/// A microkernel family: tile shape, the kernel and its B packing.
pub(crate) trait Micro {
    /// Most rows of a tile.
    const MR: usize;
    /// Columns of a tile (the packed panel width).
    const NR: usize;
    /// Whether this CPU can run it.
    fn available() -> bool;
    /// Computes an `mr x NR` tile (`1 <= mr <= MR`).
    ///
    /// # Safety
    /// [`Self::available`] is true, and `t` describes readable A (`mr x kc`), packed B
    /// (`kc x NR`) and writable C (`mr x nv`) memory.
    unsafe fn kernel(mr: usize, t: &Tile);
    /// Packs op(B)(p, j) = `src[p*rs + j*cs]` for `p < kc`, `j < nv` into
    /// `dst[p*NR + j]`, zero for `nv <= j < NR`.
    ///
    /// # Safety
    /// [`Self::available`] is true; `src` is readable at those offsets and `dst` is
    /// writable for `kc*NR` floats.
    unsafe fn pack_b(kc: usize, nv: usize, src: *const f32, rs: isize, cs: isize, dst: *mut f32);
}

/// Scalar packing for any strides (and the edges of the vector packers).
///
/// # Safety
/// As [`Micro::pack_b`], with `nr` the panel width.
#[inline(always)]
unsafe fn pack_b_scalar(
    kc: usize,
    nv: usize,
    nr: usize,
    src: *const f32,
    rs: isize,
    cs: isize,
    dst: *mut f32,
) {
    // SAFETY: offsets within the caller's stated extents.
    unsafe {
        if cs == 1 {
            for p in 0..kc {
                let s = std::slice::from_raw_parts(src.offset(p as isize * rs), nv);
                let d = std::slice::from_raw_parts_mut(dst.add(p * nr), nr);
                d[..nv].copy_from_slice(s);
                d[nv..].fill(0.0);
            }
        } else {
            for p in 0..kc {
                let d = std::slice::from_raw_parts_mut(dst.add(p * nr), nr);
                for (j, x) in d[..nv].iter_mut().enumerate() {
                    *x = *src.offset(p as isize * rs + j as isize * cs);
                }
                d[nv..].fill(0.0);
            }
        }
    }
}

/// A's layout in a tile, as a const parameter of the kernels.
///
/// `RS1`: A's row step is 1 (A used transposed), so the `mr` broadcasts of one step sit
/// at immediate offsets from one pointer. `CS1`: A's column step is 1 (row-major A, the
/// common case), so each row gets its own base pointer and one shared index walks k:
/// without that the compiler strength-reduces `i*a_rs` into a chain of `mr` dependent
/// pointer additions per step, as long as the step's FMAs themselves. `ANY`: other
/// strides. `IDX`: a gathered A (an implicit im2col matrix: each row its own base
/// pointer, each step one offset from a table, added to every row's pointer).
const ANY: u8 = 0;
const RS1: u8 = 1;
const CS1: u8 = 2;
const IDX: u8 = 3;

/// Selects `f::<MR, LAYOUT>` for a runtime `mr` (rows) and A's strides.
macro_rules! dispatch_mr {
    ($f:ident, $mr:expr, $t:expr, $($n:literal)*) => {{
        let layout = if !$t.a_steps.is_null() {
            IDX
        } else if $t.a_rs == 1 {
            RS1
        } else if $t.a_cs == 1 {
            CS1
        } else {
            ANY
        };
        match ($mr, layout) {
            $(
                ($n, RS1) => $f::<$n, RS1>($t),
                ($n, CS1) => $f::<$n, CS1>($t),
                ($n, IDX) => $f::<$n, IDX>($t),
                ($n, _) => $f::<$n, ANY>($t),
            )*
            _ => unreachable!("microkernel rows out of range"),
        }
    }};
}

/// Portable kernel: 4x8 tiles in plain arrays (the compiler vectorises them with the
/// baseline SSE2).
pub(crate) struct Scalar;

impl Micro for Scalar {
    const MR: usize = 4;
    const NR: usize = 8;

    fn available() -> bool {
        true
    }

    unsafe fn kernel(mr: usize, t: &Tile) {
        // SAFETY: forwarded contract.
        unsafe { dispatch_mr!(scalar_kernel, mr, t, 1 2 3 4) }
    }

    unsafe fn pack_b(kc: usize, nv: usize, src: *const f32, rs: isize, cs: isize, dst: *mut f32) {
        // SAFETY: forwarded contract.
        unsafe { pack_b_scalar(kc, nv, Self::NR, src, rs, cs, dst) }
    }
}

/// # Safety
/// As [`Micro::kernel`].
unsafe fn scalar_kernel<const MR: usize, const LAYOUT: u8>(t: &Tile) {
    const NR: usize = Scalar::NR;
    let mut acc = [[0.0f32; NR]; MR];
    let rs = if LAYOUT == RS1 { 1 } else { t.a_rs };
    // SAFETY: A is readable for MR rows and kc columns, the panel for kc*NR floats.
    unsafe {
        let (mut ap, mut bp) = (t.a, t.b);
        for p in 0..t.kc {
            let b = std::slice::from_raw_parts(bp, NR);
            for (i, row) in acc.iter_mut().enumerate() {
                let a = if LAYOUT == IDX {
                    *t.a.offset(*t.a_rows.add(i) as isize + *t.a_steps.add(p) as isize)
                } else {
                    *ap.offset(i as isize * rs)
                };
                for (x, y) in row.iter_mut().zip(b) {
                    *x += a * y;
                }
            }
            ap = ap.wrapping_offset(t.a_cs);
            bp = bp.add(t.b_rs);
        }
        for (i, row) in acc.iter().enumerate() {
            let c = std::slice::from_raw_parts_mut(t.c.add(i * t.ldc), t.nv);
            if t.add {
                for (x, y) in c.iter_mut().zip(row) {
                    *x += y;
                }
            } else {
                c.copy_from_slice(&row[..t.nv]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{transpose8, Avx2, Avx512};

// The AVX-512 intrinsics are stable since Rust 1.89 (the workspace's rust-version).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{pack_b_scalar, Micro, Tile, ANY, CS1, IDX, RS1};
    use std::arch::x86_64::*;

    /// Transposes an 8x8 block: output row q is column q of the input.
    ///
    /// # Safety
    /// AVX is available (register-only otherwise).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ]
    }

    /// Packing with AVX: contiguous rows are copied with wide moves; a transposed B
    /// (`rs == 1`, each output column contiguous in memory) goes through 8x8 register
    /// transposes, which is several times faster than element-wise gathering and matters
    /// for the dense backward `dy * W^T` where packing is ~1/k of the work.
    ///
    /// # Safety
    /// AVX is available; as [`Micro::pack_b`] with panel width `nr` (a multiple of 8).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn pack_b_avx(
        kc: usize,
        nv: usize,
        nr: usize,
        src: *const f32,
        rs: isize,
        cs: isize,
        dst: *mut f32,
    ) {
        // SAFETY: every load reads op(B)(p, j) with p < kc, j < nv; every store writes
        // dst[p*nr + j] with j < nr.
        unsafe {
            if cs == 1 && nv == nr {
                // Whole rows: vector moves (the scalar packer's slice copy is a libc
                // memcpy call per row of 64 bytes, 6% of a 256x784x512 product).
                for p in 0..kc {
                    let (s, d) = (src.offset(p as isize * rs), dst.add(p * nr));
                    for j in (0..nr).step_by(8) {
                        _mm256_storeu_ps(d.add(j), _mm256_loadu_ps(s.add(j)));
                    }
                }
                return;
            }
            if rs != 1 || cs == 1 || kc < 8 {
                return pack_b_scalar(kc, nv, nr, src, rs, cs, dst);
            }
            let jfull = nv / 8 * 8;
            let pfull = kc / 8 * 8;
            for j0 in (0..jfull).step_by(8) {
                for p0 in (0..pfull).step_by(8) {
                    let base = src.offset(p0 as isize + j0 as isize * cs);
                    let r = [0, 1, 2, 3, 4, 5, 6, 7]
                        .map(|q: isize| _mm256_loadu_ps(base.offset(q * cs)));
                    let o = transpose8(r);
                    for (q, v) in o.iter().enumerate() {
                        _mm256_storeu_ps(dst.add((p0 + q) * nr + j0), *v);
                    }
                }
                for p in pfull..kc {
                    for j in j0..j0 + 8 {
                        *dst.add(p * nr + j) = *src.offset(p as isize + j as isize * cs);
                    }
                }
            }
            for p in 0..kc {
                for j in jfull..nv {
                    *dst.add(p * nr + j) = *src.offset(p as isize + j as isize * cs);
                }
                for j in nv..nr {
                    *dst.add(p * nr + j) = 0.0;
                }
            }
        }
    }

    /// A vector kernel family: the struct and its `Micro` impl (`available` checks the
    /// named CPU features, `kernel` dispatches rows to `$kernel`, B is packed by
    /// [`pack_b_avx`]).
    macro_rules! vector_family {
        ($(#[$doc:meta])* $ty:ident, $mr:literal x $nr:literal,
         [$($feature:tt),*], $kernel:ident, rows $($rows:literal)*) => {
            $(#[$doc])*
            pub(crate) struct $ty;

            impl Micro for $ty {
                const MR: usize = $mr;
                const NR: usize = $nr;

                fn available() -> bool {
                    $(is_x86_feature_detected!($feature))&&*
                }

                unsafe fn kernel(mr: usize, t: &Tile) {
                    // SAFETY: forwarded contract (the features were checked by
                    // `available`).
                    unsafe { dispatch_mr!($kernel, mr, t, $($rows)*) }
                }

                unsafe fn pack_b(
                    kc: usize,
                    nv: usize,
                    src: *const f32,
                    rs: isize,
                    cs: isize,
                    dst: *mut f32,
                ) {
                    // SAFETY: forwarded contract.
                    unsafe { pack_b_avx(kc, nv, $nr, src, rs, cs, dst) }
                }
            }
        };
    }

    /// The k loop of a vector kernel, the same at every width: per step two vectors of
    /// the B panel (`$half` floats apart) and, per row, one broadcast of A (`$x` points
    /// at the element, `$bcast` loads it into every lane) into two accumulators.
    macro_rules! k_loop {
        ($t:ident, $mr:ident, $layout:ident, $acc0:ident, $acc1:ident, $half:literal,
         $load:ident, $fma:ident, $x:ident => $bcast:expr) => {{
            let mut bp = $t.b;
            if $layout == IDX || $layout == CS1 {
                // Each row its own base pointer, each step one offset added to all.
                let rows: [*const f32; $mr] = std::array::from_fn(|i| {
                    let off = if $layout == IDX {
                        *$t.a_rows.add(i) as isize
                    } else {
                        i as isize * $t.a_rs
                    };
                    $t.a.wrapping_offset(off)
                });
                for p in 0..$t.kc {
                    let o = if $layout == IDX {
                        *$t.a_steps.add(p) as isize
                    } else {
                        p as isize
                    };
                    let b0 = $load(bp);
                    let b1 = $load(bp.add($half));
                    for i in 0..$mr {
                        let $x = rows[i].offset(o);
                        let a = $bcast;
                        $acc0[i] = $fma(a, b0, $acc0[i]);
                        $acc1[i] = $fma(a, b1, $acc1[i]);
                    }
                    bp = bp.add($t.b_rs);
                }
            } else {
                let rs = if $layout == RS1 { 1 } else { $t.a_rs };
                let mut ap = $t.a;
                for _ in 0..$t.kc {
                    let b0 = $load(bp);
                    let b1 = $load(bp.add($half));
                    for i in 0..$mr {
                        let $x = ap.offset(i as isize * rs);
                        let a = $bcast;
                        $acc0[i] = $fma(a, b0, $acc0[i]);
                        $acc1[i] = $fma(a, b1, $acc1[i]);
                    }
                    ap = ap.wrapping_offset($t.a_cs);
                    bp = bp.add($t.b_rs);
                }
            }
        }};
    }

    vector_family!(
        /// AVX-512F: 8 rows x 32 columns (16 zmm accumulators, two B loads and eight
        /// broadcasts per step). Eight rows rather than the 12-14 of large-matrix kernels
        /// because batch sizes are multiples of 8 (32 rows: four full tiles, no waste).
        Avx512, 8 x 32, ["avx512f", "avx2", "fma"], k512,
        rows 1 2 3 4 5 6 7 8
    );

    /// # Safety
    /// As [`Micro::kernel`] on a CPU with AVX-512F.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn k512<const MR: usize, const LAYOUT: u8>(t: &Tile) {
        // SAFETY: reads A(i, p) for i < MR, p < kc and the B panel (kc rows of 32
        // floats, b_rs apart); writes (masked to nv columns) MR rows of C.
        unsafe {
            let mut acc0 = [_mm512_setzero_ps(); MR];
            let mut acc1 = [_mm512_setzero_ps(); MR];
            k_loop!(t, MR, LAYOUT, acc0, acc1, 16, _mm512_loadu_ps, _mm512_fmadd_ps, x => _mm512_set1_ps(*x));
            let nv = t.nv as u32;
            let m0 = if nv >= 16 { 0xFFFF } else { (1u32 << nv) - 1 } as __mmask16;
            let m1 = if nv >= 32 {
                0xFFFF
            } else {
                (1u32 << nv.saturating_sub(16)) - 1
            } as __mmask16;
            for i in 0..MR {
                let c = t.c.add(i * t.ldc);
                let (mut x0, mut x1) = (acc0[i], acc1[i]);
                if nv == 32 {
                    if t.add {
                        x0 = _mm512_add_ps(x0, _mm512_loadu_ps(c));
                        x1 = _mm512_add_ps(x1, _mm512_loadu_ps(c.add(16)));
                    }
                    _mm512_storeu_ps(c, x0);
                    _mm512_storeu_ps(c.add(16), x1);
                } else {
                    // Masked-off lanes are neither read nor written (no fault past C).
                    if t.add {
                        x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, c));
                        x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, c.wrapping_add(16)));
                    }
                    _mm512_mask_storeu_ps(c, m0, x0);
                    _mm512_mask_storeu_ps(c.wrapping_add(16), m1, x1);
                }
            }
        }
    }

    vector_family!(
        /// AVX2+FMA: 6 rows x 16 columns (12 ymm accumulators, the classic Haswell tile).
        Avx2, 6 x 16, ["avx2", "fma"], k256, rows 1 2 3 4 5 6
    );

    /// # Safety
    /// As [`Micro::kernel`] on a CPU with AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn k256<const MR: usize, const LAYOUT: u8>(t: &Tile) {
        // SAFETY: reads A(i, p) for i < MR, p < kc and the B panel (kc rows of 16
        // floats, b_rs apart); writes MR rows of nv columns of C.
        unsafe {
            let mut acc0 = [_mm256_setzero_ps(); MR];
            let mut acc1 = [_mm256_setzero_ps(); MR];
            k_loop!(t, MR, LAYOUT, acc0, acc1, 8, _mm256_loadu_ps, _mm256_fmadd_ps, x => _mm256_broadcast_ss(&*x));
            for i in 0..MR {
                let c = t.c.add(i * t.ldc);
                let (mut x0, mut x1) = (acc0[i], acc1[i]);
                if t.nv == 16 {
                    if t.add {
                        x0 = _mm256_add_ps(x0, _mm256_loadu_ps(c));
                        x1 = _mm256_add_ps(x1, _mm256_loadu_ps(c.add(8)));
                    }
                    _mm256_storeu_ps(c, x0);
                    _mm256_storeu_ps(c.add(8), x1);
                } else {
                    let mut tile = [0.0f32; 16];
                    _mm256_storeu_ps(tile.as_mut_ptr(), x0);
                    _mm256_storeu_ps(tile.as_mut_ptr().add(8), x1);
                    let c = std::slice::from_raw_parts_mut(c, t.nv);
                    if t.add {
                        for (x, y) in c.iter_mut().zip(&tile) {
                            *x += y;
                        }
                    } else {
                        c.copy_from_slice(&tile[..t.nv]);
                    }
                }
            }
        }
    }
}
