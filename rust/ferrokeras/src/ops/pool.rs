//! Pooling: `maxpool2d` and `avgpool2d` on channels-first (N, C, H, W) or channels-last
//! (N, H, W, C) feature maps, and `maxpool3d` and `avgpool3d` (their arguments parsed in
//! `pool3d.rs`) on (N, C, D, H, W) or (N, D, H, W, C) volumes. One op, [`Pool`], serves
//! both ranks: a 2-D pooling is a 3-D one with depth 1 (size 1, stride 1, no padding).
//!
//! Attributes (2-D): `pool` (Ints 2), `strides` (Ints 2, default = pool), `pads` (Ints 4:
//! top, bottom, left, right, default 0), `layout` (Str, `"nchw"` by default, or
//! `"nhwc"`). Padded positions never win a max and are not counted in an average
//! (Keras 1's 'same' pooling on both backends: TensorFlow's SAME and Theano's
//! `average_exc_pad`).
//!
//! The channels-last layouts run the kernels of `pool_cl.rs` (vectorised over the
//! channels of a pixel; Keras 1's 'tf' ordering needs no permutes); their results equal
//! this file's on transposed data bit for bit, winners included. The rest of this file
//! is the channels-first kernel: one window loop over (depth, row, column) for any
//! window, padding and stride; the 2-D average a window row at a time over an output
//! row's inner windows (vectorised over the outputs; the edge windows through the same
//! per-window mean as the window loop); and the common 2x2, stride-2, unpadded 2-D max
//! pooling at 16 windows per AVX-512 step (the row loop inside the AVX-512 code, one
//! call per plane).
//!
//! The max forward stores, per output, the winning position within its plane (volume)
//! in the node's integer scratch; the backward scatters through it. Blocks of planes
//! are processed in parallel when the work is large enough.

use std::sync::Arc;

use super::conv::{pads4, strides2};
use super::pool_cl::{positions, rows, Geo, Span, Window};
use super::{expect_floats, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::pool::{parallel_for, participants, threads, Disjoint};
use crate::kernels::window::out_len;
use crate::tensor::{fmt_dims, fmt_shape, Value};
use crate::{Error, Result};

/// Max or average pooling over 2-D or 3-D windows.
#[derive(Debug)]
pub struct Pool {
    max: bool,
    /// Spatial axes: 2 or 3.
    rank: usize,
    /// The window over (depth, height, width): depth size 1, stride 1 and no depth pads
    /// when `rank` is 2.
    win: Window,
    /// Channels last (N, spatial..., C) instead of first.
    cl: bool,
}

/// Window reads below this many per call run on the calling thread.
const PARALLEL_MIN_READS: usize = 1 << 17;

/// The 2x2, stride-2, unpadded window, as a depth-1 3-D one.
const WINDOW_2X2: Window = Window {
    pool: [1, 2, 2],
    strides: [1, 2, 2],
    pads: [0; 6],
};

impl Pool {
    /// Pooling over `rank` (2 or 3) spatial axes with window `win` (depth 1 in 2-D).
    pub(super) fn new(max: bool, rank: usize, win: Window, cl: bool) -> Pool {
        Pool { max, rank, win, cl }
    }

    fn name_(&self) -> &'static str {
        match (self.max, self.rank) {
            (true, 2) => "maxpool2d",
            (false, 2) => "avgpool2d",
            (true, _) => "maxpool3d",
            (false, _) => "avgpool3d",
        }
    }

    /// The first window axis in use: 1 (height) in 2-D, 0 (depth) in 3-D.
    fn a0(&self) -> usize {
        3 - self.rank
    }

    /// The input axis of window axis `a`.
    fn axis(&self, a: usize) -> usize {
        a - self.a0() + if self.cl { 1 } else { 2 }
    }

    /// The pool size as the caller gave it (`rank` values), for messages.
    fn pool_size(&self) -> &[usize] {
        &self.win.pool[self.a0()..]
    }

    /// Output length along window axis `a` of an input of length `len`, if the window
    /// fits.
    fn out_side(&self, a: usize, len: usize) -> Option<usize> {
        let w = &self.win;
        out_len(
            len,
            w.pads[2 * a] + w.pads[2 * a + 1],
            w.pool[a],
            w.strides[a],
            1,
        )
    }

    /// The shape of a call on input `s`: samples, (depth, height, width) in and out
    /// (depth 1 in 2-D), channels.
    fn geo(&self, s: &[usize]) -> Result<Geo> {
        let (mut sp, mut op) = ([1; 3], [1; 3]);
        for a in self.a0()..3 {
            sp[a] = s[self.axis(a)];
            op[a] = self.out_side(a, sp[a]).ok_or_else(|| {
                Error::Shape(format!(
                    "{}: pool {:?} does not fit input {}",
                    self.name_(),
                    self.pool_size(),
                    fmt_dims(s)
                ))
            })?;
        }
        let c = s[if self.cl { self.rank + 1 } else { 1 }];
        Ok(Geo { n: s[0], sp, op, c })
    }

    /// The winners a max forward leaves in the scratch (none for an average).
    fn winners(&self, g: &Geo) -> usize {
        if self.max {
            g.n * g.out_len()
        } else {
            0
        }
    }

    /// Whether this is the common 2x2, stride-2, unpadded 2-D max pooling, which has
    /// its own kernels ([`Pool::max2x2`], [`Pool::unmax2x2`]).
    fn is_max2x2(&self) -> bool {
        self.max && self.rank == 2 && self.win == WINDOW_2X2
    }

    /// Calls `f(r0, o)` for each output row of a 2x2, stride-2, unpadded pooling of one
    /// plane: its windows' top input row starts at `r0`, its outputs are `o`.
    #[inline(always)]
    fn rows2x2(g: &Geo, mut f: impl FnMut(usize, std::ops::Range<usize>)) {
        let ([_, _, w], [_, oh, ow]) = (g.sp, g.op);
        for oy in 0..oh {
            f(2 * oy * w, oy * ow..(oy + 1) * ow);
        }
    }

    /// Max over 2x2 windows with stride 2 and no padding, row by row: the AVX-512 rows
    /// ([`x86::max2x2`]) where the CPU has them, else the portable ones.
    fn max2x2(g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        if vector_plane(g) {
            // SAFETY: the CPU has AVX-512F and the plane's indices fit i32.
            return unsafe { x86::max2x2(g, x, y, arg) };
        }
        Self::max2x2_with(g, x, y, arg, max2x2_row_scalar);
    }

    /// [`Pool::max2x2`] with the row kernel `row`, which gets rows of exactly `2·ow`
    /// floats and `ow` outputs.
    #[inline(always)]
    fn max2x2_with(
        g: &Geo,
        x: &[f32],
        y: &mut [f32],
        arg: &mut [i32],
        mut row: impl FnMut(Rows<&[f32]>, &mut [f32], &mut [i32]),
    ) {
        let w = g.sp[2];
        Self::rows2x2(g, |r0, o| {
            let n = 2 * o.len();
            let (top, bot) = (&x[r0..r0 + n], &x[r0 + w..r0 + w + n]);
            row(Rows { top, bot, r0, w }, &mut y[o.clone()], &mut arg[o]);
        });
    }

    /// Backward of [`Pool::max2x2`].
    fn unmax2x2(g: &Geo, gy: &[f32], gx: &mut [f32], arg: &[i32]) {
        #[cfg(target_arch = "x86_64")]
        if vector_plane(g) {
            // SAFETY: as in max2x2.
            return unsafe { x86::unmax2x2(g, gy, gx, arg) };
        }
        Self::unmax2x2_with(g, gy, gx, arg, unmax2x2_row_scalar);
    }

    /// [`Pool::unmax2x2`] with the row kernel `row`, which gets `ow` gradients and
    /// winners and rows of exactly `2·ow` floats.
    #[inline(always)]
    fn unmax2x2_with(
        g: &Geo,
        gy: &[f32],
        gx: &mut [f32],
        arg: &[i32],
        mut row: impl FnMut(&[f32], &[i32], Rows<&mut [f32]>),
    ) {
        let w = g.sp[2];
        Self::rows2x2(g, |r0, o| {
            let n = 2 * o.len();
            let (top, bot) = gx[r0..r0 + w + n].split_at_mut(w);
            let (top, bot) = (&mut top[..n], &mut bot[..n]);
            row(&gy[o.clone()], &arg[o], Rows { top, bot, r0, w });
        });
    }

    /// Calls `f(o, window)` for each output `o` of one plane (volume), in order, with
    /// its clipped window. Without `DEPTH` the plane is 2-D and the depth loop (one
    /// step) compiles away: walked through a depth loop known only at run time, the
    /// 1-D max pooling of `pool_cpu` ran about 40% slower.
    #[inline(always)]
    fn walk<const DEPTH: bool>(&self, g: &Geo, mut f: impl FnMut(usize, Span)) {
        let mut o = 0;
        for oz in 0..if DEPTH { g.op[0] } else { 1 } {
            for oy in 0..g.op[1] {
                let mut row = self.win.row(g, oz, oy);
                if !DEPTH {
                    (row.z0, row.z1) = (0, 1);
                }
                for ox in 0..g.op[2] {
                    f(o, row.at(ox));
                    o += 1;
                }
            }
        }
    }

    /// Any window, padding and stride over one plane (volume), one output at a time.
    fn windows_fwd<const DEPTH: bool>(&self, g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        self.walk::<DEPTH>(g, |o, s| {
            if self.max {
                let (mut best, mut at) = (f32::NEG_INFINITY, -1i32);
                positions(s, |p| {
                    let v = x[p];
                    if v > best || at < 0 {
                        best = v;
                        at = p as i32;
                    }
                });
                y[o] = if at < 0 { 0.0 } else { best };
                arg[o] = at;
            } else {
                y[o] = mean(x, s);
            }
        });
    }

    /// Backward of the average in [`Pool::windows_fwd`]: spreads each `gy / count` over
    /// its window.
    fn windows_unavg<const DEPTH: bool>(&self, g: &Geo, gy: &[f32], gx: &mut [f32]) {
        self.walk::<DEPTH>(g, |o, s| unmean(gy[o], s, gx));
    }

    /// The output columns `lo..hi` of a 2-D plane `w` wide, `ow` out, whose windows lie
    /// wholly inside it (`kx` columns from `ox·sx - pl`); the others are edges.
    #[inline(always)]
    fn inner_cols(&self, w: usize, ow: usize) -> (usize, usize) {
        let (kx, sx, pl) = (self.win.pool[2], self.win.strides[2], self.win.pads[4]);
        let lo = pl.div_ceil(sx).min(ow);
        let hi = if w + pl >= kx {
            (w + pl - kx) / sx + 1
        } else {
            0
        };
        (lo, hi.clamp(lo, ow))
    }

    /// The 2-D average over one plane, an output row at a time: its edge windows one at
    /// a time ([`mean`], as in [`Pool::windows_fwd`]), its inner ones (all `ny·kx`
    /// positions) a window row at a time, each row's sums added into the outputs, then
    /// divided: loops over the outputs, which vectorise where `kx` and `sx` are
    /// compiled in (the 2x2 and, `kx = sx = 1`, the 1-D windows). The same sums in the
    /// same order as [`mean`]'s, bit for bit. Through [`Pool::walk`], a window at a
    /// time, the channels-first averages of `pool_cpu` ran 3-11% (forward) and 7-20%
    /// (backward) slower than main's `Pool2d`; this way they take 0.2-0.5 of its time
    /// (2x2), 0.7-0.75 (3x3 'same') and 0.8-0.85 (1-D).
    fn avg2d_fwd(&self, g: &Geo, x: &[f32], y: &mut [f32]) {
        let ([_, h, w], [_, _, ow]) = (g.sp, g.op);
        let (kx, sx, pl) = (self.win.pool[2], self.win.strides[2], self.win.pads[4]);
        let (lo, hi) = self.inner_cols(w, ow);
        for (oy, y) in y.chunks_exact_mut(ow).enumerate() {
            if lo > 0 || hi < ow {
                let row = self.win.row(g, 0, oy);
                for ox in (0..lo).chain(hi..ow) {
                    y[ox] = mean(x, row.at(ox));
                }
            }
            if lo == hi {
                continue;
            }
            let (y0, y1) = self.win.span(1, oy, h);
            let y = &mut y[lo..hi];
            if y0 == y1 {
                y.fill(0.0);
                continue;
            }
            for iy in y0..y1 {
                let x = &x[iy * w + lo * sx - pl..];
                // the first window row sets the sums: a constant in each copy of the loop
                let mut sums = |first| match (kx, sx) {
                    (2, 2) => add_sums(x, y, 2, 2, first),
                    (1, 1) => add_sums(x, y, 1, 1, first),
                    _ => add_sums(x, y, kx, sx, first),
                };
                if iy == y0 {
                    sums(true);
                } else {
                    sums(false);
                }
            }
            let n = ((y1 - y0) * kx) as f32;
            y.iter_mut().for_each(|v| *v /= n);
        }
    }

    /// Backward of [`Pool::avg2d_fwd`]: each output gradient divided by its count and
    /// added over its window ([`unmean`]). The inner windows of a row go up to 64 at a
    /// time: their shares divided into a buffer (one division each, vectorised), then
    /// added a window row at a time. Each input gradient still receives its windows'
    /// shares in output order, as in [`Pool::windows_unavg`], so the sums are the same
    /// bit for bit.
    fn avg2d_bwd(&self, g: &Geo, gy: &[f32], gx: &mut [f32]) {
        let ([_, h, w], [_, _, ow]) = (g.sp, g.op);
        let (kx, sx, pl) = (self.win.pool[2], self.win.strides[2], self.win.pads[4]);
        let (lo, hi) = self.inner_cols(w, ow);
        let mut share = [0.0f32; 64];
        for (oy, gy) in gy.chunks_exact(ow).enumerate() {
            let (y0, y1) = self.win.span(1, oy, h);
            if y0 == y1 {
                continue; // a row of windows in the padding: none has a share
            }
            let edges = |gx: &mut [f32], cols: std::ops::Range<usize>| {
                let row = self.win.row(g, 0, oy);
                for ox in cols {
                    unmean(gy[ox], row.at(ox), gx);
                }
            };
            if lo > 0 {
                edges(gx, 0..lo);
            }
            let n = ((y1 - y0) * kx) as f32;
            for (c, gy) in gy[lo..hi].chunks(64).enumerate() {
                let v = &mut share[..gy.len()];
                v.iter_mut().zip(gy).for_each(|(v, &g)| *v = g / n);
                for iy in y0..y1 {
                    let gx = &mut gx[iy * w + (lo + 64 * c) * sx - pl..];
                    match (kx, sx) {
                        (2, 2) => add_shares(v, gx, 2, 2),
                        (1, 1) => add_shares(v, gx, 1, 1),
                        _ => add_shares(v, gx, kx, sx),
                    }
                }
            }
            if hi < ow {
                edges(gx, hi..ow);
            }
        }
    }

    /// (plane blocks, threads) when a call is large enough to split, claimed a block
    /// at a time ([`parallel_for`]: the caller works too, and a thread the host slows
    /// down takes fewer blocks).
    fn parallel(&self, g: &Geo) -> Option<(usize, usize)> {
        let planes = g.n * g.c;
        let reads =
            planes * g.op.iter().product::<usize>() * self.win.pool.iter().product::<usize>();
        let threads = participants(planes, threads());
        (reads >= PARALLEL_MIN_READS && threads > 1).then(|| (planes.min(4 * threads), threads))
    }

    /// (floats per input plane, per output plane, winners per plane) of a channels-first
    /// call; `None` when it is empty.
    fn sizes(&self, g: &Geo) -> Option<(usize, usize, usize)> {
        let (ps, os) = (g.sp.iter().product(), g.op.iter().product());
        let step = if self.max { os } else { 0 };
        (g.n * g.c > 0 && ps > 0 && os > 0).then_some((ps, os, step))
    }

    /// Calls `f(p)` once for each plane (volume) `p` of a channels-first call, in
    /// parallel blocks of planes when the call is large enough.
    #[inline(always)]
    fn each_plane(&self, g: &Geo, f: impl Fn(usize) + Sync) {
        let planes = g.n * g.c;
        match self.parallel(g) {
            Some((blocks, threads)) => parallel_for(blocks, threads, &|b, _| {
                (b * planes / blocks..(b + 1) * planes / blocks).for_each(&f)
            }),
            None => (0..planes).for_each(f),
        }
    }

    /// The channels-first forward: each plane (volume) of `x` into its plane of `y` and,
    /// for the max, its winners in `arg` (empty for an average). The plane kernel is
    /// chosen once per call and compiled into its own plane loop: chosen per plane (a
    /// window comparison and an indirect call in the loop), the 2x2 max forward of
    /// `pool_cpu` on its 10x10 planes ran 5% slower.
    fn planes_fwd(&self, g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        type Kernel = fn(&Pool, &Geo, &[f32], &mut [f32], &mut [i32]);
        let kernel: Kernel = if self.is_max2x2() {
            |_, g, x, y, a| Pool::max2x2(g, x, y, a)
        } else if self.rank == 2 && !self.max {
            |p, g, x, y, _| p.avg2d_fwd(g, x, y)
        } else if self.rank == 2 {
            Self::windows_fwd::<false>
        } else {
            Self::windows_fwd::<true>
        };
        self.planes_fwd_with(g, x, y, arg, kernel);
    }

    /// [`Pool::planes_fwd`] with `kernel` for each plane.
    fn planes_fwd_with(
        &self,
        g: &Geo,
        x: &[f32],
        y: &mut [f32],
        arg: &mut [i32],
        kernel: impl Fn(&Self, &Geo, &[f32], &mut [f32], &mut [i32]) + Sync,
    ) {
        let Some((ps, os, step)) = self.sizes(g) else {
            return;
        };
        let (ys, avs) = (Disjoint::new(y), Disjoint::new(arg));
        self.each_plane(g, |p| {
            // SAFETY: plane p's output and winners are its own, and each plane is
            // visited once.
            let (y, a) = unsafe { (ys.part(p * os, os), avs.part(p * step, step)) };
            kernel(self, g, &x[p * ps..(p + 1) * ps], y, a);
        });
    }

    /// Backward of [`Pool::planes_fwd`]: adds the input gradient of `gy` to `gx`.
    fn planes_bwd(&self, g: &Geo, gy: &[f32], gx: &mut [f32], arg: &[i32]) {
        type Kernel = fn(&Pool, &Geo, &[f32], &mut [f32], &[i32]);
        let kernel: Kernel = if self.is_max2x2() {
            |_, g, gy, gx, a| Pool::unmax2x2(g, gy, gx, a)
        } else if self.max {
            |_, _, gy, gx, a| {
                for (&a, &v) in a.iter().zip(gy) {
                    if a >= 0 {
                        gx[a as usize] += v;
                    }
                }
            }
        } else if self.rank == 2 {
            |pool, g, gy, gx, _| pool.avg2d_bwd(g, gy, gx)
        } else {
            |pool, g, gy, gx, _| pool.windows_unavg::<true>(g, gy, gx)
        };
        self.planes_bwd_with(g, gy, gx, arg, kernel);
    }

    /// [`Pool::planes_bwd`] with `kernel` for each plane.
    fn planes_bwd_with(
        &self,
        g: &Geo,
        gy: &[f32],
        gx: &mut [f32],
        arg: &[i32],
        kernel: impl Fn(&Self, &Geo, &[f32], &mut [f32], &[i32]) + Sync,
    ) {
        let Some((ps, os, step)) = self.sizes(g) else {
            return;
        };
        let gxs = Disjoint::new(gx);
        self.each_plane(g, |p| {
            // SAFETY: plane p's gradient is its own, and each plane is visited once.
            let gx = unsafe { gxs.part(p * ps, ps) };
            let a = &arg[p * step..(p + 1) * step];
            kernel(self, g, &gy[p * os..(p + 1) * os], gx, a);
        });
    }
}

impl Op for Pool {
    fn name(&self) -> &str {
        self.name_()
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_floats(self.name_(), inputs, 1)?;
        let x = &inputs[0].shape;
        if x.len() != self.rank + 2 {
            let layout = match (self.rank, self.cl) {
                (2, false) => "(N, C, H, W)",
                (2, true) => "(N, H, W, C)",
                (_, false) => "(N, C, D, H, W)",
                (_, true) => "(N, D, H, W, C)",
            };
            return Err(Error::Shape(format!(
                "{}: expects a {}-D input {layout}, got {}",
                self.name_(),
                self.rank + 2,
                fmt_shape(x)
            )));
        }
        let mut out = x.clone();
        for a in self.a0()..3 {
            let d = &mut out[self.axis(a)];
            if let Some(len) = *d {
                *d = Some(self.out_side(a, len).ok_or_else(|| {
                    Error::Shape(format!(
                        "{}: pool size {:?} is larger than the (padded) input {}",
                        self.name_(),
                        self.pool_size(),
                        fmt_shape(x)
                    ))
                })?);
            }
        }
        Ok(TypeInfo::f32(out))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        let g = self.geo(&x.shape)?;
        let len = self.winners(&g);
        grow(&mut ctx.scratch.i, len, self.name())?;
        let arg = &mut ctx.scratch.i[..len];
        if self.cl {
            self.win.forward(self.max, &g, &x.f, &mut out.f, arg);
        } else {
            self.planes_fwd(&g, &x.f, &mut out.f, arg);
        }
        Ok(())
    }

    fn backward(
        &self,
        _index: usize,
        inputs: &[&Value],
        _out: &Value,
        gout: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let g = self.geo(&inputs[0].shape)?;
        let arg = ctx.scratch.i.get(..self.winners(&g)).ok_or_else(|| {
            Error::Value(format!("{}: backward called before forward", self.name_()))
        })?;
        if self.cl {
            self.win.backward(self.max, &g, gout, gin, arg);
        } else {
            self.planes_bwd(&g, gout, gin, arg);
        }
        Ok(())
    }
}

/// The `layout` attribute of a pooling: false for `first` (the default), true for
/// `last`.
pub(super) fn channels_last(a: &Attrs, name: &str, first: &str, last: &str) -> Result<bool> {
    match a.str_opt("layout")?.as_deref() {
        None => Ok(false),
        Some(s) if s == first => Ok(false),
        Some(s) if s == last => Ok(true),
        Some(s) => Err(Error::Value(format!(
            "{name}: layout must be '{first}' or '{last}', got '{s}'"
        ))),
    }
}

/// The mean of `x` over window `s` (0 when it is empty): its rows' sums added in order,
/// divided by its count.
#[inline(always)]
fn mean(x: &[f32], s: Span) -> f32 {
    let mut sum = 0.0f32;
    rows(s, |r| sum += x[r].iter().sum::<f32>());
    let n = s.count();
    if n == 0 {
        0.0
    } else {
        sum / n as f32
    }
}

/// Backward of [`mean`]: adds `g / count` over window `s` of `gx`.
#[inline(always)]
fn unmean(g: f32, s: Span, gx: &mut [f32]) {
    let n = s.count();
    if n > 0 {
        let v = g / n as f32;
        rows(s, |r| gx[r].iter_mut().for_each(|d| *d += v));
    }
}

/// Adds to `y[i]` (sets, when `first`) the sum of `x[i·sx .. i·sx + kx]`, for each
/// `i` (the inner windows' sums over one window row, in [`Pool::avg2d_fwd`]).
#[inline(always)]
fn add_sums(x: &[f32], y: &mut [f32], kx: usize, sx: usize, first: bool) {
    for (i, v) in y.iter_mut().enumerate() {
        let sum = x[i * sx..i * sx + kx].iter().sum::<f32>();
        *v = if first { 0.0 } else { *v } + sum;
    }
}

/// Adds `v[i]` to `gx[i·sx .. i·sx + kx]`, for each `i` in order (one window row of
/// the inner windows, in [`Pool::avg2d_bwd`]).
#[inline(always)]
fn add_shares(v: &[f32], gx: &mut [f32], kx: usize, sx: usize) {
    for (i, &v) in v.iter().enumerate() {
        gx[i * sx..i * sx + kx].iter_mut().for_each(|d| *d += v);
    }
}

/// The two input rows of one output row of 2x2, stride-2 windows (`2·ow` floats each
/// for `ow` windows): `top` starts at `r0` in its plane, `bot` one row (`w`) below it.
struct Rows<T> {
    top: T,
    bot: T,
    r0: usize,
    w: usize,
}

/// Whether the AVX-512 2x2 rows run on plane `g`: the CPU has them and the plane's
/// indices fit i32.
#[cfg(target_arch = "x86_64")]
fn vector_plane(g: &Geo) -> bool {
    crate::kernels::runs::avx512() && g.sp[1] * g.sp[2] < i32::MAX as usize
}

/// One output row of a 2x2, stride-2 max. Ties and NaN keep the earlier candidate in
/// the order top-left, top-right, bottom-left, bottom-right (strict, ordered
/// comparisons), as the general loop does. AVX-512 ([`x86::max2x2_row`]) does 16
/// windows per step without a branch: on real activations these comparisons are coin
/// flips for the branch predictor.
fn max2x2_row_scalar(x: Rows<&[f32]>, y: &mut [f32], arg: &mut [i32]) {
    let Rows { top, bot, r0, w } = x;
    for (ox, (yv, av)) in y.iter_mut().zip(arg.iter_mut()).enumerate() {
        let c = r0 + 2 * ox;
        let (mut best, mut at) = (top[2 * ox], c);
        if top[2 * ox + 1] > best {
            best = top[2 * ox + 1];
            at = c + 1;
        }
        if bot[2 * ox] > best {
            best = bot[2 * ox];
            at = c + w;
        }
        if bot[2 * ox + 1] > best {
            best = bot[2 * ox + 1];
            at = c + w + 1;
        }
        *yv = best;
        *av = at as i32;
    }
}

/// Backward of [`max2x2_row_scalar`]: adds each output's gradient to the input its
/// window picked (`arg`).
fn unmax2x2_row_scalar(gy: &[f32], arg: &[i32], gx: Rows<&mut [f32]>) {
    let Rows { top, bot, r0, w } = gx;
    for (ox, (&g, &a)) in gy.iter().zip(arg).enumerate() {
        let c = (r0 + 2 * ox) as i32;
        let (w, i) = (w as i32, 2 * ox);
        match a - c {
            0 => top[i] += g,
            1 => top[i + 1] += g,
            d if d == w => bot[i] += g,
            d if d == w + 1 => bot[i + 1] += g,
            _ => {}
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Geo, Pool, Rows};

    /// [`super::Pool::max2x2`] on AVX-512: the row loop runs inside this function, so
    /// each row costs no call, ISA check or reload of the permutation constants (a call
    /// per row made the 2x2 max forward of `pool_cpu` on 10x10 planes, 5 windows a row,
    /// 5% slower than the 2-D-only op it replaced).
    ///
    /// # Safety
    /// AVX-512F; the plane's indices fit i32.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn max2x2(g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        // SAFETY: the caller's AVX-512F and i32 guarantees; the rows have the lengths
        // max2x2_with gives.
        Pool::max2x2_with(g, x, y, arg, |x, y, arg| unsafe { max2x2_row(x, y, arg) });
    }

    /// [`super::Pool::unmax2x2`] on AVX-512, one call per plane as [`max2x2`].
    ///
    /// # Safety
    /// AVX-512F; the plane's indices fit i32.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn unmax2x2(g: &Geo, gy: &[f32], gx: &mut [f32], arg: &[i32]) {
        // SAFETY: as in max2x2.
        Pool::unmax2x2_with(g, gy, gx, arg, |gy, arg, gx| unsafe {
            unmax2x2_row(gy, arg, gx)
        });
    }

    /// Lanes `0..n` set (n <= 16).
    fn lanes(n: usize) -> __mmask16 {
        if n >= 16 {
            0xFFFF
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// Plane index of the top-left input of 16 consecutive windows, the first at `c0`.
    #[target_feature(enable = "avx512f")]
    fn starts(c0: usize) -> __m512i {
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        _mm512_add_epi32(_mm512_set1_epi32(c0 as i32), _mm512_slli_epi32::<1>(lanes))
    }

    /// Offsets of a window's top-right, bottom-left and bottom-right inputs from its
    /// top-left one, in a plane `w` wide.
    #[target_feature(enable = "avx512f")]
    fn others(w: usize) -> [__m512i; 3] {
        [1, w as i32, w as i32 + 1].map(|v| _mm512_set1_epi32(v))
    }

    /// The AVX-512 [`super::max2x2_row_scalar`], 16 windows a step.
    ///
    /// # Safety
    /// AVX-512F; `x.top` and `x.bot` hold `2·y.len()` floats, `arg` `y.len()`; the
    /// plane's indices fit i32 (as [`max2x2`] calls it).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn max2x2_row(x: Rows<&[f32]>, y: &mut [f32], arg: &mut [i32]) {
        let Rows { top, bot, r0, w } = x;
        let ow = y.len();
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        let [one, wv, w1] = others(w);
        let mut ox = 0;
        while ox < ow {
            let n = (ow - ox).min(16);
            let (lo, hi) = (lanes(2 * n), lanes((2 * n).saturating_sub(16)));
            // SAFETY: masked-off lanes are not read; the rest lie in top/bot[..2·ow].
            let pair = |row: &[f32]| unsafe {
                let p = row.as_ptr().add(2 * ox);
                let a = _mm512_maskz_loadu_ps(lo, p);
                let b = _mm512_maskz_loadu_ps(hi, p.wrapping_add(16));
                (
                    _mm512_permutex2var_ps(a, even, b),
                    _mm512_permutex2var_ps(a, odd, b),
                )
            };
            let ((t0, t1), (b0, b1)) = (pair(top), pair(bot));
            let c = starts(r0 + 2 * ox);
            let (mut best, mut at) = (t0, c);
            for (v, off) in [(t1, one), (b0, wv), (b1, w1)] {
                let m = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
                best = _mm512_mask_mov_ps(best, m, v);
                at = _mm512_mask_add_epi32(at, m, c, off);
            }
            let k = lanes(n);
            // SAFETY: lanes below n are inside y and arg.
            unsafe {
                _mm512_mask_storeu_ps(y.as_mut_ptr().add(ox), k, best);
                _mm512_mask_storeu_epi32(arg.as_mut_ptr().add(ox), k, at);
            }
            ox += 16;
        }
    }

    /// The AVX-512 [`super::unmax2x2_row_scalar`], 16 windows a step.
    ///
    /// # Safety
    /// AVX-512F; `gx.top` and `gx.bot` hold `2·gy.len()` floats, `arg` `gy.len()`; the
    /// plane's indices fit i32 (as [`unmax2x2`] calls it).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn unmax2x2_row(gy: &[f32], arg: &[i32], gx: Rows<&mut [f32]>) {
        let Rows { top, bot, r0, w } = gx;
        let ow = gy.len();
        // interleave a and b: a0 b0 a1 b1 ... (low 8 pairs, high 8 pairs)
        let ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        let [one, wv, w1] = others(w);
        let mut ox = 0;
        while ox < ow {
            let n = (ow - ox).min(16);
            let k = lanes(n);
            // SAFETY: lanes below n are inside gy and arg.
            let (g, a) = unsafe {
                (
                    _mm512_maskz_loadu_ps(k, gy.as_ptr().add(ox)),
                    _mm512_maskz_loadu_epi32(k, arg.as_ptr().add(ox)),
                )
            };
            let c = starts(r0 + 2 * ox);
            let pick = |off: __m512i| {
                _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_add_epi32(c, off)), g)
            };
            let (t0, t1) = (pick(_mm512_setzero_si512()), pick(one));
            let (b0, b1) = (pick(wv), pick(w1));
            let (lo, hi) = (lanes(2 * n), lanes((2 * n).saturating_sub(16)));
            // SAFETY: masked-off lanes are neither read nor written; the rest lie in
            // top/bot[..2·ow].
            let add = |row: &mut [f32], x0: __m512, x1: __m512| unsafe {
                let p = row.as_mut_ptr().add(2 * ox);
                let q = p.wrapping_add(16);
                let v0 = _mm512_permutex2var_ps(x0, ilo, x1);
                let v1 = _mm512_permutex2var_ps(x0, ihi, x1);
                _mm512_mask_storeu_ps(p, lo, _mm512_add_ps(_mm512_maskz_loadu_ps(lo, p), v0));
                _mm512_mask_storeu_ps(q, hi, _mm512_add_ps(_mm512_maskz_loadu_ps(hi, q), v1));
            };
            add(top, t0, t1);
            add(bot, b0, b1);
            ox += 16;
        }
    }
}

/// Registry entry for this family (the 2-D names; `pool3d.rs` builds the 3-D ones).
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let max = match name {
        "maxpool2d" => true,
        "avgpool2d" => false,
        _ => return None,
    };
    Some((|| {
        let pool = strides2(a, "pool", [2, 2])?;
        let cl = channels_last(a, name, "nchw", "nhwc")?;
        let strides = strides2(a, "strides", pool)?;
        let [t, b, l, r] = pads4(a)?;
        let win = Window {
            pool: [1, pool[0], pool[1]],
            strides: [1, strides[0], strides[1]],
            pads: [0, 0, t, b, l, r],
        };
        Ok(Arc::new(Pool::new(max, 2, win, cl)) as OpRef)
    })())
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::testing::*;
    use crate::ops::{Attr, OpRef};
    use crate::tensor::Value;

    /// Direct reference over the spatial axes of `x` (N, C, spatial...): the max / mean
    /// of the in-bounds entries of every window, and the output shape.
    pub(in crate::ops) fn naive(
        x: &[f32],
        s: &[usize],
        pool: &[usize],
        st: &[usize],
        pd: &[usize],
        max: bool,
    ) -> (Vec<f32>, Vec<usize>) {
        let sp = &s[2..];
        let os: Vec<usize> = (0..sp.len())
            .map(|a| (sp[a] + pd[2 * a] + pd[2 * a + 1] - pool[a]) / st[a] + 1)
            .collect();
        // multi-index of a flat index over `dims`, the last axis fastest
        let unravel = |mut i: usize, dims: &[usize]| {
            let mut at = vec![0; dims.len()];
            for (a, &d) in at.iter_mut().zip(dims).rev() {
                *a = i % d;
                i /= d;
            }
            at
        };
        let vol: usize = sp.iter().product();
        let mut y = vec![];
        for p in 0..s[0] * s[1] {
            for o in 0..os.iter().product() {
                let oi = unravel(o, &os);
                let mut vals = vec![];
                for k in 0..pool.iter().product() {
                    let ki = unravel(k, pool);
                    let at = (0..sp.len()).try_fold(0, |acc, a| {
                        let i = (oi[a] * st[a] + ki[a]) as isize - pd[2 * a] as isize;
                        (i >= 0 && i < sp[a] as isize).then(|| acc * sp[a] + i as usize)
                    });
                    if let Some(at) = at {
                        vals.push(x[p * vol + at]);
                    }
                }
                y.push(if max {
                    vals.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
                } else {
                    vals.iter().sum::<f32>() / vals.len() as f32
                });
            }
        }
        let mut shape = s[..2].to_vec();
        shape.extend(os);
        (y, shape)
    }

    /// The 2-D or 3-D max (`max`) or average pooling op (by the rank of `pool`), its
    /// channels-last layout with `cl`.
    pub(in crate::ops) fn pool_op(
        max: bool,
        pool: &[usize],
        st: &[usize],
        pd: &[usize],
        cl: bool,
    ) -> OpRef {
        let mut a = vec![
            ("pool", ints(pool)),
            ("strides", ints(st)),
            ("pads", ints(pd)),
        ];
        if cl {
            let layout = if pool.len() == 2 { "nhwc" } else { "ndhwc" };
            a.push(("layout", Attr::Str(layout.into())));
        }
        let kind = if max { "max" } else { "avg" };
        op(&format!("{kind}pool{}d", pool.len()), &a)
    }

    /// An `Ints` attribute.
    pub(in crate::ops) fn ints(v: &[usize]) -> Attr {
        Attr::Ints(v.iter().map(|&v| v as i64).collect())
    }

    /// Distinct values of shape `s`, shuffled: a max stays away from ties (finite
    /// differences need that) without always being the last entry of a window.
    pub(in crate::ops) fn distinct(s: &[usize], seed: u64) -> Value {
        let x = rand(s, seed, -1.0, 1.0);
        let len = x.len();
        let f = (0..len).map(|i| x.f[(i * 7919) % len] + ((i * 7919) % len) as f32 * 0.037);
        Value::from_f32(s, f.collect()).unwrap()
    }

    /// Both channels-first poolings on [`distinct`] values of shape `s` against
    /// [`naive`], and their gradients against finite differences.
    pub(in crate::ops) fn case(s: &[usize], pool: &[usize], st: &[usize], pd: &[usize], seed: u64) {
        let xp = distinct(s, seed);
        for max in [true, false] {
            let o = pool_op(max, pool, st, pd, false);
            let (want, ys) = naive(&xp.f, s, pool, st, pd, max);
            let y = forward(&o, std::slice::from_ref(&xp));
            assert_eq!(y.shape, ys);
            assert_close(&y.f, &want, 1e-5);
            grad_check(&o, std::slice::from_ref(&xp), 1e-3, 1e-2)
                .unwrap_or_else(|e| panic!("{} {s:?} {pool:?} {st:?} {pd:?}: {e}", o.name()));
        }
    }

    /// The channels-last poolings' gradients on [`distinct`] values of (channels-last)
    /// shape `s` against finite differences.
    pub(in crate::ops) fn cl_grad_case(s: &[usize], pool: &[usize], st: &[usize], pd: &[usize]) {
        let x = distinct(s, 7);
        for max in [true, false] {
            grad_check(
                &pool_op(max, pool, st, pd, true),
                std::slice::from_ref(&x),
                1e-3,
                1e-2,
            )
            .unwrap_or_else(|e| panic!("{s:?} {pool:?} {st:?} {pd:?}: {e}"));
        }
    }

    /// The channels-last ops on transposed data give the channels-first ops' outputs,
    /// winners (the same in-plane indices) and input gradients, bit for bit; `x` is
    /// channels-first.
    pub(in crate::ops) fn cl_matches_cf(x: &Value, pool: &[usize], st: &[usize], pd: &[usize]) {
        for max in [true, false] {
            let what = format!(
                "max {max} {:?} pool {pool:?} strides {st:?} pads {pd:?}",
                x.shape
            );
            let (cf, cl) = (
                pool_op(max, pool, st, pd, false),
                pool_op(max, pool, st, pd, true),
            );
            assert_channels_last_matches(&cf, &cl, x, max, &what);
        }
    }

    #[test]
    fn pool_valid_and_odd_sizes() {
        case(&[2, 3, 4, 4], &[2, 2], &[2, 2], &[0; 4], 1);
        case(&[1, 2, 5, 7], &[2, 2], &[2, 2], &[0; 4], 2);
        case(&[1, 2, 5, 7], &[3, 2], &[1, 2], &[0; 4], 3);
    }

    #[test]
    fn pool_same_padding_excludes_pads() {
        case(&[2, 2, 5, 7], &[2, 2], &[2, 2], &[0, 1, 0, 1], 4);
        case(&[1, 1, 5, 5], &[3, 3], &[1, 1], &[1, 1, 1, 1], 5);
    }

    #[test]
    fn pool_parallel_path_matches_reference() {
        let s = [8, 16, 32, 32];
        let x = rand(&s, 6, -1.0, 1.0);
        for max in [true, false] {
            let name = if max { "maxpool2d" } else { "avgpool2d" };
            let o = op(name, &[("pool", Attr::Ints(vec![2, 2]))]);
            let (want, _) = naive(&x.f, &s, &[2, 2], &[2, 2], &[0; 4], max);
            let mut scratch = crate::ops::Scratch::default();
            let y = forward_with(&o, std::slice::from_ref(&x), &mut scratch).unwrap();
            assert_close(&y.f, &want, 1e-5);
            // backward: each output's gradient lands on its window's max (or spreads
            // over its window)
            let gy = rand(&y.shape, 7, -1.0, 1.0);
            let mut gx = vec![0.0f32; x.len()];
            let mut ctx = crate::ops::OpCtx {
                scratch: &mut scratch,
            };
            o.backward(0, &[&x], &y, &gy.f, &mut gx, &mut ctx).unwrap();
            let (h, w) = (s[2], s[3]);
            let mut want_gx = vec![0.0f32; x.len()];
            for (q, &g) in gy.f.iter().enumerate() {
                let (plane, oy, ox) = (q / (h * w / 4), (q / (w / 2)) % (h / 2), q % (w / 2));
                let at = |i: usize, j: usize| plane * h * w + (2 * oy + i) * w + 2 * ox + j;
                let cells = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                for &c in &cells {
                    want_gx[c] += if !max {
                        g / 4.0
                    } else if x.f[c] == want[q]
                        && cells.iter().all(|&d| d >= c || x.f[d] != want[q])
                    {
                        g
                    } else {
                        0.0
                    };
                }
            }
            assert_close(&gx, &want_gx, 1e-6);
        }
    }

    #[test]
    fn max2x2_rows_match_the_window_loop_with_ties_nans_and_ragged_rows() {
        for &(h, w) in &[(2, 2), (3, 15), (4, 31), (2, 32), (5, 35), (2, 67)] {
            let g = super::Geo {
                n: 1,
                sp: [1, h, w],
                op: [1, h / 2, w / 2],
                c: 1,
            };
            let (oh, ow) = (h / 2, w / 2);
            let x = rand(&[h * w], (h * w) as u64, -2.0, 2.0);
            // few distinct values: ties everywhere; a NaN every 11th input
            let x: Vec<f32> =
                x.f.iter()
                    .enumerate()
                    .map(|(i, &v)| if i % 11 == 5 { f32::NAN } else { v.round() })
                    .collect();
            let p = super::Pool::new(true, 2, super::WINDOW_2X2, false);
            let os = oh * ow;
            let (mut y, mut arg) = (vec![0.0; os], vec![0; os]);
            let (mut y2, mut arg2) = (vec![0.0; os], vec![0; os]);
            super::Pool::max2x2(&g, &x, &mut y, &mut arg);
            p.windows_fwd::<false>(&g, &x, &mut y2, &mut arg2);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&y2), "{h}x{w} values");
            assert_eq!(arg, arg2, "{h}x{w} winners");
            let gy = rand(&[os], 3, -1.0, 1.0).f;
            let base = rand(&[h * w], 4, -1.0, 1.0).f;
            let (mut gx, mut gx2) = (base.clone(), base.clone());
            super::Pool::unmax2x2(&g, &gy, &mut gx, &arg);
            // the general max backward: each gradient onto its winner
            for (&a, &v) in arg.iter().zip(&gy) {
                gx2[a as usize] += v;
            }
            assert_eq!(gx, gx2, "{h}x{w} gradient");
            // the portable rows too (the vector ones run above where the CPU has them)
            let (mut y3, mut arg3, mut gx3) = (vec![0.0; os], vec![0; os], base.clone());
            super::Pool::max2x2_with(&g, &x, &mut y3, &mut arg3, super::max2x2_row_scalar);
            super::Pool::unmax2x2_with(&g, &gy, &mut gx3, &arg, super::unmax2x2_row_scalar);
            assert_eq!(bits(&y3), bits(&y2), "{h}x{w} portable values");
            assert_eq!(arg3, arg2, "{h}x{w} portable winners");
            assert_eq!(gx3, gx2, "{h}x{w} portable gradient");
        }
    }

    #[test]
    fn avg2d_rows_match_the_window_loop_bit_for_bit() {
        // (h, w, pool, strides, pads): 2x2, 1-D, overlapping, padded (edge columns on
        // both sides), windows wider than the plane, rows past 64 inner windows
        type Case = (usize, usize, [usize; 2], [usize; 2], [usize; 4]);
        let cases: &[Case] = &[
            (4, 4, [2, 2], [2, 2], [0; 4]),
            (5, 7, [2, 2], [2, 2], [0; 4]),
            (2, 150, [2, 2], [2, 2], [0; 4]),
            (9, 1, [2, 1], [2, 1], [0; 4]),
            (7, 1, [3, 1], [1, 1], [1, 1, 0, 0]),
            (5, 5, [3, 3], [1, 1], [1, 1, 1, 1]),
            (6, 7, [3, 3], [2, 2], [0, 1, 0, 1]),
            (3, 140, [3, 3], [1, 1], [1, 1, 1, 1]),
            (4, 5, [2, 3], [1, 2], [1, 0, 2, 1]),
            (3, 2, [3, 4], [1, 3], [1, 1, 2, 2]),
            (2, 3, [1, 1], [1, 1], [0; 4]),
            (4, 9, [2, 3], [3, 4], [2, 0, 0, 2]),
        ];
        for &(h, w, pool, st, pd) in cases {
            let win = super::Window {
                pool: [1, pool[0], pool[1]],
                strides: [1, st[0], st[1]],
                pads: [0, 0, pd[0], pd[1], pd[2], pd[3]],
            };
            let op = |len: usize, a: usize| (len + pd[2 * a] + pd[2 * a + 1] - pool[a]) / st[a] + 1;
            let g = super::Geo {
                n: 1,
                sp: [1, h, w],
                op: [1, op(h, 0), op(w, 1)],
                c: 1,
            };
            let os = g.op[1] * g.op[2];
            let x = rand(&[h * w], (h * w) as u64, -2.0, 2.0);
            // a NaN every 13th input, and some -0.0 (sums that start at 0.0 keep them apart)
            let x: Vec<f32> =
                x.f.iter()
                    .enumerate()
                    .map(|(i, &v)| match i % 13 {
                        6 => f32::NAN,
                        9 => -0.0,
                        _ => v,
                    })
                    .collect();
            let p = super::Pool::new(false, 2, win, false);
            let (mut y, mut y2) = (vec![7.0; os], vec![7.0; os]);
            p.avg2d_fwd(&g, &x, &mut y);
            p.windows_fwd::<false>(&g, &x, &mut y2, &mut []);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let what = format!("{h}x{w} pool {pool:?} strides {st:?} pads {pd:?}");
            assert_eq!(bits(&y), bits(&y2), "{what} values");
            let gy = rand(&[os], 3, -1.0, 1.0).f;
            let base = rand(&[h * w], 4, -1.0, 1.0).f;
            let (mut gx, mut gx2) = (base.clone(), base);
            p.avg2d_bwd(&g, &gy, &mut gx);
            p.windows_unavg::<false>(&g, &gy, &mut gx2);
            assert_eq!(bits(&gx), bits(&gx2), "{what} gradient");
        }
    }

    /// Keras 1 / TensorFlow 'same' pads of one axis: (before, after).
    fn same_pads(len: usize, k: usize, s: usize) -> (usize, usize) {
        let out = len.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(len);
        (total / 2, total - total / 2)
    }

    #[test]
    fn nhwc_equals_nchw_on_transposed_data_for_sizes_1_to_9() {
        let mut seed = 100;
        for h in 1..=9 {
            for w in 1..=9 {
                for (k, st) in [(1, 1), (2, 2), (2, 1), (3, 2), (3, 1), (2, 3)] {
                    for same in [false, true] {
                        let (pt, pb) = if same { same_pads(h, k, st) } else { (0, 0) };
                        let (pl, pr) = if same { same_pads(w, k, st) } else { (0, 0) };
                        if !same && (k > h || k > w) {
                            continue;
                        }
                        // channel counts: single, a short tail, one block plus a tail
                        let c = [1, 3, 37][(h + w + k) % 3];
                        seed += 1;
                        let x = rand(&[2, c, h, w], seed, -1.0, 1.0);
                        cl_matches_cf(&x, &[k, k], &[st, st], &[pt, pb, pl, pr]);
                    }
                }
            }
        }
        // non-square windows and strides
        let x = rand(&[2, 5, 7, 9], 3, -1.0, 1.0);
        cl_matches_cf(&x, &[3, 2], &[1, 2], &[0; 4]);
        cl_matches_cf(&x, &[2, 3], &[2, 1], &[1, 0, 1, 1]);
    }

    #[test]
    fn nhwc_ties_and_nans_follow_nchw() {
        for (c, h, w) in [(1, 4, 4), (32, 6, 5), (70, 5, 7), (16, 2, 67)] {
            let x = rand(&[2, c, h, w], (c * h * w) as u64, -2.0, 2.0);
            // few distinct values: ties everywhere; a NaN every 11th input (first in
            // some windows, later in others)
            let f: Vec<f32> =
                x.f.iter()
                    .enumerate()
                    .map(|(i, &v)| if i % 11 == 5 { f32::NAN } else { v.round() })
                    .collect();
            let x = Value::from_f32(&x.shape, f).unwrap();
            cl_matches_cf(&x, &[2, 2], &[2, 2], &[0; 4]);
            cl_matches_cf(&x, &[3, 3], &[1, 1], &[1, 1, 1, 1]);
            cl_matches_cf(&x, &[2, 2], &[1, 1], &[0, 1, 0, 1]);
        }
    }

    #[test]
    fn nhwc_parallel_path_equals_nchw() {
        // big enough to split across threads (rows forward, samples backward)
        let x = rand(&[8, 48, 32, 32], 21, -1.0, 1.0);
        cl_matches_cf(&x, &[2, 2], &[2, 2], &[0; 4]);
        cl_matches_cf(&x, &[3, 3], &[2, 2], &[0, 1, 0, 1]);
        let x = rand(&[1, 64, 40, 40], 22, -1.0, 1.0);
        cl_matches_cf(&x, &[2, 2], &[2, 2], &[0; 4]);
    }

    #[test]
    fn nhwc_gradients_match_finite_differences() {
        for (s, pool, st, pd) in [
            ([2, 4, 5, 3], [2, 2], [2, 2], [0; 4]),
            ([1, 5, 5, 35], [3, 3], [1, 1], [1, 1, 1, 1]),
            ([1, 5, 7, 2], [2, 3], [2, 1], [0, 1, 1, 1]),
        ] {
            cl_grad_case(&s, &pool, &st, &pd);
        }
    }

    #[test]
    fn nhwc_shapes_and_layout_errors() {
        let t = |s: &[Option<usize>]| crate::ops::TypeInfo::f32(s.to_vec());
        let o = pool_op(true, &[2, 2], &[2, 2], &[0; 4], true);
        let y = o.infer(&[t(&[None, Some(6), Some(5), Some(3)])]).unwrap();
        assert_eq!(y.shape, vec![None, Some(3), Some(2), Some(3)]);
        let e = o
            .infer(&[t(&[Some(1), Some(1), Some(4), Some(4)])])
            .unwrap_err();
        assert!(e.to_string().contains("(1, 1, 4, 4)"), "{e}");
        let e = o.infer(&[t(&[Some(1), Some(4), Some(4)])]).unwrap_err();
        assert!(e.to_string().contains("(N, H, W, C)"), "{e}");
        let a = crate::ops::Attrs::new("maxpool2d").with("layout", Attr::Str("nwhc".into()));
        let e = crate::ops::build("maxpool2d", &a).unwrap_err().to_string();
        assert!(e.contains("'nchw' or 'nhwc'"), "{e}");
    }

    #[test]
    fn pool_errors() {
        let t = |s: &[usize]| crate::ops::TypeInfo::f32(crate::tensor::known(s));
        let o = op("maxpool2d", &[("pool", Attr::Ints(vec![3, 3]))]);
        let e = o.infer(&[t(&[1, 1, 2, 2])]).unwrap_err().to_string();
        assert!(e.contains("(1, 1, 2, 2)"), "{e}");
        assert!(o.infer(&[t(&[1, 2, 2])]).is_err());
    }
}
