//! Convolutions: `conv2d` on channels-first (N, C, H, W) feature maps, or, with the
//! attribute `layout` "nhwc", on channels-last (N, H, W, C) ones (Keras 'tf'): the
//! channels-last passes are in `conv_nhwc.rs` and share this file's op type, attributes,
//! geometry and batch split. What follows describes the channels-first passes.
//!
//! Implicit gemm, per sample: the products read the im2col matrix where the input lies,
//! through a gathered operand (element (r, c) at `x[rows[r] + cols[c]]`, rows the output
//! positions, columns the kernel taps; see `kernels::gemm::sgemm_gathered`), so no
//! column matrix is written or read back. Padding is materialised once per sample into
//! a zero-bordered copy.
//! - Forward: `Yᵀ = colsᵀ · Wᵀ` (only the small kernel matrix is packed), then one
//!   transpose back with the bias/activation epilogue. Below 64 column rows (a 3x3
//!   kernel on RGB) the direct `Y = W · cols` on an explicit im2col matrix (or, 1x1, on
//!   the input itself) is kept: there the product is too cheap to pay for the transpose.
//! - Kernel gradient: `dWᵀ = cols · goutᵀ`, the gathered matrix as the left operand
//!   with the kernel taps as rows; accumulated over the batch.
//! - Input gradient, stride 1 and at least 16 input channels: the full correlation of
//!   the output gradient with the flipped kernel, `dXᵀ = G · Wb`, G gathered from a
//!   zero-bordered copy of the gradient; otherwise `Wᵀ · gout` into a column matrix
//!   scattered back by col2im.
//!
//! Measured per sample on one thread at the W4 shapes (`benches/examples/conv_parts.rs`)
//! against the explicit im2col/col2im versions: forward 0.61-0.73, kernel gradient
//! 0.58-0.63, input gradient 0.75-0.90 of their time.
//!
//! The kernel is taken in the layout Keras stores it (`kernel_layout` `"oihw"`, Keras
//! 'th': (nb_filter, stack, rows, cols); `"hwio"`, Keras 'tf': (rows, cols, stack,
//! nb_filter)) and re-laid out once per call into an (O, C·kh·kw) matrix kept in the
//! node's scratch. With `flip` the kernel is reversed spatially during that re-layout,
//! so a true convolution (Theano's semantics) costs exactly what a cross-correlation
//! costs.
//!
//! Attributes: `layout` (Str, "nchw" (default) or "nhwc"), `strides` (Ints 2, default
//! 1,1), `pads` (Ints 4: top, bottom, left, right, default 0), `dilation` (Ints 2,
//! default 1,1), `kernel_layout` (Str, default "oihw"), `flip` (Bool, default false),
//! `bias` (Bool, default false: a third input, one value per output channel),
//! `activation` (Str, one of [`Act::EPILOGUE`], default "linear").
//!
//! Bias and activation are the epilogue the executor's fusion pass folds in from a
//! following `bias_add` along the channel axis (1, or 3 with "nhwc") and
//! relu/tanh/sigmoid: applied to each sample's
//! output while the gemm has just left it in cache, and, backward, each sample's
//! gradient is taken through the activation just before its gemm, instead of whole-
//! batch passes over memory.
//!
//! Work is split over the batch when there are at least two samples and enough
//! multiply-adds: samples are claimed one at a time by the participating threads
//! ([`crate::kernels::pool::parallel_for`], so a thread the host slows down takes fewer),
//! each thread with its own column buffer in scratch and a serial gemm inside. The
//! kernel gradient sums per-range partials (fixed contiguous sample ranges, added in
//! order), so its rounding does not depend on which thread ran what. Otherwise samples
//! run in turn with the (possibly parallel) gemm. A steady-state call allocates nothing
//! outside the gemm crate and rayon's job handles.

use std::sync::Arc;

use super::epilogue::{activate, add_scalar_activate_in_place, grad_through_into, sum_through};
use super::nhwc_batch::{self, Batch, Grads, OutGrad, Parts, Sample};
use super::{Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::act::Act;
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{
    n as nop, sgemm, sgemm_gathered, sgemm_serial, t as top, GatheredOperand,
};
use crate::kernels::pool::threads;
use crate::kernels::runs;
use crate::kernels::transpose::{transpose, transpose_add};
use crate::kernels::window::{gather_row, scatter_add_row, valid_range};
use crate::kernels::winograd;
use crate::tensor::Value;
use crate::{Error, Result};
use attrs::{fusable_epilogue, positive, second_of, Epilogue};
use kernel::rows_by_output;
pub use kernel::KernelLayout;
use shapes::{check_channels, conv_inputs, out_dim, out_sizes};

pub(crate) mod attrs;
pub(crate) mod kernel;
pub(crate) mod shapes;
#[cfg(test)]
pub(crate) mod testing;

/// 2-D convolution (cross-correlation, or true convolution with `flip`) of an NCHW (or,
/// with `nhwc`, NHWC) input with a kernel of `layout`.
#[derive(Debug, Clone, Copy)]
pub struct Conv2d {
    pub(super) strides: [usize; 2],
    pub(super) pads: [usize; 4],
    pub(super) dil: [usize; 2],
    pub(super) layout: KernelLayout,
    pub(super) flip: bool,
    pub(super) epi: Epilogue,
    /// Channels-last input and output (`layout` "nhwc"; the passes in `conv_nhwc.rs`).
    pub(super) nhwc: bool,
}

/// Concrete geometry of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geo {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) o: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
}

impl Geo {
    pub(crate) fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    pub(crate) fn p(&self) -> usize {
        self.oh * self.ow
    }
}

/// Defines method `$name` as `$with::<true>` (its row moves inlined as AVX-512 runs,
/// through the `#[target_feature]` trampoline `$wide`) where the CPU has AVX-512F, and
/// as `$with::<false>` elsewhere.
macro_rules! wide_method {
    ($(#[$m:meta])* $vis:vis fn $name:ident / $wide:ident = $with:ident($($a:ident: $t:ty),*)) => {
        $(#[$m])*
        $vis fn $name(&self, $($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            if runs::avx512() {
                // SAFETY: the CPU has AVX-512F.
                return unsafe { self.$wide($($a),*) };
            }
            self.$with::<false>($($a),*)
        }

        /// The AVX-512 variant of the method of the same name.
        ///
        /// # Safety
        /// The CPU has AVX-512F.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        unsafe fn $wide(&self, $($a: $t),*) {
            self.$with::<true>($($a),*)
        }
    };
}
pub(super) use wide_method;

/// Fewest column-matrix rows (C·kh·kw) for which the forward product is computed
/// transposed on the gathered column matrix (see `Conv2d::forward`).
const GATHERED_MIN_K: usize = 64;

/// Fewest input channels for which the input gradient is a full correlation (see
/// `Conv2d::full_input_gradient`).
pub(super) const FULL_MIN_CHANNELS: usize = 16;

/// Fewest channels, on either side, for which a 3x3 correlation runs as Winograd
/// F(2x2, 3x3) ([`winograd`]): its 16 products are C deep and O wide, and narrower ones
/// leave the gemm kernel's registers mostly idle.
const WINOGRAD_MIN_CHANNELS: usize = 8;

impl Conv2d {
    /// A cross-correlation (or, with `flip`, convolution) with these strides, pads
    /// (top, bottom, left, right) and dilation; used by the transposed convolution.
    pub(crate) fn new(
        strides: [usize; 2],
        pads: [usize; 4],
        dil: [usize; 2],
        layout: KernelLayout,
        flip: bool,
    ) -> Self {
        Conv2d {
            strides,
            pads,
            dil,
            layout,
            flip,
            epi: Epilogue::NONE,
            nhwc: false,
        }
    }

    /// Bias and activation on one sample's (O, P) output.
    fn epilogue(&self, y: &mut [f32], bias: Option<&[f32]>, p: usize) {
        match bias {
            Some(bias) => {
                for (yc, &b) in y.chunks_exact_mut(p).zip(bias) {
                    add_scalar_activate_in_place(yc, b, self.epi.act);
                }
            }
            None => activate(y, self.epi.act),
        }
    }

    /// (out, in, kh, kw) of a kernel shape in this op's layout.
    fn kdims<T: Copy>(&self, k: &[T]) -> (T, T, T, T) {
        self.layout.dims(k)
    }

    /// (batch, channels, rows, cols) of an input shape in this op's layout.
    fn xdims<T: Copy>(&self, x: &[T]) -> (T, T, T, T) {
        if self.nhwc {
            (x[0], x[3], x[1], x[2])
        } else {
            (x[0], x[1], x[2], x[3])
        }
    }

    pub(super) fn geo(&self, x: &[usize], k: &[usize]) -> Result<Geo> {
        let (o, _, kh, kw) = self.kdims(k);
        let (n, c, h, w) = self.xdims(x);
        let (st, pads, dil) = (self.strides, &self.pads, self.dil);
        let [oh, ow] = out_sizes("conv2d", (x, k), [h, w], [kh, kw], st, pads, dil)?;
        Ok(Geo {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            oh,
            ow,
        })
    }

    pub(crate) fn is_1x1(&self, g: &Geo) -> bool {
        g.kh == 1 && g.kw == 1 && self.strides == [1, 1] && self.pads == [0; 4]
    }

    /// Index in the stored kernel of tap (o, c, ki, kj) of the cross-correlation matrix.
    #[inline]
    pub(super) fn src(&self, g: &Geo, o: usize, c: usize, ki: usize, kj: usize) -> usize {
        (self.layout).index(self.flip, [g.o, g.c, g.kh, g.kw], o, c, ki, kj)
    }

    /// Kernel -> (O, C·kh·kw) matrix (flip folded in).
    fn relayout(&self, g: &Geo, w: &[f32], wm: &mut [f32]) {
        rows_by_output([g.o, g.c, g.kh, g.kw], |r, o, c, ki, kj| {
            wm[r] = w[self.src(g, o, c, ki, kj)]
        });
    }

    /// Adds a (C·kh·kw, O) matrix gradient (the kernel matrix's transpose) into the
    /// stored kernel's gradient.
    fn relayout_back(&self, g: &Geo, dmt: &[f32], gin: &mut [f32]) {
        let k = g.k();
        rows_by_output([g.o, g.c, g.kh, g.kw], |r, o, c, ki, kj| {
            gin[self.src(g, o, c, ki, kj)] += dmt[(r - o * k) * g.o + o]
        });
    }

    wide_method! {
        /// Column matrix (C·kh·kw, OH·OW) of one sample.
        pub(crate) fn im2col / im2col_avx512 = im2col_with(g: &Geo, x: &[f32], cols: &mut [f32])
    }

    #[inline(always)]
    fn im2col_with<const WIDE: bool>(&self, g: &Geo, x: &[f32], cols: &mut [f32]) {
        let p = g.p();
        let (sh, sw) = (self.strides[0], self.strides[1]);
        let mut row = 0;
        for c in 0..g.c {
            let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let dst_row = &mut cols[row * p..(row + 1) * p];
                    row += 1;
                    let dy = (ki * self.dil[0]) as isize - self.pads[0] as isize;
                    let dx = (kj * self.dil[1]) as isize - self.pads[2] as isize;
                    let (lo, hi) = valid_range(g.ow, g.w, sw, dx);
                    for oy in 0..g.oh {
                        let dst = &mut dst_row[oy * g.ow..(oy + 1) * g.ow];
                        let iy = (oy * sh) as isize + dy;
                        if iy < 0 || iy >= g.h as isize {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                        if lo > 0 {
                            dst[..lo].fill(0.0);
                        }
                        if hi < g.ow {
                            dst[hi..].fill(0.0);
                        }
                        if lo >= hi {
                            // every tap of this row falls in the padding (a dilated
                            // kernel wider than the padded input reaches past it)
                            continue;
                        }
                        // SAFETY: WIDE only from `im2col_avx512`, compiled with AVX-512F.
                        unsafe { gather_row::<WIDE>(src, dst, lo, hi, sw, dx) };
                    }
                }
            }
        }
    }

    wide_method! {
        /// Adds a column matrix back into one sample's input gradient.
        pub(crate) fn col2im / col2im_avx512 = col2im_with(g: &Geo, cols: &[f32], gx: &mut [f32])
    }

    #[inline(always)]
    fn col2im_with<const WIDE: bool>(&self, g: &Geo, cols: &[f32], gx: &mut [f32]) {
        let p = g.p();
        let (sh, sw) = (self.strides[0], self.strides[1]);
        let mut row = 0;
        for c in 0..g.c {
            let plane = &mut gx[c * g.h * g.w..(c + 1) * g.h * g.w];
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let src_row = &cols[row * p..(row + 1) * p];
                    row += 1;
                    let dy = (ki * self.dil[0]) as isize - self.pads[0] as isize;
                    let dx = (kj * self.dil[1]) as isize - self.pads[2] as isize;
                    let (lo, hi) = valid_range(g.ow, g.w, sw, dx);
                    if lo >= hi {
                        continue;
                    }
                    for oy in 0..g.oh {
                        let iy = (oy * sh) as isize + dy;
                        if iy < 0 || iy >= g.h as isize {
                            continue;
                        }
                        let src = &src_row[oy * g.ow..(oy + 1) * g.ow];
                        let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                        // SAFETY: WIDE only from `col2im_avx512`, compiled with AVX-512F.
                        unsafe { scatter_add_row::<WIDE>(src, dst, lo, hi, sw, dx) };
                    }
                }
            }
        }
    }

    /// Input plane size as the gathered products read it (padding materialised).
    pub(super) fn padded(&self, g: &Geo) -> (usize, usize) {
        (
            g.h + self.pads[0] + self.pads[1],
            g.w + self.pads[2] + self.pads[3],
        )
    }

    pub(super) fn has_pads(&self) -> bool {
        self.pads != [0; 4]
    }

    /// The sample the gathered products read: `x` itself, or, with padding, its copy
    /// in the zero-bordered (C, hp, wp) buffer `buf`.
    fn source<'a>(&self, g: &Geo, x: &'a [f32], buf: &'a mut [f32]) -> &'a [f32] {
        if !self.has_pads() {
            return x;
        }
        let (hp, wp) = self.padded(g);
        let buf = &mut buf[..g.c * hp * wp];
        buf.fill(0.0);
        for (src, dst) in x.chunks_exact(g.h * g.w).zip(buf.chunks_exact_mut(hp * wp)) {
            for (r, row) in src.chunks_exact(g.w).enumerate() {
                let at = (r + self.pads[0]) * wp + self.pads[2];
                dst[at..at + g.w].copy_from_slice(row);
            }
        }
        buf
    }

    /// The offsets of the gathered column matrix of a (padded) sample into `out`: first
    /// each output position (oy, ox) (`P` of them), then each kernel tap (c, ki, kj) in
    /// the kernel matrix's column order (`C·kh·kw`).
    fn column_offsets(&self, g: &Geo, out: &mut [i32]) {
        let (hp, wp) = self.padded(g);
        let mut q = 0;
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                out[q] = (oy * self.strides[0] * wp + ox * self.strides[1]) as i32;
                q += 1;
            }
        }
        for c in 0..g.c {
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    out[q] = (c * hp * wp + ki * self.dil[0] * wp + kj * self.dil[1]) as i32;
                    q += 1;
                }
            }
        }
    }

    /// Whether the input gradient is computed as a full correlation of the output
    /// gradient rather than by col2im: for stride 1, and enough input channels that
    /// the product's C-wide panels are not mostly padding (measured at C = 3, 32x32:
    /// 8x slower than col2im; the two are about even near C = 16).
    pub(super) fn full_input_gradient(&self, g: &Geo) -> bool {
        self.strides == [1, 1] && g.c >= FULL_MIN_CHANNELS
    }

    /// (PH, PW): the planes of the zero-bordered output gradient that the input gradient
    /// correlates with the flipped kernel (see [`Conv2d::place_gradient`]).
    pub(super) fn gradient_planes(&self, g: &Geo) -> (usize, usize) {
        (
            g.h + (g.kh - 1) * self.dil[0],
            g.w + (g.kw - 1) * self.dil[1],
        )
    }

    /// Puts one sample's output gradient (taken through the activation on the way) into
    /// a zero-bordered (O, PH, PW) buffer so that input pixel (y, x) sees, at kernel tap
    /// (ki, kj), the gradient of output (y + pt - ki·d, x + pl - kj·d) at buffer
    /// position (y + (kh-1-ki)·d, x + (kw-1-kj)·d). Output rows or columns whose windows
    /// lie wholly in the padding touch no input pixel and are left out.
    fn place_gradient(&self, g: &Geo, gi: &[f32], yi: &[f32], act: Act, buf: &mut [f32]) {
        let (ph, pw) = self.gradient_planes(g);
        let buf = &mut buf[..g.o * ph * pw];
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
        let p = g.p();
        for o in 0..g.o {
            for oy in ylo..yhi {
                let src = o * p + oy * g.ow;
                let at = o * ph * pw + ((oy as isize + sy) as usize) * pw;
                let at = (at as isize + sx + xlo as isize) as usize;
                let dst = &mut buf[at..at + (xhi - xlo)];
                let (gs, ys) = (&gi[src + xlo..src + xhi], &yi[src + xlo..src + xhi]);
                if act == Act::Linear {
                    dst.copy_from_slice(gs);
                } else {
                    grad_through_into(gs, ys, dst, act);
                }
            }
        }
    }

    /// The offsets of the full correlation's gathered matrix into `out`: first each
    /// input pixel (y, x) in a (PH, PW) gradient plane (`H·W` of them), then each
    /// (o, ki, kj) of the flipped kernel in the (O, PH, PW) gradient (`O·kh·kw`).
    fn gradient_offsets(&self, g: &Geo, out: &mut [i32]) {
        let (ph, pw) = self.gradient_planes(g);
        let mut q = 0;
        for y in 0..g.h {
            for x in 0..g.w {
                out[q] = (y * pw + x) as i32;
                q += 1;
            }
        }
        for o in 0..g.o {
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    out[q] = (o * ph * pw
                        + (g.kh - 1 - ki) * self.dil[0] * pw
                        + (g.kw - 1 - kj) * self.dil[1]) as i32;
                    q += 1;
                }
            }
        }
    }

    /// Kernel matrix (O, C·kh·kw) -> (O·kh·kw, C), the right operand of the full
    /// correlation.
    fn regroup(&self, g: &Geo, wm: &[f32], wb: &mut [f32]) {
        let taps = g.kh * g.kw;
        for o in 0..g.o {
            for t in 0..taps {
                let row = &mut wb[(o * taps + t) * g.c..(o * taps + t + 1) * g.c];
                for (c, v) in row.iter_mut().enumerate() {
                    *v = wm[o * g.k() + c * taps + t];
                }
            }
        }
    }

    /// Refuses geometries whose offsets would not fit the gathered products' `i32`s.
    pub(super) fn check_offsets(&self, g: &Geo) -> Result<()> {
        let (hp, wp) = self.padded(g);
        let (ph, pw) = self.gradient_planes(g);
        let most = (g.c * hp * wp).max(g.o * ph * pw);
        if most >= i32::MAX as usize {
            return Err(Error::Value(format!(
                "conv2d: one sample of {most} floats is larger than the 2^31 the kernels \
                 address"
            )));
        }
        Ok(())
    }

    /// The Winograd F(2x2, 3x3) plan of a correlation (either layout) of a (h, w, c)
    /// sample into `o` channels, where it replaces the direct product: a 3x3 kernel,
    /// stride 1, no dilation, at least [`WINOGRAD_MIN_CHANNELS`] channels on both sides,
    /// on a CPU with the fast transforms. With its scratch per worker: a lone worker
    /// (samples in turn) splits each sample's tile blocks over the pool instead.
    pub(super) fn winograd_plan(
        &self,
        g: &Geo,
        h: usize,
        w: usize,
        c: usize,
        o: usize,
    ) -> Option<winograd::Plan> {
        let pays = g.kh == 3
            && g.kw == 3
            && self.strides == [1, 1]
            && self.dil == [1, 1]
            && c >= WINOGRAD_MIN_CHANNELS
            && o >= WINOGRAD_MIN_CHANNELS
            && winograd::fast();
        pays.then_some(winograd::Plan { h, w, c, o })
    }

    /// Threads one sample's Winograd correlation runs on: 1 when the samples are split
    /// over the workers (`serial`), else the pool's.
    pub(super) fn winograd_parts(serial: bool) -> usize {
        if serial {
            1
        } else {
            threads()
        }
    }

    /// Floats a Winograd correlation takes, `(0, 0, 0)` without one: its transformed
    /// kernel, that transform's work space, and the work space one worker's slot holds
    /// (see [`Conv2d::winograd_parts`]).
    pub(super) fn winograd_sizes(
        pl: Option<winograd::Plan>,
        workers: usize,
    ) -> (usize, usize, usize) {
        pl.map_or((0, 0, 0), |pl| {
            (
                pl.kernel_len(),
                pl.kernel_tmp_len(),
                pl.scratch_len() * Self::winograd_parts(workers > 1),
            )
        })
    }

    /// Number of batch workers for a call (1 = samples in turn, gemm may parallelise).
    pub(crate) fn workers(&self, g: &Geo) -> usize {
        nhwc_batch::workers(g.n, g.n * g.o * g.k() * g.p())
    }
}

/// The column matrix of one sample: the sample itself for a 1x1 kernel with stride 1
/// and no padding (`one`), else its `im2col` into `cols`.
pub(super) fn columns<'a>(
    one: bool,
    v: &'a [f32],
    cols: &'a mut [f32],
    im2col: impl FnOnce(&[f32], &mut [f32]),
) -> &'a [f32] {
    if one {
        return v;
    }
    im2col(v, cols);
    cols
}

impl Op for Conv2d {
    fn name(&self) -> &str {
        "conv2d"
    }

    fusable_epilogue!(|op| if op.nhwc { 3 } else { 1 });

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let what = if self.nhwc {
            "(N, H, W, C)"
        } else {
            "(N, C, H, W)"
        };
        let (x, k) = conv_inputs("conv2d", inputs, self.epi, 4, what)?;
        let (o, ci, kh, kw) = self.kdims(k);
        let (n, c, h, w) = self.xdims(x);
        check_channels("conv2d", inputs, self.epi, (c, ci), o)?;
        let side = |ax: usize, len, k| {
            let pad = self.pads[2 * ax] + self.pads[2 * ax + 1];
            out_dim(
                "conv2d",
                inputs,
                len,
                pad,
                k,
                self.strides[ax],
                self.dil[ax],
            )
        };
        let (oh, ow) = (side(0, h, kh)?, side(1, w, kw)?);
        Ok(TypeInfo::f32(if self.nhwc {
            vec![n, oh, ow, o]
        } else {
            vec![n, o, oh, ow]
        }))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = self.geo(&x.shape, &w.shape)?;
        self.check_offsets(&g)?;
        if self.nhwc {
            return self.forward_nhwc(&g, inputs, out, ctx);
        }
        let (kk, p) = (g.k(), g.p());
        let ok = g.o * kk;
        let workers = self.workers(&g);
        let (xs, os) = (g.c * g.h * g.w, g.o * p);
        let (hp, wp) = self.padded(&g);
        // Yᵀ = colsᵀ · Wᵀ with the column matrix gathered from the input where it lies
        // (no im2col), then one transpose back, or, for few column rows, Y = W · cols
        // on an explicit column matrix (the product is then too cheap to pay for the
        // transpose).
        let gathered = kk >= GATHERED_MIN_K;
        let one = self.is_1x1(&g);
        let padded = gathered && self.has_pads();
        let wino = self.winograd_plan(&g, hp, wp, g.c, g.o);
        if let Some(pl) = wino {
            return self.forward_winograd(&g, &pl, workers, inputs, out, ctx);
        }
        // per worker: [padded input | Yᵀ] gathered, [columns] direct
        let slot = if gathered {
            (if padded { g.c * hp * wp } else { 0 }) + os
        } else if one {
            0
        } else {
            kk * p
        };
        grow(&mut ctx.scratch.f, ok + workers * slot, "conv2d")?;
        let (wm, rest) = ctx.scratch.f.split_at_mut(ok);
        self.relayout(&g, &w.f, wm);
        let wm: &[f32] = wm;
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        let offs = &mut ctx.scratch.i;
        if gathered {
            grow(offs, p + kk, "conv2d")?;
            self.column_offsets(&g, &mut offs[..p + kk]);
        }
        let (pos, taps) = offs.split_at(if gathered { p } else { 0 });
        let taps = &taps[..if gathered { kk } else { 0 }];
        let bias = self.epi.bias(inputs);
        let run = |i: usize, slot: &mut [f32], y: &mut [f32], serial: bool| {
            let xi = &x.f[i * xs..(i + 1) * xs];
            if gathered {
                let (xp, yt) = slot.split_at_mut(if padded { g.c * hp * wp } else { 0 });
                let a = GatheredOperand {
                    data: self.source(&g, xi, xp),
                    rows: pos,
                    cols: taps,
                };
                sgemm_gathered(p, g.o, kk, a, top(wm), yt, false, serial);
                transpose(yt, p, g.o, y);
            } else {
                let b = columns(one, xi, slot, |v, c| self.im2col(&g, v, c));
                let gemm = if serial { sgemm_serial } else { sgemm };
                gemm(g.o, p, kk, nop(wm), nop(b), y, false);
            }
            if self.epi.any() {
                self.epilogue(y, bias, p);
            }
        };
        let (ys, slots) = (Parts::new(&mut out.f, os), Parts::new(rest, slot));
        Batch::even(g.n, workers).forward(ys, slots, &run);
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
        let g = self.geo(&inputs[0].shape, &inputs[1].shape)?;
        self.check_offsets(&g)?;
        if g.n == 0 || g.o * g.p() == 0 {
            return Ok(());
        }
        let mut grads = Grads::new(wanted, gins);
        if self.nhwc {
            return self.backward_nhwc(&g, inputs, out, gout, grads, ctx);
        }
        // A strided or few-channel input gradient goes through col2im on its own.
        if let Some(gx) = grads.x.take_if(|_| !self.full_input_gradient(&g)) {
            self.input_gradient_col2im(&g, inputs[1], out, gout, gx, ctx)?;
        }
        if grads.x.is_some() || grads.w.is_some() || grads.b.is_some() {
            self.backward_fused(&g, inputs, out, gout, grads, ctx)?;
        }
        Ok(())
    }
}

impl Conv2d {
    /// The channels-first forward pass as a Winograd correlation ([`winograd`]): per
    /// sample, the (padded) input turned channels-last, correlated into Yᵀ (P x O) and
    /// transposed back, then the epilogue.
    fn forward_winograd(
        &self,
        g: &Geo,
        pl: &winograd::Plan,
        workers: usize,
        inputs: &[&Value],
        out: &mut Value,
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let p = g.p();
        let (xs, os) = (g.c * g.h * g.w, g.o * p);
        let (hp, wp) = self.padded(g);
        let padn = if self.has_pads() { g.c * hp * wp } else { 0 };
        // scratch: [Winograd kernel | its work space | per worker: padded input, input
        // channels-last, Yᵀ, Winograd work space]
        let (ulen, tlen, wlen) = Self::winograd_sizes(Some(*pl), workers);
        let slot = padn + hp * wp * g.c + os + wlen;
        grow(&mut ctx.scratch.f, ulen + tlen + workers * slot, "conv2d")?;
        let (ubuf, rest) = ctx.scratch.f.split_at_mut(ulen);
        let (tbuf, rest) = rest.split_at_mut(tlen);
        let u = winograd::transform_kernel(
            pl,
            |a, b, ci, oi| w.f[self.src(g, oi, ci, a, b)],
            tbuf,
            ubuf,
        );
        let bias = self.epi.bias(inputs);
        let run = |i: usize, slot: &mut [f32], y: &mut [f32], serial: bool| {
            let (xp, rest) = slot.split_at_mut(padn);
            let (xt, rest) = rest.split_at_mut(hp * wp * g.c);
            let (yt, work) = rest.split_at_mut(os);
            let src = self.source(g, &x.f[i * xs..(i + 1) * xs], xp);
            transpose(src, g.c, hp * wp, xt);
            let parts = Self::winograd_parts(serial);
            winograd::correlate(pl, xt, &u, yt, false, work, parts);
            // Bias and activation on the channels-last result, still in cache, rather
            // than on the sample's place in the batch: the same operations per element.
            self.epi.apply_last(yt, bias);
            transpose(yt, p, g.o, y);
        };
        let (ys, slots) = (Parts::new(&mut out.f, os), Parts::new(rest, slot));
        Batch::even(g.n, workers).forward(ys, slots, &run);
        Ok(())
    }

    /// The wanted gradients in one pass over the batch, per sample:
    /// - the output gradient taken through the activation once (not once per input);
    /// - input gradient (stride 1, 16+ channels): the full correlation of that gradient
    ///   with the flipped kernel, `dXᵀ = G · Wb` with G gathered from a zero-bordered
    ///   copy (rows the input pixels, steps the (o, ki, kj) taps) and Wb the kernel
    ///   matrix regrouped to (O·kh·kw, C), added into dX by one transpose. No column
    ///   matrix is written and no col2im scatter runs; the price is the products at
    ///   border pixels whose taps fall in the zero border;
    /// - kernel gradient: `dWᵀ = cols · giᵀ` with the column matrix gathered from the
    ///   (padded) input, rows the taps and steps the output positions, summed over
    ///   fixed contiguous sample ranges added in order (the rounding does not depend
    ///   on which thread ran what);
    /// - bias: per-sample channel sums, added sample by sample.
    ///
    /// So one call for several inputs computes bit for bit what one call per input
    /// does.
    fn backward_fused(
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
        let (xs, os, hw) = (g.c * g.h * g.w, g.o * p, g.h * g.w);
        let (hp, wp) = self.padded(g);
        let (ph, pw) = self.gradient_planes(g);
        let taps = g.o * g.kh * g.kw;
        let (want_x, want_w) = (grads.x.is_some(), grads.w.is_some());
        let og = OutGrad::new(self.epi, gout, &out.f, os);
        let wino = if want_x {
            self.winograd_plan(g, ph, pw, g.o, g.c)
        } else {
            None
        };
        let (ulen, tlen, wlen) = Self::winograd_sizes(wino, batch.workers);
        let (xpad, gpad, dxn) = (
            if want_w && self.has_pads() {
                g.c * hp * wp
            } else {
                0
            },
            if want_x { g.o * ph * pw } else { 0 },
            if want_x { xs } else { 0 },
        );
        // the Winograd input gradient's channels-last gradient and work space
        let wn = if wino.is_some() { gpad + wlen } else { 0 };
        // the kernel gradient as Winograd's (as the channels-last one, on the sample and
        // its output gradient turned channels-last): the range's transform-domain sum in
        // the participant's slot, turned back into the range's partial at its end
        let wino_w = if want_w {
            self.winograd_plan(g, hp, wp, g.c, g.o)
        } else {
            None
        };
        let (dun, wwn) = wino_w.map_or((0, 0), |pl| {
            let dun = pl.kernel_grad_len();
            (dun, hp * wp * g.c + os + dun + pl.scratch_len())
        });
        // scratch: [kernel matrix | regrouped or Winograd kernel and its work space |
        // per worker: pre-activation gradient, padded input, padded gradient, dXᵀ,
        // Winograd's (with its transform-domain kernel gradient: see `backward_nhwc`) |
        // per range: kernel-gradient partial | per sample: channel sums]
        let sizes = [
            2 * ok + ulen + tlen,
            og.slot(xpad + gpad + dxn + wn + wwn),
            if want_w { ok } else { 0 },
            if grads.b.is_some() { g.n * g.o } else { 0 },
        ];
        let (head, mut work, sums) = batch.carve(&mut ctx.scratch.f, sizes, "conv2d")?;
        let (wm, rest) = head.split_at_mut(ok);
        let (wb, rest) = rest.split_at_mut(ok);
        let (ubuf, tbuf) = rest.split_at_mut(ulen);
        if want_x && wino.is_none() {
            self.relayout(g, &w.f, wm);
            self.regroup(g, wm, wb);
        }
        let wb: &[f32] = wb;
        // the flipped kernel with its channel roles swapped: tap (a, b) from gradient
        // channel o to input channel c
        let u = wino.map(|pl| {
            winograd::transform_kernel(
                &pl,
                |a, b, oi, ci| w.f[self.src(g, oi, ci, 2 - a, 2 - b)],
                tbuf,
                ubuf,
            )
        });
        // offsets: [input pixels | flipped taps] of the input gradient's matrix, then
        // [output positions | taps] of the kernel gradient's
        let offs = &mut ctx.scratch.i;
        grow(offs, hw + taps + p + kk, "conv2d")?;
        let (full, cols) = offs.split_at_mut(hw + taps);
        self.gradient_offsets(g, full);
        self.column_offsets(g, &mut cols[..p + kk]);
        let ((pix, ftaps), (pos, ktaps)) = (full.split_at(hw), cols[..p + kk].split_at(p));
        let gmn = self.epi.grad_len(os);
        // The gradient through the activation is taken here, not by
        // `Batch::backward_from`: here its length is known to the loops below (callgrind,
        // layout_ab pw_32to64_14x14: this closure's own instructions 2.21M through
        // `backward_from`, 2.12M here, as before that helper existed).
        let run = |sm: Sample| {
            let (gm, rest) = sm.slot.split_at_mut(gmn);
            let gi = self.epi.sample_grad(gout, &out.f, sm.i, os, gm);
            let (xp, rest) = rest.split_at_mut(xpad);
            let (wwork, rest) = rest.split_at_mut(wwn);
            let (gp, rest) = rest.split_at_mut(gpad);
            let (dxt, rest) = rest.split_at_mut(dxn);
            for (s, gc) in sm.own.iter_mut().zip(gi.chunks_exact(p)) {
                *s = sum_through(gc, gc, Act::Linear);
            }
            // input gradient
            if let (Some(pl), Some(u)) = (&wino, &u) {
                self.place_gradient(g, gi, gi, Act::Linear, gp);
                let (gpt, work) = rest.split_at_mut(gpad);
                transpose(gp, g.o, ph * pw, gpt);
                let parts = Self::winograd_parts(sm.serial);
                winograd::correlate(pl, gpt, u, dxt, false, work, parts);
                transpose_add(dxt, hw, g.c, sm.gx);
            } else if want_x {
                self.place_gradient(g, gi, gi, Act::Linear, gp);
                let a = GatheredOperand {
                    data: gp,
                    rows: pix,
                    cols: ftaps,
                };
                sgemm_gathered(hw, g.c, taps, a, nop(wb), dxt, false, sm.serial);
                transpose_add(dxt, hw, g.c, sm.gx);
            }
            // kernel gradient
            if let Some(pl) = &wino_w {
                let (xt, rest) = wwork.split_at_mut(hp * wp * g.c);
                let (gt, rest) = rest.split_at_mut(os);
                let (du, ws) = rest.split_at_mut(dun);
                let src = self.source(g, &x.f[sm.i * xs..(sm.i + 1) * xs], xp);
                transpose(src, g.c, hp * wp, xt);
                transpose(gi, g.o, p, gt);
                winograd::kernel_gradient(pl, xt, gt, du, !sm.first, ws);
                if sm.last {
                    // rows of dWᵀ in (c, ki, kj) order
                    winograd::kernel_gradient_back(pl, du, sm.dw, |a, b, c| (c * 3 + a) * 3 + b);
                }
            } else if want_w {
                let a = GatheredOperand {
                    data: self.source(g, &x.f[sm.i * xs..(sm.i + 1) * xs], xp),
                    rows: ktaps,
                    cols: pos,
                };
                sgemm_gathered(kk, g.o, p, a, top(gi), sm.dw, !sm.first, sm.serial);
            }
        };
        let so = if sums.is_empty() { 0 } else { g.o };
        let gx = Parts::wanted(grads.x, xs);
        batch.backward(gx, Parts::new(sums, so), &mut work, &run);
        if let Some(gw) = grads.w {
            self.relayout_back(g, work.sum(), gw);
        }
        if let Some(gb) = grads.b {
            for si in sums.chunks_exact(g.o) {
                for (d, &s) in gb.iter_mut().zip(si) {
                    *d += s;
                }
            }
        }
        Ok(())
    }

    /// Input gradient of a strided convolution: `Wᵀ · gout` per sample into a column
    /// matrix, scattered back by col2im.
    fn input_gradient_col2im(
        &self,
        g: &Geo,
        w: &Value,
        out: &Value,
        gout: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let workers = self.workers(g);
        let (kk, p) = (g.k(), g.p());
        let ok = g.o * kk;
        let one = self.is_1x1(g);
        let col = if one { 1 } else { kk * p };
        let (xs, os) = (g.c * g.h * g.w, g.o * p);
        // scratch: [kernel matrix | per worker: columns, pre-activation gradient]
        let slot = col + self.epi.grad_len(os);
        grow(&mut ctx.scratch.f, ok + workers * slot, "conv2d")?;
        let (wm, rest) = ctx.scratch.f.split_at_mut(ok);
        self.relayout(g, &w.f, wm);
        let wm: &[f32] = wm;
        let run = |i: usize, slot: &mut [f32], gx: &mut [f32], serial: bool| {
            let (cols, gm) = slot.split_at_mut(col);
            let gi = self.epi.sample_grad(gout, &out.f, i, os, gm);
            let gemm = if serial { sgemm_serial } else { sgemm };
            if one {
                gemm(kk, p, g.o, top(wm), nop(gi), gx, true);
            } else {
                gemm(kk, p, g.o, top(wm), nop(gi), cols, false);
                self.col2im(g, cols, gx);
            }
        };
        let (ys, slots) = (Parts::new(gin, xs), Parts::new(rest, slot));
        Batch::even(g.n, workers).forward(ys, slots, &run);
        Ok(())
    }
}

/// Two positive integers (`strides`, `dilation`, `pool`), or the default.
pub(crate) fn ints2(a: &Attrs, key: &str, default: [usize; 2]) -> Result<[usize; 2]> {
    positive(a, "conv2d/pool2d", key, default)
}

/// `pads`: top, bottom, left, right (default 0).
pub(crate) fn pads4(a: &Attrs) -> Result<[usize; 4]> {
    attrs::pads(a, "conv2d/pool2d")
}

pub(crate) fn strides2(a: &Attrs, key: &str, default: [usize; 2]) -> Result<[usize; 2]> {
    ints2(a, key, default)
}

/// The kernel layout of a 2-D convolution: `kernel_layout` "oihw" (default) or "hwio".
pub(crate) fn kernel_layout(a: &Attrs, op: &str) -> Result<KernelLayout> {
    Ok(match second_of(a, op, "kernel_layout", ["oihw", "hwio"])? {
        false => KernelLayout::Oihw,
        true => KernelLayout::Hwio,
    })
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    match name {
        "conv2d" => Some((|| {
            Ok(Arc::new(Conv2d {
                strides: ints2(a, "strides", [1, 1])?,
                pads: pads4(a)?,
                dil: ints2(a, "dilation", [1, 1])?,
                layout: kernel_layout(a, "conv2d")?,
                flip: a.bool("flip", false)?,
                epi: Epilogue::from_attrs(a, "conv2d")?,
                nhwc: second_of(a, "conv2d", "layout", ["nchw", "nhwc"])?,
            }) as OpRef)
        })()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::testing::{
        assert_err, assert_shape_errors, build_err, check_layouts, dims, indices, infer, ints,
        rerun_and_grads, stored_tap, window_taps,
    };
    use crate::ops::{Attr, Scratch};
    use crate::tensor::Value;

    /// Direct NCHW reference with an OIHW kernel (cross-correlation, or convolution).
    fn naive(
        x: &Value,
        k: &Value,
        st: [usize; 2],
        pd: [usize; 4],
        dl: [usize; 2],
        flip: bool,
    ) -> (Vec<f32>, [usize; 4]) {
        let ([n, c, h, w], [o, _, kh, kw]) = (dims(x), dims(k));
        let oh = (h + pd[0] + pd[1] - dl[0] * (kh - 1) - 1) / st[0] + 1;
        let ow = (w + pd[2] + pd[3] - dl[1] * (kw - 1) - 1) / st[1] + 1;
        let mut y = vec![0.0f64; n * o * oh * ow];
        let sweep = (([oh, ow], [kh, kw], [h, w]), (st, [pd[0], pd[2]], dl));
        window_taps(sweep, |[oy, ox], t, [iy, ix]| {
            let [ki, kj] = stored_tap(flip, t, [kh, kw]);
            for [b, f, ch] in indices([n, o, c]) {
                let (xv, kv) = (
                    x.f[((b * c + ch) * h + iy) * w + ix],
                    k.f[((f * c + ch) * kh + ki) * kw + kj],
                );
                y[((b * o + f) * oh + oy) * ow + ox] += xv as f64 * kv as f64;
            }
        });
        (y.into_iter().map(|v| v as f32).collect(), [n, o, oh, ow])
    }

    fn case(
        xs: [usize; 4],
        ks: [usize; 4],
        st: [usize; 2],
        pd: [usize; 4],
        dl: [usize; 2],
        seed: u64,
    ) {
        let x = rand(&xs, seed, -1.0, 1.0);
        let k = rand(&ks, seed + 1, -1.0, 1.0);
        for flip in [false, true] {
            let (want, ys) = naive(&x, &k, st, pd, dl, flip);
            let attrs = [
                ("strides", ints(&st)),
                ("pads", ints(&pd)),
                ("dilation", ints(&dl)),
            ];
            check_layouts("conv2d", &attrs, flip, (&x, &k), (&want, &ys));
        }
    }

    #[test]
    fn conv2d_valid_odd_sizes() {
        case([2, 3, 7, 6], [4, 3, 3, 2], [1, 1], [0; 4], [1, 1], 1);
        // 72 column rows: the forward product is computed transposed
        case([2, 8, 7, 6], [5, 8, 3, 3], [1, 1], [0; 4], [1, 1], 8);
        case([1, 70, 3, 4], [3, 70, 1, 1], [1, 1], [0; 4], [1, 1], 9);
    }

    #[test]
    fn conv2d_strides_and_asymmetric_pads() {
        case([2, 2, 7, 8], [3, 2, 3, 3], [2, 3], [1, 0, 2, 1], [1, 1], 2);
        case([1, 2, 5, 5], [2, 2, 2, 2], [2, 2], [0, 1, 0, 1], [1, 1], 3);
    }

    #[test]
    fn conv2d_full_padding_and_dilation() {
        case([2, 1, 4, 5], [2, 1, 3, 3], [1, 1], [2, 2, 2, 2], [1, 1], 4);
        case([1, 2, 7, 7], [2, 2, 3, 2], [1, 1], [1, 1, 0, 0], [2, 2], 5);
    }

    #[test]
    fn conv2d_gathered_products_and_full_input_gradient() {
        // 16+ channels and 64+ column rows: the forward product and the kernel gradient
        // gather the column matrix from the (padded) input, and, at stride 1, the input
        // gradient is the full correlation of the output gradient.
        case(
            [2, 16, 6, 7],
            [3, 16, 3, 2],
            [1, 1],
            [2, 0, 1, 3],
            [2, 1],
            10,
        );
        case([2, 16, 5, 5], [4, 16, 3, 3], [1, 1], [0; 4], [1, 1], 11);
        // strided: gathered forward and kernel gradient, col2im input gradient
        case(
            [2, 16, 7, 8],
            [3, 16, 3, 3],
            [2, 3],
            [1, 0, 2, 1],
            [1, 1],
            12,
        );
        // padding wider than the kernel: some outputs see only padding
        case(
            [1, 16, 3, 3],
            [2, 16, 2, 2],
            [1, 1],
            [3, 2, 3, 2],
            [1, 1],
            13,
        );
    }

    #[test]
    fn conv2d_1x1_fast_path() {
        case([3, 4, 3, 5], [6, 4, 1, 1], [1, 1], [0; 4], [1, 1], 6);
        case([2, 4, 5, 5], [3, 4, 1, 1], [2, 2], [0; 4], [1, 1], 7);
    }

    #[test]
    fn conv2d_parallel_batch_matches_reference_and_reuses_scratch() {
        // Large enough to take the per-sample parallel path; 8 channels take col2im
        // for the input gradient, 16 the full correlation.
        parallel_batch([8, 8, 20, 20], [16, 8, 3, 3]);
        parallel_batch([8, 16, 20, 20], [16, 16, 3, 3]);
    }

    fn parallel_batch(xs: [usize; 4], ks: [usize; 4]) {
        let x = rand(&xs, 11, -1.0, 1.0);
        let k = rand(&ks, 12, -1.0, 1.0);
        let (want, _) = naive(&x, &k, [1, 1], [1, 1, 1, 1], [1, 1], true);
        let o = op(
            "conv2d",
            &[
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
                ("flip", Attr::Bool(true)),
            ],
        );
        // Backward through the parallel path against the serial sum over samples.
        let (_, r, gk, gx) = rerun_and_grads(&o, &x, &k, &want);
        // reference: dK[f,c,i,j] (flipped) = sum over b,oy,ox of r * x
        let ([n, c, h, w], [of, _, kh, kw]) = (xs, ks);
        let mut want_k = vec![0.0f64; k.len()];
        let mut want_x = vec![0.0f64; x.len()];
        let sweep = (([h, w], [kh, kw], [h, w]), ([1, 1], [1, 1], [1, 1]));
        window_taps(sweep, |[oy, ox], t, [iy, ix]| {
            let [ki, kj] = stored_tap(true, t, [kh, kw]);
            for [b, f, ch] in indices([n, of, c]) {
                let gv = r.f[((b * of + f) * h + oy) * w + ox] as f64;
                let (xi, kx) = (
                    ((b * c + ch) * h + iy) * w + ix,
                    ((f * c + ch) * kh + ki) * kw + kj,
                );
                want_k[kx] += gv * x.f[xi] as f64;
                want_x[xi] += gv * k.f[kx] as f64;
            }
        });
        let wk: Vec<f32> = want_k.iter().map(|&v| v as f32).collect();
        let wx: Vec<f32> = want_x.iter().map(|&v| v as f32).collect();
        assert_close(&gk, &wk, 1e-3);
        assert_close(&gx, &wx, 1e-3);
    }

    /// The fused epilogue against the plain op: forward `act(conv + b)`, backward the
    /// plain op's on `g · act'(y)` and the bias gradient as its sum, bit for bit.
    fn epilogue_case(xs: [usize; 4], ks: [usize; 4], pads: i64, check_fd: bool) {
        use crate::kernels::act::Act;
        let x = rand(&xs, 21, -1.0, 1.0);
        let k = rand(&ks, 22, -1.0, 1.0);
        let b = rand(&[ks[0]], 23, -1.0, 1.0);
        let pads = ("pads", Attr::Ints(vec![pads; 4]));
        let plain = op("conv2d", std::slice::from_ref(&pads));
        let z = forward(&plain, &[x.clone(), k.clone()]);
        let p = z.shape[2] * z.shape[3];
        for act in Act::EPILOGUE {
            for bias in [true, false] {
                let mut attrs = vec![pads.clone(), ("activation", Attr::Str(act.name().into()))];
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
                    let pre = *v + if bias { b.f[(i / p) % ks[0]] } else { 0.0 };
                    let mut one = [pre];
                    crate::ops::epilogue::activate(&mut one, act);
                    *v = one[0];
                }
                assert_eq!(y.f, want.f, "{act:?} bias {bias}: forward");
                let r = rand(&y.shape, 24, -1.0, 1.0);
                let gm = through_act(&r.f, &y.f, act);
                let refs: Vec<&crate::tensor::Value> = ins.iter().collect();
                let mut ctx = crate::ops::OpCtx { scratch: &mut s };
                let mut ps = Scratch::default();
                let mut pctx = crate::ops::OpCtx { scratch: &mut ps };
                for (idx, input) in ins.iter().enumerate().take(2) {
                    let mut got = vec![0.0; input.len()];
                    fused
                        .backward_one(idx, &refs, &y, &r.f, &mut got, &mut ctx)
                        .unwrap();
                    let mut want = vec![0.0; input.len()];
                    plain
                        .backward_one(idx, &refs[..2], &z, &gm, &mut want, &mut pctx)
                        .unwrap();
                    assert_eq!(got, want, "{act:?} bias {bias}: gradient of input {idx}");
                }
                if bias {
                    let mut got = vec![0.0; ks[0]];
                    fused
                        .backward_one(2, &refs, &y, &r.f, &mut got, &mut ctx)
                        .unwrap();
                    let mut want = vec![0.0f64; ks[0]];
                    for (i, &g) in gm.iter().enumerate() {
                        want[(i / p) % ks[0]] += g as f64;
                    }
                    let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
                    assert_close(&got, &want, 1e-4);
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
    fn conv2d_bias_activation_epilogue() {
        epilogue_case([2, 3, 7, 6], [4, 3, 3, 2], 0, true);
        epilogue_case([3, 4, 3, 5], [6, 4, 1, 1], 0, true);
        // the per-sample parallel path
        epilogue_case([8, 8, 20, 20], [16, 8, 3, 3], 1, false);
        // gathered products, full input gradient, in parallel
        epilogue_case([8, 16, 12, 12], [16, 16, 3, 3], 1, false);
        epilogue_case([2, 16, 5, 6], [3, 16, 3, 3], 0, true);
    }

    #[test]
    fn conv2d_bias_shape_is_checked() {
        let o = op("conv2d", &[("bias", Attr::Bool(true))]);
        let e = infer(&o, &[&[1, 2, 5, 5], &[3, 2, 3, 3], &[4]]);
        assert_err(e, &["bias of shape (4,)"]);
        assert!(infer(&o, &[&[1, 2, 5, 5], &[3, 2, 3, 3]]).is_err());
        let e = build_err("conv2d", &[("activation", Attr::Str("elu".into()))]);
        assert!(e.contains("activation must be one of"), "{e}");
    }

    #[test]
    fn conv2d_shape_errors() {
        assert_shape_errors("conv2d", &[4, 3, 3, 3], 3);
    }
}
