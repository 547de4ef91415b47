//! 2-D pooling on channels-first (N, C, H, W) feature maps: `maxpool2d` and
//! `avgpool2d`.
//!
//! Attributes: `pool` (Ints 2), `strides` (Ints 2, default = pool), `pads` (Ints 4: top,
//! bottom, left, right, default 0). Padded positions never win a max and are not counted
//! in an average (Keras 1's 'same' pooling on both backends: TensorFlow's SAME and
//! Theano's `average_exc_pad`).
//!
//! The max forward stores, per output, the winning position within its plane in the
//! node's integer scratch; the backward scatters through it. Planes are processed in
//! parallel when the work is large enough.

use std::sync::Arc;

use rayon::prelude::*;

use super::conv::{out_len, pads4, strides2};
use super::{expect_float, expect_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::tensor::{fmt_shape, Value};
use crate::{Error, Result};

/// Max or average pooling over 2-D windows.
#[derive(Debug)]
pub struct Pool2d {
    max: bool,
    pool: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
}

/// Window reads below this many per call run on the calling thread.
const PARALLEL_MIN_READS: usize = 1 << 17;

#[derive(Debug, Clone, Copy)]
struct Geo {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Pool2d {
    fn name_(&self) -> &'static str {
        if self.max {
            "maxpool2d"
        } else {
            "avgpool2d"
        }
    }

    fn geo(&self, s: &[usize]) -> Result<Geo> {
        let oh = out_len(
            s[2],
            self.pads[0] + self.pads[1],
            self.pool[0],
            self.strides[0],
            1,
        );
        let ow = out_len(
            s[3],
            self.pads[2] + self.pads[3],
            self.pool[1],
            self.strides[1],
            1,
        );
        match (oh, ow) {
            (Some(oh), Some(ow)) => Ok(Geo {
                planes: s[0] * s[1],
                h: s[2],
                w: s[3],
                oh,
                ow,
            }),
            _ => Err(Error::Shape(format!(
                "{}: pool {:?} does not fit input {}",
                self.name_(),
                self.pool,
                crate::tensor::fmt_dims(s)
            ))),
        }
    }

    /// Clipped input window [y0, y1) x [x0, x1) of output (oy, ox).
    #[inline]
    fn window(&self, g: &Geo, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let ys = (oy * self.strides[0]) as isize - self.pads[0] as isize;
        let xs = (ox * self.strides[1]) as isize - self.pads[2] as isize;
        let y0 = ys.max(0) as usize;
        let x0 = xs.max(0) as usize;
        let y1 = ((ys + self.pool[0] as isize).max(0) as usize).min(g.h);
        let x1 = ((xs + self.pool[1] as isize).max(0) as usize).min(g.w);
        (y0, y1, x0, x1)
    }

    /// Max over 2x2 windows with stride 2 and no padding (the common case), with
    /// bounds checks hoisted out of the inner loop.
    fn max2x2(g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        for oy in 0..g.oh {
            let r0 = 2 * oy * g.w;
            let top = &x[r0..r0 + 2 * g.ow];
            let bot = &x[r0 + g.w..r0 + g.w + 2 * g.ow];
            let ys = &mut y[oy * g.ow..(oy + 1) * g.ow];
            let args = &mut arg[oy * g.ow..(oy + 1) * g.ow];
            for (ox, ((t, b), (yv, av))) in top
                .chunks_exact(2)
                .zip(bot.chunks_exact(2))
                .zip(ys.iter_mut().zip(args.iter_mut()))
                .enumerate()
            {
                let c = r0 + 2 * ox;
                let (mut best, mut at) = (t[0], c);
                if t[1] > best {
                    best = t[1];
                    at = c + 1;
                }
                if b[0] > best {
                    best = b[0];
                    at = c + g.w;
                }
                if b[1] > best {
                    best = b[1];
                    at = c + g.w + 1;
                }
                *yv = best;
                *av = at as i32;
            }
        }
    }

    fn plane_fwd(&self, g: &Geo, x: &[f32], y: &mut [f32], arg: &mut [i32]) {
        if self.max && self.pool == [2, 2] && self.strides == [2, 2] && self.pads == [0; 4] {
            Self::max2x2(g, x, y, arg);
            return;
        }
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let (y0, y1, x0, x1) = self.window(g, oy, ox);
                let o = oy * g.ow + ox;
                if self.max {
                    let mut best = f32::NEG_INFINITY;
                    let mut at = -1i32;
                    for iy in y0..y1 {
                        for ix in x0..x1 {
                            let v = x[iy * g.w + ix];
                            if v > best || at < 0 {
                                best = v;
                                at = (iy * g.w + ix) as i32;
                            }
                        }
                    }
                    y[o] = if at < 0 { 0.0 } else { best };
                    arg[o] = at;
                } else {
                    let mut s = 0.0f32;
                    for iy in y0..y1 {
                        s += x[iy * g.w + x0..iy * g.w + x1].iter().sum::<f32>();
                    }
                    let cnt = (y1.saturating_sub(y0)) * (x1.saturating_sub(x0));
                    y[o] = if cnt == 0 { 0.0 } else { s / cnt as f32 };
                }
            }
        }
    }

    fn plane_bwd(&self, g: &Geo, gy: &[f32], gx: &mut [f32], arg: &[i32]) {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let o = oy * g.ow + ox;
                if self.max {
                    if arg[o] >= 0 {
                        gx[arg[o] as usize] += gy[o];
                    }
                } else {
                    let (y0, y1, x0, x1) = self.window(g, oy, ox);
                    let cnt = (y1.saturating_sub(y0)) * (x1.saturating_sub(x0));
                    if cnt == 0 {
                        continue;
                    }
                    let v = gy[o] / cnt as f32;
                    for iy in y0..y1 {
                        for d in &mut gx[iy * g.w + x0..iy * g.w + x1] {
                            *d += v;
                        }
                    }
                }
            }
        }
    }

    fn parallel(&self, g: &Geo) -> bool {
        g.planes >= 2
            && g.planes * g.oh * g.ow * self.pool[0] * self.pool[1] >= PARALLEL_MIN_READS
            && crate::kernels::pool::threads() > 1
            && rayon::current_thread_index().is_none()
    }
}

impl Op for Pool2d {
    fn name(&self) -> &str {
        self.name_()
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(self.name_(), inputs, 1)?;
        expect_float(self.name_(), &inputs[0])?;
        let x = &inputs[0].shape;
        if x.len() != 4 {
            return Err(Error::Shape(format!(
                "{}: expects a 4-D input (N, C, H, W), got {}",
                self.name_(),
                fmt_shape(x)
            )));
        }
        let side = |len: Option<usize>, pad: usize, k: usize, s: usize| -> Result<Option<usize>> {
            match len {
                Some(l) => out_len(l, pad, k, s, 1).map(Some).ok_or_else(|| {
                    Error::Shape(format!(
                        "{}: pool size {:?} is larger than the (padded) input {}",
                        self.name_(),
                        self.pool,
                        fmt_shape(x)
                    ))
                }),
                None => Ok(None),
            }
        };
        let oh = side(
            x[2],
            self.pads[0] + self.pads[1],
            self.pool[0],
            self.strides[0],
        )?;
        let ow = side(
            x[3],
            self.pads[2] + self.pads[3],
            self.pool[1],
            self.strides[1],
        )?;
        Ok(TypeInfo::f32(vec![x[0], x[1], oh, ow]))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        let g = self.geo(&x.shape)?;
        let (ps, os) = (g.h * g.w, g.oh * g.ow);
        if g.planes == 0 || os == 0 || ps == 0 {
            return Ok(());
        }
        let arg_len = if self.max { g.planes * os } else { g.planes };
        if ctx.scratch.i.len() < arg_len {
            ctx.scratch.i.resize(arg_len, 0);
        }
        let arg_step = if self.max { os } else { 1 };
        let args = &mut ctx.scratch.i[..arg_len];
        if self.parallel(&g) {
            out.f
                .par_chunks_mut(os)
                .zip(args.par_chunks_mut(arg_step))
                .zip(x.f.par_chunks(ps))
                .for_each(|((y, a), xp)| self.plane_fwd(&g, xp, y, a));
        } else {
            for ((y, a), xp) in out
                .f
                .chunks_mut(os)
                .zip(args.chunks_mut(arg_step))
                .zip(x.f.chunks(ps))
            {
                self.plane_fwd(&g, xp, y, a);
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
        let g = self.geo(&inputs[0].shape)?;
        let (ps, os) = (g.h * g.w, g.oh * g.ow);
        if g.planes == 0 || os == 0 || ps == 0 {
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
            gin.par_chunks_mut(ps)
                .zip(gout.par_chunks(os))
                .zip(args.par_chunks(arg_step))
                .for_each(|((gx, gy), a)| self.plane_bwd(&g, gy, gx, a));
        } else {
            for ((gx, gy), a) in gin
                .chunks_mut(ps)
                .zip(gout.chunks(os))
                .zip(args.chunks(arg_step))
            {
                self.plane_bwd(&g, gy, gx, a);
            }
        }
        Ok(())
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let max = match name {
        "maxpool2d" => true,
        "avgpool2d" => false,
        _ => return None,
    };
    Some((|| {
        let pool = strides2(a, "pool", [2, 2])?;
        Ok(Arc::new(Pool2d {
            max,
            pool,
            strides: strides2(a, "strides", pool)?,
            pads: pads4(a)?,
        }) as OpRef)
    })())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::Attr;

    fn naive(
        x: &[f32],
        s: [usize; 4],
        pool: [usize; 2],
        st: [usize; 2],
        pd: [usize; 4],
        max: bool,
    ) -> (Vec<f32>, Vec<usize>) {
        let [n, c, h, w] = s;
        let oh = (h + pd[0] + pd[1] - pool[0]) / st[0] + 1;
        let ow = (w + pd[2] + pd[3] - pool[1]) / st[1] + 1;
        let mut y = vec![];
        for p in 0..n * c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut vals = vec![];
                    for i in 0..pool[0] {
                        for j in 0..pool[1] {
                            let iy = (oy * st[0] + i) as isize - pd[0] as isize;
                            let ix = (ox * st[1] + j) as isize - pd[2] as isize;
                            if iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize {
                                vals.push(x[p * h * w + iy as usize * w + ix as usize]);
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
        (y, vec![n, c, oh, ow])
    }

    fn case(s: [usize; 4], pool: [usize; 2], st: [usize; 2], pd: [usize; 4], seed: u64) {
        // Distinct values keep the max away from ties (finite differences need that).
        let mut x = rand(&s, seed, -1.0, 1.0);
        for (i, v) in x.f.iter_mut().enumerate() {
            *v += i as f32 * 0.037;
        }
        let mut xp = x.clone();
        let len = xp.f.len();
        for (i, v) in xp.f.iter_mut().enumerate() {
            *v = x.f[(i * 7919) % len];
        }
        for max in [true, false] {
            let name = if max { "maxpool2d" } else { "avgpool2d" };
            let o = op(
                name,
                &[
                    ("pool", Attr::Ints(pool.iter().map(|&v| v as i64).collect())),
                    (
                        "strides",
                        Attr::Ints(st.iter().map(|&v| v as i64).collect()),
                    ),
                    ("pads", Attr::Ints(pd.iter().map(|&v| v as i64).collect())),
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
    fn pool_valid_and_odd_sizes() {
        case([2, 3, 4, 4], [2, 2], [2, 2], [0; 4], 1);
        case([1, 2, 5, 7], [2, 2], [2, 2], [0; 4], 2);
        case([1, 2, 5, 7], [3, 2], [1, 2], [0; 4], 3);
    }

    #[test]
    fn pool_same_padding_excludes_pads() {
        case([2, 2, 5, 7], [2, 2], [2, 2], [0, 1, 0, 1], 4);
        case([1, 1, 5, 5], [3, 3], [1, 1], [1, 1, 1, 1], 5);
    }

    #[test]
    fn pool_parallel_path_matches_reference() {
        let s = [8, 16, 32, 32];
        let x = rand(&s, 6, -1.0, 1.0);
        for max in [true, false] {
            let name = if max { "maxpool2d" } else { "avgpool2d" };
            let o = op(name, &[("pool", Attr::Ints(vec![2, 2]))]);
            let (want, _) = naive(&x.f, s, [2, 2], [2, 2], [0; 4], max);
            assert_close(&forward(&o, std::slice::from_ref(&x)).f, &want, 1e-5);
        }
    }

    #[test]
    fn pool_errors() {
        let t = |s: &[usize]| crate::ops::TypeInfo::f32(crate::tensor::known(s));
        let o = op("maxpool2d", &[("pool", Attr::Ints(vec![3, 3]))]);
        let e = o.infer(&[t(&[1, 1, 2, 2])]).unwrap_err().to_string();
        assert!(e.contains("(1, 1, 2, 2)"), "{e}");
        assert!(o.infer(&[t(&[1, 2, 2])]).is_err());
    }
}
