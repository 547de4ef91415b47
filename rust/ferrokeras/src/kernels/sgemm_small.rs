//! The engine's own packed f32 gemm for small and medium products (the shapes of dense
//! layers, LSTM gates and im2col convolutions at Keras batch sizes), dispatched from
//! [`super::gemm`].
//!
//! Why not the `gemm` crate here: it allocates its packing buffers on every call and its
//! fixed per-call cost shows at 32x784x32. This path keeps one packing buffer per thread
//! (grown once, never shrunk), so a steady-state call allocates nothing.
//!
//! Loop nest (BLIS order, minus the A packing): for each block of at most `KC_MAX`
//! k steps, for each `NR`-column panel of B: pack the panel (`kc x NR`, L1-resident),
//! then sweep it against every `MR`-row strip of A, read in place (see
//! `sgemm_micro`). The first k block overwrites C unless accumulating, so a C
//! holding NaN is never read. Parallel: the column panels (or, for narrow products,
//! the row strips) are cut into a few chunks per thread, claimed dynamically, the caller
//! from the front and the helpers from the back
//! ([`super::pool::parallel_for_from_both_ends`]), each thread with its own buffer.

use std::cell::RefCell;

#[cfg(target_arch = "x86_64")]
use super::sgemm_micro::{Avx2, Avx512};
use super::sgemm_micro::{Micro, Scalar, Tile};

/// Most k steps per packed panel: 256 x 32 floats is 32 KiB, which stays in the 48 KiB
/// L1 while the A strips stream past. k is split into equal blocks (784 -> 4 x 196).
const KC_MAX: usize = 256;

thread_local! {
    /// This thread's packing buffer: made at its largest ([`PACK_LEN`]) on first use,
    /// then reused.
    static PACK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Floats of the largest packed panel (k steps of the widest tile, 32 columns) plus
/// room to align it: the most any product needs, so a thread's buffer is made once.
const PACK_LEN: usize = KC_MAX * 32 + 16;

/// Makes this thread's packing buffer now (the pool's workers do it as they start), so
/// that the first product a worker runs, whenever that is, allocates nothing.
pub fn reserve_pack() {
    PACK.with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            if buf.len() < PACK_LEN {
                buf.resize(PACK_LEN, 0.0);
            }
        }
    });
}

/// The microkernel family to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F, 8x32 tiles.
    Avx512,
    /// AVX2 + FMA, 6x16 tiles.
    Avx2,
    /// Portable, 4x8 tiles.
    Scalar,
}

impl Isa {
    /// The best family this CPU runs (detected at run time).
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if Avx512::available() {
                return Isa::Avx512;
            }
            if Avx2::available() {
                return Isa::Avx2;
            }
        }
        Isa::Scalar
    }

    /// Whether this CPU runs it.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Avx512::available(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Avx2::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx512 | Isa::Avx2 => false,
            Isa::Scalar => true,
        }
    }

    pub(crate) fn nr(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Avx512::NR,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Avx2::NR,
            _ => Scalar::NR,
        }
    }

    pub(crate) fn mr(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Avx512::MR,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Avx2::MR,
            _ => Scalar::MR,
        }
    }
}

/// A strided matrix: element (r, c) at `ptr + r*rs + c*cs`.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// Element (0, 0).
    pub ptr: *const f32,
    /// Step between rows.
    pub rs: isize,
    /// Step between columns.
    pub cs: isize,
}

impl View {
    /// The view starting at (r, c) (pointer arithmetic only; in bounds by the caller).
    fn at(self, r: usize, c: usize) -> View {
        View {
            ptr: self
                .ptr
                .wrapping_offset(r as isize * self.rs + c as isize * self.cs),
            ..self
        }
    }
}

/// A gathered matrix: element (r, c) at `ptr + rows[r] + cols[c]`. With `rows` the
/// output positions of a convolution and `cols` its kernel taps (or the other way
/// round) this is the im2col matrix of an input, read where the input lies: the
/// product runs without the column matrix ever being written.
#[derive(Debug, Clone, Copy)]
pub struct Gathered {
    /// The base every offset is taken from.
    pub ptr: *const f32,
    /// One offset per row.
    pub rows: *const i32,
    /// One offset per column.
    pub cols: *const i32,
}

/// The left operand of a product: strided or gathered.
#[derive(Debug, Clone, Copy)]
pub enum Lhs {
    /// Element (r, c) at `ptr + r*rs + c*cs`.
    Strided(View),
    /// Element (r, c) at `ptr + rows[r] + cols[c]`.
    Gathered(Gathered),
}

impl From<View> for Lhs {
    fn from(v: View) -> Lhs {
        Lhs::Strided(v)
    }
}

impl From<Gathered> for Lhs {
    fn from(g: Gathered) -> Lhs {
        Lhs::Gathered(g)
    }
}

impl Lhs {
    /// The operand starting at (r, c) (pointer arithmetic only; in bounds by the caller).
    fn at(self, r: usize, c: usize) -> Lhs {
        match self {
            Lhs::Strided(v) => Lhs::Strided(v.at(r, c)),
            Lhs::Gathered(g) => Lhs::Gathered(Gathered {
                rows: g.rows.wrapping_add(r),
                cols: g.cols.wrapping_add(c),
                ..g
            }),
        }
    }
}

/// Raw pointers crossing `rayon::join`: the halves read shared A and B and write
/// disjoint parts of C.
#[derive(Clone, Copy)]
struct Shared {
    a: Lhs,
    b: View,
    c: *mut f32,
}
// SAFETY: see the type's doc; the callers guarantee the disjointness.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// `C (m x n, row stride ldc) = [C +] A (m x k) * B (k x n)` on the calling thread.
///
/// # Safety
/// `isa.available()`; A, B readable at every (row, col) in range, C writable at
/// `c + i*ldc + j` for `i < m`, `j < n`; C does not overlap A or B. `m, n, k >= 1`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_serial(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: impl Into<Lhs>,
    b: View,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let a = a.into();
    PACK.with(|cell| {
        // A nested call on this thread (not expected: the driver never yields to rayon)
        // falls back to a fresh buffer rather than panicking.
        let mut fresh = Vec::new();
        let mut guard = cell.try_borrow_mut();
        let buf = match guard.as_mut() {
            Ok(v) => &mut **v,
            Err(_) => &mut fresh,
        };
        // SAFETY: forwarded contract.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => drive::<Avx512>(m, n, k, a, b, c, ldc, accumulate, buf),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => drive::<Avx2>(m, n, k, a, b, c, ldc, accumulate, buf),
                _ => drive::<Scalar>(m, n, k, a, b, c, ldc, accumulate, buf),
            }
        }
    })
}

/// Fewest multiply-adds worth a chunk of their own in [`gemm_parallel`] (about a
/// microsecond of work: below that the claim and the cache misses of a fresh C block
/// cost more than the balance gains).
const MIN_CHUNK_MACS: usize = 1 << 16;

/// Chunks per thread in [`gemm_parallel`]: a few, so a thread that starts late or runs
/// slowly (a busy host steals vCPU time) takes fewer of them instead of holding up the
/// others with a fixed half.
const CHUNKS_PER_THREAD: usize = 4;

/// Like [`gemm_serial`], on up to `parts` threads
/// ([`super::pool::parallel_for_from_both_ends`]: the caller takes part, claiming chunks
/// from the front while the helpers claim from the back, so each core keeps its own
/// columns or rows call after call): the columns are cut into chunks of whole `NR`
/// panels when there are at least `parts` panels (each chunk packs only its own
/// panels), else the rows into chunks of whole `MR` strips.
///
/// # Safety
/// As [`gemm_serial`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_parallel(
    isa: Isa,
    parts: usize,
    m: usize,
    n: usize,
    k: usize,
    a: impl Into<Lhs>,
    b: View,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let a = a.into();
    let (nr, mr) = (isa.nr(), isa.mr());
    let (panels, strips) = (n.div_ceil(nr), m.div_ceil(mr));
    let max_chunks = (m * n * k / MIN_CHUNK_MACS).clamp(1, parts * CHUNKS_PER_THREAD);
    // Split the columns (whole panels) when there are enough, else the rows (whole
    // strips): `units` of `unit` columns or rows, `len` in all.
    let by_cols = panels >= parts;
    let (units, unit, len) = if by_cols {
        (panels, nr, n)
    } else {
        (strips, mr, m)
    };
    if parts > 1 && units >= parts {
        let chunks = units.min(max_chunks);
        // A reference, so the closure captures the Sync wrapper rather than its fields.
        let s = &Shared { a, b, c };
        super::pool::parallel_for_from_both_ends(chunks, parts, &|i, _| {
            let (lo, hi) = (
                i * units / chunks * unit,
                ((i + 1) * units / chunks * unit).min(len),
            );
            let (i0, i1, j0, j1) = if by_cols {
                (0, m, lo, hi)
            } else {
                (lo, hi, 0, n)
            };
            // SAFETY: rows i0..i1, columns j0..j1 of C are this chunk's alone.
            unsafe {
                gemm_serial(
                    isa,
                    i1 - i0,
                    j1 - j0,
                    k,
                    s.a.at(i0, 0),
                    s.b.at(0, j0),
                    s.c.add(i0 * ldc + j0),
                    ldc,
                    accumulate,
                )
            }
        });
    } else {
        // SAFETY: forwarded contract.
        unsafe { gemm_serial(isa, m, n, k, a, b, c, ldc, accumulate) }
    }
}

/// The k-block length [`drive`] uses for a product of depth `k` (k cut into equal blocks
/// of at most [`KC_MAX`] steps).
fn k_block(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KC_MAX))
}

/// Floats a B of `k x n` takes packed for `isa` ([`pack_whole`]): every k block's
/// column panels, each padded to the panel width.
pub fn packed_len(isa: Isa, k: usize, n: usize) -> usize {
    k * n.div_ceil(isa.nr()) * isa.nr()
}

/// Packs all of op(B) (`k x n`, element (p, j) at `b.ptr + p*b.rs + j*b.cs`) into `dst`
/// in the order [`gemm_packed`] reads it: k block by k block (the blocks of
/// `drive`), within a block panel by panel, each `kc x NR`. For a right operand that
/// many products share (a recurrent weight matrix, once per step of a sequence), so
/// that it is packed once rather than once per product.
///
/// # Safety
/// `isa.available()`; B readable at every (p, j) in range; `dst` writable for
/// [`packed_len`]`(isa, k, n)` floats. `k, n >= 1`.
pub unsafe fn pack_whole(isa: Isa, k: usize, n: usize, b: View, dst: *mut f32) {
    // SAFETY: forwarded contract.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => pack_whole_k::<Avx512>(k, n, b, dst),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => pack_whole_k::<Avx2>(k, n, b, dst),
            _ => pack_whole_k::<Scalar>(k, n, b, dst),
        }
    }
}

/// [`pack_whole`] for one kernel family.
///
/// # Safety
/// As [`pack_whole`], with `K::available()`.
unsafe fn pack_whole_k<K: Micro>(k: usize, n: usize, b: View, dst: *mut f32) {
    let (kcb, np) = (k_block(k), n.div_ceil(K::NR));
    let mut pc = 0;
    while pc < k {
        let kc = kcb.min(k - pc);
        for pj in 0..np {
            let j0 = pj * K::NR;
            let bv = b.at(pc, j0);
            // SAFETY: rows pc..pc+kc, columns j0..j0+nv of op(B) are in range; the
            // panel at this offset is inside the packed_len floats of dst.
            unsafe {
                K::pack_b(
                    kc,
                    K::NR.min(n - j0),
                    bv.ptr,
                    bv.rs,
                    bv.cs,
                    dst.add(pc * np * K::NR + pj * kc * K::NR),
                )
            };
        }
        pc += kc;
    }
}

/// `C (m x n, row stride ldc) = [C +] A (m x k) * B` with B packed by [`pack_whole`]
/// for the same `isa`, `k` and `n`, on up to `parts` threads (whole column panels per
/// chunk, as [`gemm_parallel`]; serial when there are fewer panels than parts).
/// Computes bit for bit what [`gemm_serial`] computes from the unpacked B (the same
/// blocks, tiles and order, whatever the split).
///
/// # Safety
/// As [`gemm_serial`]; `bp` holds B packed by [`pack_whole`]`(isa, k, n, ..)`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_packed(
    isa: Isa,
    parts: usize,
    m: usize,
    n: usize,
    k: usize,
    a: impl Into<Lhs>,
    bp: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let a = a.into();
    let panels = n.div_ceil(isa.nr());
    if parts > 1 && panels >= parts {
        let chunks = panels.min((m * n * k / MIN_CHUNK_MACS).clamp(1, parts * CHUNKS_PER_THREAD));
        let s = &Shared {
            a,
            b: View {
                ptr: bp,
                rs: 0,
                cs: 0,
            },
            c,
        };
        super::pool::parallel_for_from_both_ends(chunks, parts, &|i, _| {
            let (pj0, pj1) = (i * panels / chunks, (i + 1) * panels / chunks);
            // SAFETY: forwarded contract; panels pj0..pj1 write only their own columns.
            unsafe { packed_panels(isa, m, n, k, s.a, s.b.ptr, s.c, ldc, accumulate, pj0, pj1) }
        });
    } else {
        // SAFETY: forwarded contract.
        unsafe { packed_panels(isa, m, n, k, a, bp, c, ldc, accumulate, 0, panels) }
    }
}

/// [`drive_packed`] for `isa`.
///
/// # Safety
/// As [`drive_packed`], with `isa.available()`.
#[allow(clippy::too_many_arguments)]
unsafe fn packed_panels(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: Lhs,
    bp: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    pj0: usize,
    pj1: usize,
) {
    // SAFETY: forwarded contract.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => drive_packed::<Avx512>(m, n, k, a, bp, c, ldc, accumulate, pj0, pj1),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => drive_packed::<Avx2>(m, n, k, a, bp, c, ldc, accumulate, pj0, pj1),
            _ => drive_packed::<Scalar>(m, n, k, a, bp, c, ldc, accumulate, pj0, pj1),
        }
    }
}

/// [`drive`] over a B packed by [`pack_whole`], for its column panels `pj0..pj1`.
///
/// # Safety
/// As [`gemm_packed`], with `K::available()` and `pj1 <= n.div_ceil(K::NR)`.
#[allow(clippy::too_many_arguments)]
unsafe fn drive_packed<K: Micro>(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs,
    bp: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    pj0: usize,
    pj1: usize,
) {
    let (kcb, np) = (k_block(k), n.div_ceil(K::NR));
    let mut pc = 0;
    while pc < k {
        let kc = kcb.min(k - pc);
        let add = accumulate || pc > 0;
        for pj in pj0..pj1 {
            let j0 = pj * K::NR;
            // SAFETY: the panel of (pc, pj) as pack_whole_k laid it out; (0, j0) is
            // inside C, and the strips lie inside A, the packed panel and C.
            unsafe {
                let panel = bp.add(pc * np * K::NR + pj * kc * K::NR);
                let nv = K::NR.min(n - j0);
                row_strips::<K>(m, a, (pc, kc), (panel, K::NR), c.add(j0), ldc, add, nv);
            }
        }
        pc += kc;
    }
}

/// The loop nest for one kernel family.
///
/// # Safety
/// As [`gemm_serial`], with `K::available()`.
#[allow(clippy::too_many_arguments)]
unsafe fn drive<K: Micro>(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs,
    b: View,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    buf: &mut Vec<f32>,
) {
    let kcb = k_block(k);
    // One panel plus room to align it to 64 bytes.
    let need = kcb * K::NR + 16;
    debug_assert!(need <= PACK_LEN);
    if buf.len() < need {
        buf.resize(PACK_LEN, 0.0);
    }
    let panel = {
        let off = buf.as_ptr().align_offset(64);
        debug_assert!(off < 16);
        // SAFETY: off < 16 and the buffer holds need = panel + 16 floats.
        unsafe { buf.as_mut_ptr().add(off) }
    };
    // A full-width panel of a row-major B is read in place (no copy) when few row
    // strips use it: packing would read and write the panel to save nothing on its one
    // or two uses. With a row stride of exactly NR floats the panel is contiguous
    // anyway (n == NR, e.g. a 32-unit dense layer), so it is never packed.
    let in_place = b.cs == 1 && (m <= 2 * K::MR || b.rs == K::NR as isize);
    let mut pc = 0;
    while pc < k {
        let kc = kcb.min(k - pc);
        let add = accumulate || pc > 0;
        for j0 in (0..n).step_by(K::NR) {
            let nv = K::NR.min(n - j0);
            let bv = b.at(pc, j0);
            let (bp, b_rs) = if in_place && nv == K::NR {
                (bv.ptr, b.rs as usize)
            } else {
                // SAFETY: op(B) rows pc..pc+kc, columns j0..j0+nv are in range; the
                // panel holds kc*NR floats.
                unsafe { K::pack_b(kc, nv, bv.ptr, bv.rs, bv.cs, panel) };
                (panel as *const f32, K::NR)
            };
            // SAFETY: (0, j0) is inside C; the strips lie inside A, the B panel and C.
            unsafe { row_strips::<K>(m, a, (pc, kc), (bp, b_rs), c.add(j0), ldc, add, nv) };
        }
        pc += kc;
    }
}

/// The tiles of one B panel down all `m` rows of A, `K::MR` rows at a time: A's columns
/// `pc..pc + kc` against the panel (`kc` rows, row `p` at `b + p·b_rs`, `nv` valid
/// columns), into the C columns starting at `c` (row stride `ldc`), added to them with
/// `add`. The loop [`drive`] and [`drive_packed`] share.
///
/// # Safety
/// `K::available()`; every tile lies inside A, the panel and C.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn row_strips<K: Micro>(
    m: usize,
    a: Lhs,
    (pc, kc): (usize, usize),
    (b, b_rs): (*const f32, usize),
    c: *mut f32,
    ldc: usize,
    add: bool,
    nv: usize,
) {
    for i0 in (0..m).step_by(K::MR) {
        let (ap, a_rs, a_cs, a_rows, a_steps) = match a.at(i0, pc) {
            Lhs::Strided(v) => (v.ptr, v.rs, v.cs, std::ptr::null(), std::ptr::null()),
            Lhs::Gathered(g) => (g.ptr, 0, 0, g.rows, g.cols),
        };
        let t = Tile {
            kc,
            a: ap,
            a_rs,
            a_cs,
            a_rows,
            a_steps,
            b,
            b_rs,
            // SAFETY: row i0 of these columns is inside C.
            c: unsafe { c.add(i0 * ldc) },
            ldc,
            add,
            nv,
        };
        // SAFETY: the tile lies inside A, the panel and C.
        unsafe { K::kernel(K::MR.min(m - i0), &t) };
    }
}

/// The product in f64, from row-major storage (A `m x k`, or `k x m` used transposed
/// with `at`; likewise B): the tests' reference.
#[cfg(test)]
pub(crate) fn reference(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    at: bool,
    b: &[f32],
    bt: bool,
) -> Vec<f64> {
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                let x = if at { a[p * m + i] } else { a[i * k + p] };
                let y = if bt { b[j * k + p] } else { b[p * n + j] };
                s += x as f64 * y as f64;
            }
            c[i * n + j] = s;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strided views of row-major storage, as the wrapper builds them.
    fn views(m: usize, n: usize, k: usize, at: bool, bt: bool) -> (isize, isize, isize, isize) {
        let (a_rs, a_cs) = if at { (1, m as isize) } else { (k as isize, 1) };
        let (b_rs, b_cs) = if bt { (1, k as isize) } else { (n as isize, 1) };
        (a_rs, a_cs, b_rs, b_cs)
    }

    /// Small deterministic generator (xorshift), values in [-1, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn f(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
        fn vec(&mut self, len: usize) -> Vec<f32> {
            (0..len).map(|_| self.f()).collect()
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Runs one product with `isa` (serial or split in `parts`) and checks it against
    /// the reference, overwriting a NaN-filled C and accumulating onto a known C.
    #[allow(clippy::too_many_arguments)]
    fn check(
        isa: Isa,
        parts: usize,
        m: usize,
        n: usize,
        k: usize,
        at: bool,
        bt: bool,
        rng: &mut Rng,
    ) {
        let a = rng.vec(m * k);
        let b = rng.vec(k * n);
        let want = reference(m, n, k, &a, at, &b, bt);
        let (a_rs, a_cs, b_rs, b_cs) = views(m, n, k, at, bt);
        let av = View {
            ptr: a.as_ptr(),
            rs: a_rs,
            cs: a_cs,
        };
        let bv = View {
            ptr: b.as_ptr(),
            rs: b_rs,
            cs: b_cs,
        };
        // |a|, |b| < 1: the f32 rounding error grows at most ~linearly in k.
        let tol = 4.0 * f32::EPSILON as f64 * (k as f64 + 1.0);
        let base: Vec<f32> = (0..m * n).map(|_| rng.f()).collect();
        for accumulate in [false, true] {
            let mut c = if accumulate {
                base.clone()
            } else {
                vec![f32::NAN; m * n]
            };
            // SAFETY: the buffers hold exactly the ranges the views describe.
            unsafe {
                if parts > 1 {
                    gemm_parallel(isa, parts, m, n, k, av, bv, c.as_mut_ptr(), n, accumulate)
                } else {
                    gemm_serial(isa, m, n, k, av, bv, c.as_mut_ptr(), n, accumulate)
                }
            }
            for (idx, (&x, &w)) in c.iter().zip(&want).enumerate() {
                let w = if accumulate { w + base[idx] as f64 } else { w };
                assert!(
                    (x as f64 - w).abs() <= tol * (1.0 + w.abs()),
                    "{isa:?} parts {parts} {m}x{n}x{k} at={at} bt={bt} acc={accumulate} \
                     at {idx}: {x} vs {w}"
                );
            }
        }
    }

    /// [`check`] with every transpose of A and B.
    fn check_layouts(isa: Isa, parts: usize, m: usize, n: usize, k: usize, rng: &mut Rng) {
        for (at, bt) in [(false, false), (true, false), (false, true), (true, true)] {
            check(isa, parts, m, n, k, at, bt, rng);
        }
    }

    fn isas() -> Vec<Isa> {
        let all = [Isa::Avx512, Isa::Avx2, Isa::Scalar];
        let v: Vec<Isa> = all.into_iter().filter(|i| i.available()).collect();
        // The build machines have AVX2; make sure the vector kernels are really tested.
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            assert!(v.contains(&Isa::Avx2));
        }
        v
    }

    #[test]
    fn edge_sizes_every_kernel_every_layout() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let sizes = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47];
        for isa in isas() {
            for &m in &sizes {
                for &n in &[1, 3, 8, 16, 17, 31, 32, 33, 40, 65] {
                    let k = sizes[(m * 7 + n) % sizes.len()];
                    check_layouts(isa, 1, m, n, k, &mut rng);
                }
            }
        }
    }

    #[test]
    fn k_blocks_and_long_k() {
        // k past KC_MAX: several k blocks, the later ones adding to the first.
        let mut rng = Rng(7);
        for isa in isas() {
            for &(m, n, k) in &[(9, 33, 257), (32, 32, 784), (3, 5, 600), (1, 1, 513)] {
                check_layouts(isa, 1, m, n, k, &mut rng);
            }
        }
    }

    #[test]
    fn random_shapes_serial_and_split() {
        let mut rng = Rng(12345);
        for isa in isas() {
            for _ in 0..40 {
                let m = 1 + rng.below(70);
                let n = 1 + rng.below(130);
                let k = 1 + rng.below(300);
                let at = rng.below(2) == 1;
                let bt = rng.below(2) == 1;
                let parts = 1 + rng.below(3);
                check(isa, parts, m, n, k, at, bt, &mut rng);
            }
        }
    }

    #[test]
    fn split_by_columns_and_by_rows() {
        let mut rng = Rng(99);
        for isa in isas() {
            // wide: column panels; narrow and tall: row strips; tiny: not split.
            for &(m, n, k) in &[(32, 512, 128), (784, 32, 32), (5, 7, 9)] {
                check_layouts(isa, 2, m, n, k, &mut rng);
                check_layouts(isa, 3, m, n, k, &mut rng);
            }
        }
    }

    #[test]
    fn ldc_wider_than_n_leaves_other_columns() {
        let mut rng = Rng(5);
        for isa in isas() {
            let (m, n, k, ldc) = (10, 19, 13, 40);
            let a = rng.vec(m * k);
            let b = rng.vec(k * n);
            let want = reference(m, n, k, &a, false, &b, false);
            let mut c = vec![7.0f32; m * ldc];
            let av = View {
                ptr: a.as_ptr(),
                rs: k as isize,
                cs: 1,
            };
            let bv = View {
                ptr: b.as_ptr(),
                rs: n as isize,
                cs: 1,
            };
            // SAFETY: C holds m rows of ldc floats.
            unsafe { gemm_serial(isa, m, n, k, av, bv, c.as_mut_ptr(), ldc, false) };
            for i in 0..m {
                for j in 0..ldc {
                    let x = c[i * ldc + j] as f64;
                    if j < n {
                        assert!((x - want[i * n + j]).abs() < 1e-4, "{isa:?} {i},{j}");
                    } else {
                        assert_eq!(x, 7.0, "{isa:?} wrote past n at {i},{j}");
                    }
                }
            }
        }
    }

    #[test]
    fn gathered_lhs_computes_exactly_what_its_materialised_matrix_does() {
        let mut rng = Rng(31);
        for isa in isas() {
            for &(m, n, k, parts) in &[
                (1, 1, 1, 1),
                (7, 33, 9, 1),
                (9, 32, 300, 1),
                (37, 65, 513, 1),
                (40, 64, 100, 2),
                (784, 32, 40, 2),
                (33, 5, 20, 3),
            ] {
                let data = rng.vec(600);
                let rows: Vec<i32> = (0..m).map(|_| rng.below(250) as i32).collect();
                let cols: Vec<i32> = (0..k).map(|_| rng.below(350) as i32).collect();
                let a: Vec<f32> = (0..m * k)
                    .map(|e| data[(rows[e / k] + cols[e % k]) as usize])
                    .collect();
                let b = rng.vec(k * n);
                let bv = View {
                    ptr: b.as_ptr(),
                    rs: n as isize,
                    cs: 1,
                };
                let strided = View {
                    ptr: a.as_ptr(),
                    rs: k as isize,
                    cs: 1,
                };
                let gathered = Gathered {
                    ptr: data.as_ptr(),
                    rows: rows.as_ptr(),
                    cols: cols.as_ptr(),
                };
                let base = rng.vec(m * n);
                for accumulate in [false, true] {
                    let (mut want, mut got) = (base.clone(), base.clone());
                    // SAFETY: every offset pair stays inside `data`; exact buffers.
                    unsafe {
                        gemm_parallel(
                            isa,
                            parts,
                            m,
                            n,
                            k,
                            strided,
                            bv,
                            want.as_mut_ptr(),
                            n,
                            accumulate,
                        );
                        gemm_parallel(
                            isa,
                            parts,
                            m,
                            n,
                            k,
                            gathered,
                            bv,
                            got.as_mut_ptr(),
                            n,
                            accumulate,
                        );
                    }
                    assert_eq!(
                        got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        "{isa:?} {m}x{n}x{k} parts {parts} accumulate {accumulate}"
                    );
                }
            }
        }
    }

    #[test]
    fn steady_state_reuses_the_buffer() {
        let mut rng = Rng(3);
        let (m, n, k) = (32, 32, 784);
        let a = rng.vec(m * k);
        let b = rng.vec(k * n);
        let mut c = vec![0.0f32; m * n];
        let av = View {
            ptr: a.as_ptr(),
            rs: k as isize,
            cs: 1,
        };
        let bv = View {
            ptr: b.as_ptr(),
            rs: n as isize,
            cs: 1,
        };
        let isa = Isa::best();
        // SAFETY: exact buffers.
        unsafe { gemm_serial(isa, m, n, k, av, bv, c.as_mut_ptr(), n, false) };
        let ptr = PACK.with(|p| p.borrow().as_ptr());
        let cap = PACK.with(|p| p.borrow().capacity());
        assert!(cap > 0);
        for _ in 0..3 {
            // SAFETY: as above.
            unsafe { gemm_serial(isa, m, n, k, av, bv, c.as_mut_ptr(), n, false) };
        }
        assert_eq!(PACK.with(|p| p.borrow().as_ptr()), ptr);
        assert_eq!(PACK.with(|p| p.borrow().capacity()), cap);
    }
}
