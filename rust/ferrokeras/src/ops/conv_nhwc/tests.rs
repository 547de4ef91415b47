//! Tests of the channels-last passes against the channels-first op and naive references.

use crate::kernels::act::Act;
use crate::ops::conv::testing::{
    add_product, assert_err, build_err, channels_last_attrs, indices, infer, ints, oihw_to_hwio,
    stored_tap, window_taps,
};
use crate::ops::testing::*;
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
        let more = [("dilation", ints(&self.dl)), ("flip", Attr::Bool(flip))];
        channels_last_attrs("nhwc", (&self.st, &self.pd), layout, &more)
    }
}

/// Direct float64 reference on a channels-last input with an OIHW kernel: the
/// output and, for the output gradient `r`, the input and kernel gradients.
fn reference(c: &Case, x: &[f32], k: &[f32], flip: bool, r: &[f32]) -> [Vec<f64>; 3] {
    let ([n, h, w, ch], [o, _, kh, kw]) = (c.xs, c.ks);
    let [_, oh, ow, _] = c.out();
    let mut acc = [n * oh * ow * o, x.len(), k.len()].map(|l| vec![0.0f64; l]);
    let sweep = (
        ([oh, ow], [kh, kw], [h, w]),
        (c.st, [c.pd[0], c.pd[2]], c.dl),
    );
    window_taps(sweep, |[oy, ox], t, [iy, ix]| {
        let [ki, kj] = stored_tap(flip, t, [kh, kw]);
        for [b, f, cc] in indices([n, o, ch]) {
            let yi = ((b * oh + oy) * ow + ox) * o + f;
            let xi = ((b * h + iy) * w + ix) * ch + cc;
            add_product(
                &mut acc,
                (x, k, r),
                [yi, xi, ((f * ch + cc) * kh + ki) * kw + kj],
            );
        }
    });
    acc
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
            assert_close64(&y.f, &want_y, 1e-4, &format!("{what}: forward"));
            let refs = [&x, &kv];
            let mut ctx = OpCtx { scratch: &mut s };
            let mut gx = vec![0.0; x.len()];
            let mut gk = vec![0.0; kv.len()];
            o.backward_one(0, &refs, &y, &r.f, &mut gx, &mut ctx)
                .unwrap();
            o.backward_one(1, &refs, &y, &r.f, &mut gk, &mut ctx)
                .unwrap();
            assert_close64(&gx, &want_gx, 1e-4, &format!("{what}: input gradient"));
            assert_close64(&gk, &want_gk, 1e-4, &format!("{what}: kernel gradient"));
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
    let first = op(
        "conv2d",
        &[("pads", Attr::Ints(vec![1; 4])), ("flip", Attr::Bool(true))],
    );
    let last = op("conv2d", &c.attrs("oihw", true));
    let yt = forward(&first, &[to_channels_first(&x), k.clone()]);
    let y = forward(&last, &[x, k]);
    let [n, oh, ow, o] = c.out();
    assert_eq!(yt.shape, vec![n, o, oh, ow]);
    let want: Vec<f64> = yt.f.iter().map(|&v| v as f64).collect();
    assert_close64(&to_channels_first(&y).f, &want, 1e-5, "nhwc against nchw");
}

/// The fused epilogue against the plain op (see [`check_last_axis_epilogue`]), an
/// HWIO kernel.
fn epilogue_case(c: Case, check_fd: bool) {
    let [o, ci, kh, kw] = c.ks;
    let attrs = c.attrs("hwio", false);
    check_last_axis_epilogue("conv2d", &attrs, (&c.xs, &[kh, kw, ci, o]), 21, check_fd);
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
    let gm = through_act(&r.f, &y.f, Act::Relu);
    let [_, want_gx, _] = reference(&Case { ks: ks4, ..c }, &x.f, &kt, flip, &gm);
    assert_close64(&g[0], &want_gx, 1e-4, "parallel input gradient");
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
    let o = op("conv2d", &[("layout", Attr::Str("nhwc".into()))]);
    let y = infer(&o, &[&[2, 7, 6, 3], &[4, 3, 3, 2]]);
    assert_eq!(y, Ok(crate::tensor::known(&[2, 5, 5, 4])));
    let h = op(
        "conv2d",
        &[
            ("layout", Attr::Str("nhwc".into())),
            ("kernel_layout", Attr::Str("hwio".into())),
            ("strides", Attr::Ints(vec![2, 2])),
        ],
    );
    let y = infer(&h, &[&[2, 7, 6, 3], &[3, 2, 3, 4]]);
    assert_eq!(y, Ok(crate::tensor::known(&[2, 3, 3, 4])));
    assert_err(infer(&o, &[&[2, 7, 6, 3], &[4, 2, 3, 3]]), &["channels"]);
    assert_err(
        infer(&o, &[&[2, 2, 2, 3], &[4, 3, 3, 3]]),
        &["(2, 2, 2, 3)"],
    );
    let e = build_err("conv2d", &[("layout", Attr::Str("nchwc".into()))]);
    assert!(e.contains("layout must be 'nchw' or 'nhwc'"), "{e}");
}
