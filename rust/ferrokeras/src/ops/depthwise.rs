//! Depthwise 2-D convolution (`depthwise_conv2d`, the first half of Keras 1's
//! `K.separable_conv2d`) on channels-first (N, C, H, W) feature maps.
//!
//! Each input channel c is cross-correlated (TensorFlow's semantics, the only backend
//! Keras 1 had SeparableConvolution2D on) with its own `depth_multiplier` M kernels;
//! output channel `c·M + m` (TensorFlow's order) is channel c through kernel m.
//!
//! Why direct loops and not im2col + gemm: every output channel reads one input channel,
//! so a gemm would have a reduction of only kh·kw; the loops here instead run one kernel
//! tap over a whole output row at a time (a contiguous multiply-add the compiler
//! vectorises when the column stride is 1). Work is split over (sample, channel) planes
//! when there are enough multiply-adds to pay for waking the pool; the kernel gradient
//! is split over channels (each worker owns its channel's taps, summing over the batch).
//!
//! The kernel is taken as Keras 1 stores it: `kernel_layout` `"hwcm"` (Keras 'tf':
//! (rows, cols, C, M)) or `"mchw"` (Keras 'th': (M, C, rows, cols)).
//! Attributes: `strides` (Ints 2, default 1,1), `pads` (Ints 4: top, bottom, left,
//! right, default 0), `kernel_layout` (Str, default "hwcm").

use std::sync::Arc;

use super::conv::attrs::{second_of, Epilogue};
use super::conv::kernel::rows_by_output;
use super::conv::shapes::{check_channels, conv_inputs, does_not_fit, out_dim, out_sizes};
use super::conv::{ints2, pads4};
use super::{Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::gemm::PARALLEL_MIN_MACS;
use crate::kernels::pool::{for_each_part, threads};
use crate::kernels::window;
use crate::simd_fn;
use crate::tensor::Value;
use crate::Result;

const OP: &str = "depthwise_conv2d";

/// Depthwise cross-correlation of an NCHW input.
#[derive(Debug)]
pub struct DepthwiseConv2d {
    win: Window,
}

/// The attributes of `depthwise_conv2d` in either layout, and the shape checks they
/// make.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) strides: [usize; 2],
    pub(super) pads: [usize; 4],
    /// Kernel stored (M, C, rows, cols) (Keras 'th') rather than (rows, cols, C, M)
    /// (Keras 'tf').
    pub(super) mchw: bool,
}

impl Window {
    pub(super) fn from_attrs(a: &Attrs) -> Result<Window> {
        Ok(Window {
            strides: ints2(a, "strides", [1, 1])?,
            pads: pads4(a)?,
            mchw: second_of(a, OP, "kernel_layout", ["hwcm", "mchw"])?,
        })
    }

    /// (C, M, kh, kw) of a kernel shape.
    pub(super) fn kdims<T: Copy>(&self, k: &[T]) -> (T, T, T, T) {
        if self.mchw {
            (k[1], k[0], k[2], k[3])
        } else {
            (k[2], k[3], k[0], k[1])
        }
    }

    /// The input's channel axis and first spatial axis, channels-`last` or first.
    fn axes(last: bool) -> (usize, usize) {
        if last {
            (3, 1)
        } else {
            (1, 2)
        }
    }

    /// The output type of `inputs` (input, kernel and, with `epi.bias`, the bias), the
    /// input channels-`last` or first.
    pub(super) fn infer(&self, inputs: &[TypeInfo], epi: Epilogue, last: bool) -> Result<TypeInfo> {
        let what = if last { "(N, H, W, C)" } else { "(N, C, H, W)" };
        let (x, k) = conv_inputs(OP, inputs, epi, 4, what)?;
        let (ch, sp) = Self::axes(last);
        let (c, m, kh, kw) = self.kdims(k);
        let cm = c.zip(m).map(|(c, m)| c * m);
        check_channels(OP, inputs, epi, (x[ch], c), cm)?;
        let side = |ax: usize, k| {
            let pad = self.pads[2 * ax] + self.pads[2 * ax + 1];
            out_dim(OP, inputs, x[sp + ax], pad, k, self.strides[ax], 1)
        };
        let (oh, ow) = (side(0, kh)?, side(1, kw)?);
        Ok(TypeInfo::f32(if last {
            vec![x[0], oh, ow, cm]
        } else {
            vec![x[0], cm, oh, ow]
        }))
    }

    /// The kernel's (C, M, kh, kw) and the output's (OH, OW) for input shape `x`
    /// (channels-`last` or first) and kernel shape `k`, checked.
    pub(super) fn dims(&self, x: &[usize], k: &[usize], last: bool) -> Result<[usize; 6]> {
        let (c, m, kh, kw) = self.kdims(k);
        let (ch, sp) = Self::axes(last);
        if c != x[ch] {
            return Err(does_not_fit(OP, x, k));
        }
        let hw = [x[sp], x[sp + 1]];
        let (s, p) = (self.strides, &self.pads);
        let [oh, ow] = out_sizes(OP, (x, k), hw, [kh, kw], s, p, [1, 1])?;
        Ok([c, m, kh, kw, oh, ow])
    }
}

#[derive(Debug, Clone, Copy)]
struct Geo {
    n: usize,
    c: usize,
    m: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
}

impl Geo {
    fn taps(&self) -> usize {
        self.m * self.kh * self.kw
    }
    fn oplane(&self) -> usize {
        self.oh * self.ow
    }
    fn iplane(&self) -> usize {
        self.h * self.w
    }
    fn macs(&self) -> usize {
        self.n * self.c * self.taps() * self.oplane()
    }
}

impl DepthwiseConv2d {
    fn geo(&self, x: &[usize], k: &[usize]) -> Result<Geo> {
        let [c, m, kh, kw, oh, ow] = self.win.dims(x, k, false)?;
        let (n, h, w) = (x[0], x[2], x[3]);
        Ok(Geo {
            n,
            c,
            m,
            h,
            w,
            kh,
            kw,
            oh,
            ow,
        })
    }

    /// Index in the stored kernel of tap (c, m, ki, kj).
    #[inline]
    fn src(&self, g: &Geo, c: usize, m: usize, ki: usize, kj: usize) -> usize {
        if self.win.mchw {
            ((m * g.c + c) * g.kh + ki) * g.kw + kj
        } else {
            ((ki * g.kw + kj) * g.c + c) * g.m + m
        }
    }

    /// Kernel -> (C, M, kh, kw) contiguous.
    fn relayout(&self, g: &Geo, w: &[f32], wr: &mut [f32]) {
        rows_by_output([g.c, g.m, g.kh, g.kw], |r, c, m, ki, kj| {
            wr[r] = w[self.src(g, c, m, ki, kj)]
        });
    }

    fn plan(&self, g: &Geo) -> Plan {
        Plan {
            g: *g,
            s: self.win.strides,
            p: self.win.pads,
        }
    }

    fn parallel(&self, g: &Geo, units: usize) -> bool {
        crate::kernels::pool::threads() > 1
            && units >= 2
            && g.macs() >= PARALLEL_MIN_MACS
            && !crate::kernels::pool::in_parallel_region()
    }
}

/// Geometry, strides and pads of one call: what the plane kernels need.
#[derive(Debug, Clone, Copy)]
struct Plan {
    g: Geo,
    s: [usize; 2],
    p: [usize; 4],
}

/// [`window::tap_rows`] of tap (ki, kj) in one plane of this call.
#[inline(always)]
fn tap_rows(pl: &Plan, ki: usize, kj: usize, f: impl FnMut(usize, usize, usize, usize, isize)) {
    let g = &pl.g;
    window::tap_rows([g.oh, g.ow], [g.h, g.w], pl.s, pl.p, (ki, kj), f)
}

// The plane kernels are compiled per x86 target (AVX-512 / AVX2+FMA / baseline) and
// dispatched once per plane, so the row loops below vectorise at full width.
simd_fn! {
    /// One (sample, channel): `y` (M, OH, OW) from the input plane `xp` and taps `wc`.
    fn plane_fwd(pl: &Plan, xp: &[f32], wc: &[f32], y: &mut [f32]) {
        let g = &pl.g;
        let sw = pl.s[1];
        y.fill(0.0);
        for m in 0..g.m {
            let yp = &mut y[m * g.oplane()..(m + 1) * g.oplane()];
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let wv = wc[(m * g.kh + ki) * g.kw + kj];
                    tap_rows(pl, ki, kj, |oy, iy, lo, hi, dx| {
                        let src = &xp[iy * g.w..(iy + 1) * g.w];
                        let dst = &mut yp[oy * g.ow..(oy + 1) * g.ow];
                        if sw == 1 {
                            let s0 = (lo as isize + dx) as usize;
                            for (d, &s) in dst[lo..hi].iter_mut().zip(&src[s0..s0 + hi - lo]) {
                                *d += wv * s;
                            }
                        } else {
                            for (ox, d) in dst.iter_mut().enumerate().take(hi).skip(lo) {
                                *d += wv * src[((ox * sw) as isize + dx) as usize];
                            }
                        }
                    });
                }
            }
        }
    }
}

simd_fn! {
    /// One (sample, channel): adds into the input-plane gradient `gx` from `gy` (M, OH, OW).
    fn plane_bwd_x(pl: &Plan, gy: &[f32], wc: &[f32], gx: &mut [f32]) {
        let g = &pl.g;
        let sw = pl.s[1];
        for m in 0..g.m {
            let gp = &gy[m * g.oplane()..(m + 1) * g.oplane()];
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let wv = wc[(m * g.kh + ki) * g.kw + kj];
                    tap_rows(pl, ki, kj, |oy, iy, lo, hi, dx| {
                        let src = &gp[oy * g.ow..(oy + 1) * g.ow];
                        let dst = &mut gx[iy * g.w..(iy + 1) * g.w];
                        if sw == 1 {
                            let d0 = (lo as isize + dx) as usize;
                            for (d, &s) in dst[d0..d0 + hi - lo].iter_mut().zip(&src[lo..hi]) {
                                *d += wv * s;
                            }
                        } else {
                            for (ox, &s) in src.iter().enumerate().take(hi).skip(lo) {
                                dst[((ox * sw) as isize + dx) as usize] += wv * s;
                            }
                        }
                    });
                }
            }
        }
    }
}

simd_fn! {
    /// One (sample, channel): adds the taps' gradients (M, kh, kw) into `dw`.
    fn plane_bwd_w(pl: &Plan, gy: &[f32], xp: &[f32], dw: &mut [f32]) {
        let g = &pl.g;
        let sw = pl.s[1];
        for m in 0..g.m {
            let gp = &gy[m * g.oplane()..(m + 1) * g.oplane()];
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    // 8 partial sums so the dot products vectorise
                    let mut acc = [0.0f32; 8];
                    tap_rows(pl, ki, kj, |oy, iy, lo, hi, dx| {
                        let gr = &gp[oy * g.ow..(oy + 1) * g.ow];
                        let xr = &xp[iy * g.w..(iy + 1) * g.w];
                        if sw == 1 {
                            let s0 = (lo as isize + dx) as usize;
                            let (a, b) = (&gr[lo..hi], &xr[s0..s0 + hi - lo]);
                            let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
                            let (ra, rb) = (ca.remainder(), cb.remainder());
                            for (u, v) in ca.zip(cb) {
                                for l in 0..8 {
                                    acc[l] += u[l] * v[l];
                                }
                            }
                            for (&u, &v) in ra.iter().zip(rb) {
                                acc[0] += u * v;
                            }
                        } else {
                            for (ox, &a) in gr.iter().enumerate().take(hi).skip(lo) {
                                acc[0] += a * xr[((ox * sw) as isize + dx) as usize];
                            }
                        }
                    });
                    dw[(m * g.kh + ki) * g.kw + kj] += acc.iter().sum::<f32>();
                }
            }
        }
    }
}

impl Op for DepthwiseConv2d {
    fn name(&self) -> &str {
        OP
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        self.win.infer(inputs, Epilogue::NONE, false)
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = self.geo(&x.shape, &w.shape)?;
        let (taps, ip, op) = (g.taps(), g.iplane(), g.m * g.oplane());
        if g.n == 0 || op == 0 {
            return Ok(());
        }
        grow(&mut ctx.scratch.f, g.c * taps, OP)?;
        let wr = &mut ctx.scratch.f[..g.c * taps];
        self.relayout(&g, &w.f, wr);
        let wr: &[f32] = wr;
        let run = |i: usize, y: &mut [f32]| {
            let c = i % g.c;
            plane_fwd(
                &self.plan(&g),
                &x.f[i * ip..(i + 1) * ip],
                &wr[c * taps..(c + 1) * taps],
                y,
            );
        };
        if self.parallel(&g, g.n * g.c) {
            for_each_part(&mut out.f, op, threads(), &|i, y| run(i, y));
        } else {
            for (i, y) in out.f.chunks_mut(op).enumerate() {
                run(i, y);
            }
        }
        Ok(())
    }

    fn backward(
        &self,
        index: usize,
        inputs: &[&Value],
        _out: &Value,
        gout: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = self.geo(&x.shape, &w.shape)?;
        let (taps, ip, op) = (g.taps(), g.iplane(), g.m * g.oplane());
        if g.n == 0 || op == 0 {
            return Ok(());
        }
        grow(&mut ctx.scratch.f, 2 * g.c * taps, OP)?;
        let (wr, dw) = ctx.scratch.f[..2 * g.c * taps].split_at_mut(g.c * taps);
        if index == 0 {
            self.relayout(&g, &w.f, wr);
            let wr: &[f32] = wr;
            let run = |i: usize, gx: &mut [f32]| {
                let c = i % g.c;
                plane_bwd_x(
                    &self.plan(&g),
                    &gout[i * op..(i + 1) * op],
                    &wr[c * taps..(c + 1) * taps],
                    gx,
                );
            };
            if self.parallel(&g, g.n * g.c) {
                for_each_part(gin, ip, threads(), &|i, gx| run(i, gx));
            } else {
                for (i, gx) in gin.chunks_mut(ip).enumerate() {
                    run(i, gx);
                }
            }
        } else {
            dw.fill(0.0);
            let run = |c: usize, dwc: &mut [f32]| {
                for b in 0..g.n {
                    let i = b * g.c + c;
                    plane_bwd_w(
                        &self.plan(&g),
                        &gout[i * op..(i + 1) * op],
                        &x.f[i * ip..(i + 1) * ip],
                        dwc,
                    );
                }
            };
            if self.parallel(&g, g.c) {
                for_each_part(dw, taps, threads(), &|c, dwc| run(c, dwc));
            } else {
                for (c, dwc) in dw.chunks_mut(taps).enumerate() {
                    run(c, dwc);
                }
            }
            rows_by_output([g.c, g.m, g.kh, g.kw], |r, c, m, ki, kj| {
                gin[self.src(&g, c, m, ki, kj)] += dw[r]
            });
        }
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    match name {
        OP => Some(Window::from_attrs(a).map(|win| Arc::new(DepthwiseConv2d { win }) as OpRef)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::conv::testing::{
        assert_bilinear, assert_shape_errors, check_op, dims, indices, ints, window_taps,
    };
    use crate::ops::{Attr, Scratch};
    use crate::tensor::Value;

    /// Direct reference, kernel in (kh, kw, C, M).
    fn naive(x: &Value, k: &Value, st: [usize; 2], pd: [usize; 4]) -> (Vec<f32>, [usize; 4]) {
        let ([n, c, h, w], [kh, kw, _, m]) = (dims(x), dims(k));
        let oh = (h + pd[0] + pd[1] - kh) / st[0] + 1;
        let ow = (w + pd[2] + pd[3] - kw) / st[1] + 1;
        let mut y = vec![0.0f64; n * c * m * oh * ow];
        let sweep = (([oh, ow], [kh, kw], [h, w]), (st, [pd[0], pd[2]], [1, 1]));
        window_taps(sweep, |[oy, ox], [i, j], [iy, ix]| {
            for [b, ch, mm] in indices([n, c, m]) {
                let xv = x.f[((b * c + ch) * h + iy) * w + ix] as f64;
                y[(((b * c + ch) * m + mm) * oh + oy) * ow + ox] +=
                    xv * k.f[((i * kw + j) * c + ch) * m + mm] as f64;
            }
        });
        (
            y.into_iter().map(|v| v as f32).collect(),
            [n, c * m, oh, ow],
        )
    }

    fn to_mchw(k: &[f32], ks: [usize; 4]) -> Vec<f32> {
        let [kh, kw, c, m] = ks;
        let mut t = vec![0.0; k.len()];
        for i in 0..kh {
            for j in 0..kw {
                for a in 0..c {
                    for b in 0..m {
                        t[((b * c + a) * kh + i) * kw + j] = k[((i * kw + j) * c + a) * m + b];
                    }
                }
            }
        }
        t
    }

    fn case(xs: [usize; 4], ks: [usize; 4], st: [usize; 2], pd: [usize; 4], seed: u64) {
        let x = rand(&xs, seed, -1.0, 1.0);
        let k = rand(&ks, seed + 1, -1.0, 1.0);
        let (want, ys) = naive(&x, &k, st, pd);
        let [kh, kw, c, m] = ks;
        let mchw = val(&[m, c, kh, kw], &to_mchw(&k.f, ks));
        for (layout, kv) in [("hwcm", k), ("mchw", mchw)] {
            let attrs = [
                ("strides", ints(&st)),
                ("pads", ints(&pd)),
                ("kernel_layout", Attr::Str(layout.into())),
            ];
            let what = format!("{xs:?} {ks:?} {st:?} {pd:?} {layout}");
            check_op("depthwise_conv2d", &attrs, (&x, &kv), (&want, &ys), &what);
        }
    }

    #[test]
    fn depthwise_valid_and_multiplier() {
        case([2, 3, 6, 7], [3, 2, 3, 1], [1, 1], [0; 4], 1);
        case([2, 3, 5, 5], [3, 3, 3, 2], [1, 1], [0; 4], 2);
    }

    #[test]
    fn depthwise_strides_and_pads() {
        case([2, 2, 7, 8], [3, 3, 2, 2], [2, 3], [1, 1, 1, 0], 3);
        case([1, 2, 6, 6], [2, 2, 2, 3], [2, 2], [0, 1, 0, 1], 4);
    }

    #[test]
    fn depthwise_parallel_matches_serial_reference() {
        let (xs, ks) = ([4, 16, 24, 24], [3, 3, 16, 2]);
        let x = rand(&xs, 8, -1.0, 1.0);
        let k = rand(&ks, 9, -1.0, 1.0);
        let (want, _) = naive(&x, &k, [1, 1], [1, 1, 1, 1]);
        let o = op("depthwise_conv2d", &[("pads", ints(&[1, 1, 1, 1]))]);
        let mut s = Scratch::default();
        let y = forward_with(&o, &[x.clone(), k.clone()], &mut s).unwrap();
        assert_close(&y.f, &want, 1e-4);
        let r = rand(&y.shape, 10, -1.0, 1.0);
        let refs = [&x, &k];
        let mut gx = vec![0.0; x.len()];
        let mut gk = vec![0.0; k.len()];
        let mut ctx = crate::ops::OpCtx { scratch: &mut s };
        o.backward(0, &refs, &y, &r.f, &mut gx, &mut ctx).unwrap();
        o.backward(1, &refs, &y, &r.f, &mut gk, &mut ctx).unwrap();
        let cap = s.f.capacity();
        assert_bilinear(&y, &r.f, (&x, &gx), (&k, &gk), 1e-2);
        forward_with(&o, &[x, k], &mut s).unwrap();
        assert_eq!(s.f.capacity(), cap);
    }

    #[test]
    fn depthwise_shape_errors() {
        assert_shape_errors("depthwise_conv2d", &[3, 3, 3, 1], 3);
    }
}
