//! Test helpers the convolution family's tests share: attributes, the shape and error
//! checks of `infer`, `build` and `forward`, and the loops of the direct references.

use crate::ops::testing::{assert_close, forward, forward_with, grad_check, op, rand, val};
use crate::ops::{build, Attr, Attrs, OpCtx, OpRef, Scratch, TypeInfo};
use crate::tensor::{known, DType, Shape, Value};

/// An `Ints` attribute of these values.
pub(crate) fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&a| a as i64).collect())
}

/// The attributes of a channels-last convolution test: `layout` (`"nhwc"` or
/// `"ndhwc"`) first, so that a test can drop it for the channels-first op, then
/// `strides`, `pads`, `kernel_layout` and the op's own `more`.
pub(crate) fn channels_last_attrs(
    layout: &str,
    (st, pd): (&[usize], &[usize]),
    kernel_layout: &str,
    more: &[(&'static str, Attr)],
) -> Vec<(&'static str, Attr)> {
    let mut a = vec![
        ("layout", Attr::Str(layout.into())),
        ("strides", ints(st)),
        ("pads", ints(pd)),
        ("kernel_layout", Attr::Str(kernel_layout.into())),
    ];
    a.extend_from_slice(more);
    a
}

/// What `o` infers for float inputs of these (known) shapes: the output shape, or the
/// error's message.
pub(crate) fn infer(o: &OpRef, shapes: &[&[usize]]) -> Result<Shape, String> {
    let tys: Vec<TypeInfo> = shapes.iter().map(|s| TypeInfo::f32(known(s))).collect();
    o.infer(&tys).map(|t| t.shape).map_err(|e| e.to_string())
}

/// The error message of building op `name` with these attributes.
pub(crate) fn build_err(name: &str, attrs: &[(&str, Attr)]) -> String {
    let mut a = Attrs::new(name);
    for (k, v) in attrs {
        a.set(k, v.clone());
    }
    match build(name, &a) {
        Ok(o) => panic!("{name} built with {attrs:?}: {o:?}"),
        Err(e) => e.to_string(),
    }
}

/// A forward of `o` on `ins` into an output of shape `out`, skipping `infer` (the
/// kernel's own checks of concrete shapes): the output, or the error's message.
pub(crate) fn run_forward(o: &OpRef, ins: &[Value], out: &[usize]) -> Result<Value, String> {
    let mut y = Value::zeros(DType::F32, out);
    let refs: Vec<&Value> = ins.iter().collect();
    let mut scratch = Scratch::default();
    let mut ctx = OpCtx {
        scratch: &mut scratch,
    };
    match o.forward(&refs, &mut y, &mut ctx) {
        Ok(()) => Ok(y),
        Err(e) => Err(e.to_string()),
    }
}

/// Asserts that `r` is an error whose message holds every one of `parts`.
#[track_caller]
pub(crate) fn assert_err<T: std::fmt::Debug>(r: Result<T, String>, parts: &[&str]) {
    match r {
        Ok(v) => panic!("expected an error holding {parts:?}, got {v:?}"),
        Err(e) => assert!(parts.iter().all(|p| e.contains(p)), "{e}"),
    }
}

/// The `infer` errors of the channels-first op `name` with kernel shape `k` (whose
/// second axis is the input's `c` channels): an input smaller than the kernel (the
/// message names both shapes), one with other channels, one missing an axis.
#[track_caller]
pub(crate) fn assert_shape_errors(name: &str, k: &[usize], c: usize) {
    let o = op(name, &[]);
    let (rank, shown) = (k.len(), |s: &[usize]| {
        format!("{s:?}").replace('[', "(").replace(']', ")")
    });
    let small: Vec<usize> = [1, c].into_iter().chain(vec![2; rank - 2]).collect();
    assert_err(infer(&o, &[&small, k]), &[&shown(&small), &shown(k)]);
    let other: Vec<usize> = [1, c - 1].into_iter().chain(vec![5; rank - 2]).collect();
    assert_err(infer(&o, &[&other, k]), &["channels"]);
    assert!(infer(&o, &[&other[1..], k]).is_err());
}

/// An (O, C, kh, kw) kernel's floats re-laid out as (kh, kw, C, O).
pub(crate) fn oihw_to_hwio(k: &[f32], ks: [usize; 4]) -> Vec<f32> {
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

/// An (O, C, kh, kw) kernel as the "oihw" and the "hwio" layouts store it.
pub(crate) fn both_layouts(k: &Value) -> [(&'static str, Value); 2] {
    let ks: [usize; 4] = k.shape[..].try_into().expect("a 4-D kernel");
    let [o, c, kh, kw] = ks;
    let hwio = val(&[kh, kw, c, o], &oihw_to_hwio(&k.f, ks));
    [("oihw", k.clone()), ("hwio", hwio)]
}

/// Builds `name` with `attrs` and checks it on input `x` and kernel `k`: the forward
/// against the reference `want` of shape `ys` (within 1e-4), the backward against
/// finite differences; `what` names the case in a failure.
pub(crate) fn check_op(
    name: &str,
    attrs: &[(&str, Attr)],
    (x, k): (&Value, &Value),
    (want, ys): (&[f32], &[usize]),
    what: &str,
) {
    let o = op(name, attrs);
    let y = forward(&o, &[x.clone(), k.clone()]);
    assert_eq!(y.shape, ys, "{what}");
    assert_close(&y.f, want, 1e-4);
    grad_check(&o, &[x.clone(), k.clone()], 1e-2, 2e-2).unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Checks the backward of a bilinear op (linear in `x` and in `k`) on `y = f(x, k)`:
/// with `gx`, `gk` the gradients of `<r, y>`, `<r, y> = <gx, x> = <gk, k>`.
pub(crate) fn assert_bilinear(
    y: &Value,
    r: &[f32],
    (x, gx): (&Value, &[f32]),
    (k, gk): (&Value, &[f32]),
    tol: f64,
) {
    let dot =
        |a: &[f32], b: &[f32]| -> f64 { a.iter().zip(b).map(|(&p, &q)| p as f64 * q as f64).sum() };
    let lhs = dot(&y.f, r);
    let (rx, rk) = (dot(gx, &x.f), dot(gk, &k.f));
    assert!((lhs - rx).abs() < tol * (1.0 + lhs.abs()), "{lhs} vs {rx}");
    assert!((lhs - rk).abs() < tol * (1.0 + lhs.abs()), "{lhs} vs {rk}");
}

/// Runs `o` on input `x` and kernel `k` twice with one scratch: the output against
/// `want` (within 1e-4), the second run's bits the first's without growing the scratch;
/// then, through that scratch, the kernel and input gradients of `<r, y>` for a random
/// `r`. Returns (y, r, kernel gradient, input gradient).
pub(crate) fn rerun_and_grads(
    o: &OpRef,
    x: &Value,
    k: &Value,
    want: &[f32],
) -> (Value, Value, Vec<f32>, Vec<f32>) {
    let mut s = Scratch::default();
    let y = forward_with(o, &[x.clone(), k.clone()], &mut s).unwrap();
    assert_close(&y.f, want, 1e-4);
    let cap = s.f.capacity();
    let y2 = forward_with(o, &[x.clone(), k.clone()], &mut s).unwrap();
    assert_eq!(y.f, y2.f);
    assert_eq!(s.f.capacity(), cap);
    let r = rand(&y.shape, 13, -1.0, 1.0);
    let (mut gk, mut gx) = (vec![0.0; k.len()], vec![0.0; x.len()]);
    let mut ctx = OpCtx { scratch: &mut s };
    for (index, gin) in [(1, &mut gk), (0, &mut gx)] {
        o.backward_one(index, &[x, k], &y, &r.f, gin, &mut ctx)
            .unwrap();
    }
    (y, r, gk, gx)
}

/// [`check_op`] of `name` with `attrs` and `flip`, the kernel `k` in each layout of
/// [`both_layouts`].
pub(crate) fn check_layouts(
    name: &str,
    attrs: &[(&str, Attr)],
    flip: bool,
    (x, k): (&Value, &Value),
    (want, ys): (&[f32], &[usize]),
) {
    for (layout, kv) in both_layouts(k) {
        let mut all = attrs.to_vec();
        all.push(("kernel_layout", Attr::Str(layout.into())));
        all.push(("flip", Attr::Bool(flip)));
        let what = format!("{:?} {:?} {attrs:?} {layout} {flip}", x.shape, k.shape);
        check_op(name, &all, (x, &kv), (want, ys), &what);
    }
}

/// A reference loop's input position (one coordinate per axis, possibly in the padding):
/// as indices if it lies inside `dims`.
fn inside<const N: usize>(at: [isize; N], dims: [usize; N]) -> Option<[usize; N]> {
    let inside = at.iter().zip(dims).all(|(&a, d)| a >= 0 && a < d as isize);
    inside.then(|| at.map(|a| a as usize))
}

/// Window tap `t` of a kernel of sizes `k` as stored: reversed on every axis with `flip`
/// (a true convolution).
pub(crate) fn stored_tap<const N: usize>(flip: bool, t: [usize; N], k: [usize; N]) -> [usize; N] {
    std::array::from_fn(|a| if flip { k[a] - 1 - t[a] } else { t[a] })
}

/// A value's shape as an array of `N` lengths.
pub(crate) fn dims<const N: usize>(v: &Value) -> [usize; N] {
    v.shape[..].try_into().expect("a shape of N axes")
}

/// Every index of a row-major array of lengths `len`, in order.
pub(crate) fn indices<const N: usize>(len: [usize; N]) -> impl Iterator<Item = [usize; N]> {
    (0..len.iter().product::<usize>()).map(move |mut r| {
        let mut at = [0; N];
        for a in (0..N).rev() {
            at[a] = r % len[a];
            r /= len[a];
        }
        at
    })
}

/// Three arrays of `N` lengths.
type Lens<const N: usize> = ([usize; N], [usize; N], [usize; N]);

/// The loops of a direct reference's window `sweep`, `((out, k, len), (st, before,
/// dl))`: calls `f(o, t, i)` for every position `o` of the sweep (lengths `out`) and tap
/// `t` of a kernel of lengths `k` whose input position `i = o·st + t·dl - before`
/// (`before`: the pads before each axis) lies inside `len`.
pub(crate) fn window_taps<const N: usize>(
    ((out, k, len), (st, before, dl)): (Lens<N>, Lens<N>),
    mut f: impl FnMut([usize; N], [usize; N], [usize; N]),
) {
    for o in indices(out) {
        for t in indices(k) {
            let at = std::array::from_fn(|a| {
                (o[a] * st[a] + t[a] * dl[a]) as isize - before[a] as isize
            });
            if let Some(i) = inside(at, len) {
                f(o, t, i);
            }
        }
    }
}

/// Adds one product's terms to a direct reference's output and gradients
/// `[y, gx, gk]`: `x[xi]·k[kx]` to `y[yi]`, and for the output gradient `r`,
/// `r[yi]·k[kx]` to `gx[xi]` and `r[yi]·x[xi]` to `gk[kx]`.
pub(crate) fn add_product(
    [y, gx, gk]: &mut [Vec<f64>; 3],
    (x, k, r): (&[f32], &[f32], &[f32]),
    [yi, xi, kx]: [usize; 3],
) {
    y[yi] += x[xi] as f64 * k[kx] as f64;
    gx[xi] += r[yi] as f64 * k[kx] as f64;
    gk[kx] += r[yi] as f64 * x[xi] as f64;
}
