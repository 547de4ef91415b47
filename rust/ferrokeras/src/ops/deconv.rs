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

use std::fmt::Display;
use std::sync::Arc;

use super::conv::attrs::{positive, Epilogue};
use super::conv::kernel::rows_by_output;
use super::conv::shapes::{check_channels, conv_inputs};
use super::conv::{columns, ints2, kernel_layout, pads4, Conv2d, Geo, KernelLayout};
use super::nhwc_batch::{Batch, Parts, Sample};
use super::{Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{n as nop, sgemm, sgemm_serial, t as top};
use crate::kernels::window::out_len;
use crate::tensor::{fmt_dims, fmt_shape, Value};
use crate::{Error, Result};

const OP: &str = "conv2d_transpose";

/// What both layouts of the transposed convolution share: its attributes, the
/// geometry of the associated convolution and where its kernel's taps lie.
#[derive(Debug, Clone, Copy)]
pub(super) struct Transpose {
    out_hw: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    layout: KernelLayout,
    flip: bool,
    /// The associated convolution (its geometry helpers only).
    pub(super) conv: Conv2d,
}

impl Transpose {
    /// `out_hw`, strides, pads, kernel layout and flip.
    pub(super) fn from_attrs(a: &Attrs) -> Result<Transpose> {
        if a.ints_opt("out_hw")?.is_none() {
            return Err(Error::Value(
                "conv2d_transpose: 'out_hw' must be 2 positive integers, got None".into(),
            ));
        }
        let (strides, pads) = (ints2(a, "strides", [1, 1])?, pads4(a)?);
        let (layout, flip) = (kernel_layout(a, OP)?, a.bool("flip", false)?);
        Ok(Transpose {
            out_hw: positive(a, OP, "out_hw", [1, 1])?,
            strides,
            pads,
            layout,
            flip,
            conv: Conv2d::new(strides, pads, [1, 1], layout, flip),
        })
    }

    /// (nb_filter = output channels, stack = input channels, kh, kw) of a kernel shape.
    fn kdims<T: Copy>(&self, k: &[T]) -> (T, T, T, T) {
        self.layout.dims(k)
    }

    /// Axes of the input's channels and first spatial axis.
    fn axes(nhwc: bool) -> (usize, usize) {
        if nhwc {
            (3, 1)
        } else {
            (1, 2)
        }
    }

    /// Geometry of the associated convolution: (N, F, out_h, out_w) -> (N, S, h, w), or
    /// channels-last.
    pub(super) fn geo(&self, x: &[usize], k: &[usize], nhwc: bool) -> Result<Geo> {
        let (f, s, kh, kw) = self.kdims(k);
        let (ch, sp) = Self::axes(nhwc);
        if x[ch] != s {
            return Err(Error::Shape(format!(
                "{OP}: input {} has {} channels but the kernel {} expects {s}",
                fmt_dims(x),
                x[ch],
                fmt_dims(k)
            )));
        }
        let hw = [Some(x[sp]), Some(x[sp + 1])];
        self.check(hw, [kh, kw], sp, (&fmt_dims(x), &fmt_dims(k)))?;
        Ok(Geo {
            n: x[0],
            c: f,
            h: self.out_hw[0],
            w: self.out_hw[1],
            o: s,
            kh,
            kw,
            oh: x[sp],
            ow: x[sp + 1],
        })
    }

    /// The output type, after checking the input types (see [`conv_inputs`]).
    pub(super) fn infer(&self, inputs: &[TypeInfo], epi: Epilogue, nhwc: bool) -> Result<TypeInfo> {
        let what = if nhwc { "(N, H, W, C)" } else { "(N, C, H, W)" };
        let (x, k) = conv_inputs(OP, inputs, epi, 4, what)?;
        let (f, s, kh, kw) = self.kdims(k);
        let (ch, sp) = Self::axes(nhwc);
        check_channels(OP, inputs, epi, (x[ch], s), f)?;
        if let (Some(kh), Some(kw)) = (kh, kw) {
            let names = (&fmt_shape(x) as &dyn Display, &fmt_shape(k) as &dyn Display);
            self.check([x[sp], x[sp + 1]], [kh, kw], sp, names)?;
        }
        let [oh, ow] = self.out_hw.map(Some);
        Ok(TypeInfo::f32(if nhwc {
            vec![x[0], oh, ow, f]
        } else {
            vec![x[0], f, oh, ow]
        }))
    }

    /// Errors unless a convolution of the output size gives back the input's spatial
    /// size `hw` (its axes from `axis0` on) with kernel `k`; `names` are the input's and
    /// the kernel's shapes for the message.
    fn check(
        &self,
        hw: [Option<usize>; 2],
        k: [usize; 2],
        axis0: usize,
        names: (&dyn Display, &dyn Display),
    ) -> Result<()> {
        for (ax, (len, kk)) in hw.into_iter().zip(k).enumerate() {
            let pad = self.pads[2 * ax] + self.pads[2 * ax + 1];
            let back = out_len(self.out_hw[ax], pad, kk, self.strides[ax], 1);
            if matches!((len, back), (Some(l), Some(b)) if l == b)
                || (len.is_none() && back.is_some())
            {
                continue;
            }
            return Err(Error::Shape(format!(
                "{OP}: output size ({}, {}) is inconsistent with input {} and kernel {} \
                 (strides {:?}, pads {:?}): a convolution of the output gives {}",
                self.out_hw[0],
                self.out_hw[1],
                names.0,
                names.1,
                self.strides,
                self.pads,
                match back {
                    Some(b) => format!(
                        "{b} along axis {}, the input has {}",
                        ax + axis0,
                        len.map_or("?".to_string(), |l| l.to_string())
                    ),
                    None => "no output (the kernel is larger than the padded output)".into(),
                }
            )));
        }
        Ok(())
    }

    /// Index in the stored kernel of tap (s, f, ki, kj) of the associated
    /// cross-correlation (F in, S out).
    #[inline]
    pub(super) fn src(&self, g: &Geo, s: usize, f: usize, ki: usize, kj: usize) -> usize {
        (self.layout).index(self.flip, [g.c, g.o, g.kh, g.kw], f, s, ki, kj)
    }
}

/// Transposed 2-D convolution of an NCHW input.
#[derive(Debug)]
pub struct Conv2dTranspose {
    t: Transpose,
}

impl Conv2dTranspose {
    /// Kernel -> the associated cross-correlation's (S, F·kh·kw) matrix.
    fn relayout(&self, g: &Geo, w: &[f32], wm: &mut [f32]) {
        rows_by_output([g.o, g.c, g.kh, g.kw], |r, s, f, ki, kj| {
            wm[r] = w[self.t.src(g, s, f, ki, kj)]
        });
    }

    fn relayout_back(&self, g: &Geo, dm: &[f32], gin: &mut [f32]) {
        rows_by_output([g.o, g.c, g.kh, g.kw], |r, s, f, ki, kj| {
            gin[self.t.src(g, s, f, ki, kj)] += dm[r]
        });
    }
}

impl Op for Conv2dTranspose {
    fn name(&self) -> &str {
        OP
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        self.t.infer(inputs, Epilogue::NONE, false)
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = self.t.geo(&x.shape, &w.shape, false)?;
        let (kk, p) = (g.k(), g.p());
        let ok = g.o * kk;
        let one = self.t.conv.is_1x1(&g);
        let workers = self.t.conv.workers(&g);
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
                self.t.conv.col2im(&g, cols, y);
            }
        };
        let (outs, slots) = (Parts::new(&mut out.f, ys), Parts::new(rest, col));
        Batch::blocks(g.n, workers).forward(outs, slots, &run);
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
        let g = self.t.geo(&x.shape, &w.shape, false)?;
        let (kk, p) = (g.k(), g.p());
        let ok = g.o * kk;
        let one = self.t.conv.is_1x1(&g);
        let workers = self.t.conv.workers(&g);
        let col = if one { 1 } else { kk * p };
        let (xs, ys) = (g.o * p, g.c * g.h * g.w);
        if g.n == 0 || ys == 0 || xs == 0 {
            return Ok(());
        }
        // scratch: [kernel matrix | per worker: columns | per range: kernel-gradient
        // partial]
        let batch = Batch::blocks(g.n, workers);
        let (wm, mut work, _) =
            batch.carve(&mut ctx.scratch.f, [ok, col, ok, 0], "conv2d_transpose")?;
        if index == 0 {
            // d x = the associated convolution of d y
            self.relayout(&g, &w.f, wm);
            let wm: &[f32] = wm;
            let run = |i: usize, cols: &mut [f32], gx: &mut [f32], serial: bool| {
                let gi = &gout[i * ys..(i + 1) * ys];
                let b = columns(one, gi, cols, |v, c| self.t.conv.im2col(&g, v, c));
                let gemm = if serial { sgemm_serial } else { sgemm };
                gemm(g.o, p, kk, nop(wm), nop(b), gx, true);
            };
            batch.forward(Parts::new(gin, xs), work.slots(), &run);
        } else {
            // d W (S, F·kh·kw) = sum over samples of x_i · cols(d y_i)ᵀ
            let run = |sm: Sample| {
                let (i, cols, dw, first, serial) = (sm.i, sm.slot, sm.dw, sm.first, sm.serial);
                let gi = &gout[i * ys..(i + 1) * ys];
                let b = columns(one, gi, cols, |v, c| self.t.conv.im2col(&g, v, c));
                let xi = &x.f[i * xs..(i + 1) * xs];
                let gemm = if serial { sgemm_serial } else { sgemm };
                gemm(g.o, kk, p, nop(xi), top(b), dw, !first);
            };
            batch.backward(Parts::none(), Parts::none(), &mut work, &run);
            self.relayout_back(&g, work.sum(), gin);
        }
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    match name {
        OP => Some((|| {
            Ok(Arc::new(Conv2dTranspose {
                t: Transpose::from_attrs(a)?,
            }) as OpRef)
        })()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::conv::testing::{
        assert_bilinear, assert_err, check_layouts, dims, indices, infer, ints, stored_tap,
        window_taps,
    };
    use crate::ops::Attr;
    use crate::tensor::Value;

    /// Direct reference: scatter every input pixel through the kernel. Kernel in the
    /// Keras 'th' layout (F, S, kh, kw); `flip` reverses the taps (Theano semantics).
    fn naive(
        x: &Value,
        k: &Value,
        out_hw: [usize; 2],
        (st, pd): ([usize; 2], [usize; 4]),
        flip: bool,
    ) -> Vec<f32> {
        let ([n, s, h, w], [f, _, kh, kw]) = (dims(x), dims(k));
        let [oh, ow] = out_hw;
        let mut y = vec![0.0f64; n * f * oh * ow];
        let sweep = (([h, w], [kh, kw], [oh, ow]), (st, [pd[0], pd[2]], [1, 1]));
        window_taps(sweep, |[iy, ix], t, [yy, yx]| {
            let [ki, kj] = stored_tap(flip, t, [kh, kw]);
            for [b, c, o] in indices([n, s, f]) {
                let v = x.f[((b * s + c) * h + iy) * w + ix] as f64;
                y[((b * f + o) * oh + yy) * ow + yx] +=
                    v * k.f[((o * s + c) * kh + ki) * kw + kj] as f64;
            }
        });
        y.into_iter().map(|v| v as f32).collect()
    }

    fn case(xs: [usize; 4], ks: [usize; 4], out_hw: [usize; 2], st: [usize; 2], pd: [usize; 4]) {
        let x = rand(&xs, 3, -1.0, 1.0);
        let k = rand(&ks, 4, -1.0, 1.0);
        let ys = [xs[0], ks[0], out_hw[0], out_hw[1]];
        for flip in [false, true] {
            let want = naive(&x, &k, out_hw, (st, pd), flip);
            let attrs = [
                ("out_hw", ints(&out_hw)),
                ("strides", ints(&st)),
                ("pads", ints(&pd)),
            ];
            check_layouts("conv2d_transpose", &attrs, flip, (&x, &k), (&want, &ys));
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
        let want = naive(&x, &k, [21, 21], ([2, 2], [0; 4]), true);
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
        assert_bilinear(&y, &r.f, (&x, &gx), (&k, &gk), 1e-2);
    }

    #[test]
    fn deconv_shape_errors() {
        let o = op("conv2d_transpose", &[("out_hw", ints(&[7, 7]))]);
        let e = infer(&o, &[&[1, 3, 4, 5], &[2, 3, 3, 3]]);
        assert_err(e, &["inconsistent", "(1, 3, 4, 5)"]);
        assert_err(infer(&o, &[&[1, 2, 5, 5], &[2, 3, 3, 3]]), &["channels"]);
        let o = op("conv2d_transpose", &[("out_hw", ints(&[2, 2]))]);
        assert_err(infer(&o, &[&[1, 3, 1, 1], &[2, 3, 3, 3]]), &["larger"]);
        assert!(infer(&o, &[&[1, 5, 5], &[4, 3, 3, 3]]).is_err());
    }
}
