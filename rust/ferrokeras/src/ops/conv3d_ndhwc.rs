//! Channels-last volumetric convolution: `conv3d` with the attribute `layout` "ndhwc",
//! x (N, D, H, W, C) -> y (N, OD, OH, OW, O), so that Keras' 'tf' Convolution3D runs
//! without a permute on either side. Same kernel layouts, `flip`, strides and pads as
//! the channels-first op (`conv3d.rs`); the 3-D twin of `conv_nhwc.rs`: implicit gemm
//! per sample with the gathered operands of `kernels::gemm::sgemm_gathered`, K =
//! kd·kh·kw·C, P = OD·OH·OW, Wk the (K, O) kernel matrix (rows the taps (a, b, e, c);
//! the 'tf' (k1, k2, k3, C, O) kernel without flip is that matrix as stored, otherwise
//! it is re-laid out in scratch with the flip folded in):
//!
//! - Forward: `Y (P x O) = cols (P x K) · Wk`, the rows of the gathered matrix the
//!   output positions, its columns the taps, in the sample or its zero-bordered copy;
//!   then the epilogue (bias along the last axis, activation).
//! - Kernel gradient: `dWk = colsᵀ · G`, the same gathered matrix with the taps as rows
//!   and the positions as steps (in products of at most `DW_STEPS` positions), summed
//!   over fixed sample ranges added in order.
//! - Input gradient: `cols = G · Wkᵀ` scattered back by an NDHWC col2im (each position
//!   adds, per (a, b) kernel plane row, one run of up to kw·C contiguous floats), in
//!   blocks of [`COL_BLOCK`] positions; a 1x1x1 kernel with stride 1 and no padding:
//!   `dX += G · Wkᵀ` directly.
//! - Bias gradient: the column sums of G through the activation, rows in order.
//!
//! Attributes: those of `conv3d` plus `layout` ("ncdhw" (default: `conv3d.rs`) or
//! "ndhwc"), `bias` (Bool, default false: a third input, one value per output
//! channel) and `activation` (Str, one of [`Act::NAMES`], default "linear"): the
//! epilogue the fusion pass folds in from a following `bias_add` on the last axis.
//!
//! [`Act::NAMES`]: crate::kernels::act::Act::NAMES

use super::conv::attrs::{channels_last, fusable_epilogue, Epilogue};
use super::conv::kernel::{kernel_matrix, kernel_matrix_back};
use super::conv3d::{Geo, KernelLayout3, Window3};
use super::conv_nhwc::kernel_gradient;
use super::nhwc_batch::{self, Batch, Grads, OutGrad, Parts, Sample};
use super::{Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{
    n as nop, sgemm, sgemm_gathered, sgemm_serial, t as top, GatheredOperand,
};
use crate::simd_fn;
use crate::tensor::Value;
use crate::{Error, Result};

/// Most output positions whose column rows the input gradient computes and scatters at
/// once: a whole sample's (P x K) column matrix (5 MB for 16x32x32 positions and a 3x3x3
/// kernel on 3 channels) leaves the cache between the product and the scatter; 256
/// rows stay in L2 up to K = 1024.
const COL_BLOCK: usize = 256;

/// 3-D convolution (cross-correlation, or true convolution with `flip`) of an NDHWC
/// input.
#[derive(Debug, Clone, Copy)]
pub struct Conv3dNdhwc {
    win: Window3,
    epi: Epilogue,
}

simd_fn! {
    /// `d += s`.
    fn add_run(s: &[f32], d: &mut [f32]) {
        for (a, &b) in d.iter_mut().zip(s) {
            *a += b;
        }
    }
}

impl Conv3dNdhwc {
    fn geo(&self, x: &[usize], kshape: &[usize]) -> Result<Geo> {
        let g = self.win.geo(x, kshape, true)?;
        let most = self.padded(&g).iter().product::<usize>() * g.c;
        if most >= i32::MAX as usize {
            return Err(Error::Value(format!(
                "conv3d: one sample of {most} floats is larger than the 2^31 the kernels address"
            )));
        }
        Ok(g)
    }

    fn padded(&self, g: &Geo) -> [usize; 3] {
        let p = &self.win.pads;
        [
            g.sp[0] + p[0] + p[1],
            g.sp[1] + p[2] + p[3],
            g.sp[2] + p[4] + p[5],
        ]
    }

    fn kernel_is_matrix(&self) -> bool {
        self.win.layout == KernelLayout3::Dhwio && !self.win.flip
    }

    /// Calls `f(index in Wk, stored index)` for every element of the (K, O) kernel
    /// matrix, row-major (rows in (tap, c) order).
    fn for_kernel_matrix(&self, g: &Geo, mut f: impl FnMut(usize, usize)) {
        let mut r = 0;
        for a in 0..g.k[0] {
            for b in 0..g.k[1] {
                for e in 0..g.k[2] {
                    for c in 0..g.c {
                        for o in 0..g.o {
                            f(r, self.win.src(g, o, c, [a, b, e]));
                            r += 1;
                        }
                    }
                }
            }
        }
    }

    /// The (K, O) kernel matrix: the stored kernel, or its re-layout into `buf`.
    fn kernel_matrix<'a>(&self, g: &Geo, w: &'a [f32], buf: &'a mut [f32]) -> &'a [f32] {
        let len = g.kk() * g.o;
        kernel_matrix(self.kernel_is_matrix(), w, len, buf, |f| {
            self.for_kernel_matrix(g, f)
        })
    }

    /// The sample the gathered products read: `x` itself, or, with padding, its copy in
    /// the zero-bordered (dp, hp, wp, C) buffer `buf`.
    fn source<'a>(&self, g: &Geo, x: &'a [f32], buf: &'a mut [f32]) -> &'a [f32] {
        if !self.win.has_pads() {
            return x;
        }
        let [dp, hp, wp] = self.padded(g);
        let buf = &mut buf[..dp * hp * wp * g.c];
        buf.fill(0.0);
        let row = g.sp[2] * g.c;
        for (r, src) in x.chunks_exact(row).enumerate() {
            let (z, y) = (r / g.sp[1], r % g.sp[1]);
            let at = (((z + self.win.pads[0]) * hp + y + self.win.pads[2]) * wp + self.win.pads[4])
                * g.c;
            buf[at..at + row].copy_from_slice(src);
        }
        buf
    }

    /// The offsets of the gathered column matrix of a (padded) sample into `out`: first
    /// each output position (`P`), then each tap (a, b, e, c) in the kernel matrix's row
    /// order (`K`).
    fn column_offsets(&self, g: &Geo, out: &mut [i32]) {
        let [_, hp, wp] = self.padded(g);
        let s = self.win.strides;
        let mut q = 0;
        for z in 0..g.op[0] {
            for y in 0..g.op[1] {
                for x in 0..g.op[2] {
                    out[q] = (((z * s[0] * hp + y * s[1]) * wp + x * s[2]) * g.c) as i32;
                    q += 1;
                }
            }
        }
        for a in 0..g.k[0] {
            for b in 0..g.k[1] {
                for e in 0..g.k[2] {
                    for c in 0..g.c {
                        out[q] = (((a * hp + b) * wp + e) * g.c + c) as i32;
                        q += 1;
                    }
                }
            }
        }
    }

    /// Adds the column rows `cols` ((p1 - p0) x K) of output positions `p0..p1` back
    /// into one channels-last sample's input gradient.
    fn col2im(&self, g: &Geo, cols: &[f32], p0: usize, p1: usize, gx: &mut [f32]) {
        let (kk, c) = (g.kk(), g.c);
        let [d, h, w] = g.sp;
        let [k1, k2, k3] = g.k;
        let (s, p) = (self.win.strides, self.win.pads);
        for (pos, row) in (p0..p1).zip(cols.chunks_exact(kk)) {
            let (z, y, x) = (
                pos / (g.op[1] * g.op[2]),
                pos / g.op[2] % g.op[1],
                pos % g.op[2],
            );
            let x0 = (x * s[2]) as isize - p[4] as isize;
            let lo = (-x0).clamp(0, k3 as isize) as usize;
            let hi = (w as isize - x0).clamp(lo as isize, k3 as isize) as usize;
            if lo == hi {
                continue;
            }
            for a in 0..k1 {
                let iz = (z * s[0] + a) as isize - p[0] as isize;
                if iz < 0 || iz >= d as isize {
                    continue;
                }
                for b in 0..k2 {
                    let iy = (y * s[1] + b) as isize - p[2] as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let len = (hi - lo) * c;
                    let src = &row[((a * k2 + b) * k3 + lo) * c..][..len];
                    let at = ((iz as usize * h + iy as usize) * w) as isize + x0 + lo as isize;
                    add_run(src, &mut gx[at as usize * c..][..len]);
                }
            }
        }
    }

    fn workers(&self, g: &Geo) -> usize {
        nhwc_batch::workers(g.n, g.n * g.o * g.kk() * g.p())
    }
}

impl Op for Conv3dNdhwc {
    fn name(&self) -> &str {
        "conv3d"
    }

    fusable_epilogue!(|_| 4);

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        self.win.infer(inputs, self.epi, true)
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = self.geo(&x.shape, &w.shape)?;
        let (kk, p) = (g.kk(), g.p());
        let relaid = if self.kernel_is_matrix() { 0 } else { kk * g.o };
        let workers = self.workers(&g);
        let (xs, os) = (g.xs(), p * g.o);
        let slot = if self.win.has_pads() {
            self.padded(&g).iter().product::<usize>() * g.c
        } else {
            0
        };
        // scratch: [kernel matrix (unless stored as one) | per worker: padded input]
        grow(&mut ctx.scratch.f, relaid + workers * slot, "conv3d")?;
        let (wbuf, rest) = ctx.scratch.f.split_at_mut(relaid);
        let wk = self.kernel_matrix(&g, &w.f, wbuf);
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        grow(&mut ctx.scratch.i, p + kk, "conv3d")?;
        let offs = &mut ctx.scratch.i[..p + kk];
        self.column_offsets(&g, offs);
        let (pos, taps) = offs.split_at(p);
        let run = |i: usize, pad: &mut [f32], y: &mut [f32], serial: bool| {
            let a = GatheredOperand {
                data: self.source(&g, &x.f[i * xs..(i + 1) * xs], pad),
                rows: pos,
                cols: taps,
            };
            sgemm_gathered(p, g.o, kk, a, nop(wk), y, false, serial);
        };
        let (ys, slots) = (Parts::new(&mut out.f, os), Parts::new(rest, slot));
        Batch::even(g.n, workers).forward_last(self.epi, inputs, ys, slots, &run);
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
        let g = self.geo(&x.shape, &w.shape)?;
        let (kk, p) = (g.kk(), g.p());
        let (xs, os) = (g.xs(), p * g.o);
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        let grads = Grads::new(wanted, gins);
        let (want_x, want_w) = (grads.x.is_some(), grads.w.is_some());
        let ok = kk * g.o;
        let batch = Batch::even(g.n, self.workers(&g));
        let direct = want_x && self.win.is_1x1(&g);
        let scatter = want_x && !direct;
        let og = OutGrad::new(self.epi, gout, &out.f, os);
        let xpad = if want_w && self.win.has_pads() {
            self.padded(&g).iter().product::<usize>() * g.c
        } else {
            0
        };
        let coln = if scatter { p.min(COL_BLOCK) * kk } else { 0 };
        // scratch: [kernel matrix (unless stored as one) | per worker: gradient through
        // the activation, padded input, columns | per range: kernel-gradient partial]
        let relaid = if want_x && !self.kernel_is_matrix() {
            ok
        } else {
            0
        };
        let sizes = [relaid, og.slot(xpad + coln), if want_w { ok } else { 0 }, 0];
        let (wbuf, mut work, _) = batch.carve(&mut ctx.scratch.f, sizes, "conv3d")?;
        let wk: &[f32] = if want_x {
            self.kernel_matrix(&g, &w.f, wbuf)
        } else {
            &[]
        };
        let on = if want_w { p + kk } else { 0 };
        grow(&mut ctx.scratch.i, on, "conv3d")?;
        let offs = &mut ctx.scratch.i[..on];
        if want_w {
            self.column_offsets(&g, offs);
        }
        let (pos, taps) = offs.split_at(if want_w { p } else { 0 });
        let run = |sm: Sample, gi: &[f32]| {
            let (xp, cols) = sm.slot.split_at_mut(xpad);
            let gemm = if sm.serial { sgemm_serial } else { sgemm };
            if direct {
                gemm(p, g.c, g.o, nop(gi), top(wk), sm.gx, true);
            } else if scatter {
                for p0 in (0..p).step_by(COL_BLOCK) {
                    let n = COL_BLOCK.min(p - p0);
                    let (gb, cb) = (&gi[p0 * g.o..(p0 + n) * g.o], &mut cols[..n * kk]);
                    gemm(n, kk, g.o, nop(gb), top(wk), cb, false);
                    self.col2im(&g, cb, p0, p0 + n, sm.gx);
                }
            }
            if want_w {
                let data = self.source(&g, &x.f[sm.i * xs..(sm.i + 1) * xs], xp);
                let a = GatheredOperand {
                    data,
                    rows: taps,
                    cols: pos,
                };
                kernel_gradient(a, gi, g.o, sm.dw, !sm.first, sm.serial);
            }
        };
        batch.backward_last(og, grads, xs, &mut work, &run, |gw, dw| {
            kernel_matrix_back(self.kernel_is_matrix(), dw, gw, |f| {
                self.for_kernel_matrix(&g, f)
            })
        });
        Ok(())
    }
}

/// Registry entry: `conv3d` with `layout` "ndhwc" (None otherwise, for `conv3d.rs`).
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    channels_last(name, a, "conv3d", ["ncdhw", "ndhwc"], || {
        Ok(Conv3dNdhwc {
            win: Window3::from_attrs(a)?,
            epi: Epilogue::from_attrs(a, "conv3d")?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::conv::testing::{
        add_product, assert_err, build_err, channels_last_attrs, dims, indices, infer, run_forward,
        window_taps,
    };
    use crate::ops::Attr;
    use crate::tensor::Value;

    fn attrs(
        st: [usize; 3],
        pd: [usize; 6],
        kernel_layout: &str,
        flip: bool,
    ) -> Vec<(&'static str, Attr)> {
        let flip = [("flip", Attr::Bool(flip))];
        channels_last_attrs("ndhwc", (&st, &pd), kernel_layout, &flip)
    }

    /// Direct float64 reference, input (N, D, H, W, C), kernel (k1, k2, k3, C, O), a
    /// cross-correlation: output and, for the output gradient `r`, the input and kernel
    /// gradients.
    fn reference(
        (x, k, r): (&Value, &Value, &[f32]),
        st: [usize; 3],
        pd: [usize; 6],
    ) -> [Vec<f64>; 3] {
        let ([n, d, h, w, c], [k1, k2, k3, _, o]) = (dims(x), dims(k));
        let (sp, kl) = ([d, h, w], [k1, k2, k3]);
        let od: [usize; 3] =
            std::array::from_fn(|a| (sp[a] + pd[2 * a] + pd[2 * a + 1] - kl[a]) / st[a] + 1);
        let mut acc =
            [n * od.iter().product::<usize>() * o, x.len(), k.len()].map(|l| vec![0.0f64; l]);
        let sweep = ((od, kl, sp), (st, [pd[0], pd[2], pd[4]], [1; 3]));
        window_taps(sweep, |[z, yy, xx], [a, bb, e], [iz, iy, ix]| {
            for [b, cc, oo] in indices([n, c, o]) {
                let yi = (((b * od[0] + z) * od[1] + yy) * od[2] + xx) * o + oo;
                let xi = (((b * d + iz) * h + iy) * w + ix) * c + cc;
                let kx = (((a * k2 + bb) * k3 + e) * c + cc) * o + oo;
                add_product(&mut acc, (&x.f, &k.f, r), [yi, xi, kx]);
            }
        });
        acc
    }

    /// (k1, k2, k3, C, O) -> the (O, C, k1, k2, k3) kernel that, with flip, is the same
    /// cross-correlation.
    fn to_flipped_oidhw(k: &[f32], ks: [usize; 5]) -> Vec<f32> {
        let [k1, k2, k3, c, o] = ks;
        let mut t = vec![0.0; k.len()];
        for a in 0..k1 {
            for b in 0..k2 {
                for e in 0..k3 {
                    for cc in 0..c {
                        for oo in 0..o {
                            t[(((oo * c + cc) * k1 + k1 - 1 - a) * k2 + k2 - 1 - b) * k3 + k3
                                - 1
                                - e] = k[(((a * k2 + b) * k3 + e) * c + cc) * o + oo];
                        }
                    }
                }
            }
        }
        t
    }

    fn check(xs: [usize; 5], ks: [usize; 5], st: [usize; 3], pd: [usize; 6], seed: u64) {
        let x = rand(&xs, seed, -1.0, 1.0);
        let k = rand(&ks, seed + 1, -1.0, 1.0);
        let o = op("conv3d", &attrs(st, pd, "dhwio", false));
        let y = forward(&o, &[x.clone(), k.clone()]);
        let r = rand(&y.shape, seed + 2, -1.0, 1.0);
        let [wy, wgx, wgk] = reference((&x, &k, &r.f), st, pd);
        assert_close64(&y.f, &wy, 1e-5, "forward");
        let g = gradients(&o, &[x.clone(), k.clone()], &y, &r.f);
        assert_close64(&g[0], &wgx, 1e-5, "input gradient");
        assert_close64(&g[1], &wgk, 1e-4, "kernel gradient");
        // the Keras 'th' kernel layout with flip: the same numbers
        let kt = val(
            &[ks[4], ks[3], ks[0], ks[1], ks[2]],
            &to_flipped_oidhw(&k.f, ks),
        );
        let t = op("conv3d", &attrs(st, pd, "oidhw", true));
        let yt = forward(&t, &[x.clone(), kt.clone()]);
        assert_eq!(yt.f, y.f, "oidhw flipped forward");
        let gt = gradients(&t, &[x.clone(), kt.clone()], &yt, &r.f);
        assert_eq!(gt[0], g[0], "oidhw flipped input gradient");
        assert_eq!(
            gt[1],
            to_flipped_oidhw(&g[1], ks),
            "oidhw flipped kernel gradient"
        );
        // the channels-first op on transposed data
        let mut first = attrs(st, pd, "dhwio", false);
        first.remove(0);
        let f = op("conv3d", &first);
        let xf = to_channels_first(&x);
        let yf = forward(&f, &[xf.clone(), k.clone()]);
        assert_close(&yf.f, &to_channels_first(&y).f, 1e-5);
        let gf = gradients(&f, &[xf, k.clone()], &yf, &to_channels_first(&r).f);
        assert_close(&gf[0], &to_channels_first(&val(&xs, &g[0])).f, 1e-5);
        assert_close(&gf[1], &g[1], 1e-4);
    }

    #[test]
    fn conv3d_ndhwc_matches_reference_and_channels_first() {
        check([2, 4, 5, 4, 3], [3, 3, 3, 3, 4], [1; 3], [0; 6], 1);
        check(
            [2, 5, 4, 6, 2],
            [2, 3, 2, 2, 3],
            [2, 1, 2],
            [0, 1, 1, 1, 0, 1],
            4,
        );
        check([1, 3, 4, 3, 5], [1, 1, 1, 5, 6], [1; 3], [0; 6], 7);
        check([2, 3, 3, 3, 16], [3, 3, 3, 16, 8], [1; 3], [1; 6], 10);
        // a strided 1x1x1 kernel, and pads wider than the kernel
        check([2, 5, 5, 4, 3], [1, 1, 1, 3, 2], [2, 2, 1], [0; 6], 13);
        check(
            [1, 2, 3, 2, 2],
            [2, 2, 2, 2, 3],
            [1; 3],
            [2, 2, 3, 2, 2, 3],
            16,
        );
        // more output positions (504) than one column block: the input gradient in
        // several products and scatters
        check(
            [2, 7, 8, 9, 2],
            [2, 2, 2, 2, 3],
            [1; 3],
            [0, 1, 1, 0, 0, 1],
            19,
        );
    }

    #[test]
    fn conv3d_ndhwc_finite_differences() {
        let ins = [
            rand(&[2, 3, 4, 3, 2], 1, -1.0, 1.0),
            rand(&[2, 2, 3, 2, 3], 2, -1.0, 1.0),
        ];
        let o = op(
            "conv3d",
            &attrs([1, 2, 1], [1, 0, 0, 1, 1, 1], "dhwio", false),
        );
        grad_check(&o, &ins, 1e-2, 1e-2).unwrap();
        let kt = rand(&[3, 2, 2, 2, 3], 3, -1.0, 1.0);
        let o = op("conv3d", &attrs([1; 3], [0; 6], "oidhw", true));
        grad_check(&o, &[ins[0].clone(), kt], 1e-2, 1e-2).unwrap();
    }

    #[test]
    fn conv3d_ndhwc_bias_activation_epilogue() {
        check_last_axis_epilogue(
            "conv3d",
            &attrs([1; 3], [1, 0, 0, 1, 1, 0], "dhwio", false),
            (&[2, 3, 4, 3, 2], &[2, 2, 2, 2, 3]),
            5,
            true,
        );
        check_last_axis_epilogue(
            "conv3d",
            &attrs([1; 3], [0; 6], "oidhw", true),
            (&[2, 3, 3, 3, 4], &[5, 4, 1, 1, 1]),
            7,
            false,
        );
    }

    #[test]
    fn conv3d_ndhwc_parallel_batch_is_the_serial_one() {
        let mut a = attrs([1; 3], [1; 6], "dhwio", false);
        a.push(("bias", Attr::Bool(true)));
        a.push(("activation", Attr::Str("relu".into())));
        let ins: Vec<Value> = vec![
            rand(&[6, 6, 6, 6, 8], 1, -1.0, 1.0),
            rand(&[3, 3, 3, 8, 8], 2, -1.0, 1.0),
            rand(&[8], 3, -1.0, 1.0),
        ];
        check_parallel_matches_serial(&op("conv3d", &a), &ins, 1e-4);
    }

    #[test]
    fn conv3d_ndhwc_shapes_and_errors() {
        let o = op(
            "conv3d",
            &attrs([2, 1, 1], [1, 1, 0, 0, 0, 0], "dhwio", false),
        );
        let y = infer(&o, &[&[4, 5, 6, 7, 3], &[3, 3, 2, 3, 8]]);
        assert_eq!(y, Ok(crate::tensor::known(&[4, 3, 4, 6, 8])));
        let e = infer(&o, &[&[4, 5, 6, 7, 2], &[3, 3, 2, 3, 8]]);
        assert_err(e, &["channels"]);
        let e = infer(&o, &[&[4, 5, 1, 7, 3], &[3, 3, 2, 3, 8]]);
        assert_err(e, &["larger"]);
        let e = build_err("conv3d", &[("layout", Attr::Str("nhwc".into()))]);
        assert!(e.contains("layout must be 'ncdhw' or 'ndhwc'"), "{e}");
        // concrete shapes the kernel does not fit: an error, not a panic
        let ins = [
            rand(&[1, 3, 3, 3, 4], 1, -1.0, 1.0),
            rand(&[1, 1, 1, 2, 5], 2, -1.0, 1.0),
        ];
        let o = op("conv3d", &attrs([1; 3], [0; 6], "dhwio", false));
        assert_err(run_forward(&o, &ins, &[1, 3, 3, 3, 5]), &["channels"]);
    }
}
