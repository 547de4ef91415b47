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

use rayon::prelude::*;

use super::{expect_float, expect_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{n as nop, sgemm, sgemm_serial, t as top, PARALLEL_MIN_MACS};
use crate::kernels::window::{gather_row, out_len, scatter_add_row, valid_range};
use crate::tensor::{fmt_dims, fmt_shape, Dim, Value};
use crate::{Error, Result};

/// Storage order of a 3-D convolution kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelLayout3 {
    /// (out, in, k1, k2, k3): Keras 'th'.
    Oidhw,
    /// (k1, k2, k3, in, out): Keras 'tf'.
    Dhwio,
}

/// 3-D convolution (cross-correlation, or true convolution with `flip`) of an NCDHW
/// input with a kernel of `layout`.
#[derive(Debug)]
pub struct Conv3d {
    strides: [usize; 3],
    pads: [usize; 6],
    layout: KernelLayout3,
    flip: bool,
}

/// Concrete geometry of one call: input (n, c, sp), kernel (o, c, k), output (n, o, op).
#[derive(Debug, Clone, Copy)]
struct Geo {
    n: usize,
    c: usize,
    sp: [usize; 3],
    o: usize,
    k: [usize; 3],
    op: [usize; 3],
}

impl Geo {
    /// Rows of the column matrix.
    fn kk(&self) -> usize {
        self.c * self.k[0] * self.k[1] * self.k[2]
    }
    /// Output positions per sample (columns of the column matrix).
    fn p(&self) -> usize {
        self.op[0] * self.op[1] * self.op[2]
    }
    /// Input elements per channel.
    fn vol(&self) -> usize {
        self.sp[0] * self.sp[1] * self.sp[2]
    }
}

impl Conv3d {
    /// (out, in, [k1, k2, k3]) of a kernel shape in this op's layout.
    fn kdims<T: Copy>(&self, k: &[T]) -> (T, T, [T; 3]) {
        match self.layout {
            KernelLayout3::Oidhw => (k[0], k[1], [k[2], k[3], k[4]]),
            KernelLayout3::Dhwio => (k[4], k[3], [k[0], k[1], k[2]]),
        }
    }

    fn geo(&self, x: &[usize], kshape: &[usize]) -> Result<Geo> {
        let (o, _, k) = self.kdims(kshape);
        let mut op = [0; 3];
        for (a, oa) in op.iter_mut().enumerate() {
            *oa = out_len(
                x[2 + a],
                self.pads[2 * a] + self.pads[2 * a + 1],
                k[a],
                self.strides[a],
                1,
            )
            .ok_or_else(|| {
                Error::Shape(format!(
                    "conv3d: kernel {} does not fit input {}",
                    fmt_dims(kshape),
                    fmt_dims(x)
                ))
            })?;
        }
        Ok(Geo {
            n: x[0],
            c: x[1],
            sp: [x[2], x[3], x[4]],
            o,
            k,
            op,
        })
    }

    fn is_1x1(&self, g: &Geo) -> bool {
        g.k == [1, 1, 1] && self.strides == [1, 1, 1] && self.pads == [0; 6]
    }

    /// Index in the stored kernel of tap (o, c, t) of the cross-correlation matrix.
    #[inline]
    fn src(&self, g: &Geo, o: usize, c: usize, t: [usize; 3]) -> usize {
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

    /// Calls `f(row, stored index)` for every entry of the (O, C·kd·kh·kw) matrix.
    fn for_taps(&self, g: &Geo, mut f: impl FnMut(usize, usize)) {
        let mut r = 0;
        for o in 0..g.o {
            for c in 0..g.c {
                for a in 0..g.k[0] {
                    for b in 0..g.k[1] {
                        for d in 0..g.k[2] {
                            f(r, self.src(g, o, c, [a, b, d]));
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
        let [sd, sh, sw] = self.strides;
        let [od, oh, ow] = g.op;
        let [d, h, w] = g.sp;
        let mut row = 0;
        for c in 0..g.c {
            for a in 0..g.k[0] {
                for b in 0..g.k[1] {
                    for e in 0..g.k[2] {
                        let dz = a as isize - self.pads[0] as isize;
                        let dy = b as isize - self.pads[2] as isize;
                        let dx = e as isize - self.pads[4] as isize;
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
        if self.pads != [0; 6] {
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
        let threads = crate::kernels::pool::threads();
        let macs = g.n * g.o * g.kk() * g.p();
        if threads > 1
            && g.n >= 2
            && macs >= PARALLEL_MIN_MACS
            && rayon::current_thread_index().is_none()
        {
            threads.min(g.n)
        } else {
            1
        }
    }
}

impl Op for Conv3d {
    fn name(&self) -> &str {
        "conv3d"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("conv3d", inputs, 2)?;
        expect_float("conv3d", &inputs[0])?;
        expect_float("conv3d", &inputs[1])?;
        let (x, k) = (&inputs[0].shape, &inputs[1].shape);
        if x.len() != 5 || k.len() != 5 {
            return Err(Error::Shape(format!(
                "conv3d: expects a 5-D input (N, C, D, H, W) and a 5-D kernel, got {} and {}",
                fmt_shape(x),
                fmt_shape(k)
            )));
        }
        let (o, ci, ks) = self.kdims(k);
        if let (Some(a), Some(b)) = (x[1], ci) {
            if a != b {
                return Err(Error::Shape(format!(
                    "conv3d: input {} has {a} channels but the kernel {} expects {b}",
                    fmt_shape(x),
                    fmt_shape(k)
                )));
            }
        }
        let mut out: Vec<Dim> = vec![x[0], o];
        for (a, &ka) in ks.iter().enumerate() {
            out.push(match (x[2 + a], ka) {
                (Some(l), Some(kl)) => Some(
                    out_len(
                        l,
                        self.pads[2 * a] + self.pads[2 * a + 1],
                        kl,
                        self.strides[a],
                        1,
                    )
                    .ok_or_else(|| {
                        Error::Shape(format!(
                            "conv3d: kernel {} is larger than the (padded) input {}",
                            fmt_shape(k),
                            fmt_shape(x)
                        ))
                    })?,
                ),
                _ => None,
            });
        }
        Ok(TypeInfo::f32(out))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = self.geo(&x.shape, &w.shape)?;
        let (kk, p) = (g.kk(), g.p());
        let ok = g.o * kk;
        let one = self.is_1x1(&g);
        let workers = self.workers(&g);
        let col = if one { 1 } else { kk * p };
        let (xs, os) = (g.c * g.vol(), g.o * p);
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        grow(&mut ctx.scratch.f, ok + workers * col, "conv3d")?;
        let (wm, rest) = ctx.scratch.f.split_at_mut(ok);
        self.for_taps(&g, |r, s| wm[r] = w.f[s]);
        let wm: &[f32] = wm;
        let run = |i: usize, cols: &mut [f32], y: &mut [f32], serial: bool| {
            let xi = &x.f[i * xs..(i + 1) * xs];
            let b: &[f32] = if one {
                xi
            } else {
                self.im2col(&g, xi, cols);
                cols
            };
            let gemm = if serial { sgemm_serial } else { sgemm };
            gemm(g.o, p, kk, nop(wm), nop(b), y, false);
        };
        if workers == 1 {
            let cols = &mut rest[..col];
            for (i, y) in out.f.chunks_mut(os).enumerate() {
                run(i, cols, y, false);
            }
        } else {
            let per = g.n.div_ceil(workers);
            out.f
                .par_chunks_mut(per * os)
                .zip(rest[..workers * col].par_chunks_mut(col))
                .enumerate()
                .for_each(|(wi, (ys, cols))| {
                    for (j, y) in ys.chunks_mut(os).enumerate() {
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
        let (kk, p) = (g.kk(), g.p());
        let ok = g.o * kk;
        let one = self.is_1x1(&g);
        let workers = self.workers(&g);
        let col = if one { 1 } else { kk * p };
        let (xs, os) = (g.c * g.vol(), g.o * p);
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        // scratch: [kernel matrix | per worker: columns, kernel-gradient partial]
        let slot = col + ok;
        grow(&mut ctx.scratch.f, ok + workers * slot, "conv3d")?;
        let (wm, rest) = ctx.scratch.f.split_at_mut(ok);
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
            let run = |i: usize, buf: &mut [f32], first: bool, serial: bool| {
                let (cols, dw) = buf.split_at_mut(col);
                let xi = &x.f[i * xs..(i + 1) * xs];
                let b: &[f32] = if one {
                    xi
                } else {
                    self.im2col(&g, xi, cols);
                    cols
                };
                let gi = &gout[i * os..(i + 1) * os];
                let gemm = if serial { sgemm_serial } else { sgemm };
                gemm(g.o, kk, p, nop(gi), top(b), dw, !first);
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
            let dm = &parts[col..slot];
            self.for_taps(&g, |r, s| gin[s] += dm[r]);
        }
        Ok(())
    }
}

/// Three positive integers (`strides`, `pool`), or the default.
pub(crate) fn ints3(a: &Attrs, op: &str, key: &str, default: [usize; 3]) -> Result<[usize; 3]> {
    match a.ints_opt(key)? {
        None => Ok(default),
        Some(v) if v.len() == 3 && v.iter().all(|&s| s >= 1) => {
            Ok([v[0] as usize, v[1] as usize, v[2] as usize])
        }
        Some(v) => Err(Error::Value(format!(
            "{op}: '{key}' must be 3 positive integers, got {v:?}"
        ))),
    }
}

/// Six non-negative integers (front, back, top, bottom, left, right), default 0.
pub(crate) fn pads6(a: &Attrs, op: &str) -> Result<[usize; 6]> {
    match a.ints_opt("pads")? {
        None => Ok([0; 6]),
        Some(v) if v.len() == 6 && v.iter().all(|&s| s >= 0) => {
            let mut p = [0; 6];
            for (d, &s) in p.iter_mut().zip(&v) {
                *d = s as usize;
            }
            Ok(p)
        }
        Some(v) => Err(Error::Value(format!(
            "{op}: 'pads' must be 6 non-negative integers (front, back, top, bottom, left, \
             right), got {v:?}"
        ))),
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    match name {
        "conv3d" => Some((|| {
            let layout = match a.str_opt("kernel_layout")?.as_deref() {
                None | Some("oidhw") => KernelLayout3::Oidhw,
                Some("dhwio") => KernelLayout3::Dhwio,
                Some(s) => {
                    return Err(Error::Value(format!(
                        "conv3d: kernel_layout must be 'oidhw' or 'dhwio', got '{s}'"
                    )))
                }
            };
            Ok(Arc::new(Conv3d {
                strides: ints3(a, "conv3d", "strides", [1, 1, 1])?,
                pads: pads6(a, "conv3d")?,
                layout,
                flip: a.bool("flip", false)?,
            }) as OpRef)
        })()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::{Attr, Scratch};

    /// Direct NCDHW reference with an OIDHW kernel (cross-correlation, or convolution
    /// with `flip`), accumulated in f64.
    fn naive(
        x: &[f32],
        xs: [usize; 5],
        k: &[f32],
        ks: [usize; 5],
        st: [usize; 3],
        pd: [usize; 6],
        flip: bool,
    ) -> (Vec<f32>, [usize; 5]) {
        let [n, c, d, h, w] = xs;
        let [o, _, k1, k2, k3] = ks;
        let od = (d + pd[0] + pd[1] - k1) / st[0] + 1;
        let oh = (h + pd[2] + pd[3] - k2) / st[1] + 1;
        let ow = (w + pd[4] + pd[5] - k3) / st[2] + 1;
        let mut y = vec![0.0f32; n * o * od * oh * ow];
        for b in 0..n {
            for f in 0..o {
                for oz in 0..od {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut s = 0.0f64;
                            for ch in 0..c {
                                for i in 0..k1 {
                                    for j in 0..k2 {
                                        for l in 0..k3 {
                                            let iz = (oz * st[0] + i) as isize - pd[0] as isize;
                                            let iy = (oy * st[1] + j) as isize - pd[2] as isize;
                                            let ix = (ox * st[2] + l) as isize - pd[4] as isize;
                                            if iz < 0
                                                || iy < 0
                                                || ix < 0
                                                || iz >= d as isize
                                                || iy >= h as isize
                                                || ix >= w as isize
                                            {
                                                continue;
                                            }
                                            let (a, bb, e) = if flip {
                                                (k1 - 1 - i, k2 - 1 - j, k3 - 1 - l)
                                            } else {
                                                (i, j, l)
                                            };
                                            let xi = (((b * c + ch) * d + iz as usize) * h
                                                + iy as usize)
                                                * w
                                                + ix as usize;
                                            let ki = (((f * c + ch) * k1 + a) * k2 + bb) * k3 + e;
                                            s += x[xi] as f64 * k[ki] as f64;
                                        }
                                    }
                                }
                            }
                            y[(((b * o + f) * od + oz) * oh + oy) * ow + ox] = s as f32;
                        }
                    }
                }
            }
        }
        (y, [n, o, od, oh, ow])
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

    fn ints(v: &[usize]) -> Attr {
        Attr::Ints(v.iter().map(|&s| s as i64).collect())
    }

    fn case(xs: [usize; 5], ks: [usize; 5], st: [usize; 3], pd: [usize; 6], seed: u64) {
        let x = rand(&xs, seed, -1.0, 1.0);
        let k = rand(&ks, seed + 1, -1.0, 1.0);
        for flip in [false, true] {
            let (want, ys) = naive(&x.f, xs, &k.f, ks, st, pd, flip);
            for layout in ["oidhw", "dhwio"] {
                let kv = if layout == "oidhw" {
                    k.clone()
                } else {
                    let [o, c, k1, k2, k3] = ks;
                    val(&[k1, k2, k3, c, o], &oidhw_to_dhwio(&k.f, ks))
                };
                let o = op(
                    "conv3d",
                    &[
                        ("strides", ints(&st)),
                        ("pads", ints(&pd)),
                        ("kernel_layout", Attr::Str(layout.into())),
                        ("flip", Attr::Bool(flip)),
                    ],
                );
                let y = forward(&o, &[x.clone(), kv.clone()]);
                assert_eq!(y.shape, ys.to_vec());
                assert_close(&y.f, &want, 1e-4);
                grad_check(&o, &[x.clone(), kv], 1e-2, 2e-2)
                    .unwrap_or_else(|e| panic!("{xs:?} {ks:?} {st:?} {pd:?} {layout} {flip}: {e}"));
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
        let (want, _) = naive(&x.f, xs, &k.f, ks, [1, 1, 1], pd, true);
        let mut s = Scratch::default();
        let y = forward_with(&o, &[x.clone(), k.clone()], &mut s).unwrap();
        assert_close(&y.f, &want, 1e-4);
        let cap = s.f.capacity();
        let y2 = forward_with(&o, &[x.clone(), k.clone()], &mut s).unwrap();
        assert_eq!(y.f, y2.f);
        assert_eq!(s.f.capacity(), cap);
        // Backward through the parallel path: L = sum(r * y) is linear in x and in k,
        // so <dL/dk, k> = <dL/dx, x> = L.
        let r = rand(&y.shape, 13, -1.0, 1.0);
        let loss: f64 =
            y.f.iter()
                .zip(&r.f)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
        let refs = [&x, &k];
        let mut gk = vec![0.0; k.len()];
        let mut gx = vec![0.0; x.len()];
        let mut ctx = crate::ops::OpCtx { scratch: &mut s };
        o.backward(1, &refs, &y, &r.f, &mut gk, &mut ctx).unwrap();
        o.backward(0, &refs, &y, &r.f, &mut gx, &mut ctx).unwrap();
        let dot = |a: &[f32], b: &[f32]| -> f64 {
            a.iter().zip(b).map(|(&p, &q)| p as f64 * q as f64).sum()
        };
        assert!((dot(&gk, &k.f) - loss).abs() < 1e-3 * (1.0 + loss.abs()));
        assert!((dot(&gx, &x.f) - loss).abs() < 1e-3 * (1.0 + loss.abs()));
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
        let t = |s: &[usize]| crate::ops::TypeInfo::f32(crate::tensor::known(s));
        let o = op("conv3d", &[]);
        let e = o
            .infer(&[t(&[1, 3, 2, 5, 5]), t(&[4, 3, 3, 3, 3])])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("(1, 3, 2, 5, 5)") && e.contains("(4, 3, 3, 3, 3)"),
            "{e}"
        );
        let e = o
            .infer(&[t(&[1, 2, 5, 5, 5]), t(&[4, 3, 3, 3, 3])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("channels"), "{e}");
        assert!(o.infer(&[t(&[1, 5, 5, 5]), t(&[4, 3, 3, 3, 3])]).is_err());
        let o = op("conv3d", &[("kernel_layout", Attr::Str("dhwio".into()))]);
        let y = o
            .infer(&[t(&[2, 3, 4, 5, 6]), t(&[2, 3, 1, 3, 7])])
            .unwrap();
        assert_eq!(y.shape, crate::tensor::known(&[2, 7, 3, 3, 6]));
    }
}
