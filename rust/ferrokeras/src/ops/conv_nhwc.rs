//! Channels-last passes of `conv2d` (attribute `layout` "nhwc": x (N, H, W, C) ->
//! y (N, OH, OW, O)), so that Keras' 'tf' ordering runs without a permute on either
//! side of a convolution. Same op ([`Conv2d`]), attributes and geometry as the
//! channels-first passes of `conv.rs`; implicit gemm per sample with the gathered
//! operands of `kernels::gemm::sgemm_gathered` (element (r, c) at `data[rows[r] +
//! cols[c]]`), K = kh·kw·C, P = OH·OW:
//!
//! - Forward: `Y (P x O) = cols (P x K) · Wk (K x O)`, the rows of the gathered matrix
//!   the output positions at `(oy·sh·wp + ox·sw)·C`, its columns the taps in (ki, kj, c)
//!   order at `(ki·dh·wp + kj·dw)·C + c` in the sample or, padded, in its zero-bordered
//!   (hp, wp, C) copy. Y is the sample's output as stored: no transpose, so unlike the
//!   channels-first forward there is no explicit-im2col variant for few column rows.
//!   Wk is the stored kernel itself for an HWIO kernel without flip (Keras 'tf'), else
//!   a re-laid-out copy in scratch (flip folded in). Epilogue per sample: the bias along
//!   the last axis and the activation
//!   ([`add_rows_activate_in_place`](super::epilogue::add_rows_activate_in_place)).
//! - Kernel gradient: `dWk (K x O) = colsᵀ · G`, the same gathered matrix with the taps
//!   as rows and the positions as steps (in products of at most 128 positions, which keep
//!   the gathered lines in L1), G the sample's (P x O) output gradient taken through the
//!   activation; summed over fixed contiguous sample ranges added in order, as the
//!   channels-first code does.
//! - Input gradient, stride 1, at least 32 input channels and at most 25% more input
//!   pixels than output positions (see `full_input_gradient_nhwc`): the full correlation
//!   `dX (H·W x C) += Gfull · Wb`, Gfull gathered from a zero-bordered (PH, PW, O) copy
//!   of G (rows the input pixels at `(y·PW + x)·O`, steps the taps (ki, kj, o) of the
//!   flipped kernel at `((kh-1-ki)·dh·PW + (kw-1-kj)·dw)·O + o`), `Wb[(ki, kj, o), c] =
//!   Wk[(ki, kj, c), o]`, accumulated straight into dX (no transpose). A 1x1 kernel with
//!   stride 1 and no padding: `dX += G · Wkᵀ` on the sample as it lies. Otherwise
//!   `cols (P x K) = G · Wkᵀ` and an NHWC col2im (each position adds, per kernel row, one
//!   run of up to kw·C contiguous floats; per tap, C floats, when dilated). Unlike the channels-first code, the col2im input gradient
//!   runs in the same per-sample pass as the kernel gradient.
//! - Bias gradient: the column sums of G over the whole batch, rows in order, after the
//!   per-sample pass: exactly what `bias_add` along the last axis computes, so a fused
//!   graph gives the unfused graph's bits (per-sample sums added sample by sample, as
//!   the channels-first code does, would round differently from `bias_add`'s row-order
//!   sums here).
//!
//! Work is split over the batch exactly as in `conv.rs` (per-worker slots of scratch,
//! serial gemms inside a parallel loop).

use super::conv::{valid_range, Conv2d, Geo, KernelLayout};
use super::epilogue::{
    activate, add_rows_activate_in_place, col_sums_through, grad_through_into, Act,
};
use super::OpCtx;
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{
    n as nop, sgemm, sgemm_gathered, sgemm_serial, t as top, GatheredOperand,
};
use crate::kernels::pool::{parallel_for, Disjoint};
use crate::kernels::runs;
use crate::kernels::transpose::transpose;
use crate::tensor::Value;
use crate::Result;

/// Fewest input channels for which the channels-last input gradient may be a full
/// correlation: its product is C columns wide, and below one 32-float panel of the
/// AVX-512 kernel the panel is mostly padding (measured at 30x30 -> 28x28, O = 32, one
/// thread, µs per sample: C = 16 full 120, col2im 78; C = 32 full 122, col2im 137).
const NHWC_FULL_MIN_CHANNELS: usize = 32;

/// Most output positions one product of the channels-last kernel gradient runs over.
/// The product's steps are the positions, and one step reads, for each strip of 8 taps,
/// 8 floats of a different cache line (positions are C floats apart), so a strip's
/// lines and the gemm's (steps x 32) panel of G together overflow L1 at the gemm's own
/// step blocks (up to 256; 196 for the 784 positions below), and each strip refetches
/// from L2 what the previous one left. Measured per sample on one thread
/// (`benches/examples/conv_parts.rs`), W4 30x30 -> 28x28, C 32 -> O 32, two runs each
/// with the channels-first figure of the same run: one product 110-125 µs (97-101),
/// products of 64 positions 108 (97-100), of 128 96-97 (92-94); the 14x14 and 12x12
/// shapes within noise.
pub(super) const DW_STEPS: usize = 128;

impl Conv2d {
    /// Whether the channels-last input gradient is a full correlation rather than
    /// col2im: stride 1, at least [`NHWC_FULL_MIN_CHANNELS`] channels, and at most 25%
    /// more input pixels than output positions (the full correlation computes H·W rows
    /// where col2im's product has P; measured, µs per sample, full vs col2im: 14x14 ->
    /// 12x12, C 32, O 64: 49.8 vs 46.6; 12x12 -> 10x10, C 64: 78.2 vs 65.9; 26x26 ->
    /// 24x24, C 64: 362 vs 382; 30x30 -> 28x28, C 32: 122 vs 137).
    fn full_input_gradient_nhwc(&self, g: &Geo) -> bool {
        self.strides == [1, 1] && g.c >= NHWC_FULL_MIN_CHANNELS && 4 * g.h * g.w <= 5 * g.p()
    }

    /// Whether the stored kernel is already the (kh·kw·C, O) matrix the channels-last
    /// products use: an HWIO kernel without flip. Then no re-layout runs.
    fn kernel_is_matrix(&self) -> bool {
        self.layout == KernelLayout::Hwio && !self.flip
    }

    /// Calls `f(row, stored index)` for every element of the (kh·kw·C, O) kernel matrix,
    /// row-major (rows in (ki, kj, c) order).
    fn for_kernel_matrix(&self, g: &Geo, mut f: impl FnMut(usize, usize)) {
        let mut r = 0;
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                for c in 0..g.c {
                    for o in 0..g.o {
                        f(r, self.src(g, o, c, ki, kj));
                        r += 1;
                    }
                }
            }
        }
    }

    /// The (kh·kw·C, O) kernel matrix: the stored kernel, or its re-layout into `buf`.
    fn kernel_matrix<'a>(&self, g: &Geo, w: &'a [f32], buf: &'a mut [f32]) -> &'a [f32] {
        if self.kernel_is_matrix() {
            return &w[..g.k() * g.o];
        }
        self.for_kernel_matrix(g, |r, s| buf[r] = w[s]);
        buf
    }

    /// Adds a (kh·kw·C, O) kernel-matrix gradient into the stored kernel's gradient.
    fn kernel_matrix_back(&self, g: &Geo, dwk: &[f32], gin: &mut [f32]) {
        if self.kernel_is_matrix() {
            for (d, &v) in gin.iter_mut().zip(dwk) {
                *d += v;
            }
        } else {
            self.for_kernel_matrix(g, |r, s| gin[s] += dwk[r]);
        }
    }

    /// The sample the gathered products read: `x` itself, or, with padding, its copy in
    /// the zero-bordered (hp, wp, C) buffer `buf`.
    pub(super) fn source_nhwc<'a>(&self, g: &Geo, x: &'a [f32], buf: &'a mut [f32]) -> &'a [f32] {
        if !self.has_pads() {
            return x;
        }
        let (hp, wp) = self.padded(g);
        let (pt, pl) = (self.pads[0], self.pads[2]);
        let (row, prow) = (g.w * g.c, wp * g.c);
        let buf = &mut buf[..hp * prow];
        buf[..pt * prow].fill(0.0);
        buf[(pt + g.h) * prow..].fill(0.0);
        for (r, src) in x.chunks_exact(row).enumerate() {
            let dst = &mut buf[(pt + r) * prow..(pt + r + 1) * prow];
            dst[..pl * g.c].fill(0.0);
            dst[pl * g.c..pl * g.c + row].copy_from_slice(src);
            dst[pl * g.c + row..].fill(0.0);
        }
        buf
    }

    /// The offsets of the gathered column matrix of a (padded) channels-last sample into
    /// `out`: first each output position (oy, ox) (`P` of them), then each kernel tap
    /// (ki, kj, c) in the kernel matrix's row order (`kh·kw·C`).
    pub(super) fn column_offsets_nhwc(&self, g: &Geo, out: &mut [i32]) {
        let (_, wp) = self.padded(g);
        let mut q = 0;
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                out[q] = ((oy * self.strides[0] * wp + ox * self.strides[1]) * g.c) as i32;
                q += 1;
            }
        }
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                for c in 0..g.c {
                    out[q] = ((ki * self.dil[0] * wp + kj * self.dil[1]) * g.c + c) as i32;
                    q += 1;
                }
            }
        }
    }

    /// Puts one sample's (P x O) output gradient into a zero-bordered (PH, PW, O) buffer,
    /// output (oy, ox) at (oy + (kh-1)·dh - pt, ox + (kw-1)·dw - pl), so that input pixel
    /// (y, x) finds at buffer position (y + (kh-1-ki)·dh, x + (kw-1-kj)·dw) the gradient
    /// of the output that saw it through tap (ki, kj) (stride 1). Outputs whose windows
    /// lie wholly in the padding touch no input pixel and are left out.
    fn place_gradient_nhwc(&self, g: &Geo, gi: &[f32], buf: &mut [f32]) {
        let (ph, pw) = self.gradient_planes(g);
        let buf = &mut buf[..ph * pw * g.o];
        buf.fill(0.0);
        let shift = |k: usize, d: usize, pad: usize, len: usize, out: usize| {
            // buffer index of output index 0, and the output range that lands inside
            let s = ((k - 1) * d) as isize - pad as isize;
            let lo = (-s).max(0) as usize;
            let hi = ((len as isize - s).max(0) as usize).min(out);
            (s, lo, hi.max(lo))
        };
        let (sy, ylo, yhi) = shift(g.kh, self.dil[0], self.pads[0], ph, g.oh);
        let (sx, xlo, xhi) = shift(g.kw, self.dil[1], self.pads[2], pw, g.ow);
        let len = (xhi - xlo) * g.o;
        for oy in ylo..yhi {
            let src = (oy * g.ow + xlo) * g.o;
            let at = (((oy as isize + sy) as usize) * pw + (xlo as isize + sx) as usize) * g.o;
            buf[at..at + len].copy_from_slice(&gi[src..src + len]);
        }
    }

    /// The offsets of the full correlation's gathered matrix into `out`: first each input
    /// pixel (y, x) of the (PH, PW, O) gradient buffer (`H·W` of them), then each tap
    /// (ki, kj, o) of the flipped kernel (`kh·kw·O`).
    fn gradient_offsets_nhwc(&self, g: &Geo, out: &mut [i32]) {
        let (_, pw) = self.gradient_planes(g);
        let mut q = 0;
        for y in 0..g.h {
            for x in 0..g.w {
                out[q] = ((y * pw + x) * g.o) as i32;
                q += 1;
            }
        }
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let at = (g.kh - 1 - ki) * self.dil[0] * pw + (g.kw - 1 - kj) * self.dil[1];
                for o in 0..g.o {
                    out[q] = (at * g.o + o) as i32;
                    q += 1;
                }
            }
        }
    }

    /// Kernel matrix (kh·kw·C, O) -> (kh·kw·O, C), the right operand of the full
    /// correlation: each tap's (C x O) block transposed.
    fn regroup_nhwc(&self, g: &Geo, wk: &[f32], wb: &mut [f32]) {
        let blk = g.c * g.o;
        for (s, d) in wk.chunks_exact(blk).zip(wb.chunks_exact_mut(blk)) {
            transpose(s, g.c, g.o, d);
        }
    }

    /// Adds a (P x kh·kw·C) column matrix back into one channels-last sample's input
    /// gradient.
    pub(super) fn col2im_nhwc(&self, g: &Geo, cols: &[f32], gx: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if runs::avx512() {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { self.col2im_nhwc_avx512(g, cols, gx) };
        }
        self.col2im_nhwc_with::<false>(g, cols, gx)
    }

    /// [`Conv2d::col2im_nhwc`] with the additions inlined as AVX-512 runs.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn col2im_nhwc_avx512(&self, g: &Geo, cols: &[f32], gx: &mut [f32]) {
        self.col2im_nhwc_with::<true>(g, cols, gx)
    }

    #[inline(always)]
    fn col2im_nhwc_with<const WIDE: bool>(&self, g: &Geo, cols: &[f32], gx: &mut [f32]) {
        let (kk, c) = (g.k(), g.c);
        let (sh, sw) = (self.strides[0], self.strides[1]);
        for oy in 0..g.oh {
            for ki in 0..g.kh {
                let iy = (oy * sh + ki * self.dil[0]) as isize - self.pads[0] as isize;
                if iy < 0 || iy >= g.h as isize {
                    continue;
                }
                let dst_row = &mut gx[iy as usize * g.w * c..(iy as usize + 1) * g.w * c];
                if self.dil[1] == 1 {
                    // Undilated columns: the taps (ki, 0..kw) of a position are kw·C
                    // contiguous floats of its column row and land on kw·C contiguous
                    // floats of the input row, so each position adds one run (clipped to
                    // the row) instead of one per tap (few channels: 3x fewer, longer runs).
                    for ox in 0..g.ow {
                        let x0 = (ox * sw) as isize - self.pads[2] as isize;
                        let lo = (-x0).clamp(0, g.kw as isize) as usize;
                        let hi = (g.w as isize - x0).clamp(lo as isize, g.kw as isize) as usize;
                        if lo == hi {
                            continue;
                        }
                        let len = (hi - lo) * c;
                        let s = &cols[(oy * g.ow + ox) * kk + (ki * g.kw + lo) * c..][..len];
                        let d = &mut dst_row[(x0 + lo as isize) as usize * c..][..len];
                        // SAFETY: s and d are distinct slices of the same length.
                        unsafe { runs::add::<WIDE>(s.as_ptr(), d.as_mut_ptr(), len) };
                    }
                    continue;
                }
                for kj in 0..g.kw {
                    let dx = (kj * self.dil[1]) as isize - self.pads[2] as isize;
                    let (lo, hi) = valid_range(g.ow, g.w, sw, dx);
                    let tap = (ki * g.kw + kj) * c;
                    for ox in lo..hi {
                        let ix = ((ox * sw) as isize + dx) as usize;
                        let s = &cols[(oy * g.ow + ox) * kk + tap..][..c];
                        let d = &mut dst_row[ix * c..(ix + 1) * c];
                        // SAFETY: s and d are distinct slices of the same length.
                        unsafe { runs::add::<WIDE>(s.as_ptr(), d.as_mut_ptr(), c) };
                    }
                }
            }
        }
    }

    /// Bias and activation on one sample's (P x O) output.
    fn epilogue_nhwc(&self, y: &mut [f32], bias: &[f32]) {
        if self.bias {
            add_rows_activate_in_place(y, bias, self.act);
        } else {
            activate(y, self.act);
        }
    }

    /// The forward pass of a channels-last convolution (see the module doc).
    pub(super) fn forward_nhwc(
        &self,
        g: &Geo,
        inputs: &[&Value],
        out: &mut Value,
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let (kk, p) = (g.k(), g.p());
        let relaid = if self.kernel_is_matrix() { 0 } else { kk * g.o };
        let workers = self.workers(g);
        let (xs, os) = (g.h * g.w * g.c, p * g.o);
        let (hp, wp) = self.padded(g);
        // scratch: [kernel matrix (unless stored as one) | per worker: padded input]
        let slot = if self.has_pads() { hp * wp * g.c } else { 0 };
        grow(&mut ctx.scratch.f, relaid + workers * slot, "conv2d")?;
        let (wbuf, rest) = ctx.scratch.f.split_at_mut(relaid);
        let wk = self.kernel_matrix(g, &w.f, wbuf);
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        let offs = &mut ctx.scratch.i;
        grow(offs, p + kk, "conv2d")?;
        self.column_offsets_nhwc(g, &mut offs[..p + kk]);
        let (pos, taps) = offs[..p + kk].split_at(p);
        let bias: &[f32] = if self.bias { &inputs[2].f } else { &[] };
        let run = |i: usize, slot: &mut [f32], y: &mut [f32], serial: bool| {
            let a = GatheredOperand {
                data: self.source_nhwc(g, &x.f[i * xs..(i + 1) * xs], slot),
                rows: pos,
                cols: taps,
            };
            sgemm_gathered(p, g.o, kk, a, nop(wk), y, false, serial);
            if self.has_epilogue() {
                self.epilogue_nhwc(y, bias);
            }
        };
        if workers == 1 {
            let own = &mut rest[..slot];
            for (i, y) in out.f.chunks_mut(os).enumerate() {
                run(i, own, y, false);
            }
        } else {
            let (ys, slots) = (
                Disjoint::new(&mut out.f),
                Disjoint::new(&mut rest[..workers * slot]),
            );
            parallel_for(g.n, workers, &|i, who| {
                // SAFETY: sample i's output and participant who's slot are theirs alone.
                let (y, own) = unsafe { (ys.part(i * os, os), slots.part(who * slot, slot)) };
                run(i, own, y, true);
            });
        }
        Ok(())
    }

    /// The wanted gradients of a channels-last convolution in one pass over the batch
    /// (see the module doc); bit for bit what one call per input computes.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn backward_nhwc(
        &self,
        g: &Geo,
        inputs: &[&Value],
        out: &Value,
        gout: &[f32],
        gx: Option<&mut [f32]>,
        gw: Option<&mut [f32]>,
        gb: Option<&mut [f32]>,
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let (kk, p) = (g.k(), g.p());
        let ok = g.o * kk;
        let workers = self.workers(g);
        let (xs, os, hw) = (g.h * g.w * g.c, p * g.o, g.h * g.w);
        let (hp, wp) = self.padded(g);
        let (ph, pw) = self.gradient_planes(g);
        let (want_x, want_w) = (gx.is_some(), gw.is_some());
        // How the input gradient is computed: on the sample as it lies (1x1), as a full
        // correlation, or through a column matrix and col2im.
        let direct = want_x && self.is_1x1(g);
        let full = want_x && !direct && self.full_input_gradient_nhwc(g);
        let scatter = want_x && !direct && !full;
        let ftaps_n = g.kh * g.kw * g.o;
        let (gmn, xpad, gpad, coln) = (
            if self.act != Act::Linear { os } else { 0 },
            if want_w && self.has_pads() {
                hp * wp * g.c
            } else {
                0
            },
            if full { ph * pw * g.o } else { 0 },
            if scatter { p * kk } else { 0 },
        );
        // scratch: [kernel matrix (unless stored as one) | regrouped | per worker:
        // pre-activation gradient, padded input, padded gradient, columns | per range:
        // kernel-gradient partial]
        let slot = gmn + xpad + gpad + coln;
        let ranges = if workers > 1 { g.n.min(4 * workers) } else { 1 };
        let okw = if want_w { ok } else { 0 };
        let relaid = if want_x && !self.kernel_is_matrix() {
            ok
        } else {
            0
        };
        let wbn = if full { ok } else { 0 };
        grow(
            &mut ctx.scratch.f,
            relaid + wbn + workers * slot + ranges * okw,
            "conv2d",
        )?;
        let (wbuf, rest) = ctx.scratch.f.split_at_mut(relaid);
        let (wb, rest) = rest.split_at_mut(wbn);
        let (own, rest) = rest.split_at_mut(workers * slot);
        let partials = &mut rest[..ranges * okw];
        let wk: &[f32] = if want_x {
            self.kernel_matrix(g, &w.f, wbuf)
        } else {
            &[]
        };
        if full {
            self.regroup_nhwc(g, wk, wb);
        }
        let wb: &[f32] = wb;
        // offsets: [input pixels | flipped taps] of the full correlation's matrix, then
        // [output positions | taps] of the kernel gradient's
        let (fo, ko) = (
            if full { hw + ftaps_n } else { 0 },
            if want_w { p + kk } else { 0 },
        );
        let offs = &mut ctx.scratch.i;
        grow(offs, fo + ko, "conv2d")?;
        let (fofs, kofs) = offs[..fo + ko].split_at_mut(fo);
        if full {
            self.gradient_offsets_nhwc(g, fofs);
        }
        if want_w {
            self.column_offsets_nhwc(g, kofs);
        }
        let (pix, ftaps) = fofs.split_at(if full { hw } else { 0 });
        let (pos, ktaps) = kofs.split_at(if want_w { p } else { 0 });
        let serial = workers > 1;
        let run = |i: usize, slot: &mut [f32], gxi: &mut [f32], dw: &mut [f32], first: bool| {
            let (gm, rest) = slot.split_at_mut(gmn);
            let (xp, rest) = rest.split_at_mut(xpad);
            let (gp, cols) = rest.split_at_mut(gpad);
            let gi = &gout[i * os..(i + 1) * os];
            let gi: &[f32] = if gmn > 0 {
                grad_through_into(gi, &out.f[i * os..(i + 1) * os], gm, self.act);
                gm
            } else {
                gi
            };
            let gemm = if serial { sgemm_serial } else { sgemm };
            if direct {
                gemm(p, g.c, g.o, nop(gi), top(wk), gxi, true);
            } else if full {
                self.place_gradient_nhwc(g, gi, gp);
                let a = GatheredOperand {
                    data: gp,
                    rows: pix,
                    cols: ftaps,
                };
                sgemm_gathered(hw, g.c, ftaps_n, a, nop(wb), gxi, true, serial);
            } else if scatter {
                gemm(p, kk, g.o, nop(gi), top(wk), cols, false);
                self.col2im_nhwc(g, cols, gxi);
            }
            if want_w {
                // in products of DW_STEPS positions at most (see there)
                let data = self.source_nhwc(g, &x.f[i * xs..(i + 1) * xs], xp);
                for p0 in (0..p).step_by(DW_STEPS) {
                    let n = DW_STEPS.min(p - p0);
                    let a = GatheredOperand {
                        data,
                        rows: ktaps,
                        cols: &pos[p0..p0 + n],
                    };
                    let b = nop(&gi[p0 * g.o..(p0 + n) * g.o]);
                    sgemm_gathered(kk, g.o, n, a, b, dw, !first || p0 > 0, serial);
                }
            }
        };
        let (gx, gxn) = match gx {
            Some(gx) => (gx, xs),
            None => (&mut [][..], 0),
        };
        if !want_x && !want_w {
            // only the bias gradient, below
        } else if workers == 1 {
            for i in 0..g.n {
                run(
                    i,
                    &mut own[..slot],
                    &mut gx[i * gxn..(i + 1) * gxn],
                    &mut partials[..okw],
                    i == 0,
                );
            }
        } else {
            let (slots, dws, gxs) = (
                Disjoint::new(own),
                Disjoint::new(&mut partials[..]),
                Disjoint::new(&mut gx[..]),
            );
            parallel_for(ranges, workers, &|r, who| {
                let (lo, hi) = (r * g.n / ranges, (r + 1) * g.n / ranges);
                // SAFETY: range r's partial, its samples' gradients and participant who's
                // slot are theirs alone.
                let (own, dw) = unsafe { (slots.part(who * slot, slot), dws.part(r * okw, okw)) };
                for i in lo..hi {
                    // SAFETY: as above.
                    let gxi = unsafe { gxs.part(i * gxn, gxn) };
                    run(i, own, gxi, dw, i == lo);
                }
            });
            if want_w {
                let (first, others) = partials.split_at_mut(ok);
                for other in others.chunks(ok) {
                    for (a, &b) in first.iter_mut().zip(other) {
                        *a += b;
                    }
                }
            }
        }
        if let Some(gw) = gw {
            self.kernel_matrix_back(g, &partials[..ok], gw);
        }
        if let Some(gb) = gb {
            col_sums_through(&gout[..g.n * os], &out.f[..g.n * os], gb, self.act);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::epilogue::{activate, dact, Act};
    use crate::ops::{Attr, OpCtx, OpRef, Scratch};
    use crate::tensor::Value;

    /// Geometry of a test: input (N, H, W, C), kernel (O, C, kh, kw) as stored for
    /// "oihw", strides, pads (top, bottom, left, right), dilation.
    #[derive(Clone, Copy, Debug)]
    struct Case {
        xs: [usize; 4],
        ks: [usize; 4],
        st: [usize; 2],
        pd: [usize; 4],
        dl: [usize; 2],
    }

    fn case(xs: [usize; 4], ks: [usize; 4]) -> Case {
        Case {
            xs,
            ks,
            st: [1, 1],
            pd: [0; 4],
            dl: [1, 1],
        }
    }

    impl Case {
        fn strides(self, st: [usize; 2]) -> Case {
            Case { st, ..self }
        }
        fn pads(self, pd: [usize; 4]) -> Case {
            Case { pd, ..self }
        }
        fn dilation(self, dl: [usize; 2]) -> Case {
            Case { dl, ..self }
        }
        fn out(&self) -> [usize; 4] {
            let ([n, h, w, _], [o, _, kh, kw]) = (self.xs, self.ks);
            let (st, pd, dl) = (self.st, self.pd, self.dl);
            let oh = (h + pd[0] + pd[1] - dl[0] * (kh - 1) - 1) / st[0] + 1;
            let ow = (w + pd[2] + pd[3] - dl[1] * (kw - 1) - 1) / st[1] + 1;
            [n, oh, ow, o]
        }
        fn attrs(&self, layout: &str, flip: bool) -> Vec<(&'static str, Attr)> {
            let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&a| a as i64).collect());
            vec![
                ("layout", Attr::Str("nhwc".into())),
                ("strides", ints(&self.st)),
                ("pads", ints(&self.pd)),
                ("dilation", ints(&self.dl)),
                ("kernel_layout", Attr::Str(layout.into())),
                ("flip", Attr::Bool(flip)),
            ]
        }
    }

    /// Direct float64 reference on a channels-last input with an OIHW kernel: the
    /// output and, for the output gradient `r`, the input and kernel gradients.
    fn reference(c: &Case, x: &[f32], k: &[f32], flip: bool, r: &[f32]) -> [Vec<f64>; 3] {
        let ([n, h, w, ch], [o, _, kh, kw]) = (c.xs, c.ks);
        let [_, oh, ow, _] = c.out();
        let mut y = vec![0.0f64; n * oh * ow * o];
        let mut gx = vec![0.0f64; x.len()];
        let mut gk = vec![0.0f64; k.len()];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for f in 0..o {
                        let yi = ((b * oh + oy) * ow + ox) * o + f;
                        let gv = r[yi] as f64;
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (oy * c.st[0] + i * c.dl[0]) as isize - c.pd[0] as isize;
                                let ix = (ox * c.st[1] + j * c.dl[1]) as isize - c.pd[2] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let (ki, kj) = if flip {
                                    (kh - 1 - i, kw - 1 - j)
                                } else {
                                    (i, j)
                                };
                                for cc in 0..ch {
                                    let xi = ((b * h + iy as usize) * w + ix as usize) * ch + cc;
                                    let kx = ((f * ch + cc) * kh + ki) * kw + kj;
                                    y[yi] += x[xi] as f64 * k[kx] as f64;
                                    gx[xi] += gv * k[kx] as f64;
                                    gk[kx] += gv * x[xi] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        [y, gx, gk]
    }

    fn oihw_to_hwio(k: &[f32], ks: [usize; 4]) -> Vec<f32> {
        let [o, c, kh, kw] = ks;
        let mut t = vec![0.0; k.len()];
        for a in 0..o {
            for b in 0..c {
                for i in 0..kh {
                    for j in 0..kw {
                        t[((i * kw + j) * c + b) * o + a] = k[((a * c + b) * kh + i) * kw + j];
                    }
                }
            }
        }
        t
    }

    fn close(got: &[f32], want: &[f64], tol: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a as f64 - b).abs() <= tol * (1.0 + b.abs()),
                "{what}: element {i}: got {a}, want {b}"
            );
        }
    }

    /// Forward and both gradients (one call each, and both in one `backward_many`)
    /// against the float64 reference, for both kernel layouts, with and without flip;
    /// with `fd` also against finite differences.
    fn check(c: Case, seed: u64, fd: bool) {
        let x = rand(&c.xs, seed, -1.0, 1.0);
        let k = rand(&c.ks, seed + 1, -1.0, 1.0);
        let r = rand(&c.out(), seed + 2, -1.0, 1.0);
        for flip in [false, true] {
            let [want_y, want_gx, want_gk] = reference(&c, &x.f, &k.f, flip, &r.f);
            for layout in ["oihw", "hwio"] {
                let what = format!("{c:?} {layout} flip {flip}");
                let (kv, want_gk) = if layout == "oihw" {
                    (k.clone(), want_gk.clone())
                } else {
                    let [o, ci, kh, kw] = c.ks;
                    let gk32: Vec<f32> = want_gk.iter().map(|&v| v as f32).collect();
                    let back = oihw_to_hwio(&gk32, c.ks);
                    (
                        val(&[kh, kw, ci, o], &oihw_to_hwio(&k.f, c.ks)),
                        back.iter().map(|&v| v as f64).collect(),
                    )
                };
                let o = op("conv2d", &c.attrs(layout, flip));
                let mut s = Scratch::default();
                let y = forward_with(&o, &[x.clone(), kv.clone()], &mut s).unwrap();
                assert_eq!(y.shape, c.out().to_vec(), "{what}");
                close(&y.f, &want_y, 1e-4, &format!("{what}: forward"));
                let refs = [&x, &kv];
                let mut ctx = OpCtx { scratch: &mut s };
                let mut gx = vec![0.0; x.len()];
                let mut gk = vec![0.0; kv.len()];
                o.backward(0, &refs, &y, &r.f, &mut gx, &mut ctx).unwrap();
                o.backward(1, &refs, &y, &r.f, &mut gk, &mut ctx).unwrap();
                close(&gx, &want_gx, 1e-4, &format!("{what}: input gradient"));
                close(&gk, &want_gk, 1e-4, &format!("{what}: kernel gradient"));
                let (mut gx2, mut gk2) = (vec![0.0; x.len()], vec![0.0; kv.len()]);
                o.backward_many(
                    &[0, 1],
                    &refs,
                    &y,
                    &r.f,
                    &mut [&mut gx2, &mut gk2],
                    &mut ctx,
                )
                .unwrap();
                assert_eq!((gx2, gk2), (gx, gk), "{what}: backward_many");
                if fd {
                    grad_check(&o, &[x.clone(), kv], 1e-2, 2e-2)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                }
            }
        }
    }

    #[test]
    fn nhwc_few_channels() {
        check(case([2, 7, 6, 3], [4, 3, 3, 2]), 1, true);
        check(case([2, 5, 4, 1], [2, 1, 2, 3]), 2, true);
        check(case([1, 6, 6, 2], [3, 2, 3, 3]), 3, true);
    }

    #[test]
    fn nhwc_strides_asymmetric_pads_and_dilation() {
        let c = case([2, 7, 8, 2], [3, 2, 3, 3]);
        check(c.strides([2, 3]).pads([1, 0, 2, 1]), 4, true);
        check(
            case([1, 5, 5, 2], [2, 2, 2, 2])
                .strides([2, 2])
                .pads([0, 1, 0, 1]),
            5,
            true,
        );
        check(
            case([1, 7, 7, 2], [2, 2, 3, 2])
                .pads([1, 1, 0, 0])
                .dilation([2, 2]),
            6,
            true,
        );
        check(
            case([2, 8, 9, 3], [2, 3, 3, 3])
                .strides([2, 1])
                .dilation([1, 2]),
            7,
            true,
        );
    }

    #[test]
    fn nhwc_many_channels_full_correlation_and_col2im() {
        // 32+ channels, stride 1, about as many outputs as inputs: the input gradient is
        // the full correlation
        let c = case([2, 6, 7, 32], [3, 32, 3, 2]);
        check(c.pads([2, 0, 1, 3]).dilation([2, 1]), 8, false);
        check(case([2, 6, 6, 32], [16, 32, 3, 3]).pads([1; 4]), 10, false);
        check(
            case([1, 9, 8, 33], [3, 33, 2, 2]).pads([0, 1, 1, 0]),
            20,
            true,
        );
        // col2im: fewer channels, fewer outputs than inputs, strided
        let c = case([2, 6, 7, 16], [3, 16, 3, 2]);
        check(c.pads([2, 0, 1, 3]).dilation([2, 1]), 21, true);
        check(case([2, 5, 5, 17], [20, 17, 3, 3]), 9, false);
        check(case([2, 6, 6, 32], [4, 32, 3, 3]), 22, false);
        let c = case([2, 7, 8, 16], [3, 16, 3, 3]);
        check(c.strides([2, 3]).pads([1, 0, 2, 1]), 11, true);
    }

    #[test]
    fn nhwc_1x1_kernel_equal_to_input_and_padding_wider_than_kernel() {
        check(case([3, 3, 5, 4], [6, 4, 1, 1]), 12, true);
        check(case([2, 3, 4, 17], [5, 17, 1, 1]), 13, true);
        check(case([2, 5, 5, 4], [3, 4, 1, 1]).strides([2, 2]), 14, true);
        check(
            case([2, 3, 3, 4], [3, 4, 1, 1]).pads([1, 0, 0, 1]),
            15,
            true,
        );
        // the kernel covers the whole input: one output position
        check(case([2, 4, 5, 3], [2, 3, 4, 5]), 16, true);
        check(case([2, 3, 3, 16], [2, 16, 3, 3]), 17, true);
        // padding wider than the kernel: some outputs see only padding
        check(
            case([1, 3, 3, 16], [2, 16, 2, 2]).pads([3, 2, 3, 2]),
            18,
            true,
        );
        check(
            case([2, 4, 5, 1], [2, 1, 3, 3]).pads([2, 2, 2, 2]),
            19,
            true,
        );
        check(
            case([1, 3, 3, 32], [2, 32, 2, 2]).pads([3, 2, 3, 2]),
            23,
            false,
        );
    }

    #[test]
    fn nhwc_matches_nchw_on_transposed_data() {
        let c = case([3, 9, 8, 16], [8, 16, 3, 3]).pads([1, 1, 1, 1]);
        let x = rand(&c.xs, 31, -1.0, 1.0);
        let k = rand(&c.ks, 32, -1.0, 1.0);
        let [n, h, w, ch] = c.xs;
        let mut xt = vec![0.0; x.len()];
        for b in 0..n {
            for i in 0..h * w {
                for cc in 0..ch {
                    xt[(b * ch + cc) * h * w + i] = x.f[(b * h * w + i) * ch + cc];
                }
            }
        }
        let first = op(
            "conv2d",
            &[("pads", Attr::Ints(vec![1; 4])), ("flip", Attr::Bool(true))],
        );
        let last = op("conv2d", &c.attrs("oihw", true));
        let yt = forward(&first, &[val(&[n, ch, h, w], &xt), k.clone()]);
        let y = forward(&last, &[x, k]);
        let [_, oh, ow, o] = c.out();
        assert_eq!(yt.shape, vec![n, o, oh, ow]);
        for b in 0..n {
            for i in 0..oh * ow {
                for f in 0..o {
                    let (a, e) = (
                        y.f[(b * oh * ow + i) * o + f],
                        yt.f[(b * o + f) * oh * ow + i],
                    );
                    assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "{a} vs {e}");
                }
            }
        }
    }

    /// The fused epilogue against the plain op: forward `act(conv + b)` (b along the last
    /// axis), backward the plain op's on `g · act'(y)`, the bias gradient its column
    /// sums in row order (what `bias_add` computes), all bit for bit; every subset of
    /// gradients in one `backward_many` call as one call each.
    fn epilogue_case(c: Case, check_fd: bool) {
        let x = rand(&c.xs, 21, -1.0, 1.0);
        let [o, ci, kh, kw] = c.ks;
        let k = rand(&[kh, kw, ci, o], 22, -1.0, 1.0);
        let b = rand(&[o], 23, -1.0, 1.0);
        let base = c.attrs("hwio", false);
        let plain = op("conv2d", &base);
        let z = forward(&plain, &[x.clone(), k.clone()]);
        for act in Act::ALL {
            for bias in [true, false] {
                let mut attrs = base.clone();
                attrs.push(("activation", Attr::Str(act.name().into())));
                let mut ins = vec![x.clone(), k.clone()];
                if bias {
                    attrs.push(("bias", Attr::Bool(true)));
                    ins.push(b.clone());
                }
                let fused = op("conv2d", &attrs);
                let mut s = Scratch::default();
                let y = forward_with(&fused, &ins, &mut s).unwrap();
                let mut want = z.clone();
                for (i, v) in want.f.iter_mut().enumerate() {
                    if bias {
                        *v += b.f[i % o];
                    }
                }
                activate(&mut want.f, act);
                assert_eq!(y.f, want.f, "{act:?} bias {bias}: forward");
                let r = rand(&y.shape, 24, -1.0, 1.0);
                let gm: Vec<f32> =
                    r.f.iter()
                        .zip(&y.f)
                        .map(|(&g, &v)| g * dact(act, v))
                        .collect();
                let refs: Vec<&Value> = ins.iter().collect();
                let mut ctx = OpCtx { scratch: &mut s };
                let mut ps = Scratch::default();
                let mut pctx = OpCtx { scratch: &mut ps };
                for (idx, input) in ins.iter().enumerate().take(2) {
                    let mut got = vec![0.0; input.len()];
                    fused
                        .backward(idx, &refs, &y, &r.f, &mut got, &mut ctx)
                        .unwrap();
                    let mut want = vec![0.0; input.len()];
                    plain
                        .backward(idx, &refs[..2], &z, &gm, &mut want, &mut pctx)
                        .unwrap();
                    assert_eq!(got, want, "{act:?} bias {bias}: gradient of input {idx}");
                }
                if bias {
                    let mut got = vec![0.0; o];
                    fused
                        .backward(2, &refs, &y, &r.f, &mut got, &mut ctx)
                        .unwrap();
                    let mut want = vec![0.0f32; o];
                    for row in gm.chunks_exact(o) {
                        for (d, &g) in want.iter_mut().zip(row) {
                            *d += g;
                        }
                    }
                    assert_eq!(got, want, "{act:?} bias {bias}: bias gradient");
                }
                crate::ops::testing::assert_backward_many_matches_singles(
                    &fused,
                    &refs,
                    &y,
                    &r.f,
                    &mut ctx,
                    &format!("{act:?} bias {bias}"),
                );
                if check_fd && matches!(act, Act::Tanh | Act::Sigmoid) {
                    grad_check(&fused, &ins, 1e-2, 2e-2)
                        .unwrap_or_else(|e| panic!("{act:?} bias {bias}: {e}"));
                }
            }
        }
    }

    #[test]
    fn nhwc_bias_activation_epilogue() {
        epilogue_case(case([2, 7, 6, 3], [4, 3, 3, 2]), true);
        epilogue_case(case([3, 3, 5, 4], [6, 4, 1, 1]), true);
        epilogue_case(case([2, 5, 6, 16], [3, 16, 3, 3]), true);
        epilogue_case(case([2, 7, 8, 16], [3, 16, 3, 3]).strides([2, 2]), false);
        // the per-sample parallel path: full correlation, and col2im (8 channels)
        epilogue_case(case([8, 12, 12, 32], [16, 32, 3, 3]).pads([1; 4]), false);
        epilogue_case(case([8, 20, 20, 8], [16, 8, 3, 3]).pads([1; 4]), false);
    }

    /// A fused op's results computed with the batch split over the pool's threads, bit
    /// for bit against the same computation on one thread: per sample for the output,
    /// the input gradient and the bias gradient, and, for the kernel gradient, the
    /// serial sums over the same fixed sample ranges added in order.
    fn parallel_vs_serial(c: Case, layout: &str, flip: bool) {
        let threads = crate::kernels::pool::threads();
        let [n, h, w, ci] = c.xs;
        let [o, _, kh, kw] = c.ks;
        let ks = if layout == "oihw" {
            vec![o, ci, kh, kw]
        } else {
            vec![kh, kw, ci, o]
        };
        let x = rand(&c.xs, 41, -1.0, 1.0);
        let k = rand(&ks, 42, -1.0, 1.0);
        let b = rand(&[o], 43, -1.0, 1.0);
        let mut attrs = c.attrs(layout, flip);
        attrs.push(("activation", Attr::Str("relu".into())));
        attrs.push(("bias", Attr::Bool(true)));
        let f = op("conv2d", &attrs);
        let ins = [x.clone(), k.clone(), b.clone()];
        // (output, input gradient, kernel gradient, bias gradient) of `ins` on the
        // calling thread's terms
        let run = |f: &OpRef, ins: &[Value], r: &[f32]| {
            let mut s = Scratch::default();
            let y = forward_with(f, ins, &mut s).unwrap();
            let refs: Vec<&Value> = ins.iter().collect();
            let mut g: Vec<Vec<f32>> = ins.iter().map(|v| vec![0.0; v.len()]).collect();
            let mut slices: Vec<&mut [f32]> = g.iter_mut().map(|v| v.as_mut_slice()).collect();
            f.backward_many(
                &[0, 1, 2],
                &refs,
                &y,
                r,
                &mut slices,
                &mut OpCtx { scratch: &mut s },
            )
            .unwrap();
            (y, g)
        };
        let r = rand(&c.out(), 44, -1.0, 1.0);
        let (y, g) = run(&f, &ins, &r.f);
        // the serial reference: inside a pool worker nothing splits further
        let (ys, gs, parts) = rayon::join(
            || {
                let (ys, gs) = run(&f, &ins, &r.f);
                let workers = n.min(threads);
                let ranges = if workers > 1 { n.min(4 * workers) } else { 1 };
                let (xs, os) = (h * w * ci, y.len() / n);
                let parts: Vec<Vec<f32>> = (0..ranges)
                    .map(|q| {
                        let (lo, hi) = (q * n / ranges, (q + 1) * n / ranges);
                        let xq = val(&[hi - lo, h, w, ci], &x.f[lo * xs..hi * xs]);
                        let (_, gq) = run(&f, &[xq, k.clone(), b.clone()], &r.f[lo * os..hi * os]);
                        gq[1].clone()
                    })
                    .collect();
                (ys, gs, parts)
            },
            || (),
        )
        .0;
        assert_eq!(y.f, ys.f, "{c:?}: forward");
        assert_eq!(g[0], gs[0], "{c:?}: input gradient");
        assert_eq!(g[2], gs[2], "{c:?}: bias gradient");
        if layout == "hwio" && !flip {
            let mut want = parts[0].clone();
            for p in &parts[1..] {
                for (a, &v) in want.iter_mut().zip(p) {
                    *a += v;
                }
            }
            assert_eq!(g[1], want, "{c:?}: kernel gradient");
        }
        // and the kernel gradient against the float64 reference whatever the layout
        let (kt, ks4) = if layout == "oihw" {
            (k.f.clone(), c.ks)
        } else {
            let mut t = vec![0.0; k.len()];
            for a in 0..o {
                for bb in 0..ci {
                    for i in 0..kh {
                        for j in 0..kw {
                            t[((a * ci + bb) * kh + i) * kw + j] =
                                k.f[((i * kw + j) * ci + bb) * o + a];
                        }
                    }
                }
            }
            (t, c.ks)
        };
        let gm: Vec<f32> =
            r.f.iter()
                .zip(&y.f)
                .map(|(&gv, &v)| gv * dact(Act::Relu, v))
                .collect();
        let [_, want_gx, _] = reference(&Case { ks: ks4, ..c }, &x.f, &kt, flip, &gm);
        close(&g[0], &want_gx, 1e-4, "parallel input gradient");
    }

    #[test]
    fn nhwc_parallel_batch_is_bitwise_the_serial_one() {
        // large enough for the per-sample parallel path; full correlation
        let c = case([8, 20, 20, 32], [16, 32, 3, 3]).pads([1; 4]);
        parallel_vs_serial(c, "hwio", false);
        parallel_vs_serial(c, "oihw", true);
        // col2im input gradient (8 channels; strided)
        parallel_vs_serial(
            case([8, 20, 20, 8], [16, 8, 3, 3]).pads([1; 4]),
            "hwio",
            false,
        );
        parallel_vs_serial(
            case([6, 21, 21, 16], [16, 16, 3, 3]).strides([2, 2]),
            "hwio",
            false,
        );
    }

    #[test]
    fn nhwc_scratch_is_reused() {
        let c = case([8, 20, 20, 16], [16, 16, 3, 3]).pads([1; 4]);
        let x = rand(&c.xs, 51, -1.0, 1.0);
        let k = rand(&[3, 3, 16, 16], 52, -1.0, 1.0);
        let o = op("conv2d", &c.attrs("hwio", false));
        let mut s = Scratch::default();
        let y = forward_with(&o, &[x.clone(), k.clone()], &mut s).unwrap();
        let refs = [&x, &k];
        let r = rand(&y.shape, 53, -1.0, 1.0);
        let (mut gx, mut gk) = (vec![0.0; x.len()], vec![0.0; k.len()]);
        let mut step = |s: &mut Scratch| {
            let y = forward_with(&o, &[x.clone(), k.clone()], s).unwrap();
            o.backward_many(
                &[0, 1],
                &refs,
                &y,
                &r.f,
                &mut [&mut gx, &mut gk],
                &mut OpCtx { scratch: s },
            )
            .unwrap();
            y
        };
        step(&mut s);
        let cap = (s.f.capacity(), s.i.capacity());
        let y2 = step(&mut s);
        assert_eq!(y.f, y2.f);
        assert_eq!((s.f.capacity(), s.i.capacity()), cap);
    }

    #[test]
    fn nhwc_shapes_and_errors() {
        let t = |s: &[usize]| crate::ops::TypeInfo::f32(crate::tensor::known(s));
        let o = op("conv2d", &[("layout", Attr::Str("nhwc".into()))]);
        let y = o.infer(&[t(&[2, 7, 6, 3]), t(&[4, 3, 3, 2])]).unwrap();
        assert_eq!(y.shape, crate::tensor::known(&[2, 5, 5, 4]));
        let h = op(
            "conv2d",
            &[
                ("layout", Attr::Str("nhwc".into())),
                ("kernel_layout", Attr::Str("hwio".into())),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
        );
        let y = h.infer(&[t(&[2, 7, 6, 3]), t(&[3, 2, 3, 4])]).unwrap();
        assert_eq!(y.shape, crate::tensor::known(&[2, 3, 3, 4]));
        let e = o
            .infer(&[t(&[2, 7, 6, 3]), t(&[4, 2, 3, 3])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("channels"), "{e}");
        let e = o
            .infer(&[t(&[2, 2, 2, 3]), t(&[4, 3, 3, 3])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("(2, 2, 2, 3)"), "{e}");
        let e = crate::ops::build(
            "conv2d",
            &crate::ops::Attrs::new("conv2d").with("layout", Attr::Str("nchwc".into())),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("layout must be 'nchw' or 'nhwc'"), "{e}");
    }
}
