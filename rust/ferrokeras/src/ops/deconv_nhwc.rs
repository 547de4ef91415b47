//! Channels-last transposed convolution: `conv2d_transpose` with the attribute `layout`
//! "nhwc", x (N, h, w, S) -> y (N, out_h, out_w, F), so that Keras' 'tf'
//! Deconvolution2D runs without a permute on either side. Same semantics, kernel
//! layouts, `flip`, `out_hw`, strides and pads as the channels-first op (`deconv.rs`).
//!
//! The op is the input gradient of its associated channels-last convolution (F -> S
//! channels, (out_h, out_w) -> (h, w)), so it is built from that convolution's NHWC
//! pieces (`conv_nhwc.rs`: gathered column offsets, zero-bordered copy, col2im), with
//! Wk the (kh·kw·F, S) kernel matrix (rows the taps (ki, kj, f), flip folded in), per
//! sample, P = h·w:
//!
//! - Forward: `cols (P x kh·kw·F) = X (P x S) · Wkᵀ`, scattered into the zeroed output
//!   by the NHWC col2im (a 1x1 kernel with stride 1 and no padding: `Y = X · Wkᵀ`
//!   directly). Then the epilogue: the bias along the last axis and the activation.
//! - Input gradient: the associated convolution's forward, `dX (P x S) += G · Wk` with
//!   G the im2col matrix of the (zero-bordered) output gradient, gathered where it lies.
//! - Kernel gradient: `dWk (K x S) = Gᵀ · X`, the same gathered matrix with the taps as
//!   rows and the positions as steps (in products of at most `DW_STEPS` positions, as
//!   `conv_nhwc.rs`), summed over fixed sample ranges added in order.
//! - Bias gradient: the column sums of the output gradient through the activation, rows
//!   in order (what `bias_add` along the last axis computes, so fusion changes no bit).
//!
//! Attributes: those of `conv2d_transpose` plus `layout` ("nchw" (default: `deconv.rs`)
//! or "nhwc"), `bias` (Bool, default false: a third input, one value per output channel)
//! and `activation` (Str, one of [`Act::NAMES`], default "linear"): the epilogue the
//! fusion pass folds in from a following `bias_add` on the last axis and relu/tanh/sigmoid.
//!
//! [`Act::NAMES`]: crate::kernels::act::Act::NAMES

use super::conv::attrs::{channels_last, fusable_epilogue, Epilogue};
use super::conv::kernel::rows_by_tap;
use super::conv::Geo;
use super::conv_nhwc::kernel_gradient;
use super::deconv::Transpose;
use super::nhwc_batch::{Batch, Grads, OutGrad, Parts, Sample};
use super::{Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{
    n as nop, sgemm, sgemm_gathered, sgemm_serial, t as top, GatheredOperand,
};
use crate::tensor::Value;
use crate::Result;

/// Transposed 2-D convolution of an NHWC input.
#[derive(Debug, Clone, Copy)]
pub struct Conv2dTransposeNhwc {
    t: Transpose,
    epi: Epilogue,
}

impl Conv2dTransposeNhwc {
    /// Geometry of the associated convolution: (N, out_h, out_w, F) -> (N, h, w, S).
    fn geo(&self, x: &[usize], k: &[usize]) -> Result<Geo> {
        let g = self.t.geo(x, k, true)?;
        self.t.conv.check_offsets(&g)?;
        Ok(g)
    }

    /// Calls `f(index in Wk, stored index)` for every element of the (kh·kw·F, S) kernel
    /// matrix Wk.
    fn for_kernel_matrix(&self, g: &Geo, mut f: impl FnMut(usize, usize)) {
        rows_by_tap([g.o, g.c, g.kh, g.kw], |r, s, fc, ki, kj| {
            f(r, self.t.src(g, s, fc, ki, kj))
        });
    }
}

impl Op for Conv2dTransposeNhwc {
    fn name(&self) -> &str {
        "conv2d_transpose"
    }

    fusable_epilogue!(|_| 3);

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        self.t.infer(inputs, self.epi, true)
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = self.geo(&x.shape, &w.shape)?;
        let (kk, p, s) = (g.k(), g.p(), g.o);
        let one = self.t.conv.is_1x1(&g);
        let workers = self.t.conv.workers(&g);
        let (xs, os) = (p * s, g.h * g.w * g.c);
        let slot = if one { 0 } else { p * kk };
        // scratch: [kernel matrix | per worker: columns]
        grow(
            &mut ctx.scratch.f,
            kk * s + workers * slot,
            "conv2d_transpose",
        )?;
        let (wk, rest) = ctx.scratch.f.split_at_mut(kk * s);
        self.for_kernel_matrix(&g, |r, i| wk[r] = w.f[i]);
        let wk: &[f32] = wk;
        if g.n == 0 || os == 0 {
            return Ok(());
        }
        let run = |i: usize, cols: &mut [f32], y: &mut [f32], serial: bool| {
            let xi = &x.f[i * xs..(i + 1) * xs];
            let gemm = if serial { sgemm_serial } else { sgemm };
            if one {
                gemm(p, g.c, s, nop(xi), top(wk), y, false);
            } else {
                gemm(p, kk, s, nop(xi), top(wk), cols, false);
                y.fill(0.0);
                self.t.conv.col2im_nhwc(&g, cols, y);
            }
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
        let (kk, p, s) = (g.k(), g.p(), g.o);
        let (xs, os) = (p * s, g.h * g.w * g.c);
        if g.n == 0 || os == 0 || xs == 0 {
            return Ok(());
        }
        let grads = Grads::new(wanted, gins);
        let (want_x, want_w) = (grads.x.is_some(), grads.w.is_some());
        let batch = Batch::even(g.n, self.t.conv.workers(&g));
        let (hp, wp) = self.t.conv.padded(&g);
        let og = OutGrad::new(self.epi, gout, &out.f, os);
        // per worker: the gradient through the activation, its zero-bordered copy
        let pad = if self.t.conv.has_pads() {
            hp * wp * g.c
        } else {
            0
        };
        let ok = kk * s;
        let sizes = [ok, og.slot(pad), if want_w { ok } else { 0 }, 0];
        let (wk, mut work, _) = batch.carve(&mut ctx.scratch.f, sizes, "conv2d_transpose")?;
        self.for_kernel_matrix(&g, |r, i| wk[r] = w.f[i]);
        let wk: &[f32] = wk;
        grow(&mut ctx.scratch.i, p + kk, "conv2d_transpose")?;
        let offs = &mut ctx.scratch.i[..p + kk];
        self.t.conv.column_offsets_nhwc(&g, offs);
        let (pos, taps) = offs.split_at(p);
        let run = |sm: Sample, gi: &[f32]| {
            let data = self.t.conv.source_nhwc(&g, gi, sm.slot);
            if want_x {
                let a = GatheredOperand {
                    data,
                    rows: pos,
                    cols: taps,
                };
                sgemm_gathered(p, s, kk, a, nop(wk), sm.gx, true, sm.serial);
            }
            if want_w {
                let xi = &x.f[sm.i * xs..(sm.i + 1) * xs];
                let a = GatheredOperand {
                    data,
                    rows: taps,
                    cols: pos,
                };
                kernel_gradient(a, xi, s, sm.dw, !sm.first, sm.serial);
            }
        };
        batch.backward_last(og, grads, xs, &mut work, &run, |gw, dw| {
            self.for_kernel_matrix(&g, |r, i| gw[i] += dw[r])
        });
        Ok(())
    }
}

/// Registry entry: `conv2d_transpose` with `layout` "nhwc" (None otherwise, for
/// `deconv.rs`).
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let op = "conv2d_transpose";
    channels_last(name, a, op, ["nchw", "nhwc"], || {
        Ok(Conv2dTransposeNhwc {
            t: Transpose::from_attrs(a)?,
            epi: Epilogue::from_attrs(a, op)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::conv::testing::{
        add_product, assert_err, build_err, channels_last_attrs, indices, infer, ints, run_forward,
        window_taps,
    };
    use crate::ops::Attr;
    use crate::tensor::Value;

    /// Geometry of a test: input (N, h, w, S), kernel (kh, kw, S, F) as stored for
    /// "hwio", output rows and cols, strides, pads (top, bottom, left, right).
    #[derive(Clone, Copy, Debug)]
    struct Case {
        xs: [usize; 4],
        ks: [usize; 4],
        out: [usize; 2],
        st: [usize; 2],
        pd: [usize; 4],
    }

    impl Case {
        fn attrs(&self, kernel_layout: &str, flip: bool) -> Vec<(&'static str, Attr)> {
            let more = [("out_hw", ints(&self.out)), ("flip", Attr::Bool(flip))];
            channels_last_attrs("nhwc", (&self.st, &self.pd), kernel_layout, &more)
        }
    }

    /// Direct float64 reference with an HWIO kernel, no flip: scatter every input
    /// pixel through the kernel. Output, and for the output gradient `r` the input and
    /// kernel gradients.
    fn reference(c: &Case, x: &[f32], k: &[f32], r: &[f32]) -> [Vec<f64>; 3] {
        let ([n, h, w, s], [kh, kw, _, f]) = (c.xs, c.ks);
        let [oh, ow] = c.out;
        let mut acc = [n * oh * ow * f, x.len(), k.len()].map(|l| vec![0.0f64; l]);
        let sweep = (
            ([h, w], [kh, kw], [oh, ow]),
            (c.st, [c.pd[0], c.pd[2]], [1, 1]),
        );
        window_taps(sweep, |[i, j], [ki, kj], [yy, yx]| {
            for [b, sc, fc] in indices([n, s, f]) {
                let yi = ((b * oh + yy) * ow + yx) * f + fc;
                let xi = ((b * h + i) * w + j) * s + sc;
                let kx = ((ki * kw + kj) * s + sc) * f + fc;
                add_product(&mut acc, (x, k, r), [yi, xi, kx]);
            }
        });
        acc
    }

    /// HWIO kernel `k` (kh, kw, S, F) -> the OIHW (F, S, kh, kw) kernel that, with
    /// flip, is the same transposed convolution.
    fn hwio_to_flipped_oihw(k: &[f32], ks: [usize; 4]) -> Vec<f32> {
        let [kh, kw, s, f] = ks;
        let mut t = vec![0.0; k.len()];
        for ki in 0..kh {
            for kj in 0..kw {
                for sc in 0..s {
                    for fc in 0..f {
                        t[((fc * s + sc) * kh + kh - 1 - ki) * kw + kw - 1 - kj] =
                            k[((ki * kw + kj) * s + sc) * f + fc];
                    }
                }
            }
        }
        t
    }

    fn check(c: Case, seed: u64) {
        let x = rand(&c.xs, seed, -1.0, 1.0);
        let k = rand(&c.ks, seed + 1, -1.0, 1.0);
        let o = op("conv2d_transpose", &c.attrs("hwio", false));
        let y = forward(&o, &[x.clone(), k.clone()]);
        assert_eq!(y.shape, vec![c.xs[0], c.out[0], c.out[1], c.ks[3]]);
        let r = rand(&y.shape, seed + 2, -1.0, 1.0);
        let [wy, wgx, wgk] = reference(&c, &x.f, &k.f, &r.f);
        assert_close64(&y.f, &wy, 1e-5, "forward");
        let g = gradients(&o, &[x.clone(), k.clone()], &y, &r.f);
        assert_close64(&g[0], &wgx, 1e-5, "input gradient");
        assert_close64(&g[1], &wgk, 1e-4, "kernel gradient");
        // the Keras 'th' kernel layout with flip: the same numbers
        let kt = val(
            &[c.ks[3], c.ks[2], c.ks[0], c.ks[1]],
            &hwio_to_flipped_oihw(&k.f, c.ks),
        );
        let t = op("conv2d_transpose", &c.attrs("oihw", true));
        let yt = forward(&t, &[x.clone(), kt.clone()]);
        assert_close64(&yt.f, &wy, 1e-5, "forward, oihw flipped");
        let gt = gradients(&t, &[x.clone(), kt.clone()], &yt, &r.f);
        assert_close64(&gt[0], &wgx, 1e-5, "input gradient, oihw flipped");
        let wgk32: Vec<f32> = wgk.iter().map(|&v| v as f32).collect();
        assert_close(&gt[1], &hwio_to_flipped_oihw(&wgk32, c.ks), 1e-4);
        // the channels-first op on transposed data
        let mut first = c.attrs("hwio", false);
        first.remove(0);
        let f = op("conv2d_transpose", &first);
        let yf = forward(&f, &[to_channels_first(&x), k.clone()]);
        assert_close(&yf.f, &to_channels_first(&y).f, 1e-5);
    }

    fn case(xs: [usize; 4], ks: [usize; 4], out: [usize; 2]) -> Case {
        Case {
            xs,
            ks,
            out,
            st: [1, 1],
            pd: [0; 4],
        }
    }

    #[test]
    fn deconv_nhwc_matches_direct_reference() {
        check(case([2, 5, 4, 3], [3, 3, 3, 4], [7, 6]), 1);
        // strided, padded (the 'same' pads of TensorFlow: the extra one bottom/right)
        let c = case([2, 4, 5, 3], [3, 3, 3, 2], [8, 10]);
        check(
            Case {
                st: [2, 2],
                pd: [0, 1, 0, 1],
                ..c
            },
            4,
        );
        // 'full': pads kernel-1 on every side
        check(
            Case {
                pd: [2; 4],
                ..case([1, 7, 6, 2], [3, 3, 2, 3], [5, 4])
            },
            7,
        );
        // 1x1, stride 1, no padding: the direct product
        check(case([3, 4, 3, 5], [1, 1, 5, 4], [4, 3]), 10);
        // uneven strides, rectangular kernel, many channels
        let c = case([2, 4, 5, 33], [3, 2, 33, 17], [9, 6]);
        check(Case { st: [2, 1], ..c }, 13);
        // pads wider than the kernel: some inputs reach no output
        check(
            Case {
                pd: [2, 2, 3, 3],
                ..case([1, 6, 8, 2], [2, 2, 2, 3], [3, 3])
            },
            16,
        );
    }

    #[test]
    fn deconv_nhwc_finite_differences() {
        let c = case([2, 3, 3, 2], [3, 2, 2, 3], [6, 6]);
        let c = Case {
            st: [2, 2],
            pd: [0, 1, 0, 0],
            ..c
        };
        let ins = [rand(&c.xs, 1, -1.0, 1.0), rand(&c.ks, 2, -1.0, 1.0)];
        grad_check(
            &op("conv2d_transpose", &c.attrs("hwio", false)),
            &ins,
            1e-2,
            1e-2,
        )
        .unwrap();
        let kt = rand(&[3, 2, 3, 2], 3, -1.0, 1.0);
        let ins = [ins[0].clone(), kt];
        grad_check(
            &op("conv2d_transpose", &c.attrs("oihw", true)),
            &ins,
            1e-2,
            1e-2,
        )
        .unwrap();
    }

    #[test]
    fn deconv_nhwc_bias_activation_epilogue() {
        let c = Case {
            st: [2, 2],
            pd: [1, 0, 1, 0],
            ..case([2, 3, 4, 3], [3, 3, 3, 4], [6, 8])
        };
        let attrs = c.attrs("hwio", false);
        check_last_axis_epilogue("conv2d_transpose", &attrs, (&c.xs, &c.ks), 5, true);
        let c = case([2, 3, 3, 4], [1, 1, 4, 5], [3, 3]);
        let attrs = c.attrs("hwio", false);
        check_last_axis_epilogue("conv2d_transpose", &attrs, (&c.xs, &c.ks), 7, false);
    }

    #[test]
    fn deconv_nhwc_parallel_batch_is_the_serial_one() {
        let c = Case {
            st: [2, 2],
            pd: [0, 1, 0, 1],
            ..case([8, 7, 7, 32], [3, 3, 32, 16], [14, 14])
        };
        let mut attrs = c.attrs("oihw", true);
        attrs.push(("bias", Attr::Bool(true)));
        attrs.push(("activation", Attr::Str("relu".into())));
        let ins: Vec<Value> = vec![
            rand(&c.xs, 1, -1.0, 1.0),
            rand(&[16, 32, 3, 3], 2, -1.0, 1.0),
            rand(&[16], 3, -1.0, 1.0),
        ];
        check_parallel_matches_serial(&op("conv2d_transpose", &attrs), &ins, 1e-4);
    }

    #[test]
    fn deconv_nhwc_shapes_and_errors() {
        let c = Case {
            st: [2, 2],
            ..case([1, 3, 3, 2], [3, 3, 2, 5], [7, 7])
        };
        let o = op("conv2d_transpose", &c.attrs("hwio", false));
        let y = infer(&o, &[&[4, 3, 3, 2], &[3, 3, 2, 5]]);
        assert_eq!(y, Ok(crate::tensor::known(&[4, 7, 7, 5])));
        assert_err(infer(&o, &[&[4, 3, 3, 3], &[3, 3, 2, 5]]), &["channels"]);
        assert_err(
            infer(&o, &[&[4, 4, 3, 2], &[3, 3, 2, 5]]),
            &["inconsistent"],
        );
        let e = build_err(
            "conv2d_transpose",
            &[
                ("layout", Attr::Str("hwcn".into())),
                ("out_hw", Attr::Ints(vec![3, 3])),
            ],
        );
        assert!(e.contains("layout must be 'nchw' or 'nhwc'"), "{e}");
        // concrete shapes the kernel does not fit: an error, not a panic
        let ins = [
            rand(&[1, 3, 3, 4], 1, -1.0, 1.0),
            rand(&[3, 3, 2, 5], 2, -1.0, 1.0),
        ];
        assert_err(run_forward(&o, &ins, &[1, 7, 7, 5]), &["channels"]);
    }
}
