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
//!
//! [`Act::NAMES`]: crate::kernels::act::Act::NAMES

use super::conv::attrs::{channels_last, fusable_epilogue, Epilogue};
use super::depthwise::Window;
use super::nhwc_batch::{self, Batch, Grads, OutGrad, Parts, Sample};
use super::{Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::window;
use crate::simd_fn;
use crate::tensor::Value;
use crate::Result;

/// Depthwise cross-correlation of an NHWC input.
#[derive(Debug, Clone, Copy)]
pub struct DepthwiseConv2dNhwc {
    win: Window,
    epi: Epilogue,
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

/// [`window::tap_rows`] of tap (ki, kj) in one sample of this call.
#[inline(always)]
fn tap_rows(pl: &Plan, ki: usize, kj: usize, f: impl FnMut(usize, usize, usize, usize, isize)) {
    window::tap_rows([pl.oh, pl.ow], [pl.h, pl.w], pl.s, pl.p, (ki, kj), f)
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

/// Adds `gy[oy, ox, c0..c0 + N] * x[iy, ix, c0..c0 + N]` over `ox` in `lo..hi` (input
/// column `ix = ox·stride + dx`) to `dv[c0..c0 + N]`, the block of N channels summed in
/// registers across the row and stored once. Each channel adds its products in `ox`
/// order, as a load and store of `dv` per `ox` would; that form chained every
/// iteration through a store-to-load forward of the same few cache lines, and ran up
/// to 1.5x slower or faster from one build to the next with `dw`'s placement.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tap_row_block<const N: usize>(
    pl: &Plan,
    gy: &[f32],
    x: &[f32],
    dv: &mut [f32],
    c0: usize,
    (oy, iy, lo, hi, dx): (usize, usize, usize, usize, isize),
) {
    let c = pl.c;
    let mut acc: [f32; N] = dv[c0..c0 + N].try_into().expect("N channels");
    for ox in lo..hi {
        let ix = ((ox * pl.s[1]) as isize + dx) as usize;
        let xr: &[f32; N] = x[(iy * pl.w + ix) * c + c0..][..N].try_into().expect("N");
        let gr: &[f32; N] = gy[(oy * pl.ow + ox) * c + c0..][..N].try_into().expect("N");
        for k in 0..N {
            acc[k] += gr[k] * xr[k];
        }
    }
    dv[c0..c0 + N].copy_from_slice(&acc);
}

simd_fn! {
    /// One sample, multiplier 1 (see [`expand`]): the taps' gradients (kh·kw, C) into
    /// `dw`, added unless `first`; channels in blocks of 32 and 16 summed in registers
    /// along each row ([`tap_row_block`]), the rest one by one.
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
                    let row = (oy, iy, lo, hi, dx);
                    let mut c0 = 0;
                    while c0 + 32 <= c {
                        tap_row_block::<32>(pl, gy, x, dv, c0, row);
                        c0 += 32;
                    }
                    if c0 + 16 <= c {
                        tap_row_block::<16>(pl, gy, x, dv, c0, row);
                        c0 += 16;
                    }
                    for ox in lo..hi {
                        let ix = ((ox * pl.s[1]) as isize + dx) as usize;
                        let xr = &x[(iy * pl.w + ix) * c..][c0..c];
                        let gr = &gy[(oy * pl.ow + ox) * c..][c0..c];
                        for ((d, &g), &s) in dv[c0..].iter_mut().zip(gr).zip(xr) {
                            *d += g * s;
                        }
                    }
                });
            }
        }
    }
}

impl DepthwiseConv2dNhwc {
    fn plan(&self, x: &[usize], k: &[usize]) -> Result<Plan> {
        let [c, m, kh, kw, oh, ow] = self.win.dims(x, k, true)?;
        let (n, h, w, s, p) = (x[0], x[1], x[2], self.win.strides, self.win.pads);
        Ok(Plan {
            n,
            c,
            m,
            h,
            w,
            kh,
            kw,
            oh,
            ow,
            s,
            p,
        })
    }

    /// Calls `f(index in the (kh·kw, C·M) tap matrix, stored index)` for every tap.
    fn for_taps(&self, pl: &Plan, mut f: impl FnMut(usize, usize)) {
        let mut r = 0;
        for ki in 0..pl.kh {
            for kj in 0..pl.kw {
                for c in 0..pl.c {
                    for m in 0..pl.m {
                        let s = if self.win.mchw {
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
        if !self.win.mchw {
            return &w[..pl.taps() * pl.cm()];
        }
        self.for_taps(pl, |r, s| buf[r] = w[s]);
        buf
    }

    fn workers(&self, pl: &Plan) -> usize {
        nhwc_batch::workers(pl.n, pl.n * pl.cm() * pl.taps() * pl.oh * pl.ow)
    }
}

impl Op for DepthwiseConv2dNhwc {
    fn name(&self) -> &str {
        "depthwise_conv2d"
    }

    fusable_epilogue!(|_| 3);

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        self.win.infer(inputs, self.epi, true)
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let pl = self.plan(&x.shape, &w.shape)?;
        let (xs, os) = (pl.h * pl.w * pl.c, pl.oh * pl.ow * pl.cm());
        if pl.n == 0 || os == 0 {
            return Ok(());
        }
        let tn = if self.win.mchw {
            pl.taps() * pl.cm()
        } else {
            0
        };
        let workers = self.workers(&pl);
        // per worker: the expanded sample (multiplier above 1)
        let slot = if pl.m > 1 { pl.h * pl.w * pl.cm() } else { 0 };
        grow(&mut ctx.scratch.f, tn + workers * slot, "depthwise_conv2d")?;
        let (tbuf, slots) = ctx.scratch.f.split_at_mut(tn);
        let wt = self.taps(&pl, &w.f, tbuf);
        let run = |i: usize, xe: &mut [f32], y: &mut [f32], _: bool| {
            let xi = &x.f[i * xs..(i + 1) * xs];
            if pl.m > 1 {
                expand(xi, pl.m, xe);
                sample_fwd(&pl.expanded(), xe, wt, y);
            } else {
                sample_fwd(&pl, xi, wt, y);
            }
        };
        let (ys, slots) = (Parts::new(&mut out.f, os), Parts::new(slots, slot));
        Batch::even(pl.n, workers).forward_last(self.epi, inputs, ys, slots, &run);
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
        let grads = Grads::new(wanted, gins);
        let (want_x, want_w) = (grads.x.is_some(), grads.w.is_some());
        let batch = Batch::even(pl.n, self.workers(&pl));
        let tcm = pl.taps() * pl.cm();
        let og = OutGrad::new(self.epi, gout, &out.f, os);
        // scratch: [tap matrix (for an (M, C, rows, cols) kernel) | per worker: gradient
        // through the activation, expanded sample | per range: kernel-gradient partial]
        let expanded = want_w && pl.m > 1;
        let xen = if expanded { pl.h * pl.w * pl.cm() } else { 0 };
        let tn = if self.win.mchw { tcm } else { 0 };
        let sizes = [tn, og.slot(xen), if want_w { tcm } else { 0 }, 0];
        let (tbuf, mut work, _) = batch.carve(&mut ctx.scratch.f, sizes, "depthwise_conv2d")?;
        let wt = self.taps(&pl, &w.f, tbuf);
        let run = |sm: Sample, gi: &[f32]| {
            if want_x {
                sample_bwd_x(&pl, gi, wt, sm.gx);
            }
            if want_w {
                let xi = &x.f[sm.i * xs..(sm.i + 1) * xs];
                if expanded {
                    expand(xi, pl.m, sm.slot);
                    sample_bwd_w(&pl.expanded(), gi, sm.slot, sm.dw, sm.first);
                } else {
                    sample_bwd_w(&pl, gi, xi, sm.dw, sm.first);
                }
            }
        };
        batch.backward_last(og, grads, xs, &mut work, &run, |gw, dw| {
            self.for_taps(&pl, |r, s| gw[s] += dw[r])
        });
        Ok(())
    }
}

/// Registry entry: `depthwise_conv2d` with `layout` "nhwc" (None otherwise, for
/// `depthwise.rs`).
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let op = "depthwise_conv2d";
    channels_last(name, a, op, ["nchw", "nhwc"], || {
        Ok(DepthwiseConv2dNhwc {
            win: Window::from_attrs(a)?,
            epi: Epilogue::from_attrs(a, op)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::conv::testing::{
        add_product, assert_err, build_err, channels_last_attrs, dims, indices, infer, window_taps,
    };
    use crate::ops::Attr;
    use crate::tensor::Value;

    #[test]
    fn kernel_gradient_blocks_give_the_per_row_load_store_bits() {
        // channel counts with 32- and 16-blocks and tails; strides and padding that cut
        // rows short
        for (c, s, p) in [
            (7, [1, 1], [1, 1, 1, 1]),
            (16, [2, 1], [0, 1, 1, 0]),
            (20, [1, 2], [1, 1, 1, 1]),
            (32, [1, 1], [1, 1, 1, 1]),
            (53, [2, 2], [1, 0, 0, 1]),
        ] {
            let (h, w, kh, kw) = (9, 8, 3, 3);
            let oh = (h + p[0] + p[1] - kh) / s[0] + 1;
            let ow = (w + p[2] + p[3] - kw) / s[1] + 1;
            let pl = super::Plan {
                n: 1,
                c,
                m: 1,
                h,
                w,
                kh,
                kw,
                oh,
                ow,
                s,
                p,
            };
            let x = rand(&[h * w * c], 5, -1.0, 1.0).f;
            let gy = rand(&[oh * ow * c], 6, -1.0, 1.0).f;
            let mut got = rand(&[kh * kw * c], 7, -1.0, 1.0).f;
            let mut want = got.clone();
            super::sample_bwd_w(&pl, &gy, &x, &mut got, false);
            for ki in 0..kh {
                for kj in 0..kw {
                    let dv = &mut want[(ki * kw + kj) * c..][..c];
                    super::tap_rows(&pl, ki, kj, |oy, iy, lo, hi, dx| {
                        for ox in lo..hi {
                            let ix = ((ox * s[1]) as isize + dx) as usize;
                            for (cc, d) in dv.iter_mut().enumerate() {
                                *d += gy[(oy * ow + ox) * c + cc] * x[(iy * w + ix) * c + cc];
                            }
                        }
                    });
                }
            }
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{c} channels, strides {s:?}");
        }
    }

    fn attrs(st: [usize; 2], pd: [usize; 4], kernel_layout: &str) -> Vec<(&'static str, Attr)> {
        channels_last_attrs("nhwc", (&st, &pd), kernel_layout, &[])
    }

    /// Direct float64 reference, input (N, H, W, C), kernel (kh, kw, C, M): output and,
    /// for the output gradient `r`, the input and kernel gradients.
    fn reference(
        x: &Value,
        k: &Value,
        (st, pd): ([usize; 2], [usize; 4]),
        r: &[f32],
    ) -> [Vec<f64>; 3] {
        let ([n, h, w, c], [kh, kw, _, m]) = (dims(x), dims(k));
        let oh = (h + pd[0] + pd[1] - kh) / st[0] + 1;
        let ow = (w + pd[2] + pd[3] - kw) / st[1] + 1;
        let mut acc = [n * oh * ow * c * m, x.len(), k.len()].map(|l| vec![0.0f64; l]);
        let sweep = (([oh, ow], [kh, kw], [h, w]), (st, [pd[0], pd[2]], [1, 1]));
        window_taps(sweep, |[oy, ox], [ki, kj], [iy, ix]| {
            for [b, cc, mm] in indices([n, c, m]) {
                let xi = ((b * h + iy) * w + ix) * c + cc;
                let yi = ((b * oh + oy) * ow + ox) * c * m + cc * m + mm;
                let kx = ((ki * kw + kj) * c + cc) * m + mm;
                add_product(&mut acc, (&x.f, &k.f, r), [yi, xi, kx]);
            }
        });
        acc
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
        let [wy, wgx, wgk] = reference(&x, &k, (st, pd), &r.f);
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
        check_last_axis_epilogue(
            "depthwise_conv2d",
            &attrs([1, 1], [1; 4], "hwcm"),
            (&[2, 6, 5, 3], &[3, 3, 3, 2]),
            5,
            true,
        );
        check_last_axis_epilogue(
            "depthwise_conv2d",
            &attrs([2, 2], [0; 4], "mchw"),
            (&[3, 7, 7, 8], &[2, 8, 3, 3]),
            7,
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
        let o = op("depthwise_conv2d", &attrs([2, 2], [1; 4], "hwcm"));
        let y = infer(&o, &[&[4, 7, 6, 3], &[3, 3, 3, 2]]);
        assert_eq!(y, Ok(crate::tensor::known(&[4, 4, 3, 6])));
        assert_err(infer(&o, &[&[4, 7, 6, 2], &[3, 3, 3, 2]]), &["channels"]);
        assert_err(infer(&o, &[&[4, 1, 1, 3], &[5, 5, 3, 2]]), &["larger"]);
        let e = build_err("depthwise_conv2d", &[("layout", Attr::Str("chw".into()))]);
        assert!(e.contains("layout must be 'nchw' or 'nhwc'"), "{e}");
    }
}
