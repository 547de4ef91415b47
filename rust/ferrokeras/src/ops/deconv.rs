//! Transposed convolution (`conv2d_transpose`, Keras 1's `K.deconv2d`) on channels-first
//! (N, C, H, W) feature maps.
//!
//! A transposed convolution is the input gradient of a convolution: the "associated"
//! convolution maps the (N, nb_filter, out_h, out_w) output of this op back to its
//! (N, stack, h, w) input with the same kernel, strides and pads. Forward is therefore
//! `Wᵀ · x` per sample scattered by conv.rs's col2im; the input gradient is that
//! convolution's forward (im2col + gemm); the kernel gradient is `x · colsᵀ` summed over
//! the batch. The im2col/col2im kernels and the batch-parallel split are conv.rs's.
//!
//! The kernel is taken as Keras 1 stores Deconvolution2D's W (Convolution2D's shape,
//! with stack = this op's input channels): `kernel_layout` `"oihw"` (Keras 'th':
//! (nb_filter, stack, rows, cols)) or `"hwio"` (Keras 'tf': (rows, cols, stack,
//! nb_filter)). With `flip` the associated convolution is a true convolution (Theano's
//! `AbstractConv2d_gradInputs` with `filter_flip`), without it a cross-correlation
//! (TensorFlow's `conv2d_transpose`); the flip is folded into the per-call re-layout.
//!
//! Attributes: `out_hw` (Ints 2, required: output rows, cols), `strides` (Ints 2,
//! default 1,1), `pads` (Ints 4: top, bottom, left, right of the associated convolution,
//! default 0), `kernel_layout` (Str, default "oihw"), `flip` (Bool, default false).

use std::sync::Arc;

use rayon::prelude::*;

use super::conv::{ints2, pads4, Conv2d, Geo, KernelLayout};
use super::{expect_float, expect_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{n as nop, sgemm, sgemm_serial, t as top};
use crate::kernels::window::out_len;
use crate::tensor::{fmt_dims, fmt_shape, Value};
use crate::{Error, Result};

/// Transposed 2-D convolution of an NCHW input.
#[derive(Debug)]
pub struct Conv2dTranspose {
    out_hw: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    layout: KernelLayout,
    flip: bool,
    /// The associated convolution (only its im2col/col2im geometry is used).
    conv: Conv2d,
}

impl Conv2dTranspose {
    /// (nb_filter = output channels, stack = input channels, kh, kw) of a kernel shape.
    fn kdims<T: Copy>(&self, k: &[T]) -> (T, T, T, T) {
        match self.layout {
            KernelLayout::Oihw => (k[0], k[1], k[2], k[3]),
            KernelLayout::Hwio => (k[3], k[2], k[0], k[1]),
        }
    }

    /// Geometry of the associated convolution: (N, F, out_h, out_w) -> (N, S, h, w).
    fn geo(&self, x: &[usize], k: &[usize]) -> Result<Geo> {
        let (f, s, kh, kw) = self.kdims(k);
        let g = Geo {
            n: x[0],
            c: f,
            h: self.out_hw[0],
            w: self.out_hw[1],
            o: s,
            kh,
            kw,
            oh: x[2],
            ow: x[3],
        };
        self.check(
            &[Some(x[2]), Some(x[3])],
            kh,
            kw,
            &fmt_dims(x),
            &fmt_dims(k),
        )?;
        Ok(g)
    }

    /// Errors unless a convolution of the output size gives back the input size.
    fn check(
        &self,
        hw: &[Option<usize>; 2],
        kh: usize,
        kw: usize,
        x: &dyn std::fmt::Display,
        k: &dyn std::fmt::Display,
    ) -> Result<()> {
        for (ax, (&len, kk)) in hw.iter().zip([kh, kw]).enumerate() {
            let pad = self.pads[2 * ax] + self.pads[2 * ax + 1];
            let back = out_len(self.out_hw[ax], pad, kk, self.strides[ax], 1);
            let ok = match (len, back) {
                (Some(l), Some(b)) => l == b,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if !ok {
                return Err(Error::Shape(format!(
                    "conv2d_transpose: output size ({}, {}) is inconsistent with input {x} and \
                     kernel {k} (strides {:?}, pads {:?}): a convolution of the output gives {}",
                    self.out_hw[0],
                    self.out_hw[1],
                    self.strides,
                    self.pads,
                    match back {
                        Some(b) => format!(
                            "{b} along axis {}, the input has {}",
                            ax + 2,
                            len.map_or("?".to_string(), |l| l.to_string())
                        ),
                        None => "no output (the kernel is larger than the padded output)".into(),
                    }
                )));
            }
        }
        Ok(())
    }

    /// Index in the stored kernel of tap (s, f, ki, kj) of the associated
    /// cross-correlation matrix (S, F·kh·kw).
    #[inline]
    fn src(&self, g: &Geo, s: usize, f: usize, ki: usize, kj: usize) -> usize {
        let (ki, kj) = if self.flip {
            (g.kh - 1 - ki, g.kw - 1 - kj)
        } else {
            (ki, kj)
        };
        match self.layout {
            KernelLayout::Oihw => ((f * g.o + s) * g.kh + ki) * g.kw + kj,
            KernelLayout::Hwio => ((ki * g.kw + kj) * g.o + s) * g.c + f,
        }
    }

    fn relayout(&self, g: &Geo, w: &[f32], wm: &mut [f32]) {
        let mut r = 0;
        for s in 0..g.o {
            for f in 0..g.c {
                for ki in 0..g.kh {
                    for kj in 0..g.kw {
                        wm[r] = w[self.src(g, s, f, ki, kj)];
                        r += 1;
                    }
                }
            }
        }
    }

    fn relayout_back(&self, g: &Geo, dm: &[f32], gin: &mut [f32]) {
        let mut r = 0;
        for s in 0..g.o {
            for f in 0..g.c {
                for ki in 0..g.kh {
                    for kj in 0..g.kw {
                        gin[self.src(g, s, f, ki, kj)] += dm[r];
                        r += 1;
                    }
                }
            }
        }
    }
}

impl Op for Conv2dTranspose {
    fn name(&self) -> &str {
        "conv2d_transpose"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("conv2d_transpose", inputs, 2)?;
        expect_float("conv2d_transpose", &inputs[0])?;
        expect_float("conv2d_transpose", &inputs[1])?;
        let (x, k) = (&inputs[0].shape, &inputs[1].shape);
        if x.len() != 4 || k.len() != 4 {
            return Err(Error::Shape(format!(
                "conv2d_transpose: expects a 4-D input (N, C, H, W) and a 4-D kernel, got {} and {}",
                fmt_shape(x),
                fmt_shape(k)
            )));
        }
        let (f, s, kh, kw) = self.kdims(k);
        if let (Some(a), Some(b)) = (x[1], s) {
            if a != b {
                return Err(Error::Shape(format!(
                    "conv2d_transpose: input {} has {a} channels but the kernel {} expects {b}",
                    fmt_shape(x),
                    fmt_shape(k)
                )));
            }
        }
        if let (Some(kh), Some(kw)) = (kh, kw) {
            self.check(&[x[2], x[3]], kh, kw, &fmt_shape(x), &fmt_shape(k))?;
        }
        Ok(TypeInfo::f32(vec![
            x[0],
            f,
            Some(self.out_hw[0]),
            Some(self.out_hw[1]),
        ]))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = self.geo(&x.shape, &w.shape)?;
        let (kk, p) = (g.k(), g.p());
        let ok = g.o * kk;
        let one = self.conv.is_1x1(&g);
        let workers = self.conv.workers(&g);
        let col = if one { 1 } else { kk * p };
        let (xs, ys) = (g.o * p, g.c * g.h * g.w);
        out.f.fill(0.0);
        if g.n == 0 || ys == 0 || xs == 0 {
            return Ok(());
        }
        grow(&mut ctx.scratch.f, ok + workers * col, "conv2d_transpose")?;
        let (wm, rest) = ctx.scratch.f.split_at_mut(ok);
        self.relayout(&g, &w.f, wm);
        let wm: &[f32] = wm;
        let run = |i: usize, cols: &mut [f32], y: &mut [f32], serial: bool| {
            let xi = &x.f[i * xs..(i + 1) * xs];
            let gemm = if serial { sgemm_serial } else { sgemm };
            if one {
                gemm(kk, p, g.o, top(wm), nop(xi), y, false);
            } else {
                gemm(kk, p, g.o, top(wm), nop(xi), cols, false);
                self.conv.col2im(&g, cols, y);
            }
        };
        if workers == 1 {
            let cols = &mut rest[..col];
            for (i, y) in out.f.chunks_mut(ys).enumerate() {
                run(i, cols, y, false);
            }
        } else {
            let per = g.n.div_ceil(workers);
            out.f
                .par_chunks_mut(per * ys)
                .zip(rest[..workers * col].par_chunks_mut(col))
                .enumerate()
                .for_each(|(wi, (yc, cols))| {
                    for (j, y) in yc.chunks_mut(ys).enumerate() {
                        run(wi * per + j, cols, y, true);
                    }
                });
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
        let (kk, p) = (g.k(), g.p());
        let ok = g.o * kk;
        let one = self.conv.is_1x1(&g);
        let workers = self.conv.workers(&g);
        let col = if one { 1 } else { kk * p };
        let (xs, ys) = (g.o * p, g.c * g.h * g.w);
        if g.n == 0 || ys == 0 || xs == 0 {
            return Ok(());
        }
        // scratch: [kernel matrix | per worker: columns, kernel-gradient partial]
        let slot = col + ok;
        grow(&mut ctx.scratch.f, ok + workers * slot, "conv2d_transpose")?;
        let (wm, rest) = ctx.scratch.f.split_at_mut(ok);
        if index == 0 {
            // d x = the associated convolution of d y
            self.relayout(&g, &w.f, wm);
            let wm: &[f32] = wm;
            let run = |i: usize, cols: &mut [f32], gx: &mut [f32], serial: bool| {
                let gi = &gout[i * ys..(i + 1) * ys];
                let b: &[f32] = if one {
                    gi
                } else {
                    self.conv.im2col(&g, gi, cols);
                    cols
                };
                let gemm = if serial { sgemm_serial } else { sgemm };
                gemm(g.o, p, kk, nop(wm), nop(b), gx, true);
            };
            if workers == 1 {
                let cols = &mut rest[..col];
                for (i, gx) in gin.chunks_mut(xs).enumerate() {
                    run(i, cols, gx, false);
                }
            } else {
                let per = g.n.div_ceil(workers);
                gin.par_chunks_mut(per * xs)
                    .zip(rest[..workers * slot].par_chunks_mut(slot))
                    .enumerate()
                    .for_each(|(wi, (gxs, buf))| {
                        for (j, gx) in gxs.chunks_mut(xs).enumerate() {
                            run(wi * per + j, &mut buf[..col], gx, true);
                        }
                    });
            }
        } else {
            // d W (S, F·kh·kw) = sum over samples of x_i · cols(d y_i)ᵀ
            let run = |i: usize, buf: &mut [f32], first: bool, serial: bool| {
                let (cols, dw) = buf.split_at_mut(col);
                let gi = &gout[i * ys..(i + 1) * ys];
                let b: &[f32] = if one {
                    gi
                } else {
                    self.conv.im2col(&g, gi, cols);
                    cols
                };
                let xi = &x.f[i * xs..(i + 1) * xs];
                let gemm = if serial { sgemm_serial } else { sgemm };
                gemm(g.o, kk, p, nop(xi), top(b), dw, !first);
            };
            let parts = &mut rest[..workers * slot];
            if workers == 1 {
                for i in 0..g.n {
                    run(i, parts, i == 0, false);
                }
            } else {
                let per = g.n.div_ceil(workers);
                parts
                    .par_chunks_mut(slot)
                    .enumerate()
                    .for_each(|(wi, buf)| {
                        let lo = wi * per;
                        let hi = ((wi + 1) * per).min(g.n);
                        if lo >= hi {
                            buf[col..].fill(0.0);
                        }
                        for i in lo..hi {
                            run(i, buf, i == lo, true);
                        }
                    });
                let (first, others) = parts.split_at_mut(slot);
                for other in others.chunks(slot) {
                    for (a, &b) in first[col..].iter_mut().zip(&other[col..]) {
                        *a += b;
                    }
                }
            }
            self.relayout_back(&g, &parts[col..slot], gin);
        }
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    match name {
        "conv2d_transpose" => Some((|| {
            let layout = match a.str_opt("kernel_layout")?.as_deref() {
                None | Some("oihw") => KernelLayout::Oihw,
                Some("hwio") => KernelLayout::Hwio,
                Some(s) => {
                    return Err(Error::Value(format!(
                        "conv2d_transpose: kernel_layout must be 'oihw' or 'hwio', got '{s}'"
                    )))
                }
            };
            let out_hw = match a.ints_opt("out_hw")? {
                Some(v) if v.len() == 2 && v.iter().all(|&s| s >= 1) => {
                    [v[0] as usize, v[1] as usize]
                }
                v => {
                    return Err(Error::Value(format!(
                        "conv2d_transpose: 'out_hw' must be 2 positive integers, got {v:?}"
                    )))
                }
            };
            let strides = ints2(a, "strides", [1, 1])?;
            let pads = pads4(a)?;
            let flip = a.bool("flip", false)?;
            Ok(Arc::new(Conv2dTranspose {
                out_hw,
                strides,
                pads,
                layout,
                flip,
                conv: Conv2d::new(strides, pads, [1, 1], layout, flip),
            }) as OpRef)
        })()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::Attr;

    /// Direct reference: scatter every input pixel through the kernel. Kernel in the
    /// Keras 'th' layout (F, S, kh, kw); `flip` reverses the taps (Theano semantics).
    #[allow(clippy::too_many_arguments)]
    fn naive(
        x: &[f32],
        xs: [usize; 4],
        k: &[f32],
        ks: [usize; 4],
        out_hw: [usize; 2],
        st: [usize; 2],
        pd: [usize; 4],
        flip: bool,
    ) -> Vec<f32> {
        let [n, s, h, w] = xs;
        let [f, _, kh, kw] = ks;
        let [oh, ow] = out_hw;
        let mut y = vec![0.0f64; n * f * oh * ow];
        for b in 0..n {
            for c in 0..s {
                for iy in 0..h {
                    for ix in 0..w {
                        let v = x[((b * s + c) * h + iy) * w + ix] as f64;
                        for o in 0..f {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let yy = (iy * st[0] + i) as isize - pd[0] as isize;
                                    let yx = (ix * st[1] + j) as isize - pd[2] as isize;
                                    if yy < 0 || yx < 0 || yy >= oh as isize || yx >= ow as isize {
                                        continue;
                                    }
                                    let (ki, kj) = if flip {
                                        (kh - 1 - i, kw - 1 - j)
                                    } else {
                                        (i, j)
                                    };
                                    y[((b * f + o) * oh + yy as usize) * ow + yx as usize] +=
                                        v * k[((o * s + c) * kh + ki) * kw + kj] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    fn to_hwio(k: &[f32], ks: [usize; 4]) -> Vec<f32> {
        let [f, s, kh, kw] = ks;
        let mut t = vec![0.0; k.len()];
        for a in 0..f {
            for b in 0..s {
                for i in 0..kh {
                    for j in 0..kw {
                        t[((i * kw + j) * s + b) * f + a] = k[((a * s + b) * kh + i) * kw + j];
                    }
                }
            }
        }
        t
    }

    fn ints(v: &[usize]) -> Attr {
        Attr::Ints(v.iter().map(|&a| a as i64).collect())
    }

    fn case(xs: [usize; 4], ks: [usize; 4], out_hw: [usize; 2], st: [usize; 2], pd: [usize; 4]) {
        let x = rand(&xs, 3, -1.0, 1.0);
        let k = rand(&ks, 4, -1.0, 1.0);
        for flip in [false, true] {
            let want = naive(&x.f, xs, &k.f, ks, out_hw, st, pd, flip);
            for layout in ["oihw", "hwio"] {
                let kv = if layout == "oihw" {
                    k.clone()
                } else {
                    let [f, s, kh, kw] = ks;
                    val(&[kh, kw, s, f], &to_hwio(&k.f, ks))
                };
                let o = op(
                    "conv2d_transpose",
                    &[
                        ("out_hw", ints(&out_hw)),
                        ("strides", ints(&st)),
                        ("pads", ints(&pd)),
                        ("kernel_layout", Attr::Str(layout.into())),
                        ("flip", Attr::Bool(flip)),
                    ],
                );
                let y = forward(&o, &[x.clone(), kv.clone()]);
                assert_eq!(y.shape, vec![xs[0], ks[0], out_hw[0], out_hw[1]]);
                assert_close(&y.f, &want, 1e-4);
                grad_check(&o, &[x.clone(), kv], 1e-2, 2e-2)
                    .unwrap_or_else(|e| panic!("{xs:?} {ks:?} {st:?} {pd:?} {layout} {flip}: {e}"));
            }
        }
    }

    #[test]
    fn deconv_valid_stride1() {
        // (5-3)/1+1 = 3 -> input 3x4 from output 5x6
        case([2, 3, 3, 4], [4, 3, 3, 3], [5, 6], [1, 1], [0; 4]);
    }

    #[test]
    fn deconv_strided_with_slack_and_pads() {
        // out 8: (8-3)/2+1 = 3; out 7: (7-3)/2+1 = 3 (the last row only gets padding)
        case([2, 2, 3, 3], [3, 2, 3, 3], [8, 7], [2, 2], [0; 4]);
        // 'same'-style asymmetric pads with stride 2: (6+1-2)/2+1 = 3
        case([1, 2, 3, 3], [2, 2, 2, 2], [6, 6], [2, 2], [0, 1, 0, 1]);
        case([2, 1, 4, 5], [2, 1, 3, 3], [4, 5], [1, 1], [1, 1, 1, 1]);
    }

    #[test]
    fn deconv_1x1_fast_path() {
        case([3, 4, 3, 5], [6, 4, 1, 1], [3, 5], [1, 1], [0; 4]);
    }

    #[test]
    fn deconv_parallel_batch_matches_reference() {
        let (xs, ks) = ([8, 16, 10, 10], [8, 16, 3, 3]);
        let x = rand(&xs, 5, -1.0, 1.0);
        let k = rand(&ks, 6, -1.0, 1.0);
        let want = naive(&x.f, xs, &k.f, ks, [21, 21], [2, 2], [0; 4], true);
        let o = op(
            "conv2d_transpose",
            &[
                ("out_hw", ints(&[21, 21])),
                ("strides", ints(&[2, 2])),
                ("flip", Attr::Bool(true)),
            ],
        );
        let y = forward(&o, &[x.clone(), k.clone()]);
        assert_close(&y.f, &want, 1e-4);
        // backward through the parallel path: <dy, deconv(x)> = <conv(dy), x>
        let r = rand(&y.shape, 7, -1.0, 1.0);
        let mut s = crate::ops::Scratch::default();
        let mut gx = vec![0.0; x.len()];
        let mut gk = vec![0.0; k.len()];
        let refs = [&x, &k];
        let mut ctx = crate::ops::OpCtx { scratch: &mut s };
        o.backward(0, &refs, &y, &r.f, &mut gx, &mut ctx).unwrap();
        o.backward(1, &refs, &y, &r.f, &mut gk, &mut ctx).unwrap();
        let lhs: f64 =
            y.f.iter()
                .zip(&r.f)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
        let rx: f64 = gx
            .iter()
            .zip(&x.f)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum();
        let rk: f64 = gk
            .iter()
            .zip(&k.f)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum();
        // the op is bilinear: <r, y> = <gx, x> = <gk, k>
        assert!((lhs - rx).abs() < 1e-2 * (1.0 + lhs.abs()), "{lhs} vs {rx}");
        assert!((lhs - rk).abs() < 1e-2 * (1.0 + lhs.abs()), "{lhs} vs {rk}");
    }

    #[test]
    fn deconv_shape_errors() {
        let t = |s: &[usize]| crate::ops::TypeInfo::f32(crate::tensor::known(s));
        let o = op("conv2d_transpose", &[("out_hw", ints(&[7, 7]))]);
        let e = o
            .infer(&[t(&[1, 3, 4, 5]), t(&[2, 3, 3, 3])])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("inconsistent") && e.contains("(1, 3, 4, 5)"),
            "{e}"
        );
        let e = o
            .infer(&[t(&[1, 2, 5, 5]), t(&[2, 3, 3, 3])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("channels"), "{e}");
        let o = op("conv2d_transpose", &[("out_hw", ints(&[2, 2]))]);
        let e = o
            .infer(&[t(&[1, 3, 1, 1]), t(&[2, 3, 3, 3])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("larger"), "{e}");
        assert!(o.infer(&[t(&[1, 5, 5]), t(&[4, 3, 3, 3])]).is_err());
    }
}
