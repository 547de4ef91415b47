//! 2-D pooling: `maxpool2d` and `avgpool2d`, on channels-first (N, C, H, W) or
//! channels-last (N, H, W, C) feature maps.
//!
//! Attributes: `pool` (Ints 2), `strides` (Ints 2, default = pool), `pads` (Ints 4: top,
//! bottom, left, right, default 0), `layout` (Str, `"nchw"` by default, or `"nhwc"`).
//! Padded positions never win a max and are not counted in an average (Keras 1's
//! 'same' pooling on both backends: TensorFlow's SAME and Theano's `average_exc_pad`).
//!
//! `"nhwc"` runs the channels-last kernels of `pool_cl.rs` (vectorised over the
//! channels of a pixel; Keras 1's 'tf' ordering needs no permutes); their results equal
//! this file's on transposed data bit for bit, winners included. The rest of this
//! file is the channels-first kernel.
//!
//! The max forward stores, per output, the winning position within its plane in the
//! node's integer scratch; the backward scatters through it. The common 2x2, stride-2,
//! unpadded max pooling runs 16 windows per AVX-512 step. Blocks of planes are
//! processed in parallel when the work is large enough.

use std::sync::Arc;

use super::conv::{pads4, strides2};
use super::pool_cl;
use super::{expect_float, expect_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::pool::{parallel_for, participants, Disjoint};
use crate::kernels::window::out_len;
use crate::tensor::{fmt_shape, Value};
use crate::{Error, Result};

/// Max or average pooling over 2-D windows.
#[derive(Debug)]
pub struct Pool2d {
    max: bool,
    pool: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    /// Channels last (N, H, W, C) instead of first.
    nhwc: bool,
}

/// Window reads below this many per call run on the calling thread.
const PARALLEL_MIN_READS: usize = 1 << 17;

#[derive(Debug, Clone, Copy)]
struct Geo {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Pool2d {
    fn name_(&self) -> &'static str {
        if self.max {
            "maxpool2d"
        } else {
            "avgpool2d"
        }
    }

    /// (height, width) axes of the input.
    fn hw_axes(&self) -> (usize, usize) {
        if self.nhwc {
            (1, 2)
        } else {
            (2, 3)
        }
    }

    /// The channels-last window (depth 1) and shape of a call on `s` (N, H, W, C).
    fn cl_geo(&self, s: &[usize]) -> Result<(pool_cl::Window, pool_cl::Geo)> {
        // validated (and output sizes computed) as the channels-first geometry
        let g = self.geo(s)?;
        let [t, b, l, r] = self.pads;
        Ok((
            pool_cl::Window {
                pool: [1, self.pool[0], self.pool[1]],
                strides: [1, self.strides[0], self.strides[1]],
                pads: [0, 0, t, b, l, r],
            },
            pool_cl::Geo {
                n: s[0],
                sp: [1, g.h, g.w],
                op: [1, g.oh, g.ow],
                c: s[3],
            },
        ))
    }

    fn geo(&self, s: &[usize]) -> Result<Geo> {
        let (ah, aw) = self.hw_axes();
        let oh = out_len(
            s[ah],
            self.pads[0] + self.pads[1],
            self.pool[0],
            self.strides[0],
            1,
        );
        let ow = out_len(
            s[aw],
            self.pads[2] + self.pads[3],
            self.pool[1],
            self.strides[1],
            1,
        );
        match (oh, ow) {
            (Some(oh), Some(ow)) => Ok(Geo {
                planes: s[0] * s[if self.nhwc { 3 } else { 1 }],
                h: s[ah],
                w: s[aw],
                oh,
                ow,
            }),
            _ => Err(Error::Shape(format!(
                "{}: pool {:?} does not fit input {}",
                self.name_(),
                self.pool,
                crate::tensor::fmt_dims(s)
            ))),
        }
    }

    /// Clipped input window [y0, y1) x [x0, x1) of output (oy, ox).
    #[inline]
    fn window(&self, g: &Geo, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let ys = (oy * self.strides[0]) as isize - self.pads[0] as isize;
        let xs = (ox * self.strides[1]) as isize - self.pads[2] as isize;
        let y0 = ys.max(0) as usize;
        let x0 = xs.max(0) as usize;
        let y1 = ((ys + self.pool[0] as isize).max(0) as usize).min(g.h);
        let x1 = ((xs + self.pool[1] as isize).max(0) as usize).min(g.w);
        (y0, y1, x0, x1)
    }

    /// Whether this is the common 2x2, stride-2, unpadded max pooling, which has its
    /// own kernels ([`max2x2_row`], [`unmax2x2_row`]).
    fn is_max2x2(&self) -> bool {
        self.max && self.pool == [2, 2] && self.strides == [2, 2] && self.pads == [0; 4]
    }

    /// Max over 2x2 windows with stride 2 and no padding, row by row.
    fn max2x2(g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        for oy in 0..g.oh {
            let r0 = 2 * oy * g.w;
            max2x2_row(
                &x[r0..r0 + 2 * g.ow],
                &x[r0 + g.w..r0 + g.w + 2 * g.ow],
                r0,
                g.w,
                &mut y[oy * g.ow..(oy + 1) * g.ow],
                &mut arg[oy * g.ow..(oy + 1) * g.ow],
            );
        }
    }

    fn plane_fwd(&self, g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        if self.is_max2x2() {
            Self::max2x2(g, x, y, arg);
        } else {
            self.windows_fwd(g, x, y, arg);
        }
    }

    /// Any window, padding and stride, one output at a time.
    fn windows_fwd(&self, g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let (y0, y1, x0, x1) = self.window(g, oy, ox);
                let o = oy * g.ow + ox;
                if self.max {
                    let mut best = f32::NEG_INFINITY;
                    let mut at = -1i32;
                    for iy in y0..y1 {
                        for ix in x0..x1 {
                            let v = x[iy * g.w + ix];
                            if v > best || at < 0 {
                                best = v;
                                at = (iy * g.w + ix) as i32;
                            }
                        }
                    }
                    y[o] = if at < 0 { 0.0 } else { best };
                    arg[o] = at;
                } else {
                    let mut s = 0.0f32;
                    for iy in y0..y1 {
                        s += x[iy * g.w + x0..iy * g.w + x1].iter().sum::<f32>();
                    }
                    let cnt = (y1.saturating_sub(y0)) * (x1.saturating_sub(x0));
                    y[o] = if cnt == 0 { 0.0 } else { s / cnt as f32 };
                }
            }
        }
    }

    fn plane_bwd(&self, g: &Geo, gy: &[f32], gx: &mut [f32], arg: &[i32]) {
        if self.is_max2x2() {
            for oy in 0..g.oh {
                let r0 = 2 * oy * g.w;
                let (top, bot) = gx[r0..r0 + g.w + 2 * g.ow].split_at_mut(g.w);
                unmax2x2_row(
                    &gy[oy * g.ow..(oy + 1) * g.ow],
                    &arg[oy * g.ow..(oy + 1) * g.ow],
                    r0,
                    g.w,
                    &mut top[..2 * g.ow],
                    &mut bot[..2 * g.ow],
                );
            }
        } else {
            self.windows_bwd(g, gy, gx, arg);
        }
    }

    /// Backward of [`Pool2d::windows_fwd`].
    fn windows_bwd(&self, g: &Geo, gy: &[f32], gx: &mut [f32], arg: &[i32]) {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let o = oy * g.ow + ox;
                if self.max {
                    if arg[o] >= 0 {
                        gx[arg[o] as usize] += gy[o];
                    }
                } else {
                    let (y0, y1, x0, x1) = self.window(g, oy, ox);
                    let cnt = (y1.saturating_sub(y0)) * (x1.saturating_sub(x0));
                    if cnt == 0 {
                        continue;
                    }
                    let v = gy[o] / cnt as f32;
                    for iy in y0..y1 {
                        for d in &mut gx[iy * g.w + x0..iy * g.w + x1] {
                            *d += v;
                        }
                    }
                }
            }
        }
    }

    /// (plane blocks, threads) when a call is large enough to split, claimed a block
    /// at a time ([`parallel_for`]: the caller works too, and a thread the host slows
    /// down takes fewer blocks).
    fn parallel(&self, g: &Geo) -> Option<(usize, usize)> {
        let threads = crate::kernels::pool::threads();
        let big = g.planes * g.oh * g.ow * self.pool[0] * self.pool[1] >= PARALLEL_MIN_READS;
        let threads = participants(g.planes, threads);
        (big && threads > 1).then(|| (g.planes.min(4 * threads), threads))
    }
}

impl Op for Pool2d {
    fn name(&self) -> &str {
        self.name_()
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(self.name_(), inputs, 1)?;
        expect_float(self.name_(), &inputs[0])?;
        let x = &inputs[0].shape;
        if x.len() != 4 {
            return Err(Error::Shape(format!(
                "{}: expects a 4-D input {}, got {}",
                self.name_(),
                if self.nhwc {
                    "(N, H, W, C)"
                } else {
                    "(N, C, H, W)"
                },
                fmt_shape(x)
            )));
        }
        let (ah, aw) = self.hw_axes();
        let side = |len: Option<usize>, pad: usize, k: usize, s: usize| -> Result<Option<usize>> {
            match len {
                Some(l) => out_len(l, pad, k, s, 1).map(Some).ok_or_else(|| {
                    Error::Shape(format!(
                        "{}: pool size {:?} is larger than the (padded) input {}",
                        self.name_(),
                        self.pool,
                        fmt_shape(x)
                    ))
                }),
                None => Ok(None),
            }
        };
        let oh = side(
            x[ah],
            self.pads[0] + self.pads[1],
            self.pool[0],
            self.strides[0],
        )?;
        let ow = side(
            x[aw],
            self.pads[2] + self.pads[3],
            self.pool[1],
            self.strides[1],
        )?;
        Ok(TypeInfo::f32(if self.nhwc {
            vec![x[0], oh, ow, x[3]]
        } else {
            vec![x[0], x[1], oh, ow]
        }))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        if self.nhwc {
            let (win, g) = self.cl_geo(&x.shape)?;
            let arg_len = if self.max { g.n * g.out_len() } else { 0 };
            grow(&mut ctx.scratch.i, arg_len, self.name())?;
            win.forward(
                self.max,
                &g,
                &x.f,
                &mut out.f,
                &mut ctx.scratch.i[..arg_len],
            );
            return Ok(());
        }
        let g = self.geo(&x.shape)?;
        let (ps, os) = (g.h * g.w, g.oh * g.ow);
        if g.planes == 0 || os == 0 || ps == 0 {
            return Ok(());
        }
        let arg_len = if self.max { g.planes * os } else { g.planes };
        grow(&mut ctx.scratch.i, arg_len, self.name())?;
        let arg_step = if self.max { os } else { 1 };
        let args = &mut ctx.scratch.i[..arg_len];
        if let Some((blocks, threads)) = self.parallel(&g) {
            let (ys, avs) = (Disjoint::new(&mut out.f), Disjoint::new(args));
            parallel_for(blocks, threads, &|b, _| {
                for p in b * g.planes / blocks..(b + 1) * g.planes / blocks {
                    // SAFETY: plane p's output and winners belong to this block alone.
                    let (y, a) = unsafe { (ys.part(p * os, os), avs.part(p * arg_step, arg_step)) };
                    self.plane_fwd(&g, &x.f[p * ps..(p + 1) * ps], y, a);
                }
            });
        } else {
            for ((y, a), xp) in out
                .f
                .chunks_mut(os)
                .zip(args.chunks_mut(arg_step))
                .zip(x.f.chunks(ps))
            {
                self.plane_fwd(&g, xp, y, a);
            }
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
        if self.nhwc {
            let (win, g) = self.cl_geo(&inputs[0].shape)?;
            let arg_len = if self.max { g.n * g.out_len() } else { 0 };
            if ctx.scratch.i.len() < arg_len {
                return Err(Error::Value(format!(
                    "{}: backward called before forward",
                    self.name_()
                )));
            }
            win.backward(self.max, &g, gout, gin, &ctx.scratch.i[..arg_len]);
            return Ok(());
        }
        let g = self.geo(&inputs[0].shape)?;
        let (ps, os) = (g.h * g.w, g.oh * g.ow);
        if g.planes == 0 || os == 0 || ps == 0 {
            return Ok(());
        }
        let arg_step = if self.max { os } else { 1 };
        let arg_len = g.planes * arg_step;
        if ctx.scratch.i.len() < arg_len {
            return Err(Error::Value(format!(
                "{}: backward called before forward",
                self.name_()
            )));
        }
        let args = &ctx.scratch.i[..arg_len];
        if let Some((blocks, threads)) = self.parallel(&g) {
            let gxs = Disjoint::new(gin);
            parallel_for(blocks, threads, &|b, _| {
                for p in b * g.planes / blocks..(b + 1) * g.planes / blocks {
                    // SAFETY: plane p's gradient belongs to this block alone.
                    let gx = unsafe { gxs.part(p * ps, ps) };
                    let a = &args[p * arg_step..(p + 1) * arg_step];
                    self.plane_bwd(&g, &gout[p * os..(p + 1) * os], gx, a);
                }
            });
        } else {
            for ((gx, gy), a) in gin
                .chunks_mut(ps)
                .zip(gout.chunks(os))
                .zip(args.chunks(arg_step))
            {
                self.plane_bwd(&g, gy, gx, a);
            }
        }
        Ok(())
    }
}

/// One output row of a 2x2, stride-2 max: `top` and `bot` are the two input rows
/// (`2·ow` floats each, `bot` starting `w` after `top`, which starts at `r0` in its
/// plane). Ties and NaN keep the earlier candidate in the order top-left, top-right,
/// bottom-left, bottom-right (strict, ordered comparisons), as the general loop does.
/// AVX-512 does 16 windows per step without a branch: on real activations the scalar
/// comparisons are coin flips for the branch predictor.
fn max2x2_row(top: &[f32], bot: &[f32], r0: usize, w: usize, y: &mut [f32], arg: &mut [i32]) {
    let ow = y.len();
    assert!(top.len() >= 2 * ow && bot.len() >= 2 * ow && arg.len() >= ow);
    #[cfg(target_arch = "x86_64")]
    if vector_rows(r0, w, ow) {
        // SAFETY: the CPU has AVX-512F; the slices hold what the kernel reads and writes
        // (asserted above); indices fit i32.
        return unsafe { x86::max2x2_row(top, bot, r0, w, y, arg) };
    }
    max2x2_row_scalar(top, bot, r0, w, y, arg)
}

/// Whether the AVX-512 rows run: the CPU has it and the rows' plane indices fit i32.
#[cfg(target_arch = "x86_64")]
fn vector_rows(r0: usize, w: usize, ow: usize) -> bool {
    crate::kernels::runs::avx512() && r0 + w + 2 * ow < i32::MAX as usize
}

fn max2x2_row_scalar(
    top: &[f32],
    bot: &[f32],
    r0: usize,
    w: usize,
    y: &mut [f32],
    arg: &mut [i32],
) {
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

/// Backward of [`max2x2_row`]: adds each output's gradient to the input its window
/// picked (`arg`), on the two input rows `top` and `bot` (`2·ow` floats each).
fn unmax2x2_row(gy: &[f32], arg: &[i32], r0: usize, w: usize, top: &mut [f32], bot: &mut [f32]) {
    let ow = gy.len();
    assert!(top.len() >= 2 * ow && bot.len() >= 2 * ow && arg.len() >= ow);
    #[cfg(target_arch = "x86_64")]
    if vector_rows(r0, w, ow) {
        // SAFETY: as in max2x2_row.
        return unsafe { x86::unmax2x2_row(gy, arg, r0, w, top, bot) };
    }
    unmax2x2_row_scalar(gy, arg, r0, w, top, bot)
}

fn unmax2x2_row_scalar(
    gy: &[f32],
    arg: &[i32],
    r0: usize,
    w: usize,
    top: &mut [f32],
    bot: &mut [f32],
) {
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

    /// # Safety
    /// AVX-512F; as [`super::max2x2_row`] (lengths checked there, indices fit i32).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn max2x2_row(
        top: &[f32],
        bot: &[f32],
        r0: usize,
        w: usize,
        y: &mut [f32],
        arg: &mut [i32],
    ) {
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

    /// # Safety
    /// AVX-512F; as [`super::unmax2x2_row`] (lengths checked there, indices fit i32).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn unmax2x2_row(
        gy: &[f32],
        arg: &[i32],
        r0: usize,
        w: usize,
        top: &mut [f32],
        bot: &mut [f32],
    ) {
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

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let max = match name {
        "maxpool2d" => true,
        "avgpool2d" => false,
        _ => return None,
    };
    Some((|| {
        let pool = strides2(a, "pool", [2, 2])?;
        let nhwc = match a.str_opt("layout")?.as_deref() {
            None | Some("nchw") => false,
            Some("nhwc") => true,
            Some(s) => {
                return Err(Error::Value(format!(
                    "{name}: layout must be 'nchw' or 'nhwc', got '{s}'"
                )))
            }
        };
        Ok(Arc::new(Pool2d {
            max,
            pool,
            strides: strides2(a, "strides", pool)?,
            pads: pads4(a)?,
            nhwc,
        }) as OpRef)
    })())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::{Attr, OpCtx, OpRef, Scratch};
    use crate::tensor::Value;

    fn naive(
        x: &[f32],
        s: [usize; 4],
        pool: [usize; 2],
        st: [usize; 2],
        pd: [usize; 4],
        max: bool,
    ) -> (Vec<f32>, Vec<usize>) {
        let [n, c, h, w] = s;
        let oh = (h + pd[0] + pd[1] - pool[0]) / st[0] + 1;
        let ow = (w + pd[2] + pd[3] - pool[1]) / st[1] + 1;
        let mut y = vec![];
        for p in 0..n * c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut vals = vec![];
                    for i in 0..pool[0] {
                        for j in 0..pool[1] {
                            let iy = (oy * st[0] + i) as isize - pd[0] as isize;
                            let ix = (ox * st[1] + j) as isize - pd[2] as isize;
                            if iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize {
                                vals.push(x[p * h * w + iy as usize * w + ix as usize]);
                            }
                        }
                    }
                    y.push(if max {
                        vals.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
                    } else {
                        vals.iter().sum::<f32>() / vals.len() as f32
                    });
                }
            }
        }
        (y, vec![n, c, oh, ow])
    }

    fn case(s: [usize; 4], pool: [usize; 2], st: [usize; 2], pd: [usize; 4], seed: u64) {
        // Distinct values keep the max away from ties (finite differences need that).
        let mut x = rand(&s, seed, -1.0, 1.0);
        for (i, v) in x.f.iter_mut().enumerate() {
            *v += i as f32 * 0.037;
        }
        let mut xp = x.clone();
        let len = xp.f.len();
        for (i, v) in xp.f.iter_mut().enumerate() {
            *v = x.f[(i * 7919) % len];
        }
        for max in [true, false] {
            let name = if max { "maxpool2d" } else { "avgpool2d" };
            let o = op(
                name,
                &[
                    ("pool", Attr::Ints(pool.iter().map(|&v| v as i64).collect())),
                    (
                        "strides",
                        Attr::Ints(st.iter().map(|&v| v as i64).collect()),
                    ),
                    ("pads", Attr::Ints(pd.iter().map(|&v| v as i64).collect())),
                ],
            );
            let (want, ys) = naive(&xp.f, s, pool, st, pd, max);
            let y = forward(&o, std::slice::from_ref(&xp));
            assert_eq!(y.shape, ys);
            assert_close(&y.f, &want, 1e-5);
            grad_check(&o, std::slice::from_ref(&xp), 1e-3, 1e-2)
                .unwrap_or_else(|e| panic!("{name} {s:?} {pool:?} {st:?} {pd:?}: {e}"));
        }
    }

    #[test]
    fn pool_valid_and_odd_sizes() {
        case([2, 3, 4, 4], [2, 2], [2, 2], [0; 4], 1);
        case([1, 2, 5, 7], [2, 2], [2, 2], [0; 4], 2);
        case([1, 2, 5, 7], [3, 2], [1, 2], [0; 4], 3);
    }

    #[test]
    fn pool_same_padding_excludes_pads() {
        case([2, 2, 5, 7], [2, 2], [2, 2], [0, 1, 0, 1], 4);
        case([1, 1, 5, 5], [3, 3], [1, 1], [1, 1, 1, 1], 5);
    }

    #[test]
    fn pool_parallel_path_matches_reference() {
        let s = [8, 16, 32, 32];
        let x = rand(&s, 6, -1.0, 1.0);
        for max in [true, false] {
            let name = if max { "maxpool2d" } else { "avgpool2d" };
            let o = op(name, &[("pool", Attr::Ints(vec![2, 2]))]);
            let (want, _) = naive(&x.f, s, [2, 2], [2, 2], [0; 4], max);
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
                planes: 1,
                h,
                w,
                oh: h / 2,
                ow: w / 2,
            };
            let x = rand(&[h * w], (h * w) as u64, -2.0, 2.0);
            // few distinct values: ties everywhere; a NaN every 11th input
            let x: Vec<f32> =
                x.f.iter()
                    .enumerate()
                    .map(|(i, &v)| if i % 11 == 5 { f32::NAN } else { v.round() })
                    .collect();
            let p = super::Pool2d {
                max: true,
                pool: [2, 2],
                strides: [2, 2],
                pads: [0; 4],
                nhwc: false,
            };
            let os = g.oh * g.ow;
            let (mut y, mut arg) = (vec![0.0; os], vec![0; os]);
            let (mut y2, mut arg2) = (vec![0.0; os], vec![0; os]);
            super::Pool2d::max2x2(&g, &x, &mut y, &mut arg);
            p.windows_fwd(&g, &x, &mut y2, &mut arg2);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&y2), "{h}x{w} values");
            assert_eq!(arg, arg2, "{h}x{w} winners");
            let gy = rand(&[os], 3, -1.0, 1.0).f;
            let base = rand(&[h * w], 4, -1.0, 1.0).f;
            let (mut gx, mut gx2) = (base.clone(), base.clone());
            p.plane_bwd(&g, &gy, &mut gx, &arg);
            p.windows_bwd(&g, &gy, &mut gx2, &arg);
            assert_eq!(gx, gx2, "{h}x{w} gradient");
            // the portable rows too (the vector ones run above where the CPU has them)
            let (mut y3, mut arg3, mut gx3) = (vec![0.0; os], vec![0; os], base.clone());
            for oy in 0..g.oh {
                let (r0, o) = (2 * oy * w, oy * g.ow);
                super::max2x2_row_scalar(
                    &x[r0..r0 + 2 * g.ow],
                    &x[r0 + w..r0 + w + 2 * g.ow],
                    r0,
                    w,
                    &mut y3[o..o + g.ow],
                    &mut arg3[o..o + g.ow],
                );
                let (top, bot) = gx3[r0..r0 + w + 2 * g.ow].split_at_mut(w);
                super::unmax2x2_row_scalar(
                    &gy[o..o + g.ow],
                    &arg[o..o + g.ow],
                    r0,
                    w,
                    &mut top[..2 * g.ow],
                    &mut bot[..2 * g.ow],
                );
            }
            assert_eq!(bits(&y3), bits(&y2), "{h}x{w} portable values");
            assert_eq!(arg3, arg2, "{h}x{w} portable winners");
            assert_eq!(gx3, gx2, "{h}x{w} portable gradient");
        }
    }

    /// (N, C, H, W) -> (N, H, W, C).
    fn to_nhwc(v: &[f32], [_, c, h, w]: [usize; 4]) -> Vec<f32> {
        let mut out = vec![0.0; v.len()];
        for (i, &x) in v.iter().enumerate() {
            let (b, ch, y, xx) = (i / (c * h * w), i / (h * w) % c, i / w % h, i % w);
            out[((b * h + y) * w + xx) * c + ch] = x;
        }
        out
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn pool_op(max: bool, pool: [usize; 2], st: [usize; 2], pd: [usize; 4], nhwc: bool) -> OpRef {
        let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&v| v as i64).collect());
        let mut a = vec![
            ("pool", ints(&pool)),
            ("strides", ints(&st)),
            ("pads", ints(&pd)),
        ];
        if nhwc {
            a.push(("layout", Attr::Str("nhwc".into())));
        }
        op(if max { "maxpool2d" } else { "avgpool2d" }, &a)
    }

    /// Keras 1 / TensorFlow 'same' pads of one axis: (before, after).
    fn same_pads(len: usize, k: usize, s: usize) -> (usize, usize) {
        let out = len.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(len);
        (total / 2, total - total / 2)
    }

    /// The NHWC op on transposed data gives the NCHW op's outputs, winners (the same
    /// in-plane indices) and input gradients, bit for bit; `x` is (N, C, H, W).
    fn nhwc_matches_nchw(x: &Value, pool: [usize; 2], st: [usize; 2], pd: [usize; 4]) {
        let s: [usize; 4] = x.shape.clone().try_into().unwrap();
        let xt = Value::from_f32(&[s[0], s[2], s[3], s[1]], to_nhwc(&x.f, s)).unwrap();
        for max in [true, false] {
            let what = format!("max {max} {s:?} pool {pool:?} strides {st:?} pads {pd:?}");
            let (cf, cl) = (
                pool_op(max, pool, st, pd, false),
                pool_op(max, pool, st, pd, true),
            );
            let (mut sf, mut sl) = (Scratch::default(), Scratch::default());
            let yf = forward_with(&cf, std::slice::from_ref(x), &mut sf).unwrap();
            let yl = forward_with(&cl, std::slice::from_ref(&xt), &mut sl).unwrap();
            let ys: [usize; 4] = yf.shape.clone().try_into().unwrap();
            assert_eq!(yl.shape, vec![ys[0], ys[2], ys[3], ys[1]], "{what}");
            assert_eq!(bits(&yl.f), bits(&to_nhwc(&yf.f, ys)), "{what}: values");
            if max {
                let af: Vec<f32> = sf.i[..yf.len()].iter().map(|&a| a as f32).collect();
                let al: Vec<f32> = sl.i[..yl.len()].iter().map(|&a| a as f32).collect();
                assert_eq!(al, to_nhwc(&af, ys), "{what}: winners");
            }
            let gy = rand(&ys, 11, -1.0, 1.0);
            let gyt = to_nhwc(&gy.f, ys);
            // gradients accumulate into what the buffers hold
            let base = rand(&s, 12, -1.0, 1.0);
            let (mut gf, mut gl) = (base.f.clone(), to_nhwc(&base.f, s));
            cf.backward(
                0,
                &[x],
                &yf,
                &gy.f,
                &mut gf,
                &mut OpCtx { scratch: &mut sf },
            )
            .unwrap();
            cl.backward(
                0,
                &[&xt],
                &yl,
                &gyt,
                &mut gl,
                &mut OpCtx { scratch: &mut sl },
            )
            .unwrap();
            assert_eq!(bits(&gl), bits(&to_nhwc(&gf, s)), "{what}: gradient");
        }
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
                        nhwc_matches_nchw(&x, [k, k], [st, st], [pt, pb, pl, pr]);
                    }
                }
            }
        }
        // non-square windows and strides
        let x = rand(&[2, 5, 7, 9], 3, -1.0, 1.0);
        nhwc_matches_nchw(&x, [3, 2], [1, 2], [0; 4]);
        nhwc_matches_nchw(&x, [2, 3], [2, 1], [1, 0, 1, 1]);
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
            nhwc_matches_nchw(&x, [2, 2], [2, 2], [0; 4]);
            nhwc_matches_nchw(&x, [3, 3], [1, 1], [1, 1, 1, 1]);
            nhwc_matches_nchw(&x, [2, 2], [1, 1], [0, 1, 0, 1]);
        }
    }

    #[test]
    fn nhwc_parallel_path_equals_nchw() {
        // big enough to split across threads (rows forward, samples backward)
        let x = rand(&[8, 48, 32, 32], 21, -1.0, 1.0);
        nhwc_matches_nchw(&x, [2, 2], [2, 2], [0; 4]);
        nhwc_matches_nchw(&x, [3, 3], [2, 2], [0, 1, 0, 1]);
        let x = rand(&[1, 64, 40, 40], 22, -1.0, 1.0);
        nhwc_matches_nchw(&x, [2, 2], [2, 2], [0; 4]);
    }

    #[test]
    fn nhwc_gradients_match_finite_differences() {
        for (s, pool, st, pd) in [
            ([2, 4, 5, 3], [2, 2], [2, 2], [0; 4]),
            ([1, 5, 5, 35], [3, 3], [1, 1], [1, 1, 1, 1]),
            ([1, 5, 7, 2], [2, 3], [2, 1], [0, 1, 1, 1]),
        ] {
            // distinct values, shuffled (no ties for the differences to straddle)
            let x = rand(&s, 7, -1.0, 1.0);
            let len = x.len();
            let f = (0..len).map(|i| x.f[(i * 7919) % len] + ((i * 7919) % len) as f32 * 0.037);
            let x = Value::from_f32(&s, f.collect()).unwrap();
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
    }

    #[test]
    fn nhwc_shapes_and_layout_errors() {
        let t = |s: &[Option<usize>]| crate::ops::TypeInfo::f32(s.to_vec());
        let o = pool_op(true, [2, 2], [2, 2], [0; 4], true);
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
