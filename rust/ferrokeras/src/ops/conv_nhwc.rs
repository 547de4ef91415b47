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

use super::conv::kernel::{kernel_matrix, kernel_matrix_back, rows_by_tap};
use super::conv::{wide_method, Conv2d, Geo, KernelLayout};
use super::nhwc_batch::{Batch, Grads, OutGrad, Parts, Sample};
use super::OpCtx;
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{
    n as nop, sgemm, sgemm_gathered, sgemm_serial, t as top, GatheredOperand,
};
use crate::kernels::runs;
use crate::kernels::transpose::transpose;
use crate::kernels::window::valid_range;
use crate::kernels::winograd;
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

/// `dW (K x O) (+)= colsᵀ · G` of one sample: `a` the gathered column matrix with the
/// taps as rows and the output positions as columns (steps), G the sample's
/// (positions x O) output gradient; in products of at most [`DW_STEPS`] positions (see
/// there), the first one overwriting `dw` unless `accumulate`.
pub(super) fn kernel_gradient(
    a: GatheredOperand,
    gi: &[f32],
    o: usize,
    dw: &mut [f32],
    accumulate: bool,
    serial: bool,
) {
    let (k, p) = (a.rows.len(), a.cols.len());
    for p0 in (0..p).step_by(DW_STEPS) {
        let n = DW_STEPS.min(p - p0);
        let part = GatheredOperand {
            cols: &a.cols[p0..p0 + n],
            ..a
        };
        let b = nop(&gi[p0 * o..(p0 + n) * o]);
        sgemm_gathered(k, o, n, part, b, dw, accumulate || p0 > 0, serial);
    }
}

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
        rows_by_tap([g.o, g.c, g.kh, g.kw], |r, o, c, ki, kj| {
            f(r, self.src(g, o, c, ki, kj))
        });
    }

    /// The (kh·kw·C, O) kernel matrix: the stored kernel, or its re-layout into `buf`.
    fn kernel_matrix<'a>(&self, g: &Geo, w: &'a [f32], buf: &'a mut [f32]) -> &'a [f32] {
        let len = g.k() * g.o;
        kernel_matrix(self.kernel_is_matrix(), w, len, buf, |f| {
            self.for_kernel_matrix(g, f)
        })
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

    wide_method! {
        /// Adds a (P x kh·kw·C) column matrix back into one channels-last sample's input
        /// gradient.
        pub(super) fn col2im_nhwc / col2im_nhwc_avx512 = col2im_nhwc_with(
            g: &Geo, cols: &[f32], gx: &mut [f32]
        )
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
        let plan = self.winograd_plan(g, hp, wp, g.c, g.o);
        let (ulen, tlen, wlen) = Self::winograd_sizes(plan, workers);
        // scratch: [kernel matrix (unless stored as one) | Winograd kernel | its work
        // space | per worker: padded input, Winograd work space]
        let padn = if self.has_pads() { hp * wp * g.c } else { 0 };
        let slot = padn + wlen;
        grow(
            &mut ctx.scratch.f,
            relaid + ulen + tlen + workers * slot,
            "conv2d",
        )?;
        let (wbuf, rest) = ctx.scratch.f.split_at_mut(relaid);
        let (ubuf, rest) = rest.split_at_mut(ulen);
        let (tbuf, rest) = rest.split_at_mut(tlen);
        let wk = self.kernel_matrix(g, &w.f, wbuf);
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        if let Some(pl) = plan {
            let (c, o) = (g.c, g.o);
            let u = winograd::transform_kernel(
                &pl,
                |a, b, ci, oi| wk[((a * 3 + b) * c + ci) * o + oi],
                tbuf,
                ubuf,
            );
            let run = |i: usize, slot: &mut [f32], y: &mut [f32], serial: bool| {
                let (pad, work) = slot.split_at_mut(padn);
                let src = self.source_nhwc(g, &x.f[i * xs..(i + 1) * xs], pad);
                let parts = Self::winograd_parts(serial);
                winograd::correlate(&pl, src, &u, y, false, work, parts);
            };
            let (ys, slots) = (Parts::new(&mut out.f, os), Parts::new(rest, slot));
            Batch::even(g.n, workers).forward_last(self.epi, inputs, ys, slots, &run);
            return Ok(());
        }
        let offs = &mut ctx.scratch.i;
        grow(offs, p + kk, "conv2d")?;
        self.column_offsets_nhwc(g, &mut offs[..p + kk]);
        let (pos, taps) = offs[..p + kk].split_at(p);
        let run = |i: usize, slot: &mut [f32], y: &mut [f32], serial: bool| {
            let a = GatheredOperand {
                data: self.source_nhwc(g, &x.f[i * xs..(i + 1) * xs], slot),
                rows: pos,
                cols: taps,
            };
            sgemm_gathered(p, g.o, kk, a, nop(wk), y, false, serial);
        };
        let (ys, slots) = (Parts::new(&mut out.f, os), Parts::new(rest, slot));
        Batch::even(g.n, workers).forward_last(self.epi, inputs, ys, slots, &run);
        Ok(())
    }

    /// The wanted gradients of a channels-last convolution in one pass over the batch
    /// (see the module doc); bit for bit what one call per input computes.
    pub(super) fn backward_nhwc(
        &self,
        g: &Geo,
        inputs: &[&Value],
        out: &Value,
        gout: &[f32],
        grads: Grads,
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let (kk, p) = (g.k(), g.p());
        let ok = g.o * kk;
        let batch = Batch::even(g.n, self.workers(g));
        let (xs, os, hw) = (g.h * g.w * g.c, p * g.o, g.h * g.w);
        let (hp, wp) = self.padded(g);
        let (ph, pw) = self.gradient_planes(g);
        let (want_x, want_w) = (grads.x.is_some(), grads.w.is_some());
        // How the input gradient is computed: on the sample as it lies (1x1), as a full
        // correlation (Winograd or gathered), or through a column matrix and col2im.
        let direct = want_x && self.is_1x1(g);
        let wino = if want_x && !direct {
            self.winograd_plan(g, ph, pw, g.o, g.c)
        } else {
            None
        };
        let full = want_x && !direct && wino.is_none() && self.full_input_gradient_nhwc(g);
        let scatter = want_x && !direct && wino.is_none() && !full;
        let (ulen, tlen, wlen) = Self::winograd_sizes(wino, batch.workers);
        // the kernel gradient as Winograd's: summed per range in the transform domain,
        // turned into the kernel matrix's at the end
        let wino_w = if want_w {
            self.winograd_plan(g, hp, wp, g.c, g.o)
        } else {
            None
        };
        // (a range's partial: its transform-domain sum, then that sum turned back, so
        // that the batch's gradient is still the in-order sum of its ranges')
        let (dun, wwn) = wino_w.map_or((0, 0), |pl| (pl.kernel_grad_len(), pl.scratch_len()));
        let ftaps_n = g.kh * g.kw * g.o;
        let og = OutGrad::new(self.epi, gout, &out.f, os);
        let (xpad, gpad, coln) = (
            if want_w && self.has_pads() {
                hp * wp * g.c
            } else {
                0
            },
            if full || wino.is_some() {
                ph * pw * g.o
            } else {
                0
            },
            if scatter { p * kk } else { wlen.max(wwn) },
        );
        // scratch: [kernel matrix (unless stored as one) | regrouped or Winograd kernel
        // and its work space | per worker: pre-activation gradient, padded input, padded
        // gradient, Winograd's transform-domain kernel gradient, columns or Winograd work
        // space | per range: kernel-gradient partial]
        // The transform-domain kernel gradient is summed over a range's samples and
        // turned into the range's partial at its last sample; a range runs on one
        // participant, so it lives in the participant's slot, where it stays in cache
        // from one range to the next (per range, 8 ranges of 4 samples wrote 256 KiB of
        // fresh memory each at W4's 64-channel layer: 2 threads ran its backward slower
        // than 1).
        let relaid = if want_x && !self.kernel_is_matrix() {
            ok
        } else {
            0
        };
        let wbn = if full { ok } else { ulen + tlen };
        let sizes = [
            relaid + wbn,
            og.slot(xpad + gpad + dun + coln),
            if want_w { ok } else { 0 },
            0,
        ];
        let (head, mut work, _) = batch.carve(&mut ctx.scratch.f, sizes, "conv2d")?;
        let (wbuf, wb) = head.split_at_mut(relaid);
        let wk: &[f32] = if want_x {
            self.kernel_matrix(g, &w.f, wbuf)
        } else {
            &[]
        };
        if full {
            self.regroup_nhwc(g, wk, wb);
        }
        // the flipped kernel with its channel roles swapped: tap (a, b) from input channel
        // o (of the gradient) to output channel c
        let (wb, ubuf): (&[f32], &mut [f32]) = if full { (wb, &mut []) } else { (&[], wb) };
        let (ubuf, tbuf) = ubuf.split_at_mut(ulen);
        let u = wino.map(|pl| {
            let (c, o) = (g.c, g.o);
            winograd::transform_kernel(
                &pl,
                |a, b, oi, ci| wk[(((2 - a) * 3 + 2 - b) * c + ci) * o + oi],
                tbuf,
                ubuf,
            )
        });
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
        let run = |sm: Sample, gi: &[f32]| {
            let (xp, rest) = sm.slot.split_at_mut(xpad);
            let (gp, rest) = rest.split_at_mut(gpad);
            let (du, cols) = rest.split_at_mut(dun);
            let gemm = if sm.serial { sgemm_serial } else { sgemm };
            if direct {
                gemm(p, g.c, g.o, nop(gi), top(wk), sm.gx, true);
            } else if let (Some(pl), Some(u)) = (&wino, &u) {
                self.place_gradient_nhwc(g, gi, gp);
                let parts = Self::winograd_parts(sm.serial);
                winograd::correlate(pl, gp, u, sm.gx, true, cols, parts);
            } else if full {
                self.place_gradient_nhwc(g, gi, gp);
                let a = GatheredOperand {
                    data: gp,
                    rows: pix,
                    cols: ftaps,
                };
                sgemm_gathered(hw, g.c, ftaps_n, a, nop(wb), sm.gx, true, sm.serial);
            } else if scatter {
                gemm(p, kk, g.o, nop(gi), top(wk), cols, false);
                self.col2im_nhwc(g, cols, sm.gx);
            }
            if let Some(pl) = &wino_w {
                let data = self.source_nhwc(g, &x.f[sm.i * xs..(sm.i + 1) * xs], xp);
                winograd::kernel_gradient(pl, data, gi, du, !sm.first, cols);
                if sm.last {
                    winograd::kernel_gradient_back(pl, du, sm.dw, |a, b, c| (a * 3 + b) * g.c + c);
                }
            } else if want_w {
                // in products of DW_STEPS positions at most (see there)
                let data = self.source_nhwc(g, &x.f[sm.i * xs..(sm.i + 1) * xs], xp);
                let a = GatheredOperand {
                    data,
                    rows: ktaps,
                    cols: pos,
                };
                kernel_gradient(a, gi, g.o, sm.dw, !sm.first, sm.serial);
            }
        };
        batch.backward_last(og, grads, xs, &mut work, &run, |gw, dw| {
            kernel_matrix_back(self.kernel_is_matrix(), dw, gw, |f| {
                self.for_kernel_matrix(g, f)
            })
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
