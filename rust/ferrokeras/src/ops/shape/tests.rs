//! Tests of the data-movement ops against naive references.

use super::slice::resolve_slice;
use super::*;
use crate::ops::testing::*;
use crate::ops::{Attr, OpRef, Scratch, TypeInfo};
use crate::tensor::{known, numel, Shape, Value};
use crate::Error;

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = i % shape[k];
        i /= shape[k];
    }
    idx
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// Reference: out[o] = x[map(out_index)].
fn naive(
    x: &[f32],
    in_shape: &[usize],
    out_shape: &[usize],
    map: impl Fn(&[usize]) -> Vec<usize>,
) -> Vec<f32> {
    (0..numel(out_shape))
        .map(|o| x[ravel(&map(&unravel(o, out_shape)), in_shape)])
        .collect()
}

fn ival(shape: &[usize], data: &[i32]) -> Value {
    Value::from_i32(shape, data.to_vec()).unwrap()
}

fn iota_i(shape: &[usize]) -> Value {
    ival(shape, &(0..numel(shape) as i32).collect::<Vec<_>>())
}

fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

fn tf(s: Shape) -> TypeInfo {
    TypeInfo::f32(s)
}

fn run_err(o: &OpRef, inputs: &[Value]) -> Error {
    forward_with(o, inputs, &mut Scratch::default()).unwrap_err()
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn reshape_family_copies_and_infers_shapes() {
    let x = rand(&[2, 3, 4], 1, -1.0, 1.0);
    let cases: &[(&[i64], &[usize])] = &[
        (&[4, 6], &[4, 6]),
        (&[-1, 4], &[6, 4]),
        (&[2, -1, 2], &[2, 6, 2]),
        (&[24], &[24]),
        (&[1, 24, 1], &[1, 24, 1]),
        (&[-1], &[24]),
    ];
    for &(target, want) in cases {
        let o = op("reshape", &[("shape", ints(target))]);
        let y = forward(&o, std::slice::from_ref(&x));
        assert_eq!(y.shape, want);
        assert_eq!(y.f, x.f);
        grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
    }
    let y = forward(
        &op("reshape", &[("shape", ints(&[3, 2]))]),
        &[iota_i(&[2, 3])],
    );
    assert_eq!(
        (y.dt(), y.shape.clone(), y.i.clone()),
        (DType::I32, vec![3, 2], vec![0, 1, 2, 3, 4, 5])
    );

    let r = |t: &[i64], s: Shape| op("reshape", &[("shape", ints(t))]).infer(&[tf(s)]);
    assert_eq!(
        r(&[-1, 12], vec![None, Some(3), Some(4)]).unwrap().shape,
        vec![None, Some(12)]
    );
    assert_eq!(
        r(&[-1, 3, 4], vec![None, Some(12)]).unwrap().shape,
        vec![None, Some(3), Some(4)]
    );
    assert_eq!(
        r(&[6, 2], vec![None, Some(3)]).unwrap().shape,
        vec![Some(6), Some(2)]
    );
    let e = r(&[3, 4], vec![None, Some(5)]).unwrap_err();
    assert!(
        matches!(e, Error::Shape(_)) && e.to_string().contains("(None, 5)"),
        "{e}"
    );
    let e = r(&[4, 2], vec![Some(2), Some(3)]).unwrap_err();
    assert!(
        e.to_string().contains("(2, 3)") && e.to_string().contains("(4, 2)"),
        "{e}"
    );
    assert!(r(&[-1, 4], vec![Some(2), Some(3)]).is_err());
    assert!(r(&[0, -1], vec![Some(2), Some(3)]).is_err());
    for bad in [&[-1i64, -1][..], &[-2, 3]] {
        let a = Attrs::new("reshape").with("shape", ints(bad));
        assert!(matches!(
            crate::ops::build("reshape", &a),
            Err(Error::Value(_))
        ));
    }
}

#[test]
fn expand_squeeze_flatten() {
    let x = rand(&[2, 3], 2, -1.0, 1.0);
    for (axis, want) in [
        (None, vec![2, 3, 1]),
        (Some(0), vec![1, 2, 3]),
        (Some(-2), vec![2, 1, 3]),
        (Some(2), vec![2, 3, 1]),
    ] {
        let attrs: Vec<(&str, Attr)> = axis
            .map(|a| vec![("axis", Attr::Int(a))])
            .unwrap_or_default();
        let o = op("expand_dims", &attrs);
        let y = forward(&o, std::slice::from_ref(&x));
        assert_eq!(y.shape, want);
        assert_eq!(y.f, x.f);
        grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
    }
    assert!(op("expand_dims", &[("axis", Attr::Int(3))])
        .infer(&[tf(known(&[2, 3]))])
        .is_err());

    let x3 = rand(&[2, 1, 3], 3, -1.0, 1.0);
    for axis in [1, -2] {
        let o = op("squeeze", &[("axis", Attr::Int(axis))]);
        let y = forward(&o, std::slice::from_ref(&x3));
        assert_eq!(y.shape, vec![2, 3]);
        assert_eq!(y.f, x3.f);
        grad_check(&o, std::slice::from_ref(&x3), 1e-3, 1e-2).unwrap();
    }
    let sq = op("squeeze", &[("axis", Attr::Int(1))]);
    assert!(matches!(
        sq.infer(&[tf(known(&[2, 3]))]),
        Err(Error::Shape(_))
    ));
    assert_eq!(sq.infer(&[tf(vec![None, None])]).unwrap().shape, vec![None]);
    assert!(matches!(
        run_err(&sq, std::slice::from_ref(&x)),
        Error::Shape(_)
    ));
    assert!(crate::ops::build("squeeze", &Attrs::new("squeeze")).is_err());

    let bf = op("batch_flatten", &[]);
    let y = forward(&bf, &[rand(&[2, 3, 4], 4, 0.0, 1.0)]);
    assert_eq!(y.shape, vec![2, 12]);
    grad_check(&bf, &[rand(&[2, 3, 2], 4, 0.0, 1.0)], 1e-3, 1e-2).unwrap();
    assert_eq!(
        bf.infer(&[tf(vec![None, Some(3), Some(4)])]).unwrap().shape,
        vec![None, Some(12)]
    );
    assert_eq!(
        bf.infer(&[tf(vec![None, None, Some(4)])]).unwrap().shape,
        vec![None, None]
    );
    assert_eq!(
        bf.infer(&[tf(vec![Some(5)])]).unwrap().shape,
        vec![Some(5), Some(1)]
    );
    assert!(bf.infer(&[tf(vec![])]).is_err());
    let fl = op("flatten", &[]);
    let y = forward(&fl, &[iota_i(&[2, 3, 4])]);
    assert_eq!((y.shape.clone(), y.i[23]), (vec![24], 23));
    assert_eq!(
        fl.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
        vec![None]
    );
    grad_check(&fl, &[x], 1e-3, 1e-2).unwrap();
}

#[test]
fn permute_matches_reference_for_all_patterns() {
    let shapes: &[&[usize]] = &[
        &[3, 5],
        &[67, 45],
        &[2, 3, 4],
        &[3, 37, 41],
        &[2, 1, 3, 4],
        &[4, 1],
        &[5],
    ];
    for (s, &shape) in shapes.iter().enumerate() {
        let x = rand(shape, s as u64, -1.0, 1.0);
        let xi = iota_i(shape);
        for p in permutations(shape.len()) {
            let o = op(
                "permute",
                &[(
                    "pattern",
                    ints(&p.iter().map(|&v| v as i64).collect::<Vec<_>>()),
                )],
            );
            let out_shape: Vec<usize> = p.iter().map(|&k| shape[k]).collect();
            let map = |oi: &[usize]| {
                let mut ii = vec![0; oi.len()];
                for (k, &pk) in p.iter().enumerate() {
                    ii[pk] = oi[k];
                }
                ii
            };
            let y = forward(&o, std::slice::from_ref(&x));
            assert_eq!(y.shape, out_shape);
            assert_eq!(y.f, naive(&x.f, shape, &out_shape, map), "{shape:?} {p:?}");
            let yi = forward(&o, std::slice::from_ref(&xi));
            let xif: Vec<f32> = xi.i.iter().map(|&v| v as f32).collect();
            assert_eq!(
                yi.i.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                naive(&xif, shape, &out_shape, map)
            );
            // backward: gin[i] += g[o(i)], checked against the forward mapping
            let g: Vec<f32> = (0..y.len()).map(|v| v as f32).collect();
            let mut gin = vec![1.0f32; x.len()];
            add_grad(&o, &x, &y, &g, &mut gin, &mut Scratch::default());
            let mut want = vec![1.0f32; x.len()];
            for (k, &v) in g.iter().enumerate() {
                want[ravel(&map(&unravel(k, &out_shape)), shape)] += v;
            }
            assert_eq!(gin, want, "{shape:?} {p:?}");
            if x.len() <= 24 {
                grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
            }
        }
    }
    let o = op("permute", &[("pattern", ints(&[1, 0]))]);
    assert!(o.infer(&[tf(known(&[2, 3, 4]))]).is_err());
    assert_eq!(
        o.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
        vec![Some(3), None]
    );
    for bad in [&[0i64, 0][..], &[0, 2], &[-1, 0]] {
        let a = Attrs::new("permute").with("pattern", ints(bad));
        assert!(
            matches!(crate::ops::build("permute", &a), Err(Error::Value(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn concat_forward_gradients_and_shapes() {
    let cases: &[(&[&[usize]], i64)] = &[
        (&[&[2, 3, 4], &[2, 1, 4], &[2, 2, 4]], 1),
        (&[&[2, 3, 4], &[2, 1, 4], &[2, 2, 4]], -2),
        (&[&[1, 3], &[2, 3]], 0),
        (&[&[2, 2], &[2, 3], &[2, 1]], -1),
        (&[&[3, 5]], 1),
    ];
    for (c, &(shapes, axis)) in cases.iter().enumerate() {
        let xs: Vec<Value> = shapes
            .iter()
            .enumerate()
            .map(|(k, s)| rand(s, (10 * c + k) as u64, -1.0, 1.0))
            .collect();
        let o = op("concat", &[("axis", Attr::Int(axis))]);
        let y = forward(&o, &xs);
        let n = shapes[0].len();
        let ax = axis.rem_euclid(n as i64) as usize;
        let mut want_shape = shapes[0].to_vec();
        want_shape[ax] = shapes.iter().map(|s| s[ax]).sum();
        assert_eq!(y.shape, want_shape);
        for (k, &v) in y.f.iter().enumerate() {
            let mut idx = unravel(k, &want_shape);
            let mut which = 0;
            while idx[ax] >= shapes[which][ax] {
                idx[ax] -= shapes[which][ax];
                which += 1;
            }
            assert_eq!(v, xs[which].f[ravel(&idx, shapes[which])]);
        }
        grad_check(&o, &xs, 1e-3, 1e-2).unwrap();
    }
    let y = forward(
        &op("concat", &[("axis", Attr::Int(0))]),
        &[iota_i(&[1, 2]), iota_i(&[2, 2])],
    );
    assert_eq!((y.dt(), y.i.clone()), (DType::I32, vec![0, 1, 0, 1, 2, 3]));

    let o = op("concat", &[]);
    assert_eq!(
        o.infer(&[tf(vec![None, Some(3)]), tf(vec![None, Some(2)])])
            .unwrap()
            .shape,
        vec![None, Some(5)]
    );
    assert_eq!(
        o.infer(&[tf(vec![None, None]), tf(vec![Some(4), Some(3)])])
            .unwrap()
            .shape,
        vec![Some(4), None]
    );
    let o0 = op("concat", &[("axis", Attr::Int(0))]);
    assert_eq!(
        o0.infer(&[tf(vec![None, None]), tf(vec![Some(4), Some(3)])])
            .unwrap()
            .shape,
        vec![None, Some(3)]
    );
    let e = o0
        .infer(&[tf(known(&[2, 3])), tf(known(&[2, 4]))])
        .unwrap_err();
    assert!(
        matches!(e, Error::Shape(_)) && e.to_string().contains("(2, 4)"),
        "{e}"
    );
    assert!(o0.infer(&[tf(known(&[2, 3])), tf(known(&[2]))]).is_err());
    let ti = TypeInfo {
        dtype: DType::I32,
        shape: known(&[2, 3]),
    };
    assert!(matches!(
        o0.infer(&[tf(known(&[2, 3])), ti]),
        Err(Error::Type(_))
    ));
    assert!(op("concat", &[("axis", Attr::Int(2))])
        .infer(&[tf(known(&[2, 3]))])
        .is_err());
    assert!(o0.infer(&[]).is_err());
}

const MAX: i64 = i64::MAX;
const MIN: i64 = i64::MIN;
/// (len, begin, end, step, Python's `list(range(len))[begin:end:step]`), generated
/// with CPython; MAX / MIN encode an absent bound.
const SLICES: &[(usize, i64, i64, i64, &[usize])] = &[
    (0, 0, MAX, 1, &[]),
    (0, -10, 10, 1, &[]),
    (0, MAX, MIN, -1, &[]),
    (0, 10, -10, -3, &[]),
    (1, 0, MAX, 1, &[0]),
    (1, 1, 3, 1, &[]),
    (1, -2, MAX, 1, &[0]),
    (1, MAX, MIN, -2, &[0]),
    (1, -1, 0, -1, &[]),
    (1, 3, -10, -1, &[0]),
    (1, -100, MIN, -1, &[]),
    (5, 0, MAX, 1, &[0, 1, 2, 3, 4]),
    (5, 1, 3, 1, &[1, 2]),
    (5, -2, MAX, 1, &[3, 4]),
    (5, -10, 10, 1, &[0, 1, 2, 3, 4]),
    (5, 4, 1, 1, &[]),
    (5, 0, MAX, 2, &[0, 2, 4]),
    (5, 1, MAX, 3, &[1, 4]),
    (5, MAX, MIN, -1, &[4, 3, 2, 1, 0]),
    (5, MAX, MIN, -2, &[4, 2, 0]),
    (5, -1, 0, -1, &[4, 3, 2, 1]),
    (5, 3, -10, -1, &[3, 2, 1, 0]),
    (5, 10, -10, -3, &[4, 1]),
    (5, -3, -1, 1, &[2, 3]),
    (5, 2, 2, 1, &[]),
    (5, -100, MIN, -1, &[]),
    (5, 1, -1, 2, &[1, 3]),
    (6, 0, MAX, 2, &[0, 2, 4]),
    (6, 1, MAX, 3, &[1, 4]),
    (6, MAX, MIN, -1, &[5, 4, 3, 2, 1, 0]),
    (6, MAX, MIN, -2, &[5, 3, 1]),
    (6, -1, 0, -1, &[5, 4, 3, 2, 1]),
    (6, 10, -10, -3, &[5, 2]),
    (6, -3, -1, 1, &[3, 4]),
    (6, 1, -1, 2, &[1, 3]),
    (6, 4, 1, 1, &[]),
];

fn slice_op(b: &[i64], e: &[i64], s: &[i64], shrink: &[i64]) -> OpRef {
    let mut a = vec![("begin", ints(b)), ("end", ints(e)), ("step", ints(s))];
    if !shrink.is_empty() {
        a.push(("shrink", ints(shrink)));
    }
    op("slice", &a)
}

#[test]
fn slice_resolution_matches_python() {
    for &(n, b, e, s, want) in SLICES {
        let (start, count) = resolve_slice(b, e, s, n);
        let got: Vec<usize> = (0..count)
            .map(|j| (start as i64 + j as i64 * s) as usize)
            .collect();
        assert_eq!(got, want, "len {n}: [{b}:{e}:{s}]");
    }
}

#[test]
fn slice_nd_forward_backward() {
    let shape = [5usize, 6, 3];
    let x = rand(&shape, 7, -1.0, 1.0);
    let s5: Vec<_> = SLICES.iter().filter(|c| c.0 == 5).collect();
    let s6: Vec<_> = SLICES.iter().filter(|c| c.0 == 6).collect();
    for (k, a) in s5.iter().enumerate() {
        for b in s6.iter().skip(k % 3).step_by(3) {
            let o = slice_op(&[a.1, b.1], &[a.2, b.2], &[a.3, b.3], &[]);
            let y = forward(&o, std::slice::from_ref(&x));
            let out_shape = vec![a.4.len(), b.4.len(), 3];
            assert_eq!(y.shape, out_shape);
            let want = naive(&x.f, &shape, &out_shape, |oi| {
                vec![a.4[oi[0]], b.4[oi[1]], oi[2]]
            });
            assert_eq!(y.f, want, "{a:?} {b:?}");
            // backward scatters into the sliced positions (accumulating)
            let g: Vec<f32> = (0..y.len()).map(|v| v as f32 + 1.0).collect();
            let mut gin = vec![0.5f32; x.len()];
            add_grad(&o, &x, &y, &g, &mut gin, &mut Scratch::default());
            let mut wg = vec![0.5f32; x.len()];
            for (q, &v) in g.iter().enumerate() {
                let oi = unravel(q, &out_shape);
                wg[ravel(&[a.4[oi[0]], b.4[oi[1]], oi[2]], &shape)] += v;
            }
            assert_eq!(gin, wg);
        }
    }
    let x2 = rand(&[5, 6], 8, -1.0, 1.0);
    for (b, e, s) in [
        (&[1i64, -1][..], &[4i64, MIN][..], &[1i64, -2][..]),
        (&[-1], &[MIN], &[-1]),
        (&[0, 1], &[MAX, 5], &[2, 3]),
    ] {
        grad_check(
            &slice_op(b, e, s, &[]),
            std::slice::from_ref(&x2),
            1e-3,
            1e-2,
        )
        .unwrap();
    }
    // int32, and step defaulting to 1
    let o = op("slice", &[("begin", ints(&[1])), ("end", ints(&[MAX]))]);
    let y = forward(&o, &[iota_i(&[3, 2])]);
    assert_eq!(
        (y.shape.clone(), y.i.clone()),
        (vec![2, 2], vec![2, 3, 4, 5])
    );
    // empty result
    let y = forward(&slice_op(&[4], &[1], &[1], &[]), std::slice::from_ref(&x));
    assert_eq!(y.shape, vec![0, 6, 3]);
}

#[test]
fn slice_shrink_symbolic_and_errors() {
    let shape = [5usize, 6, 3];
    let x = rand(&shape, 9, -1.0, 1.0);
    // x[-1, 1::2]
    let o = slice_op(&[-1, 1], &[MAX, MAX], &[1, 2], &[0]);
    let y = forward(&o, std::slice::from_ref(&x));
    assert_eq!(y.shape, vec![3, 3]);
    assert_eq!(
        y.f,
        naive(&x.f, &shape, &[3, 3], |oi| vec![4, 1 + 2 * oi[0], oi[1]])
    );
    grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
    // x[:, 2] (end/step ignored on shrunk axes)
    let o = slice_op(&[0, 2], &[MAX, 3], &[1, 1], &[1]);
    let y = forward(&o, std::slice::from_ref(&x));
    assert_eq!(
        y.f,
        naive(&x.f, &shape, &[5, 3], |oi| vec![oi[0], 2, oi[1]])
    );
    // x[0, 0, 0] -> scalar
    let o = slice_op(&[0, 0, -3], &[1, 1, 1], &[1, 1, 1], &[0, 1, 2]);
    let y = forward(&o, std::slice::from_ref(&x));
    assert_eq!((y.shape.clone(), y.f.clone()), (vec![], vec![x.f[0]]));

    let o = slice_op(&[5], &[6], &[1], &[0]);
    let e = o.infer(&[tf(known(&shape))]).unwrap_err();
    assert!(
        matches!(e, Error::Value(_)) && e.to_string().contains("index 5"),
        "{e}"
    );
    assert_eq!(
        o.infer(&[tf(vec![None, Some(6)])]).unwrap().shape,
        vec![Some(6)]
    );
    assert!(matches!(
        run_err(&o, std::slice::from_ref(&x)),
        Error::Value(_)
    ));
    let o = slice_op(&[1, 1], &[3, MAX], &[1, 1], &[]);
    assert_eq!(
        o.infer(&[tf(vec![None, Some(6)])]).unwrap().shape,
        vec![None, Some(5)]
    );
    assert!(o.infer(&[tf(vec![None])]).is_err());
    let bad = |a: Attrs| crate::ops::build("slice", &a).is_err();
    let base = || {
        Attrs::new("slice")
            .with("begin", ints(&[0, 0]))
            .with("end", ints(&[1, 1]))
    };
    assert!(bad(base().with("step", ints(&[1, 0]))));
    assert!(bad(base().with("step", ints(&[1]))));
    assert!(bad(base().with("shrink", ints(&[2]))));
    assert!(bad(base().with("shrink", ints(&[0, 0]))));
    assert!(bad(base().with("strides", ints(&[1, 1]))));
}

#[test]
fn gather_rows_gradients_and_errors() {
    let r = rand(&[5, 3], 11, -1.0, 1.0);
    let idx = ival(&[2, 3], &[0, 4, 4, 2, 1, 0]);
    let o = op("gather", &[]);
    assert!(o.has_grad(0) && !o.has_grad(1));
    let y = forward(&o, &[r.clone(), idx.clone()]);
    assert_eq!(y.shape, vec![2, 3, 3]);
    for (k, &i) in idx.i.iter().enumerate() {
        assert_eq!(
            &y.f[k * 3..k * 3 + 3],
            &r.f[i as usize * 3..i as usize * 3 + 3]
        );
    }
    grad_check(&o, &[r.clone(), idx.clone()], 1e-3, 1e-2).unwrap();
    let r1 = rand(&[4], 12, -1.0, 1.0);
    let y = forward(&o, &[r1.clone(), ival(&[3], &[3, 3, 0])]);
    assert_eq!(y.f, vec![r1.f[3], r1.f[3], r1.f[0]]);
    grad_check(&o, &[r1, ival(&[3], &[3, 3, 0])], 1e-3, 1e-2).unwrap();
    let y = forward(&o, &[iota_i(&[3, 2]), ival(&[1], &[2])]);
    assert_eq!(y.i, vec![4, 5]);

    let r10 = rand(&[10, 2], 13, -1.0, 1.0);
    let e = run_err(&o, &[r10.clone(), ival(&[2], &[1, 12])]);
    assert_eq!(
        e,
        Error::Value("gather: index 12 is out of range for a reference with 10 rows".into())
    );
    assert!(matches!(
        run_err(&o, &[r10.clone(), ival(&[1], &[-1])]),
        Error::Value(_)
    ));
    assert!(matches!(
        o.infer(&[tf(known(&[10, 2])), tf(known(&[3]))]),
        Err(Error::Type(_))
    ));
    let ti = TypeInfo {
        dtype: DType::I32,
        shape: vec![None, Some(7)],
    };
    assert_eq!(
        o.infer(&[tf(vec![Some(10), Some(2)]), ti]).unwrap().shape,
        vec![None, Some(7), Some(2)]
    );
}

#[test]
fn large_gathers_split_across_threads_give_the_serial_bits() {
    // W5's embedding: 2560 picks of 128-wide rows from 2000, many repeated
    let r = rand(&[2000, 128], 21, -1.0, 1.0);
    let picks: Vec<i32> = (0..2560).map(|k| (k * 7919) % 1999 / 3).collect();
    let idx = ival(&[32, 80], &picks);
    let o = op("gather", &[]);
    let ins = [r.clone(), idx.clone()];
    let run = || {
        let y = forward(&o, &ins);
        let g = rand(&y.shape, 22, -1.0, 1.0);
        (y.clone(), grad_of(&o, 0, &[&r, &idx], &y, &g.f))
    };
    let (y, gr) = run();
    // inside a pool worker nothing splits: the serial walk
    let (ys, grs) = rayon::join(run, || ()).0;
    assert_eq!(y.f, ys.f);
    assert_eq!(
        gr.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        grs.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    // and both are the rows, and the pick-order sums of the output gradient rows
    for (k, &i) in picks.iter().enumerate() {
        let i = i as usize;
        assert_eq!(&y.f[k * 128..(k + 1) * 128], &r.f[i * 128..(i + 1) * 128]);
    }
    let g = rand(&y.shape, 22, -1.0, 1.0);
    let mut want = vec![0.0f32; r.len()];
    for (k, &i) in picks.iter().enumerate() {
        for c in 0..128 {
            want[i as usize * 128 + c] += g.f[k * 128 + c];
        }
    }
    assert_eq!(gr, want);
    let bad = ival(&[3], &[0, 2000, -1]);
    assert_eq!(
        run_err(&o, &[rand(&[2000, 128], 23, -1.0, 1.0), bad]),
        Error::Value("gather: index 2000 is out of range for a reference with 2000 rows".into())
    );
}

#[test]
fn repeat_repeat_elements_tile() {
    let x = rand(&[3, 4], 14, -1.0, 1.0);
    let o = op("repeat", &[("n", Attr::Int(2))]);
    let y = forward(&o, std::slice::from_ref(&x));
    assert_eq!(y.shape, vec![3, 2, 4]);
    assert_eq!(y.f, naive(&x.f, &[3, 4], &[3, 2, 4], |i| vec![i[0], i[2]]));
    grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
    assert_eq!(
        o.infer(&[tf(vec![None, Some(4)])]).unwrap().shape,
        vec![None, Some(2), Some(4)]
    );
    assert!(matches!(
        o.infer(&[tf(known(&[2, 3, 4]))]),
        Err(Error::Shape(_))
    ));

    let x3 = rand(&[2, 3, 2], 15, -1.0, 1.0);
    for axis in [0i64, 1, -1] {
        let o = op(
            "repeat_elements",
            &[("rep", Attr::Int(3)), ("axis", Attr::Int(axis))],
        );
        let ax = axis.rem_euclid(3) as usize;
        let mut os = vec![2, 3, 2];
        os[ax] *= 3;
        let y = forward(&o, std::slice::from_ref(&x3));
        assert_eq!(y.shape, os);
        assert_eq!(
            y.f,
            naive(&x3.f, &[2, 3, 2], &os, |i| {
                let mut j = i.to_vec();
                j[ax] /= 3;
                j
            })
        );
        grad_check(&o, std::slice::from_ref(&x3), 1e-3, 1e-2).unwrap();
    }
    let o = op(
        "repeat_elements",
        &[("rep", Attr::Int(2)), ("axis", Attr::Int(0))],
    );
    assert_eq!(
        o.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
        vec![None, Some(3)]
    );

    let x2 = rand(&[2, 3], 16, -1.0, 1.0);
    let cases: &[(&[i64], &[usize])] = &[
        (&[2, 3], &[4, 9]),
        (&[2], &[2, 6]),
        (&[2, 1, 2], &[2, 2, 6]),
        (&[1, 1], &[2, 3]),
    ];
    for &(n, os) in cases {
        let o = op("tile", &[("n", ints(n))]);
        let y = forward(&o, std::slice::from_ref(&x2));
        assert_eq!(y.shape, os);
        let r = os.len();
        assert_eq!(
            y.f,
            naive(&x2.f, &[2, 3], os, |i| vec![i[r - 2] % 2, i[r - 1] % 3])
        );
        grad_check(&o, std::slice::from_ref(&x2), 1e-3, 1e-2).unwrap();
    }
    let y = forward(&op("tile", &[("n", ints(&[2]))]), &[iota_i(&[3])]);
    assert_eq!(y.i, vec![0, 1, 2, 0, 1, 2]);
    let o = op("tile", &[("n", ints(&[1, 2]))]);
    assert_eq!(
        o.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
        vec![None, Some(6)]
    );
    assert!(crate::ops::build("tile", &Attrs::new("tile").with("n", ints(&[-1]))).is_err());
    assert!(crate::ops::build("repeat", &Attrs::new("repeat")).is_err());
}

#[test]
fn one_hot_encodes_and_checks_ids() {
    let o = op("one_hot", &[("nb_classes", Attr::Int(4))]);
    assert!(!o.has_grad(0));
    let y = forward(&o, &[ival(&[2, 2], &[0, 3, 1, 1])]);
    assert_eq!(y.shape, vec![2, 2, 4]);
    assert_eq!(
        y.f,
        vec![1., 0., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 1., 0., 0.]
    );
    for bad in [4, -1] {
        assert!(matches!(
            run_err(&o, &[ival(&[1], &[bad])]),
            Error::Value(_)
        ));
    }
    assert!(matches!(o.infer(&[tf(known(&[2]))]), Err(Error::Type(_))));
    let ti = TypeInfo {
        dtype: DType::I32,
        shape: vec![None],
    };
    assert_eq!(o.infer(&[ti]).unwrap(), TypeInfo::f32(vec![None, Some(4)]));
    assert!(crate::ops::build(
        "one_hot",
        &Attrs::new("one_hot").with("nb_classes", Attr::Int(0))
    )
    .is_err());
}

#[test]
fn reverse_axes() {
    let shape = [3usize, 4, 5];
    let x = rand(&shape, 17, -1.0, 1.0);
    for axes in [&[0i64][..], &[-1], &[0, 2], &[1, -1], &[0, 1, 2], &[]] {
        let o = op("reverse", &[("axes", ints(axes))]);
        let rev: Vec<bool> = (0..3)
            .map(|k| axes.iter().any(|&a| a.rem_euclid(3) as usize == k))
            .collect();
        let map = |i: &[usize]| {
            (0..3)
                .map(|k| if rev[k] { shape[k] - 1 - i[k] } else { i[k] })
                .collect()
        };
        let y = forward(&o, std::slice::from_ref(&x));
        assert_eq!(y.f, naive(&x.f, &shape, &shape, map), "{axes:?}");
        let xs = rand(&[2, 3, 2], 18, -1.0, 1.0);
        grad_check(&o, &[xs], 1e-3, 1e-2).unwrap();
    }
    let y = forward(&op("reverse", &[("axes", ints(&[0]))]), &[iota_i(&[3])]);
    assert_eq!(y.i, vec![2, 1, 0]);
    assert!(op("reverse", &[("axes", ints(&[0, -3]))])
        .infer(&[tf(known(&shape))])
        .is_err());
    assert!(op("reverse", &[("axes", ints(&[3]))])
        .infer(&[tf(known(&shape))])
        .is_err());
}

#[test]
fn pad_constant() {
    let x = rand(&[2, 3], 19, -1.0, 1.0);
    let o = op(
        "pad",
        &[("pads", ints(&[1, 0, 2, 1])), ("value", Attr::Float(0.5))],
    );
    let y = forward(&o, std::slice::from_ref(&x));
    assert_eq!(y.shape, vec![3, 6]);
    for (k, &v) in y.f.iter().enumerate() {
        let (i, j) = (k / 6, k % 6);
        let want = if i >= 1 && (2..5).contains(&j) {
            x.f[(i - 1) * 3 + j - 2]
        } else {
            0.5
        };
        assert_eq!(v, want);
    }
    grad_check(&o, std::slice::from_ref(&x), 1e-3, 1e-2).unwrap();
    let x3 = rand(&[2, 3, 2], 20, -1.0, 1.0);
    let o3 = op("pad", &[("pads", ints(&[0, 0, 2, 1, 1, 1]))]);
    let y = forward(&o3, std::slice::from_ref(&x3));
    assert_eq!(y.shape, vec![2, 6, 4]);
    assert_eq!(y.f.iter().filter(|&&v| v == 0.0).count(), 48 - 12);
    grad_check(&o3, &[x3], 1e-3, 1e-2).unwrap();
    assert_eq!(
        o.infer(&[tf(vec![None, Some(3)])]).unwrap().shape,
        vec![None, Some(6)]
    );
    assert!(o.infer(&[tf(known(&[2, 3, 4]))]).is_err());
    assert!(crate::ops::build("pad", &Attrs::new("pad").with("pads", ints(&[1, -1]))).is_err());
}

#[test]
fn switch_selects_and_masks_gradients() {
    let t = rand(&[2, 3], 21, -1.0, 1.0);
    let e = rand(&[2, 3], 22, -1.0, 1.0);
    let o = op("switch", &[]);
    assert!(!o.has_grad(0) && o.has_grad(1) && o.has_grad(2));
    for (c, want_then) in [(1.0, true), (0.0, false)] {
        let y = forward(&o, &[Value::scalar(c), t.clone(), e.clone()]);
        assert_eq!(y.f, if want_then { t.f.clone() } else { e.f.clone() });
        grad_check(&o, &[Value::scalar(c), t.clone(), e.clone()], 1e-3, 1e-2).unwrap();
    }
    let mut bool_c = val(&[2, 3], &[1., 0., 0., 1., 1., 0.]);
    bool_c.dtype = Some(DType::Bool);
    let conds: Vec<(Value, Vec<bool>)> = vec![
        (bool_c, vec![true, false, false, true, true, false]),
        (
            val(&[2, 1], &[0.0, 2.0]),
            vec![false, false, false, true, true, true],
        ),
        (
            val(&[3], &[1.0, 0.0, -1.0]),
            vec![true, false, true, true, false, true],
        ),
        (
            val(&[1, 3], &[0.0, 0.0, 1.0]),
            vec![false, false, true, false, false, true],
        ),
        (
            ival(&[2, 3], &[0, 1, 0, 5, 0, 0]),
            vec![false, true, false, true, false, false],
        ),
        (
            ival(&[2, 1], &[3, 0]),
            vec![true, true, true, false, false, false],
        ),
    ];
    for (c, mask) in conds {
        let y = forward(&o, &[c.clone(), t.clone(), e.clone()]);
        let want: Vec<f32> = mask
            .iter()
            .enumerate()
            .map(|(k, &m)| if m { t.f[k] } else { e.f[k] })
            .collect();
        assert_eq!(y.f, want, "{:?}", c.shape);
        grad_check(&o, &[c, t.clone(), e.clone()], 1e-3, 1e-2).unwrap();
    }
    let s = |c: Shape, x: Shape| o.infer(&[tf(c), tf(x.clone()), tf(x)]);
    assert_eq!(
        s(vec![None, Some(1)], vec![None, Some(3)]).unwrap().shape,
        vec![None, Some(3)]
    );
    assert_eq!(
        s(vec![], vec![None, Some(3)]).unwrap().shape,
        vec![None, Some(3)]
    );
    assert_eq!(
        s(vec![Some(4), None], vec![None, Some(3)]).unwrap().shape,
        vec![Some(4), Some(3)]
    );
    assert!(matches!(
        s(known(&[4]), known(&[2, 3])),
        Err(Error::Shape(_))
    ));
    assert!(s(known(&[1, 2, 3]), known(&[2, 3])).is_err());
    assert!(o
        .infer(&[tf(vec![]), tf(known(&[2, 3])), tf(known(&[3, 2]))])
        .is_err());
    let ti = TypeInfo {
        dtype: DType::I32,
        shape: known(&[2]),
    };
    assert!(matches!(
        o.infer(&[tf(vec![]), ti.clone(), ti]),
        Err(Error::Type(_))
    ));
}

#[test]
fn concat_flat_and_slice_flat_round_trip() {
    let xs = vec![
        rand(&[2, 3], 23, -1.0, 1.0),
        rand(&[4], 24, -1.0, 1.0),
        rand(&[1, 2, 2], 25, -1.0, 1.0),
    ];
    let cf = op("concat_flat", &[]);
    let y = forward(&cf, &xs);
    assert_eq!(y.shape, vec![14]);
    assert_eq!(y.f, xs.iter().flat_map(|x| x.f.clone()).collect::<Vec<_>>());
    grad_check(&cf, &xs, 1e-3, 1e-2).unwrap();
    for (k, (off, shape)) in [(0usize, &[2i64, 3][..]), (6, &[4]), (10, &[1, 2, 2])]
        .into_iter()
        .enumerate()
    {
        let sf = op(
            "slice_flat",
            &[("offset", Attr::Int(off as i64)), ("shape", ints(shape))],
        );
        let z = forward(&sf, std::slice::from_ref(&y));
        assert_eq!(z, xs[k]);
        grad_check(&sf, std::slice::from_ref(&y), 1e-3, 1e-2).unwrap();
    }
    assert_eq!(
        cf.infer(&[tf(vec![None, Some(3)]), tf(known(&[2]))])
            .unwrap()
            .shape,
        vec![None]
    );
    assert!(cf.infer(&[]).is_err());
    let sf = op(
        "slice_flat",
        &[("offset", Attr::Int(12)), ("shape", ints(&[4]))],
    );
    assert!(matches!(
        sf.infer(&[tf(known(&[14]))]),
        Err(Error::Value(_))
    ));
    assert_eq!(sf.infer(&[tf(vec![None])]).unwrap().shape, vec![Some(4)]);
    assert!(matches!(
        run_err(&sf, std::slice::from_ref(&y)),
        Error::Value(_)
    ));
    assert!(sf.infer(&[tf(known(&[2, 8]))]).is_err());
    let a = Attrs::new("slice_flat")
        .with("offset", Attr::Int(-1))
        .with("shape", ints(&[1]));
    assert!(crate::ops::build("slice_flat", &a).is_err());
}

#[test]
fn backward_accumulates_into_gin() {
    let x = rand(&[3, 4], 26, -1.0, 1.0);
    let ops: Vec<OpRef> = vec![
        op("reshape", &[("shape", ints(&[4, 3]))]),
        op("permute", &[("pattern", ints(&[1, 0]))]),
        slice_op(&[1, MAX], &[MAX, MIN], &[1, -1], &[]),
        op("tile", &[("n", ints(&[2, 1]))]),
        op("reverse", &[("axes", ints(&[1]))]),
        op("pad", &[("pads", ints(&[1, 1, 0, 2]))]),
    ];
    for o in ops {
        let n = forward(&o, std::slice::from_ref(&x)).len();
        let g: Vec<f32> = (0..n).map(|v| v as f32 * 0.1).collect();
        assert_backward_accumulates(&o, &x, &g);
    }
}

#[test]
fn works_in_a_compiled_graph_with_an_unknown_batch() {
    use crate::Graph;
    let mut g = Graph::new();
    let x = g.placeholder(DType::F32, vec![None, Some(4)], "x");
    let ids = g.placeholder(DType::I32, vec![None], "ids");
    let w = g.variable(rand(&[6, 4], 1, -1.0, 1.0), "w");
    let a = |k: &str, v: Attr| Attrs::new("").with(k, v);
    let e = g.op("gather", &[w, ids], &Attrs::new("gather")).unwrap();
    let sl = Attrs::new("slice")
        .with("begin", ints(&[1, 0]))
        .with("end", ints(&[MAX, MAX]))
        .with("step", ints(&[1, 2]));
    let s = g.op("slice", &[x], &sl).unwrap();
    assert_eq!(g.info(s).unwrap().shape, vec![None, Some(2)]);
    let p = g.op("permute", &[s], &a("pattern", ints(&[1, 0]))).unwrap();
    let r = g.op("reshape", &[p], &a("shape", ints(&[-1]))).unwrap();
    assert_eq!(g.info(r).unwrap().shape, vec![None]);
    let c = g.op("concat", &[x, e], &a("axis", Attr::Int(0))).unwrap();
    assert_eq!(g.info(c).unwrap().shape, vec![None, Some(4)]);
    let fl = g.op("flatten", &[c], &Attrs::new("flatten")).unwrap();
    let all = g
        .op("concat_flat", &[r, fl], &Attrs::new("concat_flat"))
        .unwrap();
    let sq = g.op("square", &[all], &Attrs::new("square")).unwrap();
    let loss = g.op("sum", &[sq], &Attrs::new("sum")).unwrap();
    let grads = g.gradients(loss, &[x, w]).unwrap();
    let f = g
        .compile(&[x, ids], &[loss, grads[0], grads[1]], vec![])
        .unwrap();
    let wv = g.get_value(g.var_id(w).unwrap()).unwrap();
    for rows in [3usize, 2] {
        let xv = rand(&[rows, 4], rows as u64, -1.0, 1.0);
        let idv = ival(&[2], &[5, 5]);
        let out = f.run_values(&[xv.clone(), idv]).unwrap();
        // loss = sum over x[1:, ::2]^2 + sum x^2 + 2 * sum w[5]^2
        let mut want = 0.0f32;
        for i in 0..rows {
            for j in 0..4 {
                let v = xv.f[i * 4 + j];
                want += v * v * if i >= 1 && j % 2 == 0 { 2.0 } else { 1.0 };
            }
        }
        want += 2.0 * wv.f[20..24].iter().map(|v| v * v).sum::<f32>();
        assert_close(&out[0].f, &[want], 1e-5);
        let gx: Vec<f32> = (0..rows * 4)
            .map(|k| 2.0 * xv.f[k] * if k >= 4 && k % 2 == 0 { 2.0 } else { 1.0 })
            .collect();
        assert_close(&out[1].f, &gx, 1e-5);
        let mut gw = vec![0.0f32; 24];
        for j in 0..4 {
            gw[20 + j] = 4.0 * wv.f[20 + j];
        }
        assert_close(&out[2].f, &gw, 1e-5);
    }
    let e = f
        .run_values(&[rand(&[2, 4], 3, 0.0, 1.0), ival(&[1], &[6])])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "gather: index 6 is out of range for a reference with 6 rows"
    );
}

#[test]
fn shape_of_reports_concrete_dims() {
    let o = op("shape_of", &[]);
    let y = forward(&o, &[rand(&[3, 1, 4], 1, 0.0, 1.0)]);
    assert_eq!(y.i, vec![3, 1, 4]);
    assert!(!o.has_grad(0));
}
