//! Test helpers for op kernels: run an op directly, and check its backward kernel
//! against central finite differences of its forward kernel (computed in f64 from
//! float32 forwards, so tolerances are loose but meaningful).

use super::{build, Attr, Attrs, OpCtx, OpRef, Scratch, TypeInfo};
use crate::tensor::{known, DType, Value};

/// Builds an op from a name and `(key, attr)` pairs.
pub fn op(name: &str, attrs: &[(&str, Attr)]) -> OpRef {
    let mut a = Attrs::new(name);
    for (k, v) in attrs {
        a.set(k, v.clone());
    }
    build(name, &a).unwrap_or_else(|e| panic!("building {name}: {e}"))
}

/// Runs the forward kernel on concrete inputs.
pub fn forward(op: &OpRef, inputs: &[Value]) -> Value {
    forward_with(op, inputs, &mut Scratch::default()).unwrap()
}

/// Runs the forward kernel, keeping the scratch (for a following backward).
pub fn forward_with(op: &OpRef, inputs: &[Value], scratch: &mut Scratch) -> crate::Result<Value> {
    let tys: Vec<TypeInfo> = inputs
        .iter()
        .map(|v| TypeInfo {
            dtype: v.dt(),
            shape: known(&v.shape),
        })
        .collect();
    let t = op.infer(&tys)?;
    let dims: Vec<usize> = t.shape.iter().map(|d| d.expect("concrete")).collect();
    let mut out = Value::zeros(t.dtype, &dims);
    let refs: Vec<&Value> = inputs.iter().collect();
    op.forward(&refs, &mut out, &mut OpCtx { scratch })?;
    Ok(out)
}

/// `f` run on a fresh pool of `threads` threads (for checks that results do not depend
/// on the thread count).
pub fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Deterministic pseudo-random floats in [lo, hi).
pub fn rand(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Value {
    let n: usize = shape.iter().product();
    let mut v = vec![0.0; n];
    crate::kernels::rng::fill_uniform(seed, 0, &mut v);
    Value::from_f32(shape, v.into_iter().map(|u| lo + (hi - lo) * u).collect()).unwrap()
}

/// Float value from a shape and data.
pub fn val(shape: &[usize], data: &[f32]) -> Value {
    Value::from_f32(shape, data.to_vec()).unwrap()
}

/// Asserts two float slices agree within an absolute + relative tolerance.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "length mismatch");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let ok = (a - b).abs() <= tol * (1.0 + b.abs()) || (a.is_nan() && b.is_nan());
        assert!(ok, "element {i}: got {a}, want {b}");
    }
}

/// Checks every gradient of `op` at `inputs` against central differences of
/// `L = sum(R * op(inputs))` for a fixed random `R`. Returns a description of the first
/// mismatch.
pub fn grad_check(op: &OpRef, inputs: &[Value], eps: f32, tol: f64) -> Result<(), String> {
    let mut scratch = Scratch::default();
    let out = forward_with(op, inputs, &mut scratch).map_err(|e| e.to_string())?;
    let r = rand(&out.shape, 99, -1.0, 1.0);
    // the perturbed forwards draw the same random numbers (counter and row) in a scratch
    // of their own
    let (counter, row) = (scratch.counter, scratch.row);
    let loss = |ins: &[Value]| -> f64 {
        let mut sc = Scratch {
            counter,
            row,
            ..Scratch::default()
        };
        let o = forward_with(op, ins, &mut sc).unwrap();
        o.f.iter()
            .zip(&r.f)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    let refs: Vec<&Value> = inputs.iter().collect();
    for (idx, inp) in inputs.iter().enumerate() {
        if inp.dt() != DType::F32 || !op.has_grad(idx) {
            continue;
        }
        let mut gin = vec![0.0f32; inp.len()];
        op.backward_one(
            idx,
            &refs,
            &out,
            &r.f,
            &mut gin,
            &mut OpCtx {
                scratch: &mut scratch,
            },
        )
        .map_err(|e| e.to_string())?;
        for (j, &ana) in gin.iter().enumerate() {
            let mut plus = inputs.to_vec();
            plus[idx].f[j] += eps;
            let mut minus = inputs.to_vec();
            minus[idx].f[j] -= eps;
            let num = (loss(&plus) - loss(&minus)) / (2.0 * eps as f64);
            let ana = ana as f64;
            if (num - ana).abs() > tol * (1.0 + num.abs().max(ana.abs())) {
                return Err(format!(
                    "{}: d/d input{idx}[{j}]: analytic {ana:.6}, numeric {num:.6}",
                    op.name()
                ));
            }
        }
    }
    Ok(())
}

/// Asserts that `op.backward_many` over every subset of the inputs with a gradient
/// (all, none of the input, no bias, ...) adds exactly what one single-input call
/// (`backward_one`) per input adds, starting from buffers holding 0.5.
pub fn assert_backward_many_matches_singles(
    op: &OpRef,
    refs: &[&Value],
    y: &Value,
    g: &[f32],
    ctx: &mut OpCtx,
    label: &str,
) {
    let grads: Vec<usize> = (0..refs.len()).filter(|&i| op.has_grad(i)).collect();
    for mask in 1..1usize << grads.len() {
        let wanted: Vec<usize> = (0..grads.len())
            .filter(|b| mask >> b & 1 == 1)
            .map(|b| grads[b])
            .collect();
        let mut singles: Vec<Vec<f32>> = Vec::new();
        for &idx in &wanted {
            let mut gin = vec![0.5; refs[idx].len()];
            op.backward_one(idx, refs, y, g, &mut gin, ctx).unwrap();
            singles.push(gin);
        }
        let mut many: Vec<Vec<f32>> = wanted.iter().map(|&i| vec![0.5; refs[i].len()]).collect();
        let mut slices: Vec<&mut [f32]> = many.iter_mut().map(|v| v.as_mut_slice()).collect();
        op.backward_many(&wanted, refs, y, g, &mut slices, ctx)
            .unwrap();
        assert_eq!(many, singles, "{label}: backward_many {wanted:?}");
    }
}

/// Channels-last `src` (N, spatial..., C) -> channels-first (N, C, spatial...).
pub fn to_channels_first(v: &Value) -> Value {
    let (n, c) = (v.shape[0], *v.shape.last().unwrap());
    let sp: usize = v.shape[1..v.shape.len() - 1].iter().product();
    let mut out = vec![0.0; v.len()];
    for b in 0..n {
        for i in 0..sp {
            for ch in 0..c {
                out[(b * c + ch) * sp + i] = v.f[(b * sp + i) * c + ch];
            }
        }
    }
    let mut shape = vec![n, c];
    shape.extend_from_slice(&v.shape[1..v.shape.len() - 1]);
    val(&shape, &out)
}

/// The gradient of input `index` of `op` on `ins` (output `y`) for the output gradient
/// `g`, from zeros, with a fresh scratch.
pub fn grad_of(op: &OpRef, index: usize, ins: &[&Value], y: &Value, g: &[f32]) -> Vec<f32> {
    grad_with(op, index, ins, y, g, &mut Scratch::default())
}

/// [`grad_of`] with the given scratch (the one the forward left, or one set up for the
/// test).
pub fn grad_with(
    op: &OpRef,
    index: usize,
    ins: &[&Value],
    y: &Value,
    g: &[f32],
    scratch: &mut Scratch,
) -> Vec<f32> {
    let mut gin = vec![0.0; ins[index].len()];
    op.backward_one(index, ins, y, g, &mut gin, &mut OpCtx { scratch })
        .unwrap();
    gin
}

/// Adds into `gin` the gradient of input 0 of the one-input `op` (output `y` on `x`) for
/// the output gradient `g`, with the scratch the forward left (or a fresh one).
pub fn add_grad(
    op: &OpRef,
    x: &Value,
    y: &Value,
    g: &[f32],
    gin: &mut [f32],
    scratch: &mut Scratch,
) {
    op.backward_one(0, &[x], y, g, gin, &mut OpCtx { scratch })
        .unwrap();
}

/// Asserts that the input gradient of the one-input `op` on `x` for the output gradient
/// `g` is not all zero and accumulates: two backward calls add twice what one adds.
pub fn assert_backward_accumulates(op: &OpRef, x: &Value, g: &[f32]) {
    let mut sc = Scratch::default();
    let y = forward_with(op, std::slice::from_ref(x), &mut sc).unwrap();
    let mut once = vec![0.0f32; x.len()];
    add_grad(op, x, &y, g, &mut once, &mut sc);
    let mut twice = vec![0.0f32; x.len()];
    add_grad(op, x, &y, g, &mut twice, &mut sc);
    add_grad(op, x, &y, g, &mut twice, &mut sc);
    let doubled: Vec<f32> = once.iter().map(|v| 2.0 * v).collect();
    assert_close(&twice, &doubled, 1e-6);
    assert!(once.iter().any(|&v| v != 0.0), "{}", op.name());
}

/// Channels-first `src` (N, C, spatial...) -> channels-last (N, spatial..., C).
pub fn to_channels_last(v: &Value) -> Value {
    let (n, c) = (v.shape[0], v.shape[1]);
    let sp: usize = v.shape[2..].iter().product();
    let mut out = vec![0.0; v.len()];
    for b in 0..n {
        for ch in 0..c {
            for i in 0..sp {
                out[(b * sp + i) * c + ch] = v.f[(b * c + ch) * sp + i];
            }
        }
    }
    let mut shape = vec![n];
    shape.extend_from_slice(&v.shape[2..]);
    shape.push(c);
    val(&shape, &out)
}

/// The channels-last op `cl` on `x` transposed gives the channels-first op `cf`'s
/// output, input gradient (added onto the same buffer contents) and, with `winners`,
/// the winners a max leaves in the integer scratch (the same in-plane indices), bit for
/// bit; `x` is channels-first.
pub fn assert_channels_last_matches(cf: &OpRef, cl: &OpRef, x: &Value, winners: bool, what: &str) {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let xt = to_channels_last(x);
    let (mut sf, mut sl) = (Scratch::default(), Scratch::default());
    let yf = forward_with(cf, std::slice::from_ref(x), &mut sf).unwrap();
    let yl = forward_with(cl, std::slice::from_ref(&xt), &mut sl).unwrap();
    let yft = to_channels_last(&yf);
    assert_eq!(yl.shape, yft.shape, "{what}");
    assert_eq!(bits(&yl.f), bits(&yft.f), "{what}: values");
    if winners {
        let af: Vec<f32> = sf.i[..yf.len()].iter().map(|&a| a as f32).collect();
        let al: Vec<f32> = sl.i[..yl.len()].iter().map(|&a| a as f32).collect();
        assert_eq!(
            al,
            to_channels_last(&val(&yf.shape, &af)).f,
            "{what}: winners"
        );
    }
    let gy = rand(&yf.shape, 11, -1.0, 1.0);
    let base = rand(&x.shape, 12, -1.0, 1.0);
    let (mut gf, mut gl) = (base.f.clone(), to_channels_last(&base).f);
    let gyt = to_channels_last(&gy);
    cf.backward_one(
        0,
        &[x],
        &yf,
        &gy.f,
        &mut gf,
        &mut OpCtx { scratch: &mut sf },
    )
    .unwrap();
    cl.backward_one(
        0,
        &[&xt],
        &yl,
        &gyt.f,
        &mut gl,
        &mut OpCtx { scratch: &mut sl },
    )
    .unwrap();
    let gft = to_channels_last(&val(&x.shape, &gf));
    assert_eq!(bits(&gl), bits(&gft.f), "{what}: gradient");
}

/// Asserts `got` is within `tol · (1 + |want|)` of the float64 `want`.
pub fn assert_close64(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length mismatch");
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a as f64 - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: element {i}: got {a}, want {b}"
        );
    }
}

/// The gradients of every input of `op` at `ins` for the output gradient `r`, one
/// `backward_one` call each.
pub fn gradients(op: &OpRef, ins: &[Value], y: &Value, r: &[f32]) -> Vec<Vec<f32>> {
    let refs: Vec<&Value> = ins.iter().collect();
    let mut s = Scratch::default();
    (0..ins.len())
        .map(|i| grad_with(op, i, &refs, y, r, &mut s))
        .collect()
}

/// `g · act'(y)` element by element, one scalar at a time: the reference for the
/// output gradient an epilogue's backward hands to its plain op.
pub fn through_act(g: &[f32], y: &[f32], act: super::epilogue::Act) -> Vec<f32> {
    g.iter()
        .zip(y)
        .map(|(&gv, &v)| gv * super::epilogue::dact(act, v))
        .collect()
}

/// The fused bias + activation epilogue of a channels-last op (`name` built from
/// `base`, the bias along the last axis) on an input of shape `xs` and a kernel of
/// shape `ks` drawn uniform in [-1, 1) with seeds `seed` and `seed + 1`: for every activation,
/// with and without bias, the forward equals `act(plain + b)` bit for bit, the input
/// and kernel gradients the plain op's on `g · act'(y)` bit for bit, the bias gradient
/// the column sums of `g · act'(y)` in row order (what `bias_add` computes); every
/// subset of gradients in one `backward_many` call equals one call each; with `fd`,
/// finite differences agree for tanh and sigmoid.
pub fn check_last_axis_epilogue(
    name: &str,
    base: &[(&str, Attr)],
    (xs, ks): (&[usize], &[usize]),
    seed: u64,
    fd: bool,
) {
    use super::epilogue::{activate, Act};
    let (x, k) = (&rand(xs, seed, -1.0, 1.0), &rand(ks, seed + 1, -1.0, 1.0));
    let plain = op(name, base);
    let z = forward(&plain, &[x.clone(), k.clone()]);
    let o = *z.shape.last().unwrap();
    let b = rand(&[o], 23, -1.0, 1.0);
    for act in Act::EPILOGUE {
        for bias in [true, false] {
            let mut attrs = base.to_vec();
            attrs.push(("activation", Attr::Str(act.name().into())));
            let mut ins = vec![x.clone(), k.clone()];
            if bias {
                attrs.push(("bias", Attr::Bool(true)));
                ins.push(b.clone());
            }
            let fused = op(name, &attrs);
            let y = forward(&fused, &ins);
            let mut want = z.clone();
            if bias {
                for (i, v) in want.f.iter_mut().enumerate() {
                    *v += b.f[i % o];
                }
            }
            activate(&mut want.f, act);
            assert_eq!(y.f, want.f, "{name} {act:?} bias {bias}: forward");
            let r = rand(&y.shape, 24, -1.0, 1.0);
            let gm = through_act(&r.f, &y.f, act);
            let got = gradients(&fused, &ins, &y, &r.f);
            let want = gradients(&plain, &ins[..2], &z, &gm);
            assert_eq!(got[..2], want[..], "{name} {act:?} bias {bias}: gradients");
            if bias {
                let mut sums = vec![0.0f32; o];
                for row in gm.chunks_exact(o) {
                    for (d, &g) in sums.iter_mut().zip(row) {
                        *d += g;
                    }
                }
                assert_eq!(got[2], sums, "{name} {act:?} bias {bias}: bias gradient");
            }
            let refs: Vec<&Value> = ins.iter().collect();
            let mut s = Scratch::default();
            assert_backward_many_matches_singles(
                &fused,
                &refs,
                &y,
                &r.f,
                &mut OpCtx { scratch: &mut s },
                &format!("{name} {act:?} bias {bias}"),
            );
            if fd && matches!(act, Act::Tanh | Act::Sigmoid) {
                grad_check(&fused, &ins, 1e-2, 2e-2)
                    .unwrap_or_else(|e| panic!("{act:?} bias {bias}: {e}"));
            }
        }
    }
}

/// A channels-last op's results with the batch split over the pool against the same
/// computation on one thread (inside a pool worker nothing splits): the output and the
/// input gradient bit for bit (both per sample), the other gradients (summed over
/// per-range partials) within `tol`; and a second parallel run gives the same bits.
pub fn check_parallel_matches_serial(o: &OpRef, ins: &[Value], tol: f32) {
    let run = || {
        let y = forward(o, ins);
        let r = rand(&y.shape, 44, -1.0, 1.0);
        let g = gradients(o, ins, &y, &r.f);
        (y, g)
    };
    let (y, g) = run();
    let (y2, g2) = run();
    assert_eq!(
        (&y.f, &g),
        (&y2.f, &g2),
        "{}: parallel runs differ",
        o.name()
    );
    let (ys, gs) = rayon::join(run, || ()).0;
    assert_eq!(y.f, ys.f, "{}: forward", o.name());
    assert_eq!(g[0], gs[0], "{}: input gradient", o.name());
    for (a, b) in g[1..].iter().zip(&gs[1..]) {
        assert_close(a, b, tol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Op;
    use crate::Result;

    /// x^2 with a backward that forgets the factor 2: the checker must reject it.
    #[derive(Debug)]
    struct WrongSquare;
    impl Op for WrongSquare {
        fn name(&self) -> &str {
            "wrong_square"
        }
        fn infer(&self, i: &[TypeInfo]) -> Result<TypeInfo> {
            Ok(i[0].clone())
        }
        fn forward(&self, i: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
            for (o, &x) in out.f.iter_mut().zip(&i[0].f) {
                *o = x * x;
            }
            Ok(())
        }
        fn backward(
            &self,
            _: usize,
            i: &[&Value],
            _: &Value,
            g: &[f32],
            gin: &mut [f32],
            _: &mut OpCtx,
        ) -> Result<()> {
            for ((d, &x), &g) in gin.iter_mut().zip(&i[0].f).zip(g) {
                *d += x * g;
            }
            Ok(())
        }
    }

    #[test]
    fn checker_rejects_a_wrong_backward_and_accepts_the_right_one() {
        let wrong: OpRef = std::sync::Arc::new(WrongSquare);
        let x = rand(&[3, 4], 1, -1.0, 1.0);
        assert!(grad_check(&wrong, std::slice::from_ref(&x), 1e-2, 1e-2).is_err());
        assert!(grad_check(&op("square", &[]), std::slice::from_ref(&x), 1e-2, 1e-2).is_ok());
    }

    /// An op that states neither `backward` nor `backward_many` nor `has_grad`.
    #[derive(Debug)]
    struct ForgotGradient;
    impl Op for ForgotGradient {
        fn name(&self) -> &str {
            "forgot_gradient"
        }
        fn infer(&self, i: &[TypeInfo]) -> Result<TypeInfo> {
            Ok(i[0].clone())
        }
        fn forward(&self, i: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
            out.f.copy_from_slice(&i[0].f);
            Ok(())
        }
    }

    #[test]
    fn a_forgotten_gradient_is_an_error_not_a_zero() {
        let o: OpRef = std::sync::Arc::new(ForgotGradient);
        let x = rand(&[2, 3], 1, -1.0, 1.0);
        let y = forward(&o, std::slice::from_ref(&x));
        assert!(
            o.has_grad(0),
            "the default must send the gradient to the op"
        );
        let mut gin = vec![0.0; x.len()];
        let err = o
            .backward_one(
                0,
                &[&x],
                &y,
                &y.f,
                &mut gin,
                &mut OpCtx {
                    scratch: &mut Scratch::default(),
                },
            )
            .unwrap_err();
        assert!(matches!(err, crate::Error::Unsupported(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "op 'forgot_gradient' defines no gradient with respect to input 0"
        );
        let e = grad_check(&o, std::slice::from_ref(&x), 1e-2, 1e-2).unwrap_err();
        assert!(e.contains("defines no gradient"), "{e}");
    }
}
