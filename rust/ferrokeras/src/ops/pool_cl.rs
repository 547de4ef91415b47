//! Channels-last pooling kernels: max and average pooling over (N, H, W, C) and
//! (N, D, H, W, C) tensors, the `layout = "nhwc"` form of `maxpool2d`/`avgpool2d` and
//! the `layout = "ndhwc"` form of `maxpool3d`/`avgpool3d` (Keras 1's 'tf' ordering, so
//! those layers pay no layout permutes). A 2-D pooling is a 3-D one with depth 1.
//!
//! In this layout the C channels of one pixel are contiguous, so a window's max or sum
//! is a C-wide elementwise max or add over its positions, vectorised over channels
//! (the loops are compiled per target with [`simd_fn!`](crate::simd_fn) and vectorised
//! by LLVM; a row of output pixels per dispatch). A whole 2x2 window (Keras' default)
//! is one straight pass over the channels, in fixed-width runs ([`by_lanes!`]) with the
//! four candidates in registers; any other window keeps a running max or sum for
//! [`BLOCK`] channels at a time while its positions go by. Measured with
//! `benches/examples/pool_cpu.rs` (one thread, CPU time): the 2x2 max about as fast as
//! the channels-first AVX-512 kernel, the average and other windows several times
//! faster than the channels-first loops, and 3-5x faster than the permute +
//! channels-first + permute path that 'tf' ordering took before.
//!
//! Semantics are the channels-first kernels' (`pool.rs`, both ranks), channel by
//! channel, with the same arithmetic order, so results agree bit for bit with the
//! channels-first ops on transposed data:
//! - max: positions are visited in (depth, row, column) order; the first one is taken,
//!   then only a strictly greater value replaces it (ordered comparison: a NaN never
//!   wins later, a NaN first stays). The winner's position within the sample's spatial
//!   volume, `(z·H + y)·W + x` (the channels-first op's in-plane index), is stored per
//!   output element for the backward, which adds each output gradient to its winner.
//! - average: the in-bounds values of each window row are summed, the row sums added
//!   in row order, the total divided by the number of in-bounds positions (padding is
//!   not counted: Keras 1's 'same'); the backward spreads `g / count` over the window,
//!   outputs in order.
//!
//! Parallelism: the forward splits output rows (sample, depth, row) across threads,
//! the backward whole samples (windows of neighbouring rows may overlap), through
//! [`parallel_for`] when the call reads enough to pay for a wake-up.

use crate::kernels::pool::{parallel_for, participants, threads, Disjoint};
use crate::simd_fn;

/// Channels per block of the general windows' running max or sum.
const BLOCK: usize = 32;

/// Window reads below this many per call run on the calling thread (as the
/// channels-first ops).
const PARALLEL_MIN_READS: usize = 1 << 17;

/// Pooling window: size, strides and pads (front, back, top, bottom, left, right)
/// over the (depth, height, width) axes; a 2-D pooling has depth size 1, stride 1 and
/// no depth padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub pool: [usize; 3],
    pub strides: [usize; 3],
    pub pads: [usize; 6],
}

/// Shape of one call: samples, input and output spatial sizes (depth, height, width),
/// channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geo {
    pub n: usize,
    pub sp: [usize; 3],
    pub op: [usize; 3],
    pub c: usize,
}

impl Geo {
    /// Input floats per sample.
    fn in_len(&self) -> usize {
        self.sp.iter().product::<usize>() * self.c
    }
    /// Output floats per sample (and winners per sample, for the max).
    pub fn out_len(&self) -> usize {
        self.op.iter().product::<usize>() * self.c
    }
    /// Output floats per output row (one (depth, row) of one sample).
    fn row_len(&self) -> usize {
        self.op[2] * self.c
    }
    /// Output rows per sample.
    fn rows(&self) -> usize {
        self.op[0] * self.op[1]
    }
    fn empty(&self) -> bool {
        self.n == 0 || self.c == 0 || self.in_len() == 0 || self.out_len() == 0
    }
}

/// The in-bounds positions of one output pixel's window: depth `z0..z1`, rows
/// `y0..y1`, columns `x0..x1` of a volume `h` x `w` (pixels; multiply by C for floats).
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    z0: usize,
    z1: usize,
    y0: usize,
    y1: usize,
    x0: usize,
    x1: usize,
    h: usize,
    w: usize,
}

/// The window rows of one output row (depth `z0..z1`, rows `y0..y1`) and how its
/// columns slide (stride `sx`, size `kx`, left pad `pl`) over a volume `h` x `w`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    pub z0: usize,
    pub z1: usize,
    y0: usize,
    y1: usize,
    h: usize,
    w: usize,
    sx: usize,
    kx: usize,
    pl: usize,
}

impl Row {
    /// The window of output column `ox`.
    #[inline(always)]
    pub(super) fn at(&self, ox: usize) -> Span {
        let s = (ox * self.sx) as isize - self.pl as isize;
        let x0 = s.max(0) as usize;
        let x1 = ((s + self.kx as isize).max(0) as usize).min(self.w);
        Span {
            z0: self.z0,
            z1: self.z1,
            y0: self.y0,
            y1: self.y1,
            x0: x0.min(x1),
            x1,
            h: self.h,
            w: self.w,
        }
    }
}

impl Span {
    pub(super) fn count(&self) -> usize {
        (self.z1 - self.z0) * (self.y1 - self.y0) * (self.x1 - self.x0)
    }
    /// The four positions (top-left, top-right, bottom-left, bottom-right) of a whole
    /// 2x2 window, if that is what this is (Keras' default pooling, one fused pass
    /// over the channels).
    #[inline(always)]
    fn quad(&self) -> Option<[usize; 4]> {
        (self.z1 - self.z0 == 1 && self.y1 - self.y0 == 2 && self.x1 - self.x0 == 2).then(|| {
            let p = self.first();
            [p, p + 1, p + self.w, p + self.w + 1]
        })
    }
    /// Spatial index of the first position (valid when `count() > 0`).
    fn first(&self) -> usize {
        (self.z0 * self.h + self.y0) * self.w + self.x0
    }
}

impl Window {
    /// Clipped window `[lo, hi)` along axis `a` (0 depth, 1 rows, 2 columns) of output
    /// index `o` over an input of length `len` (empty when it lies in the padding).
    #[inline]
    pub(super) fn span(&self, a: usize, o: usize, len: usize) -> (usize, usize) {
        let s = (o * self.strides[a]) as isize - self.pads[2 * a] as isize;
        let lo = s.max(0) as usize;
        let hi = ((s + self.pool[a] as isize).max(0) as usize).min(len);
        (lo.min(hi), hi)
    }

    /// The windows of output row (`oz`, `oy`).
    pub(super) fn row(&self, g: &Geo, oz: usize, oy: usize) -> Row {
        let (z0, z1) = self.span(0, oz, g.sp[0]);
        let (y0, y1) = self.span(1, oy, g.sp[1]);
        Row {
            z0,
            z1,
            y0,
            y1,
            h: g.sp[1],
            w: g.sp[2],
            sx: self.strides[2],
            kx: self.pool[2],
            pl: self.pads[4],
        }
    }

    /// Max (`max`) or average pooling of `x` (`g.n` samples) into `y`; with `max`,
    /// `arg` (one per output element) receives the winners' spatial indices.
    pub fn forward(&self, max: bool, g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        if g.empty() {
            return;
        }
        let (rl, rows) = (g.row_len(), g.n * g.rows());
        assert!(x.len() >= g.n * g.in_len() && y.len() >= rows * rl);
        assert!(!max || arg.len() >= rows * rl);
        // One output row (sample n, depth oz, row oy): ow pixels of c channels.
        let row = |u: usize, y: &mut [f32], arg: &mut [i32]| {
            let (n, r) = (u / g.rows(), u % g.rows());
            let xs = &x[n * g.in_len()..(n + 1) * g.in_len()];
            let win = self.row(g, r / g.op[1], r % g.op[1]);
            if max {
                max_row(xs, win, g.c, y, arg);
            } else {
                avg_row(xs, win, g.c, y);
            }
        };
        match self.parallel(g, rows) {
            Some((blocks, threads)) => {
                let (ys, args) = (Disjoint::new(y), Disjoint::new(arg));
                parallel_for(blocks, threads, &|b, _| {
                    let (u0, u1) = (b * rows / blocks, (b + 1) * rows / blocks);
                    let len = (u1 - u0) * rl;
                    // SAFETY: output rows u0..u1 (and their winners) belong to block b.
                    let y = unsafe { ys.part(u0 * rl, len) };
                    let a = if max {
                        // SAFETY: as for y: block b's winners are its own.
                        unsafe { args.part(u0 * rl, len) }
                    } else {
                        &mut []
                    };
                    rows_fwd(max, &row, u0, u1, rl, y, a);
                });
            }
            None => rows_fwd(max, &row, 0, rows, rl, y, arg),
        }
    }

    /// Backward of [`Window::forward`]: adds the input gradient of `gy` to `gx`.
    pub fn backward(&self, max: bool, g: &Geo, gy: &[f32], gx: &mut [f32], arg: &[i32]) {
        if g.empty() {
            return;
        }
        let (il, ol) = (g.in_len(), g.out_len());
        assert!(gx.len() >= g.n * il && gy.len() >= g.n * ol);
        assert!(!max || arg.len() >= g.n * ol);
        let sample = |n: usize, gx: &mut [f32]| {
            let rl = g.row_len();
            let mut o = n * ol;
            for oz in 0..g.op[0] {
                for oy in 0..g.op[1] {
                    let win = self.row(g, oz, oy);
                    let r = o..o + rl;
                    if max {
                        unmax_row(&gy[r.clone()], &arg[r], win, g.c, gx);
                    } else {
                        unavg_row(&gy[r], win, g.c, gx);
                    }
                    o += rl;
                }
            }
        };
        match self.parallel(g, g.n) {
            Some((blocks, threads)) => {
                let gxs = Disjoint::new(gx);
                parallel_for(blocks, threads, &|b, _| {
                    for n in b * g.n / blocks..(b + 1) * g.n / blocks {
                        // SAFETY: sample n's gradient belongs to block b alone.
                        sample(n, unsafe { gxs.part(n * il, il) });
                    }
                });
            }
            None => {
                for (n, gx) in gx.chunks_mut(il).take(g.n).enumerate() {
                    sample(n, gx);
                }
            }
        }
    }

    /// (blocks, threads) for a call of `units` independent units when it reads enough
    /// to split.
    fn parallel(&self, g: &Geo, units: usize) -> Option<(usize, usize)> {
        let reads = g.n * g.out_len() * self.pool.iter().product::<usize>();
        let threads = participants(units, threads());
        (reads >= PARALLEL_MIN_READS && threads > 1).then(|| (units.min(4 * threads), threads))
    }
}

/// Output rows `u0..u1` (their outputs `y`, winners `arg`, `rl` floats a row).
fn rows_fwd(
    max: bool,
    row: &impl Fn(usize, &mut [f32], &mut [i32]),
    u0: usize,
    u1: usize,
    rl: usize,
    y: &mut [f32],
    arg: &mut [i32],
) {
    for (i, u) in (u0..u1).enumerate() {
        let a = if max {
            &mut arg[i * rl..(i + 1) * rl]
        } else {
            &mut []
        };
        row(u, &mut y[i * rl..(i + 1) * rl], a);
    }
}

/// Runs `$body` for channel runs `$l .. $l + $w` covering `0..$c`, with `$w` a
/// constant (32, then 8, then 1): fixed-width slices (`try_into` arrays) compile to
/// whole vector registers, where a loop over a run of unknown length would leave
/// short pixels (C = 32, 64) to LLVM's scalar remainder loop.
macro_rules! by_lanes {
    ($c:expr, $l:ident, $w:ident, $body:block) => {{
        let c: usize = $c;
        let mut $l = 0usize;
        while $l + 32 <= c {
            const $w: usize = 32;
            $body;
            $l += $w;
        }
        while $l + 8 <= c {
            const $w: usize = 8;
            $body;
            $l += $w;
        }
        while $l < c {
            const $w: usize = 1;
            $body;
            $l += $w;
        }
    }};
}

/// Channels `l .. l + W` of the pixel at position `p`, as a fixed-width array.
#[inline(always)]
fn run<const W: usize>(x: &[f32], p: usize, c: usize, l: usize) -> &[f32; W] {
    x[p * c + l..p * c + l + W].try_into().unwrap()
}

/// Mutable [`run`].
#[inline(always)]
fn run_mut<const W: usize>(x: &mut [f32], p: usize, c: usize, l: usize) -> &mut [f32; W] {
    (&mut x[p * c + l..p * c + l + W]).try_into().unwrap()
}

/// Calls `f(r)` with the spatial positions `r` of each row of the window, rows in
/// (depth, row) order.
#[inline(always)]
pub(super) fn rows(s: Span, mut f: impl FnMut(std::ops::Range<usize>)) {
    for iz in s.z0..s.z1 {
        for iy in s.y0..s.y1 {
            let r = (iz * s.h + iy) * s.w;
            f(r + s.x0..r + s.x1);
        }
    }
}

/// Calls `f(p)` for every spatial position `p` of the window in (depth, row, column)
/// order.
#[inline(always)]
pub(super) fn positions(s: Span, mut f: impl FnMut(usize)) {
    for iz in s.z0..s.z1 {
        for iy in s.y0..s.y1 {
            let r = (iz * s.h + iy) * s.w;
            for ix in s.x0..s.x1 {
                f(r + ix);
            }
        }
    }
}

/// Max over the window of channels `c0 .. c0 + best.len()` (of `c`), into `best` and
/// `at`. The first position is taken, then strictly greater values replace it.
#[inline(always)]
fn max_block(x: &[f32], s: Span, c: usize, c0: usize, best: &mut [f32], at: &mut [i32]) {
    let k = best.len();
    let p0 = s.first();
    best.copy_from_slice(&x[p0 * c + c0..p0 * c + c0 + k]);
    at.fill(p0 as i32);
    positions(s, |p| {
        if p == p0 {
            return;
        }
        let v = &x[p * c + c0..p * c + c0 + k];
        let pv = p as i32;
        for ((b, a), &v) in best.iter_mut().zip(at.iter_mut()).zip(v) {
            let m = v > *b;
            *b = if m { v } else { *b };
            *a = if m { pv } else { *a };
        }
    });
}

/// Max over one output pixel's window, all `c` channels (`y`, `arg`: `c` long).
/// An empty window (only padding) gives 0 and no winner (-1).
#[inline(always)]
fn max_pixel(x: &[f32], s: Span, c: usize, y: &mut [f32], arg: &mut [i32]) {
    if s.count() == 0 {
        y.fill(0.0);
        arg.fill(-1);
        return;
    }
    let mut c0 = 0;
    while c0 + BLOCK <= c {
        let (mut best, mut at) = ([0f32; BLOCK], [0i32; BLOCK]);
        max_block(x, s, c, c0, &mut best, &mut at);
        y[c0..c0 + BLOCK].copy_from_slice(&best);
        arg[c0..c0 + BLOCK].copy_from_slice(&at);
        c0 += BLOCK;
    }
    if c0 < c {
        max_block(x, s, c, c0, &mut y[c0..c], &mut arg[c0..c]);
    }
}

/// [`max_pixel`] of a whole 2x2 window at positions `q`: one pass over the channels,
/// the candidates compared in position order as there.
#[inline(always)]
fn max_quad(x: &[f32], q: [usize; 4], c: usize, y: &mut [f32], arg: &mut [i32]) {
    let [a0, a1, a2, a3] = [q[0] as i32, q[1] as i32, q[2] as i32, q[3] as i32];
    by_lanes!(c, l, W, {
        let (r0, r1) = (run::<W>(x, q[0], c, l), run::<W>(x, q[1], c, l));
        let (r2, r3) = (run::<W>(x, q[2], c, l), run::<W>(x, q[3], c, l));
        let yo = run_mut::<W>(y, 0, c, l);
        let ao: &mut [i32; W] = (&mut arg[l..l + W]).try_into().unwrap();
        // each lane straight through (values, not a best-so-far array in memory: its
        // masked updates would defeat store forwarding)
        for i in 0..W {
            let (mut b, mut a) = (r0[i], a0);
            let m = r1[i] > b;
            (b, a) = if m { (r1[i], a1) } else { (b, a) };
            let m = r2[i] > b;
            (b, a) = if m { (r2[i], a2) } else { (b, a) };
            let m = r3[i] > b;
            (b, a) = if m { (r3[i], a3) } else { (b, a) };
            yo[i] = b;
            ao[i] = a;
        }
    });
}

simd_fn! {
    /// [`max_pixel`] along one output row (`y`, `arg`: `ow·c` long).
    fn max_row(x: &[f32], win: Row, c: usize, y: &mut [f32], arg: &mut [i32]) {
        for (ox, (y, a)) in y.chunks_exact_mut(c).zip(arg.chunks_exact_mut(c)).enumerate() {
            let s = win.at(ox);
            match s.quad() {
                Some(q) => max_quad(x, q, c, y, a),
                None => max_pixel(x, s, c, y, a),
            }
        }
    }
}

/// Window average of channels `c0 .. c0 + sum.len()`: row sums (`row`, same length)
/// added in row order, divided by the count.
#[inline(always)]
fn avg_block(x: &[f32], s: Span, c: usize, c0: usize, sum: &mut [f32], row: &mut [f32]) {
    let k = sum.len();
    sum.fill(0.0);
    for iz in s.z0..s.z1 {
        for iy in s.y0..s.y1 {
            let r = (iz * s.h + iy) * s.w;
            row.fill(0.0);
            for ix in s.x0..s.x1 {
                let p = (r + ix) * c + c0;
                for (a, &v) in row.iter_mut().zip(&x[p..p + k]) {
                    *a += v;
                }
            }
            for (t, &a) in sum.iter_mut().zip(row.iter()) {
                *t += a;
            }
        }
    }
    let cnt = s.count();
    for t in sum.iter_mut() {
        *t = if cnt == 0 { 0.0 } else { *t / cnt as f32 };
    }
}

simd_fn! {
    /// Window averages along one output row, all `c` channels (`y`: `ow·c` long).
    fn avg_row(x: &[f32], win: Row, c: usize, y: &mut [f32]) {
        for (ox, y) in y.chunks_exact_mut(c).enumerate() {
            let s = win.at(ox);
            if let Some(q) = s.quad() {
                by_lanes!(c, l, W, {
                    let (r0, r1) = (run::<W>(x, q[0], c, l), run::<W>(x, q[1], c, l));
                    let (r2, r3) = (run::<W>(x, q[2], c, l), run::<W>(x, q[3], c, l));
                    let y = run_mut::<W>(y, 0, c, l);
                    for i in 0..W {
                        // as avg_block adds: rows summed from 0, the row sums added to 0
                        y[i] = ((0.0 + (r0[i] + r1[i])) + (r2[i] + r3[i])) / 4.0;
                    }
                });
                continue;
            }
            let mut c0 = 0;
            while c0 + BLOCK <= c {
                let (mut sum, mut row) = ([0f32; BLOCK], [0f32; BLOCK]);
                avg_block(x, s, c, c0, &mut sum, &mut row);
                y[c0..c0 + BLOCK].copy_from_slice(&sum);
                c0 += BLOCK;
            }
            if c0 < c {
                let mut row = [0f32; BLOCK];
                let k = c - c0;
                avg_block(x, s, c, c0, &mut y[c0..c], &mut row[..k]);
            }
        }
    }
}

simd_fn! {
    /// Backward of [`max_row`]: at each position of each window, adds the gradients of
    /// the channels it won (`gy`, `arg`: the row's, `ow·c` long) to `gx` (the sample's
    /// input gradient).
    fn unmax_row(gy: &[f32], arg: &[i32], win: Row, c: usize, gx: &mut [f32]) {
        for (ox, (gy, arg)) in gy.chunks_exact(c).zip(arg.chunks_exact(c)).enumerate() {
            let s = win.at(ox);
            if let Some(q) = s.quad() {
                let a = [q[0] as i32, q[1] as i32, q[2] as i32, q[3] as i32];
                by_lanes!(c, l, W, {
                    let g = run::<W>(gy, 0, c, l);
                    let at: &[i32; W] = arg[l..l + W].try_into().unwrap();
                    for k in 0..4 {
                        let d = run_mut::<W>(gx, q[k], c, l);
                        for i in 0..W {
                            // a select, not `+= 0.0` elsewhere: a -0.0 keeps its sign
                            d[i] = if at[i] == a[k] { d[i] + g[i] } else { d[i] };
                        }
                    }
                });
                continue;
            }
            positions(s, |p| {
                let pv = p as i32;
                by_lanes!(c, l, W, {
                    let g = run::<W>(gy, 0, c, l);
                    let at: &[i32; W] = arg[l..l + W].try_into().unwrap();
                    let d = run_mut::<W>(gx, p, c, l);
                    for i in 0..W {
                        // a select, not `+= 0.0` elsewhere: a -0.0 keeps its sign
                        d[i] = if at[i] == pv { d[i] + g[i] } else { d[i] };
                    }
                });
            });
        }
    }
}

simd_fn! {
    /// Backward of [`avg_row`]: spreads each `gy / count` over its window.
    fn unavg_row(gy: &[f32], win: Row, c: usize, gx: &mut [f32]) {
        for (ox, gy) in gy.chunks_exact(c).enumerate() {
            let s = win.at(ox);
            if let Some(q) = s.quad() {
                by_lanes!(c, l, W, {
                    let g = run::<W>(gy, 0, c, l);
                    let v: [f32; W] = std::array::from_fn(|i| g[i] / 4.0);
                    for &p in &q {
                        let d = run_mut::<W>(gx, p, c, l);
                        for i in 0..W {
                            d[i] += v[i];
                        }
                    }
                });
                continue;
            }
            let cnt = s.count();
            if cnt == 0 {
                continue;
            }
            by_lanes!(c, l, W, {
                let g = run::<W>(gy, 0, c, l);
                let v: [f32; W] = std::array::from_fn(|i| g[i] / cnt as f32);
                positions(s, |p| {
                    let d = run_mut::<W>(gx, p, c, l);
                    for i in 0..W {
                        d[i] += v[i];
                    }
                });
            });
        }
    }
}
