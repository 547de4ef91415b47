//! 3-D pooling on channels-first (N, C, D, H, W) or channels-last (N, D, H, W, C)
//! volumes: `maxpool3d` and `avgpool3d` (the volumetric twins of `pool.rs`). One op for
//! both ranks (a 2-D window as a 3-D one of depth 1) was built and measured: it made the
//! 1-D max 17-25% and the channels-first averages 5-13% faster, but the channels-first
//! 2x2 max forward on W4's 10x10 planes 5% slower (`pool_cpu`, interleaved, thread CPU
//! time), so the two files stay apart until that plane loop matches.
//!
//! Attributes: `pool` (Ints 3), `strides` (Ints 3, default = pool), `pads` (Ints 6:
//! front, back, top, bottom, left, right, default 0), `layout` (Str, `"ncdhw"` by
//! default, or `"ndhwc"`: the channels-last kernels of `pool_cl.rs`, equal bit for bit
//! to this file's on transposed data). Padded positions never win a max and are not
//! counted in an average, as in the 2-D ops (Keras 1's 'same' pooling).
//!
//! The max forward stores, per output, the winning position within its volume in the
//! node's integer scratch; the backward scatters through it. Volumes (one per sample
//! and channel) are processed in parallel when the work is large enough.

use std::sync::Arc;

use rayon::prelude::*;

use super::conv3d::{ints3, pads6};
use super::pool_cl;
use super::{expect_float, expect_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::alloc::grow;
use crate::kernels::window::out_len;
use crate::tensor::{fmt_dims, fmt_shape, Dim, Value};
use crate::{Error, Result};

/// Max or average pooling over 3-D windows.
#[derive(Debug)]
pub struct Pool3d {
    max: bool,
    pool: [usize; 3],
    strides: [usize; 3],
    pads: [usize; 6],
    /// Channels last (N, D, H, W, C) instead of first.
    ndhwc: bool,
}

/// Window reads below this many per call run on the calling thread (as in `pool.rs`).
const PARALLEL_MIN_READS: usize = 1 << 17;

#[derive(Debug, Clone, Copy)]
struct Geo {
    planes: usize,
    sp: [usize; 3],
    op: [usize; 3],
}

impl Geo {
    fn vol(&self) -> usize {
        self.sp[0] * self.sp[1] * self.sp[2]
    }
    fn ovol(&self) -> usize {
        self.op[0] * self.op[1] * self.op[2]
    }
}

impl Pool3d {
    fn name_(&self) -> &'static str {
        if self.max {
            "maxpool3d"
        } else {
            "avgpool3d"
        }
    }

    /// First spatial axis of the input (depth).
    fn d_axis(&self) -> usize {
        if self.ndhwc {
            1
        } else {
            2
        }
    }

    /// The channels-last window and shape of a call on `s` (N, D, H, W, C).
    fn cl_geo(&self, s: &[usize]) -> Result<(pool_cl::Window, pool_cl::Geo)> {
        let g = self.geo(s)?;
        Ok((
            pool_cl::Window {
                pool: self.pool,
                strides: self.strides,
                pads: self.pads,
            },
            pool_cl::Geo {
                n: s[0],
                sp: g.sp,
                op: g.op,
                c: s[4],
            },
        ))
    }

    fn geo(&self, s: &[usize]) -> Result<Geo> {
        let d = self.d_axis();
        let mut op = [0; 3];
        for (a, oa) in op.iter_mut().enumerate() {
            *oa = out_len(
                s[d + a],
                self.pads[2 * a] + self.pads[2 * a + 1],
                self.pool[a],
                self.strides[a],
                1,
            )
            .ok_or_else(|| {
                Error::Shape(format!(
                    "{}: pool {:?} does not fit input {}",
                    self.name_(),
                    self.pool,
                    fmt_dims(s)
                ))
            })?;
        }
        Ok(Geo {
            planes: s[0] * s[if self.ndhwc { 4 } else { 1 }],
            sp: [s[d], s[d + 1], s[d + 2]],
            op,
        })
    }

    /// Clipped input window `[lo, hi)` along axis `a` of output index `o`.
    #[inline]
    fn span(&self, g: &Geo, a: usize, o: usize) -> (usize, usize) {
        let s = (o * self.strides[a]) as isize - self.pads[2 * a] as isize;
        let lo = s.max(0) as usize;
        let hi = ((s + self.pool[a] as isize).max(0) as usize).min(g.sp[a]);
        (lo, hi.max(lo))
    }

    fn vol_fwd(&self, g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        let [_, h, w] = g.sp;
        let [od, oh, ow] = g.op;
        for oz in 0..od {
            let (z0, z1) = self.span(g, 0, oz);
            for oy in 0..oh {
                let (y0, y1) = self.span(g, 1, oy);
                for ox in 0..ow {
                    let (x0, x1) = self.span(g, 2, ox);
                    let o = (oz * oh + oy) * ow + ox;
                    if self.max {
                        let mut best = f32::NEG_INFINITY;
                        let mut at = -1i32;
                        for iz in z0..z1 {
                            for iy in y0..y1 {
                                let r = (iz * h + iy) * w;
                                for (ix, &v) in x[r + x0..r + x1].iter().enumerate() {
                                    if v > best || at < 0 {
                                        best = v;
                                        at = (r + x0 + ix) as i32;
                                    }
                                }
                            }
                        }
                        y[o] = if at < 0 { 0.0 } else { best };
                        arg[o] = at;
                    } else {
                        let mut s = 0.0f32;
                        for iz in z0..z1 {
                            for iy in y0..y1 {
                                let r = (iz * h + iy) * w;
                                s += x[r + x0..r + x1].iter().sum::<f32>();
                            }
                        }
                        let cnt = (z1 - z0) * (y1 - y0) * (x1 - x0);
                        y[o] = if cnt == 0 { 0.0 } else { s / cnt as f32 };
                    }
                }
            }
        }
    }

    fn vol_bwd(&self, g: &Geo, gy: &[f32], gx: &mut [f32], arg: &[i32]) {
        if self.max {
            for (&a, &v) in arg.iter().zip(gy) {
                if a >= 0 {
                    gx[a as usize] += v;
                }
            }
            return;
        }
        let [_, h, w] = g.sp;
        let [od, oh, ow] = g.op;
        for oz in 0..od {
            let (z0, z1) = self.span(g, 0, oz);
            for oy in 0..oh {
                let (y0, y1) = self.span(g, 1, oy);
                for ox in 0..ow {
                    let (x0, x1) = self.span(g, 2, ox);
                    let cnt = (z1 - z0) * (y1 - y0) * (x1 - x0);
                    if cnt == 0 {
                        continue;
                    }
                    let v = gy[(oz * oh + oy) * ow + ox] / cnt as f32;
                    for iz in z0..z1 {
                        for iy in y0..y1 {
                            let r = (iz * h + iy) * w;
                            for d in &mut gx[r + x0..r + x1] {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }

    fn parallel(&self, g: &Geo) -> bool {
        g.planes >= 2
            && g.planes * g.ovol() * self.pool.iter().product::<usize>() >= PARALLEL_MIN_READS
            && crate::kernels::pool::threads() > 1
            && rayon::current_thread_index().is_none()
    }
}

impl Op for Pool3d {
    fn name(&self) -> &str {
        self.name_()
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(self.name_(), inputs, 1)?;
        expect_float(self.name_(), &inputs[0])?;
        let x = &inputs[0].shape;
        if x.len() != 5 {
            return Err(Error::Shape(format!(
                "{}: expects a 5-D input {}, got {}",
                self.name_(),
                if self.ndhwc {
                    "(N, D, H, W, C)"
                } else {
                    "(N, C, D, H, W)"
                },
                fmt_shape(x)
            )));
        }
        let d = self.d_axis();
        let mut out: Vec<Dim> = if self.ndhwc {
            vec![x[0]]
        } else {
            vec![x[0], x[1]]
        };
        for (a, &len) in x[d..d + 3].iter().enumerate() {
            out.push(match len {
                Some(l) => Some(
                    out_len(
                        l,
                        self.pads[2 * a] + self.pads[2 * a + 1],
                        self.pool[a],
                        self.strides[a],
                        1,
                    )
                    .ok_or_else(|| {
                        Error::Shape(format!(
                            "{}: pool size {:?} is larger than the (padded) input {}",
                            self.name_(),
                            self.pool,
                            fmt_shape(x)
                        ))
                    })?,
                ),
                None => None,
            });
        }
        if self.ndhwc {
            out.push(x[4]);
        }
        Ok(TypeInfo::f32(out))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        if self.ndhwc {
            let (win, g) = self.cl_geo(&x.shape)?;
            let arg_len = if self.max { g.n * g.out_len() } else { 0 };
            grow(&mut ctx.scratch.i, arg_len, self.name())?;
            win.forward(
                self.max,
                &g,
                &x.f,
                &mut out.f,
                &mut ctx.scratch.i[..arg_len],
            );
            return Ok(());
        }
        let g = self.geo(&x.shape)?;
        let (vs, os) = (g.vol(), g.ovol());
        if g.planes == 0 || os == 0 || vs == 0 {
            return Ok(());
        }
        let arg_step = if self.max { os } else { 1 };
        let arg_len = g.planes * arg_step;
        grow(&mut ctx.scratch.i, arg_len, self.name())?;
        let args = &mut ctx.scratch.i[..arg_len];
        if self.parallel(&g) {
            out.f
                .par_chunks_mut(os)
                .zip(args.par_chunks_mut(arg_step))
                .zip(x.f.par_chunks(vs))
                .for_each(|((y, a), xp)| self.vol_fwd(&g, xp, y, a));
        } else {
            for ((y, a), xp) in out
                .f
                .chunks_mut(os)
                .zip(args.chunks_mut(arg_step))
                .zip(x.f.chunks(vs))
            {
                self.vol_fwd(&g, xp, y, a);
            }
        }
        Ok(())
    }

    fn backward(
        &self,
        _index: usize,
        inputs: &[&Value],
        _out: &Value,
        gout: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        if self.ndhwc {
            let (win, g) = self.cl_geo(&inputs[0].shape)?;
            let arg_len = if self.max { g.n * g.out_len() } else { 0 };
            if ctx.scratch.i.len() < arg_len {
                return Err(Error::Value(format!(
                    "{}: backward called before forward",
                    self.name_()
                )));
            }
            win.backward(self.max, &g, gout, gin, &ctx.scratch.i[..arg_len]);
            return Ok(());
        }
        let g = self.geo(&inputs[0].shape)?;
        let (vs, os) = (g.vol(), g.ovol());
        if g.planes == 0 || os == 0 || vs == 0 {
            return Ok(());
        }
        let arg_step = if self.max { os } else { 1 };
        let arg_len = g.planes * arg_step;
        if ctx.scratch.i.len() < arg_len {
            return Err(Error::Value(format!(
                "{}: backward called before forward",
                self.name_()
            )));
        }
        let args = &ctx.scratch.i[..arg_len];
        if self.parallel(&g) {
            gin.par_chunks_mut(vs)
                .zip(gout.par_chunks(os))
                .zip(args.par_chunks(arg_step))
                .for_each(|((gx, gy), a)| self.vol_bwd(&g, gy, gx, a));
        } else {
            for ((gx, gy), a) in gin
                .chunks_mut(vs)
                .zip(gout.chunks(os))
                .zip(args.chunks(arg_step))
            {
                self.vol_bwd(&g, gy, gx, a);
            }
        }
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let max = match name {
        "maxpool3d" => true,
        "avgpool3d" => false,
        _ => return None,
    };
    Some((|| {
        let pool = ints3(a, name, "pool", [2, 2, 2])?;
        let ndhwc = match a.str_opt("layout")?.as_deref() {
            None | Some("ncdhw") => false,
            Some("ndhwc") => true,
            Some(s) => {
                return Err(Error::Value(format!(
                    "{name}: layout must be 'ncdhw' or 'ndhwc', got '{s}'"
                )))
            }
        };
        Ok(Arc::new(Pool3d {
            max,
            pool,
            strides: ints3(a, name, "strides", pool)?,
            pads: pads6(a, name)?,
            ndhwc,
        }) as OpRef)
    })())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::{Attr, OpCtx, OpRef, Scratch};
    use crate::tensor::Value;

    /// Direct reference: the max / mean of the in-bounds entries of every window.
    fn naive(
        x: &[f32],
        s: [usize; 5],
        pool: [usize; 3],
        st: [usize; 3],
        pd: [usize; 6],
        max: bool,
    ) -> (Vec<f32>, Vec<usize>) {
        let [n, c, d, h, w] = s;
        let od = (d + pd[0] + pd[1] - pool[0]) / st[0] + 1;
        let oh = (h + pd[2] + pd[3] - pool[1]) / st[1] + 1;
        let ow = (w + pd[4] + pd[5] - pool[2]) / st[2] + 1;
        let mut y = vec![];
        for p in 0..n * c {
            for oz in 0..od {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut vals = vec![];
                        for i in 0..pool[0] {
                            for j in 0..pool[1] {
                                for l in 0..pool[2] {
                                    let iz = (oz * st[0] + i) as isize - pd[0] as isize;
                                    let iy = (oy * st[1] + j) as isize - pd[2] as isize;
                                    let ix = (ox * st[2] + l) as isize - pd[4] as isize;
                                    if iz >= 0
                                        && iy >= 0
                                        && ix >= 0
                                        && iz < d as isize
                                        && iy < h as isize
                                        && ix < w as isize
                                    {
                                        vals.push(
                                            x[p * d * h * w
                                                + (iz as usize * h + iy as usize) * w
                                                + ix as usize],
                                        );
                                    }
                                }
                            }
                        }
                        y.push(if max {
                            vals.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
                        } else {
                            vals.iter().sum::<f32>() / vals.len() as f32
                        });
                    }
                }
            }
        }
        (y, vec![n, c, od, oh, ow])
    }

    fn ints(v: &[usize]) -> Attr {
        Attr::Ints(v.iter().map(|&s| s as i64).collect())
    }

    fn case(s: [usize; 5], pool: [usize; 3], st: [usize; 3], pd: [usize; 6], seed: u64) {
        // Distinct values, shuffled, keep the max away from ties (finite differences
        // need that) without making it always the last entry of a window.
        let x = rand(&s, seed, -1.0, 1.0);
        let len = x.f.len();
        let mut xp = x.clone();
        for (i, v) in xp.f.iter_mut().enumerate() {
            let j = (i * 7919) % len;
            *v = x.f[j] + j as f32 * 0.037;
        }
        for max in [true, false] {
            let name = if max { "maxpool3d" } else { "avgpool3d" };
            let o = op(
                name,
                &[
                    ("pool", ints(&pool)),
                    ("strides", ints(&st)),
                    ("pads", ints(&pd)),
                ],
            );
            let (want, ys) = naive(&xp.f, s, pool, st, pd, max);
            let y = forward(&o, std::slice::from_ref(&xp));
            assert_eq!(y.shape, ys);
            assert_close(&y.f, &want, 1e-5);
            grad_check(&o, std::slice::from_ref(&xp), 1e-3, 1e-2)
                .unwrap_or_else(|e| panic!("{name} {s:?} {pool:?} {st:?} {pd:?}: {e}"));
        }
    }

    #[test]
    fn pool3d_valid_and_odd_sizes() {
        case([2, 2, 4, 4, 4], [2, 2, 2], [2, 2, 2], [0; 6], 1);
        case([1, 2, 5, 3, 7], [2, 2, 2], [2, 2, 2], [0; 6], 2);
        case([1, 2, 5, 4, 7], [3, 1, 2], [1, 2, 3], [0; 6], 3);
    }

    #[test]
    fn pool3d_same_padding_excludes_pads() {
        case([2, 1, 5, 3, 4], [2, 2, 2], [2, 2, 2], [0, 1, 0, 1, 0, 0], 4);
        case([1, 1, 3, 4, 5], [3, 3, 3], [1, 1, 1], [1, 1, 1, 1, 1, 1], 5);
        case([1, 2, 4, 5, 3], [2, 3, 2], [1, 2, 1], [0, 1, 1, 1, 0, 1], 6);
    }

    #[test]
    fn pool3d_parallel_path_matches_reference() {
        let s = [4, 8, 16, 16, 16];
        let x = rand(&s, 6, -1.0, 1.0);
        for max in [true, false] {
            let name = if max { "maxpool3d" } else { "avgpool3d" };
            let o = op(name, &[("pool", ints(&[2, 2, 2]))]);
            let (want, _) = naive(&x.f, s, [2, 2, 2], [2, 2, 2], [0; 6], max);
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

    /// (N, C, D, H, W) -> (N, D, H, W, C).
    fn to_ndhwc(v: &[f32], [_, c, d, h, w]: [usize; 5]) -> Vec<f32> {
        let sp = d * h * w;
        let mut out = vec![0.0; v.len()];
        for (i, &x) in v.iter().enumerate() {
            let (b, ch, p) = (i / (c * sp), i / sp % c, i % sp);
            out[(b * sp + p) * c + ch] = x;
        }
        out
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn pool_op(max: bool, pool: [usize; 3], st: [usize; 3], pd: [usize; 6], cl: bool) -> OpRef {
        let mut a = vec![
            ("pool", ints(&pool)),
            ("strides", ints(&st)),
            ("pads", ints(&pd)),
        ];
        if cl {
            a.push(("layout", Attr::Str("ndhwc".into())));
        }
        op(if max { "maxpool3d" } else { "avgpool3d" }, &a)
    }

    /// The NDHWC op on transposed data gives the NCDHW op's outputs, winners and input
    /// gradients bit for bit; `x` is (N, C, D, H, W).
    fn ndhwc_matches_ncdhw(x: &Value, pool: [usize; 3], st: [usize; 3], pd: [usize; 6]) {
        let s: [usize; 5] = x.shape.clone().try_into().unwrap();
        let xt = Value::from_f32(&[s[0], s[2], s[3], s[4], s[1]], to_ndhwc(&x.f, s)).unwrap();
        for max in [true, false] {
            let what = format!("max {max} {s:?} pool {pool:?} strides {st:?} pads {pd:?}");
            let (cf, cl) = (
                pool_op(max, pool, st, pd, false),
                pool_op(max, pool, st, pd, true),
            );
            let (mut sf, mut sl) = (Scratch::default(), Scratch::default());
            let yf = forward_with(&cf, std::slice::from_ref(x), &mut sf).unwrap();
            let yl = forward_with(&cl, std::slice::from_ref(&xt), &mut sl).unwrap();
            let ys: [usize; 5] = yf.shape.clone().try_into().unwrap();
            assert_eq!(yl.shape, vec![ys[0], ys[2], ys[3], ys[4], ys[1]], "{what}");
            assert_eq!(bits(&yl.f), bits(&to_ndhwc(&yf.f, ys)), "{what}: values");
            if max {
                let af: Vec<f32> = sf.i[..yf.len()].iter().map(|&a| a as f32).collect();
                let al: Vec<f32> = sl.i[..yl.len()].iter().map(|&a| a as f32).collect();
                assert_eq!(al, to_ndhwc(&af, ys), "{what}: winners");
            }
            let gy = rand(&ys, 11, -1.0, 1.0);
            let gyt = to_ndhwc(&gy.f, ys);
            let base = rand(&s, 12, -1.0, 1.0);
            let (mut gf, mut gl) = (base.f.clone(), to_ndhwc(&base.f, s));
            cf.backward(
                0,
                &[x],
                &yf,
                &gy.f,
                &mut gf,
                &mut OpCtx { scratch: &mut sf },
            )
            .unwrap();
            cl.backward(
                0,
                &[&xt],
                &yl,
                &gyt,
                &mut gl,
                &mut OpCtx { scratch: &mut sl },
            )
            .unwrap();
            assert_eq!(bits(&gl), bits(&to_ndhwc(&gf, s)), "{what}: gradient");
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
                        ndhwc_matches_ncdhw(
                            &x,
                            [k; 3],
                            [st; 3],
                            [p0.0, p0.1, p1.0, p1.1, p2.0, p2.1],
                        );
                    }
                }
            }
        }
        let x = rand(&[1, 4, 5, 4, 7], 3, -1.0, 1.0);
        ndhwc_matches_ncdhw(&x, [3, 1, 2], [1, 2, 3], [0; 6]);
        ndhwc_matches_ncdhw(&x, [2, 3, 2], [1, 2, 1], [0, 1, 1, 1, 0, 1]);
        // ties and NaNs
        let f: Vec<f32> = rand(&[2, 33, 4, 4, 4], 5, -2.0, 2.0)
            .f
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 11 == 5 { f32::NAN } else { v.round() })
            .collect();
        let x = Value::from_f32(&[2, 33, 4, 4, 4], f).unwrap();
        ndhwc_matches_ncdhw(&x, [2, 2, 2], [2, 2, 2], [0; 6]);
        ndhwc_matches_ncdhw(&x, [3, 3, 3], [1, 1, 1], [1; 6]);
        // large enough for the parallel paths
        let x = rand(&[4, 24, 16, 16, 16], 6, -1.0, 1.0);
        ndhwc_matches_ncdhw(&x, [2, 2, 2], [2, 2, 2], [0; 6]);
    }

    #[test]
    fn ndhwc_gradients_match_finite_differences() {
        for (s, pool, st, pd) in [
            ([1, 4, 4, 3, 3], [2, 2, 2], [2, 2, 2], [0; 6]),
            ([1, 3, 4, 5, 34], [3, 2, 3], [1, 2, 1], [1, 1, 0, 1, 1, 1]),
        ] {
            let x = rand(&s, 7, -1.0, 1.0);
            let len = x.len();
            let f = (0..len).map(|i| x.f[(i * 7919) % len] + ((i * 7919) % len) as f32 * 0.037);
            let x = Value::from_f32(&s, f.collect()).unwrap();
            for max in [true, false] {
                grad_check(
                    &pool_op(max, pool, st, pd, true),
                    std::slice::from_ref(&x),
                    1e-3,
                    1e-2,
                )
                .unwrap_or_else(|e| panic!("{s:?} {pool:?} {st:?} {pd:?}: {e}"));
            }
        }
        let t = |s: &[Option<usize>]| crate::ops::TypeInfo::f32(s.to_vec());
        let o = pool_op(true, [2, 2, 2], [2, 2, 2], [0; 6], true);
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
