//! 3-D pooling on channels-first (N, C, D, H, W) or channels-last (N, D, H, W, C)
//! volumes: the arguments of `maxpool3d` and `avgpool3d`, the volumetric twins of the
//! 2-D ops, run by the same op ([`Pool`], in `pool.rs`: the channels-first window loop
//! there, the channels-last kernels of `pool_cl.rs`).
//!
//! Attributes: `pool` (Ints 3), `strides` (Ints 3, default = pool), `pads` (Ints 6:
//! front, back, top, bottom, left, right, default 0), `layout` (Str, `"ncdhw"` by
//! default, or `"ndhwc"`; the two equal bit for bit on transposed data). Padded
//! positions never win a max and are not counted in an average, as in the 2-D ops
//! (Keras 1's 'same' pooling).

use std::sync::Arc;

use super::conv3d::{ints3, pads6};
use super::pool::{channels_last, Pool};
use super::pool_cl::Window;
use super::{Attrs, OpRef};
use crate::Result;

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let max = match name {
        "maxpool3d" => true,
        "avgpool3d" => false,
        _ => return None,
    };
    Some((|| {
        let pool = ints3(a, name, "pool", [2, 2, 2])?;
        let cl = channels_last(a, name, "ncdhw", "ndhwc")?;
        let win = Window {
            pool,
            strides: ints3(a, name, "strides", pool)?,
            pads: pads6(a, name)?,
        };
        Ok(Arc::new(Pool::new(max, 3, win, cl)) as OpRef)
    })())
}

#[cfg(test)]
mod tests {
    use super::super::pool::tests::{case, cl_grad_case, cl_matches_cf, ints, naive, pool_op};
    use super::super::testing::*;
    use crate::ops::{Attr, Scratch};
    use crate::tensor::Value;

    #[test]
    fn pool3d_valid_and_odd_sizes() {
        case(&[2, 2, 4, 4, 4], &[2, 2, 2], &[2, 2, 2], &[0; 6], 1);
        case(&[1, 2, 5, 3, 7], &[2, 2, 2], &[2, 2, 2], &[0; 6], 2);
        case(&[1, 2, 5, 4, 7], &[3, 1, 2], &[1, 2, 3], &[0; 6], 3);
    }

    #[test]
    fn pool3d_same_padding_excludes_pads() {
        case(
            &[2, 1, 5, 3, 4],
            &[2, 2, 2],
            &[2, 2, 2],
            &[0, 1, 0, 1, 0, 0],
            4,
        );
        case(
            &[1, 1, 3, 4, 5],
            &[3, 3, 3],
            &[1, 1, 1],
            &[1, 1, 1, 1, 1, 1],
            5,
        );
        case(
            &[1, 2, 4, 5, 3],
            &[2, 3, 2],
            &[1, 2, 1],
            &[0, 1, 1, 1, 0, 1],
            6,
        );
    }

    #[test]
    fn pool3d_parallel_path_matches_reference() {
        let s = [4, 8, 16, 16, 16];
        let x = rand(&s, 6, -1.0, 1.0);
        for max in [true, false] {
            let name = if max { "maxpool3d" } else { "avgpool3d" };
            let o = op(name, &[("pool", ints(&[2, 2, 2]))]);
            let (want, _) = naive(&x.f, &s, &[2, 2, 2], &[2, 2, 2], &[0; 6], max);
            let mut sc = Scratch::default();
            let y = forward_with(&o, std::slice::from_ref(&x), &mut sc).unwrap();
            assert_close(&y.f, &want, 1e-5);
            // The backward routes each output gradient to its window (max: to the
            // winner; average: spread evenly), so a unit gradient preserves the sum.
            let gy = vec![1.0f32; y.len()];
            let mut gx = vec![0.0f32; x.len()];
            let mut ctx = crate::ops::OpCtx { scratch: &mut sc };
            o.backward(0, &[&x], &y, &gy, &mut gx, &mut ctx).unwrap();
            let total: f64 = gx.iter().map(|&v| v as f64).sum();
            assert!((total - y.len() as f64).abs() < 1e-2, "{name}: {total}");
            if max {
                let winners = gx.iter().filter(|&&v| v != 0.0).count();
                assert_eq!(winners, y.len());
            }
        }
    }

    #[test]
    fn ndhwc_equals_ncdhw_on_transposed_data() {
        let mut seed = 200;
        for d in 1..=5 {
            for (h, w) in [(1, 1), (2, 3), (4, 4), (5, 7), (9, 2)] {
                for (k, st) in [(1, 1), (2, 2), (2, 1), (3, 2)] {
                    for same in [false, true] {
                        let pads = |len: usize| {
                            if !same {
                                return (0, 0);
                            }
                            let out = len.div_ceil(st);
                            let total = ((out - 1) * st + k).saturating_sub(len);
                            (total / 2, total - total / 2)
                        };
                        if !same && (k > d || k > h || k > w) {
                            continue;
                        }
                        let (p0, p1, p2) = (pads(d), pads(h), pads(w));
                        let c = [1, 3, 37][(d + h + w + k) % 3];
                        seed += 1;
                        let x = rand(&[2, c, d, h, w], seed, -1.0, 1.0);
                        cl_matches_cf(&x, &[k; 3], &[st; 3], &[p0.0, p0.1, p1.0, p1.1, p2.0, p2.1]);
                    }
                }
            }
        }
        let x = rand(&[1, 4, 5, 4, 7], 3, -1.0, 1.0);
        cl_matches_cf(&x, &[3, 1, 2], &[1, 2, 3], &[0; 6]);
        cl_matches_cf(&x, &[2, 3, 2], &[1, 2, 1], &[0, 1, 1, 1, 0, 1]);
        // ties and NaNs
        let f: Vec<f32> = rand(&[2, 33, 4, 4, 4], 5, -2.0, 2.0)
            .f
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 11 == 5 { f32::NAN } else { v.round() })
            .collect();
        let x = Value::from_f32(&[2, 33, 4, 4, 4], f).unwrap();
        cl_matches_cf(&x, &[2, 2, 2], &[2, 2, 2], &[0; 6]);
        cl_matches_cf(&x, &[3, 3, 3], &[1, 1, 1], &[1; 6]);
        // large enough for the parallel paths
        let x = rand(&[4, 24, 16, 16, 16], 6, -1.0, 1.0);
        cl_matches_cf(&x, &[2, 2, 2], &[2, 2, 2], &[0; 6]);
    }

    #[test]
    fn ndhwc_gradients_match_finite_differences() {
        for (s, pool, st, pd) in [
            ([1, 4, 4, 3, 3], [2, 2, 2], [2, 2, 2], [0; 6]),
            ([1, 3, 4, 5, 34], [3, 2, 3], [1, 2, 1], [1, 1, 0, 1, 1, 1]),
        ] {
            cl_grad_case(&s, &pool, &st, &pd);
        }
        let t = |s: &[Option<usize>]| crate::ops::TypeInfo::f32(s.to_vec());
        let o = pool_op(true, &[2, 2, 2], &[2, 2, 2], &[0; 6], true);
        let y = o
            .infer(&[t(&[None, Some(4), Some(6), Some(5), Some(3)])])
            .unwrap();
        assert_eq!(y.shape, vec![None, Some(2), Some(3), Some(2), Some(3)]);
        let e = o
            .infer(&[t(&[Some(1), Some(4), Some(4), Some(3)])])
            .unwrap_err();
        assert!(e.to_string().contains("(N, D, H, W, C)"), "{e}");
        let a = crate::ops::Attrs::new("maxpool3d").with("layout", Attr::Str("nhwc".into()));
        assert!(crate::ops::build("maxpool3d", &a).is_err());
    }

    #[test]
    fn pool3d_errors() {
        let t = |s: &[usize]| crate::ops::TypeInfo::f32(crate::tensor::known(s));
        let o = op("maxpool3d", &[("pool", ints(&[3, 3, 3]))]);
        let e = o.infer(&[t(&[1, 1, 4, 2, 4])]).unwrap_err().to_string();
        assert!(e.contains("(1, 1, 4, 2, 4)"), "{e}");
        assert!(o.infer(&[t(&[1, 2, 2, 2])]).is_err());
        let mut a = crate::ops::Attrs::new("avgpool3d");
        a.set("pool", ints(&[2, 2]));
        assert!(crate::ops::build("avgpool3d", &a).is_err());
    }
}
