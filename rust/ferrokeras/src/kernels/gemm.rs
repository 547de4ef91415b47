//! The gemm wrapper: every f32 matrix product of the engine goes through here.
//!
//! Small and medium products (at most [`OWN_MAX_MACS`] multiply-adds) run on the engine's
//! own packed kernels ([`super::sgemm_small`]), which allocate nothing in a steady
//! state; larger ones go to the `gemm` crate (the only place that calls it), which
//! allocates its packing buffers on every call.
//!
//! `gemm::gemm` computes `dst = alpha*dst + beta*lhs*rhs` (alpha and beta are swapped
//! with respect to BLAS; with `read_dst = false` alpha is ignored). AVX2/AVX-512 kernels
//! are chosen at run time by the crate (`x86-v4` feature). Parallelism is gated by size:
//! waking a second thread costs more than a small product saves (measured in
//! `benches/benches/gemm.rs`).

use gemm::Parallelism;

use super::sgemm_small::{self, Gathered, Isa, View};

thread_local! {
    static IN_GEMM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True while this thread is inside the `gemm` crate (products above [`OWN_MAX_MACS`]).
/// The crate allocates its packing buffers on every call (two small allocations); the
/// engine's allocation test uses this to tell those apart.
pub fn in_gemm() -> bool {
    IN_GEMM.with(|f| f.get())
}

/// Products below this many multiply-adds run on the calling thread.
pub const PARALLEL_MIN_MACS: usize = 1 << 18;

/// Products of at most this many multiply-adds run on the engine's own kernels.
///
/// Measured (`benches/python/gemm_compare.py`, fastest criterion sample of each group,
/// median of 3 runs, GFLOP/s, 2 threads, on a 2-core machine with 70-90% of its CPU
/// taken by other processes, so only coarse; run-to-run spread up to 2x): own vs `gemm`
/// crate 49 vs 55 at 32x784x32, 59 vs 34 at 784x32x32 (A transposed), 45 vs 27 at
/// 32x32x784 (B transposed), 78 vs 62 at 128x784x512, 59 vs 94 at 128x784x512 (B
/// transposed), 61 vs 85 at 128x512x512, 59 vs 63 at 32x128x512. Where the crate led,
/// our serial figure (73, 98 at the two 128-row shapes) was at or above it: the loss is
/// in the two-thread split under load, not in the kernel. 1024^3 runs on the crate in
/// both groups (56 vs 45: the noise level). The own path is kept up to 2^28 because it
/// allocates nothing; this threshold and [`PARALLEL_MIN_MACS`] (unchanged, shared with
/// the crate path) are to be re-measured on a quiet machine.
pub const OWN_MAX_MACS: usize = 1 << 28;

/// A row-major matrix operand, optionally transposed.
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// Storage (row-major, `rows x cols` as stored).
    pub data: &'a [f32],
    /// Use the transpose of the stored matrix.
    pub trans: bool,
}

/// `c (m x n) = [c +] op(a) (m x k) * op(b) (k x n)`, all row-major and contiguous.
/// With `accumulate` the product is added to `c`, otherwise `c` is overwritten.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: Operand,
    c: &mut [f32],
    accumulate: bool,
) {
    let threads = auto_threads(m, n, k);
    sgemm_par(m, n, k, a, b, c, accumulate, threads, Route::Auto)
}

/// Like [`sgemm`], never splitting across threads (for callers already in a parallel loop).
pub fn sgemm_serial(
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: Operand,
    c: &mut [f32],
    accumulate: bool,
) {
    sgemm_par(m, n, k, a, b, c, accumulate, 1, Route::Auto)
}

/// Which implementation runs a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// By size ([`OWN_MAX_MACS`]).
    Auto,
    /// The `gemm` crate.
    Crate,
}

/// Like [`sgemm`] but always on the `gemm` crate, whatever the size (for the tests and
/// the benchmark that compare both implementations).
pub fn sgemm_gemm_crate(
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: Operand,
    c: &mut [f32],
    accumulate: bool,
) {
    let threads = auto_threads(m, n, k);
    sgemm_par(m, n, k, a, b, c, accumulate, threads, Route::Crate)
}

/// Threads for a product: 1 below [`PARALLEL_MIN_MACS`] or inside a rayon worker.
fn auto_threads(m: usize, n: usize, k: usize) -> usize {
    let threads = super::pool::threads();
    if threads > 1
        && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MIN_MACS
        && !super::pool::in_parallel_region()
    {
        threads
    } else {
        1
    }
}

#[allow(clippy::too_many_arguments)]
fn sgemm_par(
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: Operand,
    c: &mut [f32],
    accumulate: bool,
    threads: usize,
    route: Route,
) {
    assert!(a.data.len() >= m * k, "gemm: lhs buffer too small");
    assert!(b.data.len() >= k * n, "gemm: rhs buffer too small");
    assert!(c.len() >= m * n, "gemm: dst buffer too small");
    if degenerate(m, n, k, c, accumulate) {
        return;
    }
    let (av, bv) = (view(a, m, k), view(b, k, n));
    if route == Route::Auto && m.saturating_mul(n).saturating_mul(k) <= OWN_MAX_MACS {
        // SAFETY: the asserts above guarantee every (row, col) the views reach is in
        // bounds; c is a distinct &mut slice of at least m*n floats.
        unsafe { own(threads, m, n, k, av, bv, c, accumulate) };
        return;
    }
    let ((a_cs, a_rs), (b_cs, b_rs)) = ((av.cs, av.rs), (bv.cs, bv.rs));
    let par = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    let a_ptr = SendPtr(a.data.as_ptr() as *mut f32);
    let (b_ptr, c_ptr) = (
        SendPtr(b.data.as_ptr() as *mut f32),
        SendPtr(c.as_mut_ptr()),
    );
    // Columns j0..j0+cols of C from the rows of a transposed B that hold them (with B
    // not transposed only j0 = 0 is used).
    let columns = move |j0: usize, cols: usize, par: Parallelism| {
        // SAFETY: the asserts above keep every index the strides reach in bounds; the
        // callers keep j0 + cols <= n, so the offsets stay inside C and B, and run
        // concurrently only on disjoint columns.
        unsafe {
            raw(
                m,
                cols,
                k,
                c_ptr.offset(j0),
                n,
                accumulate,
                a_ptr,
                a_cs,
                a_rs,
                b_ptr.offset(j0 * k),
                b_cs,
                b_rs,
                par,
            )
        }
    };
    if let (Parallelism::Rayon(_), true) = (par, b.trans && n >= 64) {
        // With B transposed, the gemm crate's own threading splits the work poorly
        // (1.0-1.2x over one thread at 128x784x512, measured in benches/). Splitting the
        // output columns in two halves, each a serial product over contiguous rows of B,
        // gives ~1.6x.
        let n0 = n / 2;
        rayon::join(
            move || columns(0, n0, Parallelism::None),
            move || columns(n0, n - n0, Parallelism::None),
        );
        return;
    }
    columns(0, n, par)
}

/// A raw pointer that may cross a `rayon::join` (the callers guarantee disjoint writes).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
impl SendPtr {
    /// The pointer `n` elements further (in bounds by the caller's contract).
    unsafe fn offset(self, n: usize) -> SendPtr {
        // SAFETY: the caller promises `n` elements further is still in the allocation.
        SendPtr(unsafe { self.0.add(n) })
    }
}
// SAFETY: a plain address; every user writes through it only to elements no other
// thread touches at the same time (the halves of `sgemm`'s split are disjoint).
unsafe impl Send for SendPtr {}
// SAFETY: as for Send.
unsafe impl Sync for SendPtr {}

/// One call of the gemm crate: `C[m x n] (row stride ldc) = [C +] A B`.
#[allow(clippy::too_many_arguments)]
unsafe fn raw(
    m: usize,
    n: usize,
    k: usize,
    c: SendPtr,
    ldc: usize,
    accumulate: bool,
    a: SendPtr,
    a_cs: isize,
    a_rs: isize,
    b: SendPtr,
    b_cs: isize,
    b_rs: isize,
    par: Parallelism,
) {
    IN_GEMM.with(|f| f.set(true));
    // SAFETY: `raw`'s caller guarantees that the strides keep every access to A, B and
    // C inside their buffers and that no other thread writes C's elements meanwhile.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.0,
            1,
            ldc as isize,
            accumulate,
            a.0 as *const f32,
            a_cs,
            a_rs,
            b.0 as *const f32,
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
    IN_GEMM.with(|f| f.set(false));
}

/// Plain row-major operand.
pub fn n(data: &[f32]) -> Operand<'_> {
    Operand { data, trans: false }
}

/// Transposed row-major operand.
pub fn t(data: &[f32]) -> Operand<'_> {
    Operand { data, trans: true }
}

/// A right operand packed once for many products with [`sgemm_packed`] (a recurrent
/// weight matrix, used by every step of a sequence): the packing a product would
/// otherwise redo on every call is done once, and the products compute bit for bit
/// what [`sgemm_serial`] computes from the unpacked matrix.
#[derive(Debug, Clone, Copy)]
pub struct PackedB<'a> {
    data: &'a [f32],
    k: usize,
    n: usize,
    isa: Isa,
}

impl Default for PackedB<'_> {
    /// An empty (0 x 0) operand.
    fn default() -> Self {
        PackedB {
            data: &[],
            k: 0,
            n: 0,
            isa: Isa::Scalar,
        }
    }
}

/// Floats a [`pack_b`] destination needs for a `k x n` operand (the packed panels plus
/// room to align them to 64 bytes).
pub fn packed_b_len(k: usize, n: usize) -> usize {
    sgemm_small::packed_len(Isa::best(), k, n) + 16
}

/// Packs the `k x n` matrix whose element (p, j) is `src[off + p*rs + j*cs]` (a block of
/// a larger row-major matrix, `rs` its row stride and `cs` 1, or the transpose of one,
/// `rs` 1 and `cs` the row stride) into `dst`, for [`sgemm_packed`].
///
/// # Panics
/// If an element lies outside `src`, or `dst` is shorter than [`packed_b_len`].
pub fn pack_b<'a>(
    k: usize,
    n: usize,
    src: &[f32],
    off: usize,
    rs: usize,
    cs: usize,
    dst: &'a mut [f32],
) -> PackedB<'a> {
    let isa = Isa::best();
    let len = sgemm_small::packed_len(isa, k, n);
    assert!(dst.len() >= len + 16, "gemm: packing buffer too small");
    let at = dst.as_ptr().align_offset(64).min(16);
    let dst = &mut dst[at..at + len];
    if k > 0 && n > 0 {
        assert!(
            off + (k - 1) * rs + (n - 1) * cs < src.len(),
            "gemm: packed operand reaches outside its {} floats",
            src.len()
        );
        let b = View {
            ptr: src[off..].as_ptr(),
            rs: rs as isize,
            cs: cs as isize,
        };
        // SAFETY: the assert keeps every (p, j) inside src; dst holds packed_len floats.
        unsafe { sgemm_small::pack_whole(isa, k, n, b, dst.as_mut_ptr()) };
    }
    PackedB {
        data: dst,
        k,
        n,
        isa,
    }
}

/// `c (m x n) = [c +] op(a) (m x k) * b`, with `b` packed by [`pack_b`] (`k x n`), on
/// the engine's own kernels, threaded by size as [`sgemm`].
pub fn sgemm_packed(m: usize, a: Operand, b: PackedB, c: &mut [f32], accumulate: bool) {
    packed_with(auto_threads(m, b.n, b.k), m, a, b, c, accumulate)
}

/// Like [`sgemm_packed`], never splitting across threads (for callers already in a
/// parallel loop).
pub fn sgemm_packed_serial(m: usize, a: Operand, b: PackedB, c: &mut [f32], accumulate: bool) {
    packed_with(1, m, a, b, c, accumulate)
}

fn packed_with(threads: usize, m: usize, a: Operand, b: PackedB, c: &mut [f32], accumulate: bool) {
    let (n, k) = (b.n, b.k);
    assert!(a.data.len() >= m * k, "gemm: lhs buffer too small");
    assert!(c.len() >= m * n, "gemm: dst buffer too small");
    if degenerate(m, n, k, c, accumulate) {
        return;
    }
    // SAFETY: the assert keeps A's rows in bounds; b was packed for (isa, k, n) by
    // pack_b; c holds m*n floats and does not overlap A or the packed B.
    unsafe {
        sgemm_small::gemm_packed(
            b.isa,
            threads,
            m,
            n,
            k,
            view(a, m, k),
            b.data.as_ptr(),
            c.as_mut_ptr(),
            n,
            accumulate,
        )
    }
}

/// A right operand packed by [`pack_b`] into a buffer of its own and kept there, for a
/// matrix that many calls reuse unchanged (a weight matrix over the batches of a
/// `predict`): [`KeptB::pack`] once, [`KeptB::get`] for every product.
#[derive(Debug, Default)]
pub struct KeptB {
    buf: Vec<f32>,
    /// Where the aligned panels start in `buf`, and how many floats they take.
    at: usize,
    len: usize,
    k: usize,
    n: usize,
    /// `None` until the first [`KeptB::pack`].
    isa: Option<Isa>,
}

impl KeptB {
    /// Packs `k x n` as [`pack_b`] does (same arguments), growing the buffer as needed.
    ///
    /// # Errors
    /// [`Error::Memory`](crate::Error::Memory) if the buffer cannot grow.
    ///
    /// # Panics
    /// As [`pack_b`].
    pub fn pack(
        &mut self,
        k: usize,
        n: usize,
        src: &[f32],
        off: usize,
        rs: usize,
        cs: usize,
    ) -> crate::Result<()> {
        super::alloc::grow(&mut self.buf, packed_b_len(k, n), "packed weights")?;
        let base = self.buf.as_ptr() as usize;
        let p = pack_b(k, n, src, off, rs, cs, &mut self.buf);
        self.at = (p.data.as_ptr() as usize - base) / std::mem::size_of::<f32>();
        (self.len, self.k, self.n, self.isa) = (p.data.len(), k, n, Some(p.isa));
        Ok(())
    }

    /// The kept operand, if it holds a `k x n` matrix.
    pub fn get(&self, k: usize, n: usize) -> Option<PackedB<'_>> {
        let isa = self.isa.filter(|_| self.k == k && self.n == n)?;
        Some(PackedB {
            data: &self.buf[self.at..self.at + self.len],
            k,
            n,
            isa,
        })
    }
}

/// True when keeping the right operand of an `m x n x k` product packed ([`KeptB`],
/// [`sgemm_packed`]) saves work and changes no bit: the product runs on the engine's own
/// kernels (at most [`OWN_MAX_MACS`], which also bounds the kept copy's size); it has more
/// rows than two row strips (with fewer, [`sgemm`] reads a row-major B in place and packs
/// nothing); and, when threaded, it splits by columns (at least one column panel per
/// thread: [`sgemm`] splits the rows of narrower products, [`sgemm_packed`] would run
/// them serially).
pub fn packed_product_pays(m: usize, n: usize, k: usize) -> bool {
    let (threads, isa) = (auto_threads(m, n, k), Isa::best());
    m.saturating_mul(n).saturating_mul(k) <= OWN_MAX_MACS
        && m > 2 * isa.mr()
        && (threads == 1 || n.div_ceil(isa.nr()) >= threads)
}

/// A gathered left operand: element (r, c) is `data[rows[r] + cols[c]]`. With the
/// output positions of a convolution as `rows` and its kernel taps as `cols` (or the
/// other way round) this is the input's im2col matrix without the matrix: a product
/// with it reads the input where it lies.
#[derive(Debug, Clone, Copy)]
pub struct GatheredOperand<'a> {
    /// Storage every offset points into.
    pub data: &'a [f32],
    /// Offset of each row (at least `m`).
    pub rows: &'a [i32],
    /// Offset of each column (at least `k`).
    pub cols: &'a [i32],
}

/// `c (m x n) = [c +] a (m x k) * op(b) (k x n)` with a gathered `a`, on the engine's
/// own kernels (threaded by size, as [`sgemm`]; `serial` never splits, for callers
/// already in a parallel loop).
///
/// # Panics
/// If an offset is negative or `rows[r] + cols[c]` reaches past `a.data`, or a buffer
/// is too small.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_gathered(
    m: usize,
    n: usize,
    k: usize,
    a: GatheredOperand,
    b: Operand,
    c: &mut [f32],
    accumulate: bool,
    serial: bool,
) {
    assert!(
        a.rows.len() >= m && a.cols.len() >= k,
        "gemm: gathered lhs has {} row and {} column offsets for {m}x{k}",
        a.rows.len(),
        a.cols.len()
    );
    assert!(b.data.len() >= k * n, "gemm: rhs buffer too small");
    assert!(c.len() >= m * n, "gemm: dst buffer too small");
    if degenerate(m, n, k, c, accumulate) {
        return;
    }
    let span = |o: &[i32]| {
        o.iter()
            .fold((i32::MAX, i32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
    };
    let ((r_lo, r_hi), (c_lo, c_hi)) = (span(&a.rows[..m]), span(&a.cols[..k]));
    assert!(
        r_lo >= 0 && c_lo >= 0 && (r_hi as i64 + c_hi as i64) < a.data.len() as i64,
        "gemm: gathered lhs offsets reach outside its {} floats",
        a.data.len()
    );
    let av = Gathered {
        ptr: a.data.as_ptr(),
        rows: a.rows.as_ptr(),
        cols: a.cols.as_ptr(),
    };
    let threads = if serial { 1 } else { auto_threads(m, n, k) };
    // SAFETY: the asserts above keep every element the operands reach in bounds; c is
    // a distinct &mut slice of at least m*n floats.
    unsafe { own(threads, m, n, k, av, view(b, k, n), c, accumulate) }
}

/// Handles an empty product (nothing to do, or C zeroed unless accumulating); false
/// when there is a product to compute.
fn degenerate(m: usize, n: usize, k: usize, c: &mut [f32], accumulate: bool) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return true;
    }
    false
}

/// The strided view of `op(x)` as a `rows x cols` matrix (stored `rows x cols`, or
/// `cols x rows` when transposed).
fn view(x: Operand, rows: usize, cols: usize) -> View {
    let (rs, cs) = if x.trans {
        (1, rows as isize)
    } else {
        (cols as isize, 1)
    };
    View {
        ptr: x.data.as_ptr(),
        rs,
        cs,
    }
}

/// A product on the engine's own kernels, split over `threads` when above one.
///
/// # Safety
/// As [`sgemm_small::gemm_serial`], with C `m x n` row-major in `c`.
#[allow(clippy::too_many_arguments)]
unsafe fn own(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    a: impl Into<sgemm_small::Lhs>,
    b: View,
    c: &mut [f32],
    accumulate: bool,
) {
    let isa = Isa::best();
    let c = c.as_mut_ptr();
    // SAFETY: forwarded contract.
    unsafe {
        if threads > 1 {
            sgemm_small::gemm_parallel(isa, threads, m, n, k, a, b, c, n, accumulate)
        } else {
            sgemm_small::gemm_serial(isa, m, n, k, a, b, c, n, accumulate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n_: usize, k: usize, a: &[f32], at: bool, b: &[f32], bt: bool) -> Vec<f32> {
        let exact = sgemm_small::reference(m, n_, k, a, at, b, bt);
        exact.into_iter().map(|x| x as f32).collect()
    }

    fn data(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                (((i as u32).wrapping_mul(2654435761).wrapping_add(seed)) % 1000) as f32 / 500.0
                    - 1.0
            })
            .collect()
    }

    type Gemm = fn(usize, usize, usize, Operand, Operand, &mut [f32], bool);

    #[test]
    fn all_transposes_match_naive_and_accumulate_adds() {
        // Both routes: the engine's kernels (these sizes) and the `gemm` crate.
        for sgemm in [sgemm as Gemm, sgemm_serial, sgemm_gemm_crate] {
            all_transposes(sgemm);
        }
    }

    fn all_transposes(sgemm: Gemm) {
        for &(m, n_, k) in &[
            (1, 1, 1),
            (3, 5, 7),
            (17, 9, 33),
            (64, 64, 64),
            (130, 70, 300),
        ] {
            for &at in &[false, true] {
                for &bt in &[false, true] {
                    let a = data(m * k, 1);
                    let b = data(k * n_, 2);
                    let want = naive(m, n_, k, &a, at, &b, bt);
                    let run = |c: &mut [f32], accumulate: bool| {
                        let (a, b) = (
                            Operand {
                                data: &a,
                                trans: at,
                            },
                            Operand {
                                data: &b,
                                trans: bt,
                            },
                        );
                        sgemm(m, n_, k, a, b, c, accumulate)
                    };
                    let mut c = vec![f32::NAN; m * n_];
                    run(&mut c, false);
                    for (x, y) in c.iter().zip(&want) {
                        assert!(
                            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                            "{m}x{n_}x{k} {at} {bt}: {x} vs {y}"
                        );
                    }
                    // accumulate: c + a*b (this is what catches swapped alpha/beta)
                    let mut c2: Vec<f32> = (0..m * n_).map(|i| i as f32).collect();
                    run(&mut c2, true);
                    for (i, (x, y)) in c2.iter().zip(&want).enumerate() {
                        let e = y + i as f32;
                        assert!(
                            (x - e).abs() <= 1e-3 * (1.0 + e.abs()),
                            "accumulate {x} vs {e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn packed_products_equal_the_unpacked_ones_bitwise() {
        // Column blocks of a wider matrix, plain and transposed, over one and several k
        // blocks, with partial panels and edge rows, overwriting and accumulating.
        for &(m, n_, k) in &[
            (1, 1, 1),
            (5, 7, 9),
            (16, 128, 128),
            (33, 70, 300),
            (32, 512, 600),
        ] {
            let (wide, off) = (n_ + 11, 3);
            for &tr in &[false, true] {
                // B (k x n) = a block of S: S is k x wide, or wide x k when transposed.
                let s = data(k * wide + off, 3);
                let (rs, cs) = if tr { (1, k) } else { (wide, 1) };
                let block: Vec<f32> = (0..k * n_)
                    .map(|i| s[off + (i / n_) * rs + (i % n_) * cs])
                    .collect();
                let a = data(m * k, 4);
                let mut buf = vec![0.0; packed_b_len(k, n_) + 1];
                for &acc in &[false, true] {
                    let mut want: Vec<f32> = (0..m * n_).map(|i| i as f32 * 0.5).collect();
                    let mut got = want.clone();
                    sgemm_serial(m, n_, k, n(&a), n(&block), &mut want, acc);
                    // an unaligned destination too
                    let pb = pack_b(k, n_, &s, off, rs, cs, &mut buf[1..]);
                    sgemm_packed(m, n(&a), pb, &mut got, acc);
                    assert_eq!(got, want, "{m}x{n_}x{k} transposed {tr} accumulate {acc}");
                }
            }
        }
    }

    #[test]
    fn k_zero_clears_or_keeps() {
        let mut c = vec![5.0f32; 4];
        sgemm(2, 2, 0, n(&[]), n(&[]), &mut c, false);
        assert_eq!(c, vec![0.0; 4]);
        let mut c = vec![5.0f32; 4];
        sgemm(2, 2, 0, n(&[]), n(&[]), &mut c, true);
        assert_eq!(c, vec![5.0; 4]);
    }
}
