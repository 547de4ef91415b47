//! Channels-last depthwise convolution: `depthwise_conv2d` with the attribute `layout`
//! "nhwc", x (N, H, W, C) -> y (N, OH, OW, C·M), output channel `c·M + m` channel c
//! through its kernel m (TensorFlow's order, as `depthwise.rs`). The first half of
//! Keras' 'tf' SeparableConvolution2D; the second, the pointwise 1x1 convolution, is a
//! channels-last `conv2d` (one gemm over the sample's rows).
//!
//! Direct loops, as the channels-first op (a gemm would reduce over only kh·kw taps),
//! but along the channels: one output pixel's C·M values and the input pixel's C are
//! contiguous, as are one tap's C·M weights (the taps as a (kh·kw, C·M) matrix, which
//! the 'tf' kernel (rows, cols, C, M) already is), so each (output pixel, tap) is one
//! vectorised multiply-add over the channels. Taps falling in the padding are skipped.
//! With a multiplier M > 1 the forward and the kernel gradient first repeat each input
//! channel M times (a per-worker (H·W, C·M) copy of the sample) and run as for M = 1.
//!
//! Each output value sums its taps in (ki, kj) order from zero and each input-gradient
//! value its (m, ki, kj) terms in that order, as the channels-first op does, so forward
//! and input gradient equal it bit for bit on transposed data. The kernel gradient sums
//! over positions in another order (per tap, one vector over the channels per output
//! pixel; per sample into fixed sample-range partials added in order).
//!
//! Attributes: those of `depthwise_conv2d` plus `layout` ("nchw" (default:
//! `depthwise.rs`) or "nhwc"), `bias` (Bool, default false: a third input of C·M
//! values) and `activation` (Str, one of [`Act::NAMES`], default "linear"): the
//! epilogue the fusion pass folds in from a following `bias_add` on the last axis.

use std::sync::Arc;

use super::conv::{ints2, pads4};
use super::epilogue::{bias_activate_last, col_sums_through, grad_through_into, Act};
use super::nhwc_batch::{backward_ranges, forward_samples, ranges};
use super::{expect_float, expect_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::gemm::PARALLEL_MIN_MACS;
use crate::kernels::pool::participants;
use crate::kernels::window::{out_len, valid_range};
use crate::simd_fn;
use crate::tensor::{fmt_dims, fmt_shape, Dim, Value};
use crate::{Error, Result};

/// Depthwise cross-correlation of an NHWC input.
#[derive(Debug, Clone, Copy)]
pub struct DepthwiseConv2dNhwc {
    strides: [usize; 2],
    pads: [usize; 4],
    /// Kernel stored (M, C, rows, cols) (Keras 'th') rather than (rows, cols, C, M).
    mchw: bool,
    bias: bool,
    act: Act,
}

/// Geometry, strides and pads of one call.
#[derive(Debug, Clone, Copy)]
struct Plan {
    n: usize,
    c: usize,
    m: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    s: [usize; 2],
    p: [usize; 4],
}

impl Plan {
    fn cm(&self) -> usize {
        self.c * self.m
    }
    fn taps(&self) -> usize {
        self.kh * self.kw
    }
    /// The plan of the same call on the input expanded by [`expand`]: C·M channels,
    /// multiplier 1 (the tap matrix and the output are the same).
    fn expanded(&self) -> Plan {
        Plan {
            c: self.cm(),
            m: 1,
            ..*self
        }
    }
}

/// A sample (H·W, C) with each channel repeated M times, (H·W, C·M): with M > 1 the
/// forward and kernel-gradient loops then run as for M = 1, one contiguous multiply-add
/// over the C·M values of a pixel (a loop of M values per channel does not vectorise),
/// for one pass writing C·M floats per pixel (a ninth of a 3x3 pass's multiply-adds).
/// Every value is summed in the same order either way.
fn expand(x: &[f32], m: usize, xe: &mut [f32]) {
    for (d, &v) in xe.chunks_exact_mut(m).zip(x) {
        d.fill(v);
    }
}

/// Calls `f(oy, iy, lo, hi, dx)` for every output row `oy` of tap (ki, kj) that reads
/// input row `iy`, with `[lo, hi)` the output columns whose input column `ox·sw + dx`
/// lies inside the input.
#[inline(always)]
fn tap_rows(pl: &Plan, ki: usize, kj: usize, mut f: impl FnMut(usize, usize, usize, usize, isize)) {
    let dy = ki as isize - pl.p[0] as isize;
    let dx = kj as isize - pl.p[2] as isize;
    let (lo, hi) = valid_range(pl.ow, pl.w, pl.s[1], dx);
    if lo >= hi {
        return;
    }
    for oy in 0..pl.oh {
        let iy = (oy * pl.s[0]) as isize + dy;
        if iy >= 0 && iy < pl.h as isize {
            f(oy, iy as usize, lo, hi, dx);
        }
    }
}

simd_fn! {
    /// One sample, multiplier 1 (see [`expand`]): `y` (OH·OW, C) from `x` (H·W, C) and
    /// the taps `wt` (kh·kw, C).
    fn sample_fwd(pl: &Plan, x: &[f32], wt: &[f32], y: &mut [f32]) {
        debug_assert_eq!(pl.m, 1);
        let c = pl.c;
        y.fill(0.0);
        for ki in 0..pl.kh {
            for kj in 0..pl.kw {
                let wv = &wt[(ki * pl.kw + kj) * c..][..c];
                tap_rows(pl, ki, kj, |oy, iy, lo, hi, dx| {
                    for ox in lo..hi {
                        let ix = ((ox * pl.s[1]) as isize + dx) as usize;
                        let xr = &x[(iy * pl.w + ix) * c..][..c];
                        let yr = &mut y[(oy * pl.ow + ox) * c..][..c];
                        for ((d, &wq), &s) in yr.iter_mut().zip(wv).zip(xr) {
                            *d += wq * s;
                        }
                    }
                });
            }
        }
    }
}

simd_fn! {
    /// One sample: adds into the input gradient `gx` (H·W, C) from `gy` (OH·OW, C·M).
    fn sample_bwd_x(pl: &Plan, gy: &[f32], wt: &[f32], gx: &mut [f32]) {
        let (c, m, cm) = (pl.c, pl.m, pl.cm());
        for mm in 0..m {
            for ki in 0..pl.kh {
                for kj in 0..pl.kw {
                    let wv = &wt[(ki * pl.kw + kj) * cm..][..cm];
                    tap_rows(pl, ki, kj, |oy, iy, lo, hi, dx| {
                        for ox in lo..hi {
                            let ix = ((ox * pl.s[1]) as isize + dx) as usize;
                            let gr = &gy[(oy * pl.ow + ox) * cm..][..cm];
                            let dr = &mut gx[(iy * pl.w + ix) * c..][..c];
                            if m == 1 {
                                for ((d, &wq), &s) in dr.iter_mut().zip(wv).zip(gr) {
                                    *d += wq * s;
                                }
                            } else {
                                for (cc, d) in dr.iter_mut().enumerate() {
                                    *d += wv[cc * m + mm] * gr[cc * m + mm];
                                }
                            }
                        }
                    });
                }
            }
        }
    }
}

simd_fn! {
    /// One sample, multiplier 1 (see [`expand`]): the taps' gradients (kh·kw, C) into
    /// `dw`, added unless `first`.
    fn sample_bwd_w(pl: &Plan, gy: &[f32], x: &[f32], dw: &mut [f32], first: bool) {
        debug_assert_eq!(pl.m, 1);
        let c = pl.c;
        if first {
            dw.fill(0.0);
        }
        for ki in 0..pl.kh {
            for kj in 0..pl.kw {
                let dv = &mut dw[(ki * pl.kw + kj) * c..][..c];
                tap_rows(pl, ki, kj, |oy, iy, lo, hi, dx| {
                    for ox in lo..hi {
                        let ix = ((ox * pl.s[1]) as isize + dx) as usize;
                        let xr = &x[(iy * pl.w + ix) * c..][..c];
                        let gr = &gy[(oy * pl.ow + ox) * c..][..c];
                        for ((d, &g), &s) in dv.iter_mut().zip(gr).zip(xr) {
                            *d += g * s;
                        }
                    }
                });
            }
        }
    }
}

impl DepthwiseConv2dNhwc {
    /// (C, M, kh, kw) of a kernel shape.
    fn kdims<T: Copy>(&self, k: &[T]) -> (T, T, T, T) {
        if self.mchw {
            (k[1], k[0], k[2], k[3])
        } else {
            (k[2], k[3], k[0], k[1])
        }
    }

    fn plan(&self, x: &[usize], k: &[usize]) -> Result<Plan> {
        let (c, m, kh, kw) = self.kdims(k);
        let oh = out_len(x[1], self.pads[0] + self.pads[1], kh, self.strides[0], 1);
        let ow = out_len(x[2], self.pads[2] + self.pads[3], kw, self.strides[1], 1);
        match (oh, ow) {
            (Some(oh), Some(ow)) if c == x[3] => Ok(Plan {
                n: x[0],
                c,
                m,
                h: x[1],
                w: x[2],
                kh,
                kw,
                oh,
                ow,
                s: self.strides,
                p: self.pads,
            }),
            _ => Err(Error::Shape(format!(
                "depthwise_conv2d: kernel {} does not fit input {}",
                fmt_dims(k),
                fmt_dims(x)
            ))),
        }
    }

    /// Calls `f(index in the (kh·kw, C·M) tap matrix, stored index)` for every tap.
    fn for_taps(&self, pl: &Plan, mut f: impl FnMut(usize, usize)) {
        let mut r = 0;
        for ki in 0..pl.kh {
            for kj in 0..pl.kw {
                for c in 0..pl.c {
                    for m in 0..pl.m {
                        let s = if self.mchw {
                            ((m * pl.c + c) * pl.kh + ki) * pl.kw + kj
                        } else {
                            r
                        };
                        f(r, s);
                        r += 1;
                    }
                }
            }
        }
    }

    /// The (kh·kw, C·M) tap matrix: the stored kernel, or its re-layout into `buf`.
    fn taps<'a>(&self, pl: &Plan, w: &'a [f32], buf: &'a mut [f32]) -> &'a [f32] {
        if !self.mchw {
            return &w[..pl.taps() * pl.cm()];
        }
        self.for_taps(pl, |r, s| buf[r] = w[s]);
        buf
    }

    fn workers(&self, pl: &Plan) -> usize {
        let threads = crate::kernels::pool::threads();
        let macs = pl.n * pl.cm() * pl.taps() * pl.oh * pl.ow;
        if threads > 1 && pl.n >= 2 && macs >= PARALLEL_MIN_MACS {
            participants(pl.n, threads)
        } else {
            1
        }
    }
}

impl Op for DepthwiseConv2dNhwc {
    fn name(&self) -> &str {
        "depthwise_conv2d"
    }

    fn with_activation(&self, act: Act) -> Option<OpRef> {
        (self.act == Act::Linear).then(|| Arc::new(Self { act, ..*self }) as OpRef)
    }

    fn with_bias_activation(&self, axis: usize, act: Act) -> Option<OpRef> {
        (axis == 3 && !self.bias && self.act == Act::Linear).then(|| {
            Arc::new(Self {
                bias: true,
                act,
                ..*self
            }) as OpRef
        })
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("depthwise_conv2d", inputs, 2 + self.bias as usize)?;
        for t in inputs {
            expect_float("depthwise_conv2d", t)?;
        }
        let (x, k) = (&inputs[0].shape, &inputs[1].shape);
        if x.len() != 4 || k.len() != 4 {
            return Err(Error::Shape(format!(
                "depthwise_conv2d: expects a 4-D input (N, H, W, C) and a 4-D kernel, got {} and {}",
                fmt_shape(x),
                fmt_shape(k)
            )));
        }
        let (c, m, kh, kw) = self.kdims(k);
        if let (Some(a), Some(b)) = (x[3], c) {
            if a != b {
                return Err(Error::Shape(format!(
                    "depthwise_conv2d: input {} has {a} channels but the kernel {} expects {b}",
                    fmt_shape(x),
                    fmt_shape(k)
                )));
            }
        }
        let cm = match (c, m) {
            (Some(c), Some(m)) => Some(c * m),
            _ => None,
        };
        if self.bias {
            let b = &inputs[2].shape;
            if b.len() != 1 || matches!((b[0], cm), (Some(a), Some(c)) if a != c) {
                return Err(Error::Shape(format!(
                    "depthwise_conv2d: bias of shape {} does not match the kernel's {} output channels",
                    fmt_shape(b),
                    fmt_shape(k)
                )));
            }
        }
        let side = |len: Dim, pad: usize, kk: Dim, s: usize| -> Result<Dim> {
            match (len, kk) {
                (Some(l), Some(kk)) => out_len(l, pad, kk, s, 1).map(Some).ok_or_else(|| {
                    Error::Shape(format!(
                        "depthwise_conv2d: kernel {} is larger than the (padded) input {}",
                        fmt_shape(k),
                        fmt_shape(x)
                    ))
                }),
                _ => Ok(None),
            }
        };
        let oh = side(x[1], self.pads[0] + self.pads[1], kh, self.strides[0])?;
        let ow = side(x[2], self.pads[2] + self.pads[3], kw, self.strides[1])?;
        Ok(TypeInfo::f32(vec![x[0], oh, ow, cm]))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let pl = self.plan(&x.shape, &w.shape)?;
        let (xs, os) = (pl.h * pl.w * pl.c, pl.oh * pl.ow * pl.cm());
        if pl.n == 0 || os == 0 {
            return Ok(());
        }
        let tn = if self.mchw { pl.taps() * pl.cm() } else { 0 };
        let workers = self.workers(&pl);
        // per worker: the expanded sample (multiplier above 1)
        let slot = if pl.m > 1 { pl.h * pl.w * pl.cm() } else { 0 };
        grow(&mut ctx.scratch.f, tn + workers * slot, "depthwise_conv2d")?;
        let (tbuf, slots) = ctx.scratch.f.split_at_mut(tn);
        let wt = self.taps(&pl, &w.f, tbuf);
        let bias = self.bias.then(|| &inputs[2].f[..]);
        let run = |i: usize, xe: &mut [f32], y: &mut [f32], _: bool| {
            let xi = &x.f[i * xs..(i + 1) * xs];
            if pl.m > 1 {
                expand(xi, pl.m, xe);
                sample_fwd(&pl.expanded(), xe, wt, y);
            } else {
                sample_fwd(&pl, xi, wt, y);
            }
            if self.bias || self.act != Act::Linear {
                bias_activate_last(y, bias, self.act);
            }
        };
        forward_samples(pl.n, workers, &mut out.f, os, slots, slot, &run);
        Ok(())
    }

    fn backward_many(
        &self,
        wanted: &[usize],
        inputs: &[&Value],
        out: &Value,
        gout: &[f32],
        gins: &mut [&mut [f32]],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let pl = self.plan(&x.shape, &w.shape)?;
        let (xs, os) = (pl.h * pl.w * pl.c, pl.oh * pl.ow * pl.cm());
        if pl.n == 0 || os == 0 {
            return Ok(());
        }
        let (mut gx, mut gw, mut gb) = (None, None, None);
        for (&index, gin) in wanted.iter().zip(gins.iter_mut()) {
            match index {
                0 => gx = Some(&mut **gin),
                1 => gw = Some(&mut **gin),
                _ => gb = Some(&mut **gin),
            }
        }
        let (want_x, want_w) = (gx.is_some(), gw.is_some());
        if want_x || want_w {
            let workers = self.workers(&pl);
            let rn = ranges(pl.n, workers);
            let tcm = pl.taps() * pl.cm();
            let tn = if self.mchw { tcm } else { 0 };
            let gmn = if self.act != Act::Linear { os } else { 0 };
            let xen = if want_w && pl.m > 1 {
                pl.h * pl.w * pl.cm()
            } else {
                0
            };
            let slot = gmn + xen;
            let dwn = if want_w { tcm } else { 0 };
            // scratch: [tap matrix (for an (M, C, rows, cols) kernel) | per worker:
            // gradient through the activation, expanded sample | per range:
            // kernel-gradient partial]
            grow(
                &mut ctx.scratch.f,
                tn + workers * slot + rn * dwn,
                "depthwise_conv2d",
            )?;
            let (tbuf, rest) = ctx.scratch.f.split_at_mut(tn);
            let (slots, partials) = rest.split_at_mut(workers * slot);
            let wt = self.taps(&pl, &w.f, tbuf);
            let run = |i: usize,
                       slot: &mut [f32],
                       gxi: &mut [f32],
                       dw: &mut [f32],
                       first: bool,
                       _: bool| {
                let (gm, xe) = slot.split_at_mut(gmn);
                let gi = &gout[i * os..(i + 1) * os];
                let gi: &[f32] = if gmn > 0 {
                    grad_through_into(gi, &out.f[i * os..(i + 1) * os], gm, self.act);
                    gm
                } else {
                    gi
                };
                if want_x {
                    sample_bwd_x(&pl, gi, wt, gxi);
                }
                if want_w {
                    let xi = &x.f[i * xs..(i + 1) * xs];
                    if pl.m > 1 {
                        expand(xi, pl.m, xe);
                        sample_bwd_w(&pl.expanded(), gi, xe, dw, first);
                    } else {
                        sample_bwd_w(&pl, gi, xi, dw, first);
                    }
                }
            };
            let (gxv, gxn) = match gx {
                Some(gx) => (gx, xs),
                None => (&mut [][..], 0),
            };
            backward_ranges(pl.n, workers, gxv, gxn, slots, slot, partials, dwn, &run);
            if let Some(gw) = gw {
                self.for_taps(&pl, |r, s| gw[s] += partials[r]);
            }
        }
        if let Some(gb) = gb {
            col_sums_through(&gout[..pl.n * os], &out.f[..pl.n * os], gb, self.act);
        }
        Ok(())
    }
}

/// Registry entry: `depthwise_conv2d` with `layout` "nhwc" (None otherwise, for
/// `depthwise.rs`).
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    if name != "depthwise_conv2d" {
        return None;
    }
    match a.str_opt("layout") {
        Err(e) => return Some(Err(e)),
        Ok(None) => return None,
        Ok(Some(l)) if l == "nchw" => return None,
        Ok(Some(l)) if l == "nhwc" => {}
        Ok(Some(l)) => {
            return Some(Err(Error::Value(format!(
                "depthwise_conv2d: layout must be 'nchw' or 'nhwc', got '{l}'"
            ))))
        }
    }
    Some((|| {
        let mchw = match a.str_opt("kernel_layout")?.as_deref() {
            None | Some("hwcm") => false,
            Some("mchw") => true,
            Some(s) => {
                return Err(Error::Value(format!(
                    "depthwise_conv2d: kernel_layout must be 'hwcm' or 'mchw', got '{s}'"
                )))
            }
        };
        Ok(Arc::new(DepthwiseConv2dNhwc {
            strides: ints2(a, "strides", [1, 1])?,
            pads: pads4(a)?,
            mchw,
            bias: a.bool("bias", false)?,
            act: Act::from_attrs(a, "depthwise_conv2d")?,
        }) as OpRef)
    })())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::Attr;
    use crate::tensor::Value;

    fn ints(v: &[usize]) -> Attr {
        Attr::Ints(v.iter().map(|&a| a as i64).collect())
    }

    fn attrs(st: [usize; 2], pd: [usize; 4], kernel_layout: &str) -> Vec<(&'static str, Attr)> {
        vec![
            ("layout", Attr::Str("nhwc".into())),
            ("strides", ints(&st)),
            ("pads", ints(&pd)),
            ("kernel_layout", Attr::Str(kernel_layout.into())),
        ]
    }

    /// Direct float64 reference, input (N, H, W, C), kernel (kh, kw, C, M): output and,
    /// for the output gradient `r`, the input and kernel gradients.
    fn reference(
        xs: [usize; 4],
        ks: [usize; 4],
        st: [usize; 2],
        pd: [usize; 4],
        x: &[f32],
        k: &[f32],
        r: &[f32],
    ) -> [Vec<f64>; 3] {
        let ([n, h, w, c], [kh, kw, _, m]) = (xs, ks);
        let oh = (h + pd[0] + pd[1] - kh) / st[0] + 1;
        let ow = (w + pd[2] + pd[3] - kw) / st[1] + 1;
        let mut y = vec![0.0f64; n * oh * ow * c * m];
        let mut gx = vec![0.0f64; x.len()];
        let mut gk = vec![0.0f64; k.len()];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ki in 0..kh {
                        for kj in 0..kw {
                            let iy = (oy * st[0] + ki) as isize - pd[0] as isize;
                            let ix = (ox * st[1] + kj) as isize - pd[2] as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            for cc in 0..c {
                                let xi = ((b * h + iy as usize) * w + ix as usize) * c + cc;
                                for mm in 0..m {
                                    let yi = ((b * oh + oy) * ow + ox) * c * m + cc * m + mm;
                                    let kx = ((ki * kw + kj) * c + cc) * m + mm;
                                    y[yi] += x[xi] as f64 * k[kx] as f64;
                                    gx[xi] += r[yi] as f64 * k[kx] as f64;
                                    gk[kx] += r[yi] as f64 * x[xi] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        [y, gx, gk]
    }

    /// (kh, kw, C, M) -> (M, C, kh, kw).
    fn to_mchw(k: &[f32], ks: [usize; 4]) -> Vec<f32> {
        let [kh, kw, c, m] = ks;
        let mut t = vec![0.0; k.len()];
        for ki in 0..kh {
            for kj in 0..kw {
                for cc in 0..c {
                    for mm in 0..m {
                        t[((mm * c + cc) * kh + ki) * kw + kj] =
                            k[((ki * kw + kj) * c + cc) * m + mm];
                    }
                }
            }
        }
        t
    }

    fn check(xs: [usize; 4], ks: [usize; 4], st: [usize; 2], pd: [usize; 4], seed: u64) {
        let x = rand(&xs, seed, -1.0, 1.0);
        let k = rand(&ks, seed + 1, -1.0, 1.0);
        let o = op("depthwise_conv2d", &attrs(st, pd, "hwcm"));
        let y = forward(&o, &[x.clone(), k.clone()]);
        let r = rand(&y.shape, seed + 2, -1.0, 1.0);
        let [wy, wgx, wgk] = reference(xs, ks, st, pd, &x.f, &k.f, &r.f);
        assert_close64(&y.f, &wy, 1e-5, "forward");
        let g = gradients(&o, &[x.clone(), k.clone()], &y, &r.f);
        assert_close64(&g[0], &wgx, 1e-5, "input gradient");
        assert_close64(&g[1], &wgk, 1e-4, "kernel gradient");
        // the (M, C, rows, cols) layout: the same numbers, the kernel gradient moved
        let km = val(&[ks[3], ks[2], ks[0], ks[1]], &to_mchw(&k.f, ks));
        let t = op("depthwise_conv2d", &attrs(st, pd, "mchw"));
        let yt = forward(&t, &[x.clone(), km.clone()]);
        assert_eq!(yt.f, y.f, "mchw forward");
        let gt = gradients(&t, &[x.clone(), km.clone()], &yt, &r.f);
        assert_eq!(gt[0], g[0], "mchw input gradient");
        assert_eq!(gt[1], to_mchw(&g[1], ks), "mchw kernel gradient");
        // the channels-first op on transposed data: the same sums in the same order,
        // so output and input gradient bit for bit; the kernel gradient within rounding
        let mut first = attrs(st, pd, "hwcm");
        first.remove(0);
        let f = op("depthwise_conv2d", &first);
        let xf = to_channels_first(&x);
        let yf = forward(&f, &[xf.clone(), k.clone()]);
        assert_eq!(yf.f, to_channels_first(&y).f, "forward vs channels-first");
        let rf = to_channels_first(&r);
        let gf = gradients(&f, &[xf, k.clone()], &yf, &rf.f);
        let gx = val(&xs, &g[0]);
        assert_eq!(
            gf[0],
            to_channels_first(&gx).f,
            "input gradient vs channels-first"
        );
        assert_close(&g[1], &gf[1], 1e-5);
    }

    #[test]
    fn depthwise_nhwc_matches_reference_and_channels_first() {
        check([2, 6, 5, 3], [3, 3, 3, 1], [1, 1], [0; 4], 1);
        check([2, 7, 8, 4], [3, 2, 4, 2], [2, 1], [1, 1, 0, 1], 4);
        check([1, 9, 9, 5], [3, 3, 5, 3], [2, 2], [1, 1, 1, 1], 7);
        check([3, 5, 6, 32], [3, 3, 32, 1], [1, 1], [1, 1, 1, 1], 10);
        check([2, 4, 4, 17], [1, 1, 17, 2], [1, 1], [0; 4], 13);
        // pads wider than the kernel: outputs that see only padding
        check([1, 3, 3, 2], [2, 2, 2, 2], [1, 1], [3, 2, 2, 3], 16);
    }

    #[test]
    fn depthwise_nhwc_finite_differences() {
        let ins = [
            rand(&[2, 5, 4, 3], 1, -1.0, 1.0),
            rand(&[3, 2, 3, 2], 2, -1.0, 1.0),
        ];
        let o = op("depthwise_conv2d", &attrs([2, 1], [1, 1, 0, 1], "hwcm"));
        grad_check(&o, &ins, 1e-2, 1e-2).unwrap();
    }

    #[test]
    fn depthwise_nhwc_bias_activation_epilogue() {
        let (x, k) = (
            rand(&[2, 6, 5, 3], 5, -1.0, 1.0),
            rand(&[3, 3, 3, 2], 6, -1.0, 1.0),
        );
        check_last_axis_epilogue(
            "depthwise_conv2d",
            &attrs([1, 1], [1; 4], "hwcm"),
            &x,
            &k,
            true,
        );
        let (x, k) = (
            rand(&[3, 7, 7, 8], 7, -1.0, 1.0),
            rand(&[2, 8, 3, 3], 8, -1.0, 1.0),
        );
        check_last_axis_epilogue(
            "depthwise_conv2d",
            &attrs([2, 2], [0; 4], "mchw"),
            &x,
            &k,
            false,
        );
    }

    #[test]
    fn depthwise_nhwc_parallel_batch_is_the_serial_one() {
        let mut a = attrs([1, 1], [1; 4], "hwcm");
        a.push(("bias", Attr::Bool(true)));
        a.push(("activation", Attr::Str("tanh".into())));
        let ins: Vec<Value> = vec![
            rand(&[8, 20, 20, 32], 1, -1.0, 1.0),
            rand(&[3, 3, 32, 1], 2, -1.0, 1.0),
            rand(&[32], 3, -1.0, 1.0),
        ];
        check_parallel_matches_serial(&op("depthwise_conv2d", &a), &ins, 1e-4);
    }

    #[test]
    fn depthwise_nhwc_shapes_and_errors() {
        let t = |s: &[usize]| crate::ops::TypeInfo::f32(crate::tensor::known(s));
        let o = op("depthwise_conv2d", &attrs([2, 2], [1; 4], "hwcm"));
        let y = o.infer(&[t(&[4, 7, 6, 3]), t(&[3, 3, 3, 2])]).unwrap();
        assert_eq!(y.shape, crate::tensor::known(&[4, 4, 3, 6]));
        let e = o
            .infer(&[t(&[4, 7, 6, 2]), t(&[3, 3, 3, 2])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("channels"), "{e}");
        let e = o
            .infer(&[t(&[4, 1, 1, 3]), t(&[5, 5, 3, 2])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("larger"), "{e}");
        let e = crate::ops::build(
            "depthwise_conv2d",
            &crate::ops::Attrs::new("depthwise_conv2d").with("layout", Attr::Str("chw".into())),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("layout must be 'nchw' or 'nhwc'"), "{e}");
    }
}
