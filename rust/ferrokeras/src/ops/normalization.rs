//! Batch normalization: `batch_norm_train` (normalise with the batch statistics: the
//! training path of Keras' BatchNormalization; given the moving mean and variance and
//! the learning phase as extra inputs, it normalises with those in the test phase, so
//! a mode-0 layer is one node and no Program computes both branches), `batch_norm` (normalise with a given
//! mean and variance: the inference path, `K.batch_normalization`) and `batch_moments`
//! (per-feature batch mean or biased variance, which feed the moving averages).
//!
//! Every op takes the feature axis `axis`; x is viewed as `[outer, C, inner]` with
//! `C = x.shape[axis]`, and the per-feature parameters are vectors of length C. Two
//! memory layouts get their own vectorised loops: `inner == 1` (features last, Dense
//! outputs and channels-last images: whole rows are combined with per-feature vectors)
//! and `inner > 1` (channels-first images: each feature is a run of `inner` contiguous
//! values). Every pass reads the tensor in memory order. Reductions cut the batch into
//! fixed groups of whole rows whose per-feature partials are added in group order (see
//! `feature_sums`); the elementwise passes split it into whole rows; both run in
//! parallel only above [`PAR_MIN`] elements. The grouping does not depend on the thread
//! count, so neither do the results, bit for bit.
//!
//! Speed (the bench `normalization`: forward + backward within 3x of relu's of the same
//! size): the sums are the costly part. LLVM only vectorises them as written here: one
//! float32 accumulator array per loop (see `seg_sums`), register blocks for short
//! feature rows, aligned stack accumulators updated once per four rows for long ones.
//!
//! Numerics: statistics are sums around a per-feature shift (the first value of the
//! feature), float32 over short runs (one image plane, or 32 rows) and f64 across runs,
//! so mean and variance come from ONE pass without the cancellation of a plain sum of
//! squares. The training backward is the fused formula
//!   dx = gamma * inv_std / N * (N g - sum(g) - xhat * sum(g xhat))
//! applied as `gin += A g + B x + C` with per-feature A, B, C after one pass for the two
//! sums. Those sums are also dbeta and dgamma, so [`Op::backward_many`] makes that pass
//! once for all the wanted input gradients of a reverse sweep.
//!
//! What a backward needs from its forward (the statistics, the affine coefficients)
//! lives in the node's typed state ([`Scratch::state`](super::Scratch::state)): one struct per op with a
//! vector per quantity, each C long.

use std::sync::Arc;

use super::activation::{map_rows, map_rows_bwd, PAR_MIN};
use super::{
    around_axis, expect_float, expect_inputs, norm_axis, Attrs, Op, OpCtx, OpRef, TypeInfo,
};
use crate::kernels::alloc::grow;
use crate::kernels::pool::{for_each_part, threads};
use crate::simd_fn;
use crate::tensor::{fmt_shape, Value};
use crate::{Error, Result};

/// Most features per call of the generic features-last reduction (its float32
/// accumulators live on the stack).
const BLOCK: usize = 1024;
/// Values (whole rows) per group of the batch reductions; see [`feature_sums`].
const GROUP: usize = 1 << 16;

/// `[outer, C, inner]` view of a tensor around its feature axis.
#[derive(Debug, Clone, Copy)]
struct Layout {
    outer: usize,
    c: usize,
    inner: usize,
}

impl Layout {
    fn of(shape: &[usize], axis: usize) -> Layout {
        let (outer, c, inner) = around_axis(shape, axis);
        Layout { outer, c, inner }
    }
    /// The layout of `shape` around `op`'s possibly negative feature `axis`.
    fn around(op: &str, axis: i64, shape: &[usize]) -> Result<Layout> {
        Ok(Layout::of(shape, norm_axis(op, axis, shape.len())?))
    }
    /// Values per feature.
    fn n(&self) -> usize {
        self.outer * self.inner
    }
}

// ---------------------------------------------------------------------------------
// Kernels.

/// Cache-line aligned stack storage.
#[repr(C, align(64))]
struct Aligned<T>(T);

/// Rows summed in float32 before each flush into the f64 totals.
const ROWS_F32: usize = 32;

simd_fn! {
    /// Features-last rows (`w`, `x` start at the block's first feature; rows are `c`
    /// long): `s1 += w'`, `s2 += w' (x - k)` with `w' = w - sw k` over every row. Runs
    /// of [`ROWS_F32`] rows are summed in float32 (vector-wide over features), then
    /// added to the f64 totals. Four rows per step, so the accumulators (in memory:
    /// one block is up to [`BLOCK`] features) are loaded and stored once per four rows.
    fn block_sums(w: &[f32], x: &[f32], k: &[f32], c: usize, sw: f32, s1: &mut [f64], s2: &mut [f64]) {
        let nb = s1.len();
        // w and x start at the block's first feature: the last row is short
        let rows = w.len().div_ceil(c);
        // both accumulators in one cache-line aligned array (unaligned vector stores
        // split across two lines), b starting 256 bytes past a's end: two separate
        // [f32; 1024] would sit exactly 4 KiB apart, and every load of b[j] would wait
        // on the store of a[j] before it (4K aliasing)
        let mut ab = Aligned([0f32; 2 * BLOCK + 64]);
        let (a, b) = ab.0.split_at_mut(BLOCK + 64);
        let (a, b) = (&mut a[..nb], &mut b[..nb]);
        let k = &k[..nb];
        let row = |r: usize| (&w[r * c..r * c + nb], &x[r * c..r * c + nb]);
        let mut r0 = 0;
        while r0 < rows {
            let r1 = (r0 + ROWS_F32).min(rows);
            a.fill(0.0);
            b.fill(0.0);
            let r4 = r0 + (r1 - r0) / 4 * 4;
            for r in (r0..r4).step_by(4) {
                let ((w0, x0), (w1, x1)) = (row(r), row(r + 1));
                let ((w2, x2), (w3, x3)) = (row(r + 2), row(r + 3));
                for j in 0..nb {
                    let kj = k[j];
                    let kw = sw * kj;
                    let (t0, t1, t2, t3) = (w0[j] - kw, w1[j] - kw, w2[j] - kw, w3[j] - kw);
                    a[j] += (t0 + t1) + (t2 + t3);
                    b[j] += (t0 * (x0[j] - kj) + t1 * (x1[j] - kj))
                        + (t2 * (x2[j] - kj) + t3 * (x3[j] - kj));
                }
            }
            for r in r4..r1 {
                let o = r * c;
                let (wr, xr) = (&w[o..o + nb], &x[o..o + nb]);
                for ((((a, b), &w), &x), &k) in a.iter_mut().zip(b.iter_mut()).zip(wr).zip(xr).zip(k) {
                    let w = w - sw * k;
                    *a += w;
                    *b += w * (x - k);
                }
            }
            for (((t1, t2), &a), &b) in s1.iter_mut().zip(s2.iter_mut()).zip(a.iter()).zip(b.iter()) {
                *t1 += a as f64;
                *t2 += b as f64;
            }
            r0 = r1;
        }
    }
}

/// Float32 lanes of the register-resident accumulators: two AVX-512 registers (four
/// AVX2 ones), so consecutive adds into one accumulator are independent enough to hide
/// the add latency.
const LANES: usize = 32;

simd_fn! {
    /// One contiguous run of a feature: (sum w', sum w' (x - k)), `w' = w - sw k`. A run (one image plane) is short, so it is summed in [`LANES`]
    /// float32 lanes and only the per-run partials go to f64.
    ///
    /// The two sums are two loops over the run (it is in L1 by the second) on purpose:
    /// with both accumulators in one loop, LLVM's SLP vectoriser packs the pair
    /// `(a[l], b[l])` into a 2-wide vector and the loop runs scalar; one accumulator
    /// per loop becomes whole vector registers.
    fn seg_sums(w: &[f32], x: &[f32], k: f32, sw: f32) -> (f64, f64) {
        let kw = sw * k;
        let n = w.len() / LANES * LANES;
        let mut a = [0f32; LANES];
        for wc in w[..n].chunks_exact(LANES) {
            for l in 0..LANES {
                a[l] += wc[l] - kw;
            }
        }
        let mut b = [0f32; LANES];
        for (wc, xc) in w[..n].chunks_exact(LANES).zip(x[..n].chunks_exact(LANES)) {
            for l in 0..LANES {
                b[l] += (wc[l] - kw) * (xc[l] - k);
            }
        }
        let mut s1 = lanes_f64(&a);
        let mut s2 = lanes_f64(&b);
        for (&wv, &xv) in w[n..].iter().zip(&x[n..]) {
            let wv = wv - kw;
            s1 += wv as f64;
            s2 += (wv * (xv - k)) as f64;
        }
        (s1, s2)
    }
}

simd_fn! {
    /// Features-last rows, one block of exactly [`LANES`] features (`w`, `x` start at
    /// the block's first feature; rows are `c` long): as [`block_sums`], with the
    /// float32 partials of a run of [`ROWS_F32`] rows held in registers. Two passes per
    /// run of rows for the reason given at [`seg_sums`]; the run (32 rows x 32
    /// features of each input) stays in L1 between them.
    fn block32_sums(w: &[f32], x: &[f32], k: &[f32], c: usize, sw: f32, s1: &mut [f64], s2: &mut [f64]) {
        let k: &[f32; LANES] = k.try_into().unwrap();
        let mut kw = [0f32; LANES];
        for l in 0..LANES {
            kw[l] = sw * k[l];
        }
        let rows = w.len().div_ceil(c);
        let mut r0 = 0;
        while r0 < rows {
            let r1 = (r0 + ROWS_F32).min(rows);
            let mut a = [0f32; LANES];
            for r in r0..r1 {
                let wr: &[f32; LANES] = w[r * c..r * c + LANES].try_into().unwrap();
                for l in 0..LANES {
                    a[l] += wr[l] - kw[l];
                }
            }
            let mut b = [0f32; LANES];
            for r in r0..r1 {
                let wr: &[f32; LANES] = w[r * c..r * c + LANES].try_into().unwrap();
                let xr: &[f32; LANES] = x[r * c..r * c + LANES].try_into().unwrap();
                for l in 0..LANES {
                    b[l] += (wr[l] - kw[l]) * (xr[l] - k[l]);
                }
            }
            for l in 0..LANES {
                s1[l] += a[l] as f64;
                s2[l] += b[l] as f64;
            }
            r0 = r1;
        }
    }
}

/// The sum of float32 lanes in f64: the halves are added in float32 first (one vector
/// add), then the 16 partials in f64.
#[inline(always)]
fn lanes_f64(a: &[f32; LANES]) -> f64 {
    let mut h = [0f32; LANES / 2];
    for l in 0..LANES / 2 {
        h[l] = a[l] + a[l + LANES / 2];
    }
    h.iter().map(|&v| v as f64).sum()
}

simd_fn! {
    /// Features-last rows: `y = a x + c` per feature.
    fn row_affine(x: &[f32], y: &mut [f32], a: &[f32], c: &[f32]) {
        let n = a.len();
        for (yr, xr) in y.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
            for (((o, &v), &a), &c) in yr.iter_mut().zip(xr).zip(a).zip(c) {
                *o = a * v + c;
            }
        }
    }
}

simd_fn! {
    /// One run: `y = a x + c`.
    fn seg_affine(x: &[f32], y: &mut [f32], a: f32, c: f32) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = a * v + c;
        }
    }
}

simd_fn! {
    /// Features-last rows: `d += a g + b x + c` per feature.
    fn row_bwd(g: &[f32], x: &[f32], d: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
        let n = a.len();
        for ((dr, gr), xr) in d.chunks_exact_mut(n).zip(g.chunks_exact(n)).zip(x.chunks_exact(n)) {
            for (((((o, &g), &x), &a), &b), &c) in
                dr.iter_mut().zip(gr).zip(xr).zip(a).zip(b).zip(c)
            {
                *o += a * g + b * x + c;
            }
        }
    }
}

simd_fn! {
    /// One run: `d += a g + b x + c`.
    fn seg_bwd(g: &[f32], x: &[f32], d: &mut [f32], a: f32, b: f32, c: f32) {
        for ((o, &g), &x) in d.iter_mut().zip(g).zip(x) {
            *o += a * g + b * x + c;
        }
    }
}

/// Per-feature sums `S1 = sum w'`, `S2 = sum w' (x - k[f])` over the batch with
/// `w' = w - sw k[f]` (`sw` = 1 shifts the statistics' own values, 0 leaves gradients
/// alone), turned into two outputs by `finish(f, S1, S2)`.
///
/// The batch is cut into fixed groups of whole rows ([`GROUP`] values each, whatever
/// the thread count); each group is read in memory order (so the hardware prefetcher
/// streams it: walking one channel-first feature across the batch would jump a whole
/// image between short runs) and leaves its per-feature f64 partials in `part`
/// (`2 C` per group, the node's scratch). The groups are added in order at the end,
/// so the result does not depend on how the groups were spread over threads.
#[allow(clippy::too_many_arguments)]
fn feature_sums(
    w: &[f32],
    x: &[f32],
    k: &[f32],
    sw: f32,
    lay: Layout,
    part: &mut Vec<f64>,
    o1: &mut [f32],
    o2: &mut [f32],
    finish: impl Fn(usize, f64, f64) -> (f32, f32) + Sync,
) -> Result<()> {
    let Layout { outer, c, inner } = lay;
    let row = c * inner;
    let rows_per_group = (GROUP / row.max(1)).max(1);
    let groups = outer.div_ceil(rows_per_group);
    // resized only when the shape changes; zeroed in place every call
    grow(part, groups * 2 * c, "batch normalization")?;
    part.truncate(groups * 2 * c);
    part.fill(0.0);
    let task = |gi: usize, p: &mut [f64]| {
        let (s1, s2) = p.split_at_mut(c);
        let r0 = gi * rows_per_group;
        let r1 = (r0 + rows_per_group).min(outer);
        let (wg, xg) = (&w[r0 * row..r1 * row], &x[r0 * row..r1 * row]);
        if inner == 1 && c > 2 * LANES {
            // long rows: each row read once, in order, for up to BLOCK features at a
            // time (a 32-feature column walked down the rows would jump a whole row
            // per step and defeat the prefetcher)
            for c0 in (0..c).step_by(BLOCK) {
                let c1 = (c0 + BLOCK).min(c);
                block_sums(
                    &wg[c0..],
                    &xg[c0..],
                    &k[c0..c1],
                    c,
                    sw,
                    &mut s1[c0..c1],
                    &mut s2[c0..c1],
                );
            }
        } else if inner == 1 {
            // short rows (the channels-last images' C): whole rows are one or two
            // register blocks, the rest (< LANES) generic
            let mut c0 = 0;
            while c0 + LANES <= c {
                block32_sums(
                    &wg[c0..],
                    &xg[c0..],
                    &k[c0..c0 + LANES],
                    c,
                    sw,
                    &mut s1[c0..c0 + LANES],
                    &mut s2[c0..c0 + LANES],
                );
                c0 += LANES;
            }
            if c0 < c {
                block_sums(
                    &wg[c0..],
                    &xg[c0..],
                    &k[c0..],
                    c,
                    sw,
                    &mut s1[c0..],
                    &mut s2[c0..],
                );
            }
        } else {
            for (run, (wr, xr)) in wg
                .chunks_exact(inner)
                .zip(xg.chunks_exact(inner))
                .enumerate()
            {
                let f = run % c;
                let (a, b) = seg_sums(wr, xr, k[f], sw);
                s1[f] += a;
                s2[f] += b;
            }
        }
    };
    if x.len() >= PAR_MIN && groups > 1 {
        for_each_part(part, 2 * c, threads(), &|gi, p| task(gi, p));
    } else {
        for (gi, p) in part.chunks_mut(2 * c).enumerate() {
            task(gi, p);
        }
    }
    for f in 0..c {
        let (mut t1, mut t2) = (0f64, 0f64);
        for p in part.chunks_exact(2 * c) {
            t1 += p[f];
            t2 += p[c + f];
        }
        (o1[f], o2[f]) = finish(f, t1, t2);
    }
    Ok(())
}

/// `y = a[f] x + c[f]`.
fn feature_affine(x: &[f32], y: &mut [f32], a: &[f32], c: &[f32], lay: Layout) {
    let row = lay.c * lay.inner;
    let run = |xr: &[f32], yr: &mut [f32]| {
        if lay.inner == 1 {
            row_affine(xr, yr, a, c);
        } else {
            for ((yf, xf), f) in yr
                .chunks_exact_mut(lay.inner)
                .zip(xr.chunks_exact(lay.inner))
                .zip((0..lay.c).cycle())
            {
                seg_affine(xf, yf, a[f], c[f]);
            }
        }
    };
    map_rows(x, y, row, run);
}

/// `d += a[f] g + b[f] x + c[f]`.
#[allow(clippy::too_many_arguments)]
fn feature_bwd(g: &[f32], x: &[f32], d: &mut [f32], a: &[f32], b: &[f32], c: &[f32], lay: Layout) {
    let row = lay.c * lay.inner;
    let run = |gr: &[f32], xr: &[f32], dr: &mut [f32]| {
        if lay.inner == 1 {
            row_bwd(gr, xr, dr, a, b, c);
        } else {
            for (((df, gf), xf), f) in dr
                .chunks_exact_mut(lay.inner)
                .zip(gr.chunks_exact(lay.inner))
                .zip(xr.chunks_exact(lay.inner))
                .zip((0..lay.c).cycle())
            {
                seg_bwd(gf, xf, df, a[f], b[f], c[f]);
            }
        }
    };
    map_rows_bwd(x, g, d, row, |x, g, d| run(g, x, d));
}

/// Writes the first value of each feature (the shift of the one-pass statistics).
fn shifts(x: &[f32], lay: Layout, k: &mut [f32]) {
    for (f, kf) in k.iter_mut().enumerate() {
        *kf = x[f * lay.inner];
    }
}

/// Batch mean and biased variance of every feature, into `mean` and `var`.
fn moments(
    x: &[f32],
    lay: Layout,
    part: &mut Vec<f64>,
    k: &mut [f32],
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<()> {
    shifts(x, lay, k);
    let n = lay.n() as f64;
    let k: &[f32] = k;
    // S1 = sum (x - k), S2 = sum (x - k)^2
    feature_sums(x, x, k, 1.0, lay, part, mean, var, |f, s1, s2| {
        let d = s1 / n;
        let v = (s2 / n - d * d).max(0.0);
        ((k[f] as f64 + d) as f32, v as f32)
    })
}

// ---------------------------------------------------------------------------------
// Shared argument and shape handling.

fn parse_axis(a: &Attrs) -> Result<i64> {
    a.int_req("axis")
}

fn parse_eps(name: &str, a: &Attrs) -> Result<f32> {
    let e = a.float("epsilon", 1e-3)?;
    if !(e.is_finite() && e >= 0.0) {
        return Err(Error::Value(format!(
            "{name}: epsilon must be a finite number >= 0, got {e}"
        )));
    }
    Ok(e as f32)
}

/// Checks x and the per-feature vectors; returns the feature count when known.
fn check(name: &str, axis: i64, x: &TypeInfo, params: &[(&str, &TypeInfo)]) -> Result<usize> {
    expect_float(name, x)?;
    if x.ndim() == 0 {
        return Err(Error::Shape(format!(
            "{name}: expects a tensor of rank >= 1, got a scalar"
        )));
    }
    let ax = norm_axis(name, axis, x.ndim()).map_err(|_| {
        Error::Value(format!(
            "{name}: axis {axis} does not exist in an input of shape {}",
            fmt_shape(&x.shape)
        ))
    })?;
    let c = x.shape[ax];
    for (what, p) in params {
        expect_float(name, p)?;
        let ok = p.ndim() == 1
            && match (p.shape[0], c) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
        if !ok {
            return Err(Error::Shape(format!(
                "{name}: {what} must be a vector of length x.shape[{axis}] = {}, got shape {} (x has shape {})",
                c.map_or("?".to_string(), |c| c.to_string()),
                fmt_shape(&p.shape),
                fmt_shape(&x.shape)
            )));
        }
    }
    Ok(ax)
}

/// Sizes each per-feature vector to `c` values (reallocated only when the shape changes).
fn per_feature<const N: usize>(c: usize, vs: [&mut Vec<f32>; N]) -> Result<()> {
    for v in vs {
        if v.len() != c {
            v.clear();
            grow(v, c, "batch normalization")?;
        }
    }
    Ok(())
}

/// Splits the wanted input gradients of a `backward_many` call by input index.
fn by_index<'g, const N: usize>(
    wanted: &[usize],
    gins: &'g mut [&mut [f32]],
) -> [Option<&'g mut [f32]>; N] {
    let mut out = [const { None }; N];
    for (&index, gin) in wanted.iter().zip(gins.iter_mut()) {
        out[index] = Some(&mut **gin);
    }
    out
}

// ---------------------------------------------------------------------------------
// batch_norm_train(x, gamma, beta)

/// `gamma * (x - mean_B) / sqrt(var_B + epsilon) + beta` with the batch's per-feature
/// mean and biased variance.
#[derive(Debug)]
pub struct BatchNormTrain {
    axis: i64,
    eps: f32,
}

/// What batch_norm_train keeps between its forward and backward, and the work
/// vectors of both (each C long).
#[derive(Debug, Default)]
struct TrainState {
    /// The mean it normalised with (the batch's, or the moving mean in the test phase).
    mean: Vec<f32>,
    /// `1 / sqrt(var + epsilon)` with that variance.
    inv: Vec<f32>,
    /// Shift of the one-pass moments (see [`moments`]).
    shift: Vec<f32>,
    /// `sum g` and `sum g xhat` over the batch: dbeta and dgamma.
    sg: Vec<f32>,
    sgx: Vec<f32>,
    /// Coefficients of the elementwise passes: `y = a x + c` forward,
    /// `dx += a g + b x + c` backward.
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    /// Per-group f64 partials of the batch sums.
    part: Vec<f64>,
}

impl TrainState {
    fn sized(&mut self, c: usize) -> Result<&mut Self> {
        per_feature(
            c,
            [
                &mut self.mean,
                &mut self.inv,
                &mut self.shift,
                &mut self.sg,
                &mut self.sgx,
                &mut self.a,
                &mut self.b,
                &mut self.c,
            ],
        )?;
        Ok(self)
    }
}

impl Op for BatchNormTrain {
    fn name(&self) -> &str {
        "batch_norm_train"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        if ![3, 4, 6, 7].contains(&inputs.len()) {
            return Err(Error::Value(format!(
                "batch_norm_train takes 3 inputs (x, gamma, beta) or 6 (x, gamma, beta, mean, var, learning_phase), each optionally followed by the batch moments of x, got {}",
                inputs.len()
            )));
        }
        let mut params = vec![("gamma", &inputs[1]), ("beta", &inputs[2])];
        if let Some(st) = stats_input(inputs) {
            let c = norm_axis(self.name(), self.axis, inputs[0].ndim())
                .ok()
                .and_then(|ax| inputs[0].shape[ax]);
            let ok = st.ndim() == 2
                && st.shape[0].is_none_or(|d| d == 2)
                && match (st.shape[1], c) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
            if !ok {
                return Err(Error::Shape(format!(
                    "batch_norm_train: the batch moments must have shape (2, C) (batch_moments stat='both' of x), got {}",
                    fmt_shape(&st.shape)
                )));
            }
        }
        if inputs.len() >= 6 {
            params.push(("mean", &inputs[3]));
            params.push(("var", &inputs[4]));
            if !inputs[5].shape.is_empty() {
                return Err(Error::Shape(format!(
                    "batch_norm_train: the learning phase must be a scalar, got shape {}",
                    fmt_shape(&inputs[5].shape)
                )));
            }
        }
        check(self.name(), self.axis, &inputs[0], &params)?;
        Ok(TypeInfo::f32(inputs[0].shape.clone()))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, gamma, beta) = (inputs[0], inputs[1], inputs[2]);
        let lay = Layout::around(self.name(), self.axis, &x.shape)?;
        let c = lay.c;
        let st = ctx.scratch.state::<TrainState>().sized(c)?;
        let TrainState {
            mean,
            inv,
            shift,
            a,
            c: cc,
            part,
            ..
        } = st;
        let batch = inputs.len() < 6 || training(inputs[5]);
        if batch {
            match stats_input(inputs) {
                // the moments node already made the pass over x
                Some(st) => {
                    mean.copy_from_slice(&st.f[..c]);
                    inv.copy_from_slice(&st.f[c..]);
                }
                None => moments(&x.f, lay, part, shift, mean, inv)?,
            }
        } else {
            mean.copy_from_slice(&inputs[3].f);
            inv.copy_from_slice(&inputs[4].f);
        }
        for f in 0..c {
            inv[f] = 1.0 / (inv[f] + self.eps).sqrt();
            a[f] = gamma.f[f] * inv[f];
            cc[f] = beta.f[f] - mean[f] * a[f];
        }
        feature_affine(&x.f, &mut out.f, a, cc, lay);
        Ok(())
    }

    fn has_grad(&self, index: usize) -> bool {
        index < 3
    }

    fn backward_many(
        &self,
        wanted: &[usize],
        inputs: &[&Value],
        _out: &Value,
        g: &[f32],
        gins: &mut [&mut [f32]],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let [gx, gg, gb] = by_index(wanted, gins);
        let (x, gamma) = (inputs[0], inputs[1]);
        let batch = inputs.len() < 6 || training(inputs[5]);
        let lay = Layout::around(self.name(), self.axis, &x.shape)?;
        let c = lay.c;
        let st = ctx.scratch.state::<TrainState>().sized(c)?;
        // one pass for the sums every wanted gradient shares
        if gg.is_some() || gb.is_some() || (gx.is_some() && batch) {
            let TrainState {
                mean,
                inv,
                sg,
                sgx,
                part,
                ..
            } = &mut *st;
            let inv: &[f32] = inv;
            // S2 = sum g (x - mean); sum g xhat = inv_std * S2
            feature_sums(g, &x.f, mean, 0.0, lay, part, sg, sgx, |f, s1, s2| {
                (s1 as f32, (s2 * inv[f] as f64) as f32)
            })?;
        }
        if let Some(gin) = gx {
            let n = lay.n() as f32;
            for f in 0..c {
                let inv = st.inv[f];
                let aa = gamma.f[f] * inv;
                let k = aa / n;
                st.a[f] = aa;
                if batch {
                    let b = -k * inv * st.sgx[f];
                    st.b[f] = b;
                    st.c[f] = -k * st.sg[f] - b * st.mean[f];
                } else {
                    // fixed statistics: no path through them
                    st.b[f] = 0.0;
                    st.c[f] = 0.0;
                }
            }
            feature_bwd(g, &x.f, gin, &st.a, &st.b, &st.c, lay);
        }
        if let Some(gin) = gg {
            add_into(gin, &st.sgx);
        }
        if let Some(gin) = gb {
            add_into(gin, &st.sg);
        }
        Ok(())
    }
}

/// The optional last input of batch_norm_train: `batch_moments(x, stat='both')`, the
/// batch statistics computed by that node (whose output also feeds the moving
/// averages) instead of a second pass over x here. It gets no gradient: the x gradient
/// of batch_norm_train already includes the path through the batch statistics.
fn stats_input<T>(inputs: &[T]) -> Option<&T> {
    match inputs.len() {
        4 => Some(&inputs[3]),
        7 => Some(&inputs[6]),
        _ => None,
    }
}

/// Whether a learning-phase value says "training".
fn training(lp: &Value) -> bool {
    match lp.dt() {
        crate::tensor::DType::I32 => lp.i.first().is_some_and(|&v| v != 0),
        _ => lp.f.first().is_some_and(|&v| v != 0.0),
    }
}

fn add_into(d: &mut [f32], v: &[f32]) {
    for (o, &v) in d.iter_mut().zip(v) {
        *o += v;
    }
}

// ---------------------------------------------------------------------------------
// batch_norm(x, mean, var, gamma, beta)

/// `gamma * (x - mean) / sqrt(var + epsilon) + beta` with given per-feature vectors.
#[derive(Debug)]
pub struct BatchNorm {
    axis: i64,
    eps: f32,
}

/// What batch_norm keeps between its forward and backward (each vector C long).
#[derive(Debug, Default)]
struct InferState {
    /// `1 / sqrt(var + epsilon)`.
    inv: Vec<f32>,
    /// `sum g` and `sum g (x - mean)` over the batch.
    sg: Vec<f32>,
    sgx: Vec<f32>,
    /// `y = a x + c`; the input gradient is `a g` (`zero` fills the unused terms of
    /// [`feature_bwd`]).
    a: Vec<f32>,
    zero: Vec<f32>,
    c: Vec<f32>,
    /// Per-group f64 partials of the batch sums.
    part: Vec<f64>,
}

impl InferState {
    fn sized(&mut self, c: usize) -> Result<&mut Self> {
        per_feature(
            c,
            [
                &mut self.inv,
                &mut self.sg,
                &mut self.sgx,
                &mut self.a,
                &mut self.zero,
                &mut self.c,
            ],
        )?;
        Ok(self)
    }
}

impl Op for BatchNorm {
    fn name(&self) -> &str {
        "batch_norm"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(self.name(), inputs, 5)?;
        check(
            self.name(),
            self.axis,
            &inputs[0],
            &[
                ("mean", &inputs[1]),
                ("var", &inputs[2]),
                ("gamma", &inputs[3]),
                ("beta", &inputs[4]),
            ],
        )?;
        Ok(TypeInfo::f32(inputs[0].shape.clone()))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, mean, var, gamma, beta) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4]);
        let lay = Layout::around(self.name(), self.axis, &x.shape)?;
        let st = ctx.scratch.state::<InferState>().sized(lay.c)?;
        for f in 0..lay.c {
            let inv = 1.0 / (var.f[f] + self.eps).sqrt();
            let a = gamma.f[f] * inv;
            st.inv[f] = inv;
            st.a[f] = a;
            st.zero[f] = 0.0;
            st.c[f] = beta.f[f] - mean.f[f] * a;
        }
        feature_affine(&x.f, &mut out.f, &st.a, &st.c, lay);
        Ok(())
    }

    fn backward_many(
        &self,
        wanted: &[usize],
        inputs: &[&Value],
        _out: &Value,
        g: &[f32],
        gins: &mut [&mut [f32]],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let [gx, mut params @ ..] = by_index::<5>(wanted, gins);
        let (x, mean, gamma) = (inputs[0], inputs[1], inputs[3]);
        let lay = Layout::around(self.name(), self.axis, &x.shape)?;
        let st = ctx.scratch.state::<InferState>().sized(lay.c)?;
        if let Some(gin) = gx {
            feature_bwd(g, &x.f, gin, &st.a, &st.zero, &st.zero, lay);
        }
        if params.iter().all(Option::is_none) {
            return Ok(());
        }
        // one pass for the sums the parameter gradients share
        feature_sums(
            g,
            &x.f,
            &mean.f,
            0.0,
            lay,
            &mut st.part,
            &mut st.sg,
            &mut st.sgx,
            |_, s1, s2| (s1 as f32, s2 as f32),
        )?;
        for (index, gin) in (1..).zip(params.iter_mut()) {
            let Some(gin) = gin else { continue };
            for f in 0..lay.c {
                let (inv, sg, sgx) = (st.inv[f], st.sg[f], st.sgx[f]);
                gin[f] += match index {
                    1 => -gamma.f[f] * inv * sg,
                    // d/dvar (var + eps)^(-1/2) = -1/2 (var + eps)^(-3/2)
                    2 => -0.5 * gamma.f[f] * inv * inv * inv * sgx,
                    3 => inv * sgx,
                    _ => sg,
                };
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// batch_moments(x)

/// Which statistic `batch_moments` returns.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stat {
    Mean,
    Var,
    /// `[mean; var]`, shape (2, C): one pass for the moving averages of both.
    Both,
}

/// The per-feature batch mean or biased variance of x: a vector of length C.
#[derive(Debug)]
pub struct BatchMoments {
    axis: i64,
    stat: Stat,
}

/// What batch_moments keeps between its forward and backward (each vector C long).
#[derive(Debug, Default)]
struct MomentsState {
    shift: Vec<f32>,
    mean: Vec<f32>,
    var: Vec<f32>,
    /// `dx += a x + c` (`zero` fills the unused term of [`feature_bwd`]).
    a: Vec<f32>,
    zero: Vec<f32>,
    c: Vec<f32>,
    /// Per-group f64 partials of the batch sums.
    part: Vec<f64>,
}

impl MomentsState {
    fn sized(&mut self, c: usize) -> Result<&mut Self> {
        per_feature(
            c,
            [
                &mut self.shift,
                &mut self.mean,
                &mut self.var,
                &mut self.a,
                &mut self.zero,
                &mut self.c,
            ],
        )?;
        Ok(self)
    }
}

impl Op for BatchMoments {
    fn name(&self) -> &str {
        "batch_moments"
    }

    fn has_grad(&self, index: usize) -> bool {
        index == 0
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        if inputs.len() != 1 && inputs.len() != 2 {
            return Err(Error::Value(format!(
                "batch_moments takes 1 input (x) or 2 (x, learning_phase), got {}",
                inputs.len()
            )));
        }
        if inputs.len() == 2 && !inputs[1].shape.is_empty() {
            return Err(Error::Shape(format!(
                "batch_moments: the learning phase must be a scalar, got shape {}",
                fmt_shape(&inputs[1].shape)
            )));
        }
        let ax = check(self.name(), self.axis, &inputs[0], &[])?;
        let c = inputs[0].shape[ax];
        Ok(TypeInfo::f32(match self.stat {
            Stat::Both => vec![Some(2), c],
            _ => vec![c],
        }))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        if inputs.len() == 2 && !training(inputs[1]) {
            // test phase: only the training Program's updates read the moments
            out.f.fill(0.0);
            return Ok(());
        }
        let lay = Layout::around(self.name(), self.axis, &x.shape)?;
        let c = lay.c;
        let MomentsState {
            shift,
            mean,
            var,
            part,
            ..
        } = ctx.scratch.state::<MomentsState>().sized(c)?;
        moments(&x.f, lay, part, shift, mean, var)?;
        match self.stat {
            Stat::Mean => out.f.copy_from_slice(mean),
            Stat::Var => out.f.copy_from_slice(var),
            Stat::Both => {
                out.f[..c].copy_from_slice(mean);
                out.f[c..].copy_from_slice(var);
            }
        }
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        inputs: &[&Value],
        _out: &Value,
        g: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let x = inputs[0];
        if inputs.len() == 2 && !training(inputs[1]) {
            // the test-phase output is a constant
            return Ok(());
        }
        let lay = Layout::around(self.name(), self.axis, &x.shape)?;
        let c = lay.c;
        let n = lay.n() as f32;
        let st = ctx.scratch.state::<MomentsState>().sized(c)?;
        for f in 0..c {
            // d mean / dx = 1 / N, d var / dx = 2 (x - mean) / N
            let (gm, gv) = match self.stat {
                Stat::Mean => (g[f], 0.0),
                Stat::Var => (0.0, g[f]),
                Stat::Both => (g[f], g[c + f]),
            };
            let a = 2.0 * gv / n;
            let cc = gm / n - a * st.mean[f];
            st.a[f] = a;
            st.zero[f] = 0.0;
            st.c[f] = cc;
        }
        // d += 0 * x + a x + c (the x input stands in for the unused gradient slot)
        feature_bwd(&x.f, &x.f, gin, &st.zero, &st.a, &st.c, lay);
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let r = match name {
        "batch_norm_train" => (|| {
            Ok(Arc::new(BatchNormTrain {
                axis: parse_axis(a)?,
                eps: parse_eps(name, a)?,
            }) as OpRef)
        })(),
        "batch_norm" => (|| {
            Ok(Arc::new(BatchNorm {
                axis: parse_axis(a)?,
                eps: parse_eps(name, a)?,
            }) as OpRef)
        })(),
        "batch_moments" => (|| {
            let stat = match a.str_opt("stat")?.as_deref() {
                Some("mean") => Stat::Mean,
                Some("var") => Stat::Var,
                Some("both") => Stat::Both,
                other => {
                    return Err(Error::Value(format!(
                        "batch_moments: stat must be 'mean', 'var' or 'both', got {other:?}"
                    )))
                }
            };
            Ok(Arc::new(BatchMoments {
                axis: parse_axis(a)?,
                stat,
            }) as OpRef)
        })(),
        _ => return None,
    };
    Some(r)
}

// The naive references index several parallel arrays by feature and position.
#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::ops::testing::{
        assert_backward_many_matches_singles, assert_close, forward, forward_with, grad_check,
        grad_with, on_threads, op, rand,
    };
    use crate::ops::{Attr, Scratch};

    /// Naive per-feature mean and biased variance in f64.
    fn naive_moments(x: &Value, axis: usize) -> (Vec<f64>, Vec<f64>) {
        let lay = Layout::of(&x.shape, axis);
        let n = lay.n() as f64;
        let mut m = vec![0.0; lay.c];
        let mut v = vec![0.0; lay.c];
        for o in 0..lay.outer {
            for f in 0..lay.c {
                for i in 0..lay.inner {
                    m[f] += x.f[(o * lay.c + f) * lay.inner + i] as f64 / n;
                }
            }
        }
        for o in 0..lay.outer {
            for f in 0..lay.c {
                for i in 0..lay.inner {
                    let d = x.f[(o * lay.c + f) * lay.inner + i] as f64 - m[f];
                    v[f] += d * d / n;
                }
            }
        }
        (m, v)
    }

    fn naive_norm(
        x: &Value,
        axis: usize,
        m: &[f64],
        v: &[f64],
        gm: &[f32],
        bt: &[f32],
        eps: f64,
    ) -> Vec<f32> {
        let lay = Layout::of(&x.shape, axis);
        let mut y = vec![0.0; x.len()];
        for o in 0..lay.outer {
            for f in 0..lay.c {
                for i in 0..lay.inner {
                    let j = (o * lay.c + f) * lay.inner + i;
                    y[j] = (gm[f] as f64 * (x.f[j] as f64 - m[f]) / (v[f] + eps).sqrt()
                        + bt[f] as f64) as f32;
                }
            }
        }
        y
    }

    /// Inputs of shape `shape` with features on `axis`, from seeds `base + 1..=base + 5`:
    /// x in [-1, 1), gamma in [0.5, 1.5), beta in [-1, 1), a moving mean in
    /// [-0.5, 0.5) and a moving variance in [0.2, 1).
    fn bn_inputs(shape: &[usize], axis: i64, base: u64) -> [Value; 5] {
        let c = shape[if axis < 0 {
            shape.len() - 1
        } else {
            axis as usize
        }];
        [
            rand(shape, base + 1, -1.0, 1.0),
            rand(&[c], base + 2, 0.5, 1.5),
            rand(&[c], base + 3, -1.0, 1.0),
            rand(&[c], base + 4, -0.5, 0.5),
            rand(&[c], base + 5, 0.2, 1.0),
        ]
    }

    /// batch_norm_train's inputs in learning phase `lp`: x, gamma, beta, the moving
    /// mean and variance, the phase, then the given batch moments if any.
    fn in_phase(p: [&Value; 5], lp: f32, moments: Option<&Value>) -> Vec<Value> {
        let mut ins: Vec<Value> = p.into_iter().cloned().collect();
        ins.push(Value::scalar(lp));
        ins.extend(moments.cloned());
        ins
    }

    fn bn_train(axis: i64) -> OpRef {
        op(
            "batch_norm_train",
            &[("axis", Attr::Int(axis)), ("epsilon", Attr::Float(1e-3))],
        )
    }

    #[test]
    fn train_forward_matches_reference_for_every_layout() {
        // features last (short rows: register blocks and a tail; long rows: one or
        // several generic column chunks), channels first (4-D, axis 1), middle axis,
        // and large tensors on the parallel (grouped) paths of both layouts
        for (shape, axis) in [
            (vec![7usize, 5], 1usize),
            (vec![50, 40], 1),
            (vec![4, 3, 5, 6], 1),
            (vec![3, 4, 5], 1),
            (vec![600, 300], 1),
            (vec![40, 16, 30, 30], 1),
            (vec![4, 6, 6, 130], 3),
            (vec![7000, 40], 1),
            (vec![300, 1100], 1),
        ] {
            let x = rand(&shape, 3, -2.0, 4.0);
            let c = shape[axis];
            let gm = rand(&[c], 4, 0.5, 1.5);
            let bt = rand(&[c], 5, -1.0, 1.0);
            let y = forward(&bn_train(axis as i64), &[x.clone(), gm.clone(), bt.clone()]);
            let (m, v) = naive_moments(&x, axis);
            assert_close(
                &y.f,
                &naive_norm(&x, axis, &m, &v, &gm.f, &bt.f, 1e-3),
                2e-5,
            );
            for (stat, want) in [("mean", &m), ("var", &v)] {
                let o = op(
                    "batch_moments",
                    &[
                        ("axis", Attr::Int(axis as i64)),
                        ("stat", Attr::Str(stat.into())),
                    ],
                );
                let got = forward(&o, std::slice::from_ref(&x));
                let want: Vec<f32> = want.iter().map(|&w| w as f32).collect();
                assert_close(&got.f, &want, 1e-5);
            }
            let o = op(
                "batch_moments",
                &[
                    ("axis", Attr::Int(axis as i64)),
                    ("stat", Attr::Str("both".into())),
                ],
            );
            let got = forward(&o, std::slice::from_ref(&x));
            assert_eq!(got.shape, vec![2, c]);
            let want: Vec<f32> = m.iter().chain(&v).map(|&w| w as f32).collect();
            assert_close(&got.f, &want, 1e-5);
        }
    }

    #[test]
    fn variance_survives_a_large_mean() {
        // values 1000 + U(-1, 1): a plain float32 sum of squares would lose the variance
        let mut x = rand(&[500, 3], 8, -1.0, 1.0);
        for v in x.f.iter_mut() {
            *v += 1000.0;
        }
        let o = op(
            "batch_moments",
            &[("axis", Attr::Int(-1)), ("stat", Attr::Str("var".into()))],
        );
        let got = forward(&o, std::slice::from_ref(&x));
        let (_, v) = naive_moments(&x, 1);
        let want: Vec<f32> = v.iter().map(|&w| w as f32).collect();
        assert_close(&got.f, &want, 1e-4);
    }

    #[test]
    fn inference_forward_matches_reference() {
        for (shape, axis) in [
            (vec![6usize, 4], 1usize),
            (vec![2, 3, 4, 5], 1),
            (vec![2, 3, 4, 5], 3),
        ] {
            let x = rand(&shape, 1, -2.0, 2.0);
            let c = shape[axis];
            let (m, v, gm, bt) = (
                rand(&[c], 2, -1.0, 1.0),
                rand(&[c], 3, 0.1, 2.0),
                rand(&[c], 4, 0.5, 1.5),
                rand(&[c], 5, -1.0, 1.0),
            );
            let o = op(
                "batch_norm",
                &[
                    ("axis", Attr::Int(axis as i64)),
                    ("epsilon", Attr::Float(1e-3)),
                ],
            );
            let y = forward(
                &o,
                &[x.clone(), m.clone(), v.clone(), gm.clone(), bt.clone()],
            );
            let m64: Vec<f64> = m.f.iter().map(|&a| a as f64).collect();
            let v64: Vec<f64> = v.f.iter().map(|&a| a as f64).collect();
            assert_close(
                &y.f,
                &naive_norm(&x, axis, &m64, &v64, &gm.f, &bt.f, 1e-3),
                1e-5,
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (shape, axis) in [
            (vec![5usize, 3], -1i64),
            (vec![3, 2, 2, 3], 1),
            (vec![2, 3, 4], -1),
        ] {
            let [x, gm, bt, m, v] = bn_inputs(&shape, axis, 10);
            // the x gradient includes the path through the batch mean and variance
            grad_check(
                &bn_train(axis),
                &[x.clone(), gm.clone(), bt.clone()],
                1e-2,
                2e-2,
            )
            .unwrap();
            let inf = op("batch_norm", &[("axis", Attr::Int(axis))]);
            grad_check(&inf, &[x.clone(), m, v, gm, bt], 1e-2, 2e-2).unwrap();
            for stat in ["mean", "var", "both"] {
                let o = op(
                    "batch_moments",
                    &[("axis", Attr::Int(axis)), ("stat", Attr::Str(stat.into()))],
                );
                grad_check(&o, std::slice::from_ref(&x), 1e-2, 2e-2).unwrap();
            }
        }
    }

    #[test]
    fn large_backward_matches_small_path_reference() {
        // the parallel kernels against the fused formula evaluated naively in f64
        for (shape, axis) in [(vec![40usize, 16, 30, 30], 1usize), (vec![1200, 300], 1)] {
            let x = rand(&shape, 21, -2.0, 2.0);
            let c = shape[axis];
            let gm = rand(&[c], 22, 0.5, 1.5);
            let bt = rand(&[c], 23, -1.0, 1.0);
            let g = rand(&shape, 24, -1.0, 1.0);
            let o = bn_train(axis as i64);
            let mut sc = Scratch::default();
            forward_with(&o, &[x.clone(), gm.clone(), bt.clone()], &mut sc).unwrap();
            let refs = [&x, &gm, &bt];
            let out = Value::zeros(crate::tensor::DType::F32, &shape);
            let dx = grad_with(&o, 0, &refs, &out, &g.f, &mut sc);
            let dg = grad_with(&o, 1, &refs, &out, &g.f, &mut sc);
            let lay = Layout::of(&shape, axis);
            let (m, v) = naive_moments(&x, axis);
            let n = lay.n() as f64;
            let mut sg = vec![0.0; c];
            let mut sgx = vec![0.0; c];
            let idx = |o: usize, f: usize, i: usize| (o * c + f) * lay.inner + i;
            for o in 0..lay.outer {
                for f in 0..c {
                    for i in 0..lay.inner {
                        let j = idx(o, f, i);
                        let xh = (x.f[j] as f64 - m[f]) / (v[f] + 1e-3).sqrt();
                        sg[f] += g.f[j] as f64;
                        sgx[f] += g.f[j] as f64 * xh;
                    }
                }
            }
            let mut want = vec![0.0f32; x.len()];
            for o in 0..lay.outer {
                for f in 0..c {
                    let inv = 1.0 / (v[f] + 1e-3).sqrt();
                    for i in 0..lay.inner {
                        let j = idx(o, f, i);
                        let xh = (x.f[j] as f64 - m[f]) * inv;
                        want[j] = (gm.f[f] as f64 * inv / n
                            * (n * g.f[j] as f64 - sg[f] - xh * sgx[f]))
                            as f32;
                    }
                }
            }
            assert_close(&dx, &want, 1e-4);
            let sgx32: Vec<f32> = sgx.iter().map(|&a| a as f32).collect();
            assert_close(&dg, &sgx32, 1e-4);
        }
    }

    #[test]
    fn phase_input_selects_batch_or_moving_statistics() {
        for (shape, axis) in [(vec![5usize, 3], -1i64), (vec![3, 2, 2, 3], 1)] {
            let [x, gm, bt, m, v] = bn_inputs(&shape, axis, 40);
            let o = bn_train(axis);
            let ins = |lp: f32| in_phase([&x, &gm, &bt, &m, &v], lp, None);
            let train = forward(&o, &ins(1.0));
            assert_eq!(train.f, forward(&o, &[x.clone(), gm.clone(), bt.clone()]).f);
            let test = forward(&o, &ins(0.0));
            let inf = op(
                "batch_norm",
                &[("axis", Attr::Int(axis)), ("epsilon", Attr::Float(1e-3))],
            );
            let want = forward(
                &inf,
                &[x.clone(), m.clone(), v.clone(), gm.clone(), bt.clone()],
            );
            assert_close(&test.f, &want.f, 1e-6);
            grad_check(&o, &ins(0.0), 1e-2, 2e-2).unwrap();
            grad_check(&o, &ins(1.0), 1e-2, 2e-2).unwrap();
        }
    }

    #[test]
    fn one_backward_call_for_many_inputs_equals_one_call_each() {
        for (shape, axis) in [(vec![7usize, 5], -1i64), (vec![3, 4, 5, 6], 1)] {
            let [x, gm, bt, m, v] = bn_inputs(&shape, axis, 50);
            let g = rand(&shape, 56, -1.0, 1.0);
            let train = [x.clone(), gm.clone(), bt.clone()];
            let infer = [x.clone(), m, v, gm, bt];
            for (o, ins) in [
                (bn_train(axis), &train[..]),
                (op("batch_norm", &[("axis", Attr::Int(axis))]), &infer[..]),
            ] {
                let mut sc = Scratch::default();
                let y = forward_with(&o, ins, &mut sc).unwrap();
                let refs: Vec<&Value> = ins.iter().collect();
                assert_backward_many_matches_singles(
                    &o,
                    &refs,
                    &y,
                    &g.f,
                    &mut OpCtx { scratch: &mut sc },
                    o.name(),
                );
            }
        }
    }

    #[test]
    fn a_second_sweep_uses_its_own_output_gradient() {
        // two sweeps with different output gradients after one forward: the second
        // must not reuse the first one's sums
        let x = rand(&[6, 4], 31, -1.0, 1.0);
        let gm = rand(&[4], 32, 0.5, 1.5);
        let bt = rand(&[4], 33, -1.0, 1.0);
        let o = bn_train(-1);
        let mut sc = Scratch::default();
        let out = forward_with(&o, &[x.clone(), gm.clone(), bt.clone()], &mut sc).unwrap();
        let refs = [&x, &gm, &bt];
        let g1 = rand(&[6, 4], 34, -1.0, 1.0);
        let g2 = rand(&[6, 4], 35, -1.0, 1.0);
        grad_with(&o, 2, &refs, &out, &g1.f, &mut sc);
        let db2 = grad_with(&o, 2, &refs, &out, &g2.f, &mut sc);
        for f in 0..4 {
            let want: f32 = (0..6).map(|r| g2.f[r * 4 + f]).sum();
            assert!((db2[f] - want).abs() < 1e-5, "{} vs {want}", db2[f]);
        }
    }

    #[test]
    fn given_batch_moments_replace_the_own_pass() {
        for (shape, axis) in [(vec![5usize, 3], -1i64), (vec![3, 2, 2, 3], 1)] {
            let [x, gm, bt, m, v] = bn_inputs(&shape, axis, 60);
            let both = op(
                "batch_moments",
                &[
                    ("axis", Attr::Int(axis)),
                    ("stat", Attr::Str("both".into())),
                ],
            );
            let st = forward(&both, std::slice::from_ref(&x));
            let o = bn_train(axis);
            let plain = forward(&o, &[x.clone(), gm.clone(), bt.clone()]);
            let given = forward(&o, &[x.clone(), gm.clone(), bt.clone(), st.clone()]);
            assert_eq!(plain.f, given.f);
            let ins = |lp: f32| in_phase([&x, &gm, &bt, &m, &v], lp, Some(&st));
            assert_eq!(forward(&o, &ins(1.0)).f, plain.f);
            let six = forward(&o, &ins(0.0)[..6]);
            assert_eq!(forward(&o, &ins(0.0)).f, six.f);
            // the stats input takes no gradient; x, gamma, beta as without it
            assert!(!o.has_grad(3) && !o.has_grad(6));
            // (a finite-difference check cannot move the given moments with x)
            let g = rand(&shape, 66, -1.0, 1.0);
            let grads = |ins: &[Value]| {
                let mut sc = Scratch::default();
                let out = forward_with(&o, ins, &mut sc).unwrap();
                let refs: Vec<&Value> = ins.iter().collect();
                (0..3)
                    .map(|i| grad_with(&o, i, &refs, &out, &g.f, &mut sc))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                grads(&[x.clone(), gm.clone(), bt.clone()]),
                grads(&[x.clone(), gm.clone(), bt.clone(), st.clone()])
            );
            // moments in the test phase are skipped (zeros), in training as without lp
            let phased = |lp: f32| forward(&both, &[x.clone(), Value::scalar(lp)]).f;
            assert_eq!(phased(1.0), st.f);
            assert!(phased(0.0).iter().all(|&v| v == 0.0));
        }
        let x = TypeInfo::f32(vec![None, Some(3)]);
        let v3 = TypeInfo::f32(vec![Some(3)]);
        let e = bn_train(-1)
            .infer(&[
                x.clone(),
                v3.clone(),
                v3.clone(),
                TypeInfo::f32(vec![Some(2), Some(4)]),
            ])
            .unwrap_err();
        assert!(e.to_string().contains("(2, C)"), "{e}");
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // the grouped reductions add their groups in a fixed order
        for (shape, axis) in [(vec![40usize, 16, 30, 30], 1i64), (vec![7000, 40], -1)] {
            let x = rand(&shape, 51, -2.0, 2.0);
            let c = shape[if axis < 0 {
                shape.len() - 1
            } else {
                axis as usize
            }];
            let ins = [x, rand(&[c], 52, 0.5, 1.5), rand(&[c], 53, -1.0, 1.0)];
            let run = |threads: usize| on_threads(threads, || forward(&bn_train(axis), &ins).f);
            assert_eq!(run(1), run(3));
        }
    }

    #[test]
    fn bad_shapes_and_arguments_are_errors() {
        let x = TypeInfo::f32(vec![None, Some(3)]);
        let v3 = TypeInfo::f32(vec![Some(3)]);
        let v4 = TypeInfo::f32(vec![Some(4)]);
        let e = bn_train(2)
            .infer(&[x.clone(), v3.clone(), v3.clone()])
            .unwrap_err();
        assert!(
            e.to_string().contains("axis 2") && e.to_string().contains("(None, 3)"),
            "{e}"
        );
        let e = bn_train(-1)
            .infer(&[x.clone(), v4, v3.clone()])
            .unwrap_err();
        assert!(e.to_string().contains("gamma"), "{e}");
        assert!(bn_train(-1).infer(&[x, v3.clone(), v3]).is_ok());
        let mut a = Attrs::new("batch_moments");
        a.set("axis", Attr::Int(0));
        a.set("stat", Attr::Str("median".into()));
        assert!(crate::ops::build("batch_moments", &a).is_err());
        let mut a = Attrs::new("batch_norm");
        a.set("axis", Attr::Int(0));
        a.set("epsilon", Attr::Float(-1.0));
        assert!(crate::ops::build("batch_norm", &a).is_err());
    }
}
