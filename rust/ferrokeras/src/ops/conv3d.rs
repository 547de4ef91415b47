//! Volumetric convolution: `conv3d` on channels-first (N, C, D, H, W) volumes.
//!
//! The 3-D twin of `conv2d` (see `conv.rs`): forward is volumetric im2col + gemm per
//! sample (a 1x1x1, stride-1, unpadded kernel skips im2col); backward gives the kernel
//! gradient as `gout · colsᵀ` summed over the batch and the input gradient as
//! `Wᵀ · gout` scattered back by col2im.
//!
//! The kernel is taken as Keras stores it (`kernel_layout` `"oidhw"`, Keras 'th':
//! (nb_filter, stack, k1, k2, k3); `"dhwio"`, Keras 'tf': (k1, k2, k3, stack,
//! nb_filter)) and re-laid out once per call into an (O, C·kd·kh·kw) matrix in the
//! node's scratch. With `flip` the kernel is reversed along its three spatial axes
//! during that re-layout (a true convolution, as Theano; without it a
//! cross-correlation, as TensorFlow), at no extra cost.
//!
//! Attributes: `strides` (Ints 3, default 1,1,1), `pads` (Ints 6: front, back, top,
//! bottom, left, right, default 0), `kernel_layout` (Str, default "oidhw"), `flip`
//! (Bool, default false).
//!
//! Work is split over the batch (one contiguous range of samples per worker, each with
//! its own column buffer in scratch, serial gemm inside) when there are at least two
//! samples and enough multiply-adds; otherwise samples run in turn with the (possibly
//! parallel) gemm. A steady-state call allocates nothing outside the gemm crate.

use std::sync::Arc;

pub(crate) use super::conv::attrs::{pads as pads6, positive as ints3};
use super::conv::attrs::{second_of, Epilogue};
use super::conv::columns;
use super::conv::shapes::{check_channels, conv_inputs, out_dim, out_sizes};
use super::nhwc_batch::{self, Batch, Parts, Sample};
use super::{Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{n as nop, sgemm, sgemm_serial, t as top};
use crate::kernels::window::{gather_row, scatter_add_row, valid_range};
use crate::tensor::{fmt_dims, Dim, Value};
use crate::{Error, Result};

/// Storage order of a 3-D convolution kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelLayout3 {
    /// (out, in, k1, k2, k3): Keras 'th'.
    Oidhw,
    /// (k1, k2, k3, in, out): Keras 'tf'.
    Dhwio,
}

/// What both layouts of `conv3d` share: the attributes, the geometry of a call and
/// where the kernel's taps lie.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window3 {
    pub(super) strides: [usize; 3],
    pub(super) pads: [usize; 6],
    pub(super) layout: KernelLayout3,
    pub(super) flip: bool,
}

/// 3-D convolution (cross-correlation, or true convolution with `flip`) of an NCDHW
/// input with a kernel of `layout`.
#[derive(Debug)]
pub struct Conv3d {
    win: Window3,
}

/// Concrete geometry of one call: input (n, c, sp), kernel (o, c, k), output (n, o, op).
#[derive(Debug, Clone, Copy)]
pub(super) struct Geo {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) sp: [usize; 3],
    pub(super) o: usize,
    pub(super) k: [usize; 3],
    pub(super) op: [usize; 3],
}

impl Geo {
    /// Rows of the column matrix: C·kd·kh·kw.
    pub(super) fn kk(&self) -> usize {
        self.c * self.k[0] * self.k[1] * self.k[2]
    }
    /// Output positions per sample.
    pub(super) fn p(&self) -> usize {
        self.op[0] * self.op[1] * self.op[2]
    }
    /// Input elements per channel.
    pub(super) fn vol(&self) -> usize {
        self.sp[0] * self.sp[1] * self.sp[2]
    }
    /// Floats of one input sample.
    pub(super) fn xs(&self) -> usize {
        self.vol() * self.c
    }
}

impl Window3 {
    /// `strides`, `pads`, `kernel_layout` and `flip`.
    pub(super) fn from_attrs(a: &Attrs) -> Result<Window3> {
        Ok(Window3 {
            strides: ints3(a, "conv3d", "strides", [1, 1, 1])?,
            pads: pads6(a, "conv3d")?,
            layout: match second_of(a, "conv3d", "kernel_layout", ["oidhw", "dhwio"])? {
                false => KernelLayout3::Oidhw,
                true => KernelLayout3::Dhwio,
            },
            flip: a.bool("flip", false)?,
        })
    }

    /// (out, in, [k1, k2, k3]) of a kernel shape in this op's layout.
    fn kdims<T: Copy>(&self, k: &[T]) -> (T, T, [T; 3]) {
        match self.layout {
            KernelLayout3::Oidhw => (k[0], k[1], [k[2], k[3], k[4]]),
            KernelLayout3::Dhwio => (k[4], k[3], [k[0], k[1], k[2]]),
        }
    }

    /// Axes of the input's channels and first spatial axis.
    fn axes(ndhwc: bool) -> (usize, usize) {
        if ndhwc {
            (4, 1)
        } else {
            (1, 2)
        }
    }

    /// The geometry of a call on input `x` (channels-last with `ndhwc`) and a kernel
    /// of shape `kshape`.
    pub(super) fn geo(&self, x: &[usize], kshape: &[usize], ndhwc: bool) -> Result<Geo> {
        let (o, ci, k) = self.kdims(kshape);
        let (ch, sp) = Self::axes(ndhwc);
        if ci != x[ch] {
            return Err(Error::Shape(format!(
                "conv3d: input {} has {} channels but the kernel {} expects {ci}",
                fmt_dims(x),
                x[ch],
                fmt_dims(kshape)
            )));
        }
        let len = [x[sp], x[sp + 1], x[sp + 2]];
        let (st, pads) = (self.strides, &self.pads);
        let op = out_sizes("conv3d", (x, kshape), len, k, st, pads, [1; 3])?;
        Ok(Geo {
            n: x[0],
            c: x[ch],
            sp: len,
            o,
            k,
            op,
        })
    }

    /// The output type, after checking the input types (see [`conv_inputs`]).
    pub(super) fn infer(
        &self,
        inputs: &[TypeInfo],
        epi: Epilogue,
        ndhwc: bool,
    ) -> Result<TypeInfo> {
        let what = if ndhwc {
            "(N, D, H, W, C)"
        } else {
            "(N, C, D, H, W)"
        };
        let (x, k) = conv_inputs("conv3d", inputs, epi, 5, what)?;
        let (o, ci, ks) = self.kdims(k);
        let (ch, sp) = Self::axes(ndhwc);
        check_channels("conv3d", inputs, epi, (x[ch], ci), o)?;
        let mut out: Vec<Dim> = vec![x[0]];
        if !ndhwc {
            out.push(o);
        }
        for (a, &ka) in ks.iter().enumerate() {
            let pad = self.pads[2 * a] + self.pads[2 * a + 1];
            out.push(out_dim(
                "conv3d",
                inputs,
                x[sp + a],
                pad,
                ka,
                self.strides[a],
                1,
            )?);
        }
        if ndhwc {
            out.push(o);
        }
        Ok(TypeInfo::f32(out))
    }

    pub(super) fn has_pads(&self) -> bool {
        self.pads != [0; 6]
    }

    pub(super) fn is_1x1(&self, g: &Geo) -> bool {
        g.k == [1, 1, 1] && self.strides == [1, 1, 1] && !self.has_pads()
    }

    /// Index in the stored kernel of tap (o, c, t) of the cross-correlation matrix.
    #[inline]
    pub(super) fn src(&self, g: &Geo, o: usize, c: usize, t: [usize; 3]) -> usize {
        let [a, b, d] = if self.flip {
            [g.k[0] - 1 - t[0], g.k[1] - 1 - t[1], g.k[2] - 1 - t[2]]
        } else {
            t
        };
        let [k1, k2, k3] = g.k;
        match self.layout {
            KernelLayout3::Oidhw => (((o * g.c + c) * k1 + a) * k2 + b) * k3 + d,
            KernelLayout3::Dhwio => ((((a * k2 + b) * k3 + d) * g.c + c) * g.o) + o,
        }
    }
}

impl Conv3d {
    /// Calls `f(row, stored index)` for every entry of the (O, C·kd·kh·kw) matrix.
    fn for_taps(&self, g: &Geo, mut f: impl FnMut(usize, usize)) {
        let mut r = 0;
        for o in 0..g.o {
            for c in 0..g.c {
                for a in 0..g.k[0] {
                    for b in 0..g.k[1] {
                        for d in 0..g.k[2] {
                            f(r, self.win.src(g, o, c, [a, b, d]));
                            r += 1;
                        }
                    }
                }
            }
        }
    }

    /// Calls `f(src, dst, lo, hi, sw, dx)` for every output row of the column matrix
    /// that reads inside the input: `src` is the offset of the input row read (channel
    /// c, slice iz, row iy), `dst` the offset of the column-matrix row segment (row =
    /// (c, tap), output (oz, oy)), `[lo, hi)` the output columns whose input column
    /// `ox*sw + dx` is in bounds. Rows outside the input are skipped.
    #[inline]
    fn sweep(&self, g: &Geo, mut f: impl FnMut(usize, usize, usize, usize, usize, isize)) {
        let [sd, sh, sw] = self.win.strides;
        let [od, oh, ow] = g.op;
        let [d, h, w] = g.sp;
        let mut row = 0;
        for c in 0..g.c {
            for a in 0..g.k[0] {
                for b in 0..g.k[1] {
                    for e in 0..g.k[2] {
                        let dz = a as isize - self.win.pads[0] as isize;
                        let dy = b as isize - self.win.pads[2] as isize;
                        let dx = e as isize - self.win.pads[4] as isize;
                        let (lo, hi) = valid_range(ow, w, sw, dx);
                        for oz in 0..od {
                            let iz = (oz * sd) as isize + dz;
                            if iz < 0 || iz >= d as isize {
                                continue;
                            }
                            for oy in 0..oh {
                                let iy = (oy * sh) as isize + dy;
                                if iy < 0 || iy >= h as isize {
                                    continue;
                                }
                                let src = ((c * d + iz as usize) * h + iy as usize) * w;
                                let dst = row * g.p() + (oz * oh + oy) * ow;
                                f(src, dst, lo, hi, sw, dx);
                            }
                        }
                        row += 1;
                    }
                }
            }
        }
    }

    /// Column matrix (C·kd·kh·kw, OD·OH·OW) of one sample.
    fn im2col(&self, g: &Geo, x: &[f32], cols: &mut [f32]) {
        // Positions the sweep skips (padding) must read as zero; without padding every
        // window lies inside the input and the sweep writes every entry.
        if self.win.pads != [0; 6] {
            cols[..g.kk() * g.p()].fill(0.0);
        }
        let ow = g.op[2];
        self.sweep(g, |src, dst, lo, hi, sw, dx| {
            // SAFETY: not WIDE.
            unsafe { gather_row::<false>(&x[src..], &mut cols[dst..dst + ow], lo, hi, sw, dx) };
        });
    }

    /// Adds a column matrix back into one sample's input gradient.
    fn col2im(&self, g: &Geo, cols: &[f32], gx: &mut [f32]) {
        let ow = g.op[2];
        self.sweep(g, |src, dst, lo, hi, sw, dx| {
            if lo >= hi {
                return;
            }
            // SAFETY: not WIDE.
            unsafe {
                scatter_add_row::<false>(&cols[dst..dst + ow], &mut gx[src..], lo, hi, sw, dx)
            };
        });
    }

    /// Number of batch workers for a call (1 = samples in turn, gemm may parallelise).
    fn workers(&self, g: &Geo) -> usize {
        nhwc_batch::workers(g.n, g.n * g.o * g.kk() * g.p())
    }
}

impl Op for Conv3d {
    fn name(&self) -> &str {
        "conv3d"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        self.win.infer(inputs, Epilogue::NONE, false)
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = self.win.geo(&x.shape, &w.shape, false)?;
        let (kk, p) = (g.kk(), g.p());
        let ok = g.o * kk;
        let one = self.win.is_1x1(&g);
        let workers = self.workers(&g);
        let col = if one { 1 } else { kk * p };
        let (xs, os) = (g.xs(), g.o * p);
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        grow(&mut ctx.scratch.f, ok + workers * col, "conv3d")?;
        let (wm, rest) = ctx.scratch.f.split_at_mut(ok);
        self.for_taps(&g, |r, s| wm[r] = w.f[s]);
        let wm: &[f32] = wm;
        let run = |i: usize, cols: &mut [f32], y: &mut [f32], serial: bool| {
            let xi = &x.f[i * xs..(i + 1) * xs];
            let b = columns(one, xi, cols, |v, c| self.im2col(&g, v, c));
            let gemm = if serial { sgemm_serial } else { sgemm };
            gemm(g.o, p, kk, nop(wm), nop(b), y, false);
        };
        let (ys, slots) = (Parts::new(&mut out.f, os), Parts::new(rest, col));
        Batch::blocks(g.n, workers).forward(ys, slots, &run);
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
        let g = self.win.geo(&x.shape, &w.shape, false)?;
        let (kk, p) = (g.kk(), g.p());
        let ok = g.o * kk;
        let one = self.win.is_1x1(&g);
        let workers = self.workers(&g);
        let col = if one { 1 } else { kk * p };
        let (xs, os) = (g.xs(), g.o * p);
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        // scratch: [kernel matrix | per worker: columns | per range: kernel-gradient
        // partial]
        let batch = Batch::blocks(g.n, workers);
        let (wm, mut work, _) = batch.carve(&mut ctx.scratch.f, [ok, col, ok, 0], "conv3d")?;
        if index == 0 {
            self.for_taps(&g, |r, s| wm[r] = w.f[s]);
            let wm: &[f32] = wm;
            let run = |i: usize, cols: &mut [f32], gx: &mut [f32], serial: bool| {
                let gi = &gout[i * os..(i + 1) * os];
                let gemm = if serial { sgemm_serial } else { sgemm };
                if one {
                    gemm(kk, p, g.o, top(wm), nop(gi), gx, true);
                } else {
                    gemm(kk, p, g.o, top(wm), nop(gi), cols, false);
                    self.col2im(&g, cols, gx);
                }
            };
            batch.forward(Parts::new(gin, xs), work.slots(), &run);
        } else {
            let run = |sm: Sample| {
                let (i, cols, dw, first, serial) = (sm.i, sm.slot, sm.dw, sm.first, sm.serial);
                let xi = &x.f[i * xs..(i + 1) * xs];
                let b = columns(one, xi, cols, |v, c| self.im2col(&g, v, c));
                let gi = &gout[i * os..(i + 1) * os];
                let gemm = if serial { sgemm_serial } else { sgemm };
                gemm(g.o, kk, p, nop(gi), top(b), dw, !first);
            };
            batch.backward(Parts::none(), Parts::none(), &mut work, &run);
            let dw = work.sum();
            self.for_taps(&g, |r, s| gin[s] += dw[r]);
        }
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    match name {
        "conv3d" => Some((|| {
            Ok(Arc::new(Conv3d {
                win: Window3::from_attrs(a)?,
            }) as OpRef)
        })()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::conv::testing::{
        assert_bilinear, assert_shape_errors, check_op, dims, indices, infer, ints,
        rerun_and_grads, stored_tap, window_taps,
    };
    use crate::ops::{Attr, Scratch};
    use crate::tensor::Value;

    /// Direct NCDHW reference with an OIDHW kernel (cross-correlation, or convolution
    /// with `flip`), accumulated in f64.
    fn naive(
        x: &Value,
        k: &Value,
        st: [usize; 3],
        pd: [usize; 6],
        flip: bool,
    ) -> (Vec<f32>, [usize; 5]) {
        let ([n, c, d, h, w], [o, _, k1, k2, k3]) = (dims(x), dims(k));
        let od = (d + pd[0] + pd[1] - k1) / st[0] + 1;
        let oh = (h + pd[2] + pd[3] - k2) / st[1] + 1;
        let ow = (w + pd[4] + pd[5] - k3) / st[2] + 1;
        let mut y = vec![0.0f64; n * o * od * oh * ow];
        let sweep = (
            ([od, oh, ow], [k1, k2, k3], [d, h, w]),
            (st, [pd[0], pd[2], pd[4]], [1; 3]),
        );
        window_taps(sweep, |[oz, oy, ox], t, [iz, iy, ix]| {
            let [a, bb, e] = stored_tap(flip, t, [k1, k2, k3]);
            for [b, f, ch] in indices([n, o, c]) {
                let xi = (((b * c + ch) * d + iz) * h + iy) * w + ix;
                let ki = (((f * c + ch) * k1 + a) * k2 + bb) * k3 + e;
                y[(((b * o + f) * od + oz) * oh + oy) * ow + ox] += x.f[xi] as f64 * k.f[ki] as f64;
            }
        });
        (
            y.into_iter().map(|v| v as f32).collect(),
            [n, o, od, oh, ow],
        )
    }

    fn oidhw_to_dhwio(k: &[f32], ks: [usize; 5]) -> Vec<f32> {
        let [o, c, k1, k2, k3] = ks;
        let mut t = vec![0.0; k.len()];
        for a in 0..o {
            for b in 0..c {
                for i in 0..k1 {
                    for j in 0..k2 {
                        for l in 0..k3 {
                            t[(((i * k2 + j) * k3 + l) * c + b) * o + a] =
                                k[(((a * c + b) * k1 + i) * k2 + j) * k3 + l];
                        }
                    }
                }
            }
        }
        t
    }

    fn case(xs: [usize; 5], ks: [usize; 5], st: [usize; 3], pd: [usize; 6], seed: u64) {
        let x = rand(&xs, seed, -1.0, 1.0);
        let k = rand(&ks, seed + 1, -1.0, 1.0);
        let [o, c, k1, k2, k3] = ks;
        let dhwio = val(&[k1, k2, k3, c, o], &oidhw_to_dhwio(&k.f, ks));
        for flip in [false, true] {
            let (want, ys) = naive(&x, &k, st, pd, flip);
            for (layout, kv) in [("oidhw", &k), ("dhwio", &dhwio)] {
                let attrs = [
                    ("strides", ints(&st)),
                    ("pads", ints(&pd)),
                    ("kernel_layout", Attr::Str(layout.into())),
                    ("flip", Attr::Bool(flip)),
                ];
                let what = format!("{xs:?} {ks:?} {st:?} {pd:?} {layout} {flip}");
                check_op("conv3d", &attrs, (&x, kv), (&want, &ys), &what);
            }
        }
    }

    #[test]
    fn conv3d_valid_odd_sizes() {
        case([2, 2, 5, 4, 3], [3, 2, 3, 2, 2], [1, 1, 1], [0; 6], 1);
    }

    #[test]
    fn conv3d_strides() {
        case([2, 2, 7, 5, 6], [2, 2, 3, 2, 3], [2, 1, 3], [0; 6], 2);
        case([1, 1, 6, 6, 6], [2, 1, 2, 2, 2], [2, 2, 2], [0; 6], 3);
    }

    #[test]
    fn conv3d_same_pads_odd_and_even_kernels() {
        // 'same' with an odd kernel: symmetric pads; an even kernel: one more after.
        case(
            [2, 2, 4, 5, 3],
            [2, 2, 3, 3, 3],
            [1, 1, 1],
            [1, 1, 1, 1, 1, 1],
            4,
        );
        case(
            [1, 2, 4, 5, 3],
            [2, 2, 2, 2, 4],
            [1, 1, 1],
            [0, 1, 0, 1, 1, 2],
            5,
        );
        // strided 'same' (TensorFlow's rule): pads (0, 1) etc.
        case(
            [1, 1, 5, 6, 7],
            [2, 1, 3, 2, 3],
            [2, 2, 3],
            [1, 1, 0, 0, 1, 1],
            6,
        );
    }

    #[test]
    fn conv3d_1x1x1_fast_path() {
        case([3, 4, 2, 3, 2], [5, 4, 1, 1, 1], [1, 1, 1], [0; 6], 7);
        case([2, 3, 3, 3, 3], [2, 3, 1, 1, 1], [2, 2, 2], [0; 6], 8);
    }

    #[test]
    fn conv3d_parallel_batch_matches_reference_and_reuses_scratch() {
        // Large enough for the per-sample parallel path.
        let (xs, ks) = ([6, 4, 8, 10, 10], [8, 4, 3, 3, 3]);
        let x = rand(&xs, 11, -1.0, 1.0);
        let k = rand(&ks, 12, -1.0, 1.0);
        let pd = [1, 1, 1, 1, 1, 1];
        let o = op("conv3d", &[("pads", ints(&pd)), ("flip", Attr::Bool(true))]);
        let (want, _) = naive(&x, &k, [1, 1, 1], pd, true);
        // Backward through the parallel path: L = sum(r * y) is linear in x and in k,
        // so <dL/dk, k> = <dL/dx, x> = L.
        let (y, r, gk, gx) = rerun_and_grads(&o, &x, &k, &want);
        assert_bilinear(&y, &r.f, (&x, &gx), (&k, &gk), 1e-3);
        // And against the serial path (one sample at a time) gradient by gradient.
        let mut gk1 = vec![0.0f32; k.len()];
        let mut gx1 = vec![0.0f32; x.len()];
        let per = xs[1..].iter().product::<usize>();
        let oper = y.shape[1..].iter().product::<usize>();
        for b in 0..xs[0] {
            let xb = val(&[1, 4, 8, 10, 10], &x.f[b * per..(b + 1) * per]);
            let mut sb = Scratch::default();
            let yb = forward_with(&o, &[xb.clone(), k.clone()], &mut sb).unwrap();
            let rb = &r.f[b * oper..(b + 1) * oper];
            let mut ctx = crate::ops::OpCtx { scratch: &mut sb };
            o.backward(1, &[&xb, &k], &yb, rb, &mut gk1, &mut ctx)
                .unwrap();
            o.backward(
                0,
                &[&xb, &k],
                &yb,
                rb,
                &mut gx1[b * per..(b + 1) * per],
                &mut ctx,
            )
            .unwrap();
        }
        assert_close(&gk, &gk1, 1e-3);
        assert_close(&gx, &gx1, 1e-4);
    }

    #[test]
    fn conv3d_shape_errors() {
        assert_shape_errors("conv3d", &[4, 3, 3, 3, 3], 3);
        let o = op("conv3d", &[("kernel_layout", Attr::Str("dhwio".into()))]);
        let y = infer(&o, &[&[2, 3, 4, 5, 6], &[2, 3, 1, 3, 7]]);
        assert_eq!(y, Ok(crate::tensor::known(&[2, 7, 3, 3, 6])));
    }
}
