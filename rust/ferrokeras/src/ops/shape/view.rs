//! The strided view shared by most data-movement ops and its two kernels: `gather`
//! (read through a view into a contiguous buffer) and `scatter` (write a contiguous
//! buffer through a view), plus [`ViewOp`], the one forward/backward of the ops whose
//! output is a view of their input.

use std::fmt::Debug;

use smallvec::{smallvec, SmallVec};

use crate::ops::{expect_inputs, Op, OpCtx, TypeInfo};
use crate::tensor::{DType, Value};
use crate::Result;

#[inline(always)]
pub(super) fn set<T: Copy>(d: &mut T, x: T) {
    *d = x;
}

#[inline(always)]
pub(super) fn acc(d: &mut f32, x: f32) {
    *d += x;
}

/// A strided view: element `o` (row-major over `dims` sizes) of a contiguous array is
/// element `base + sum_k idx_k * stride_k` of the strided buffer.
#[derive(Debug, Clone)]
pub(super) struct View {
    pub(super) base: isize,
    pub(super) dims: SmallVec<[(usize, isize); 8]>,
}

impl View {
    pub(super) fn new(base: isize) -> View {
        View {
            base,
            dims: SmallVec::new(),
        }
    }

    pub(super) fn push(&mut self, size: usize, stride: isize) {
        self.dims.push((size, stride));
    }

    /// Drops size-1 axes and merges neighbours that step uniformly. Always leaves at
    /// least one axis.
    pub(super) fn finish(mut self) -> View {
        if self.dims.iter().any(|d| d.0 == 0) {
            self.dims = smallvec![(0, 1)];
            return self;
        }
        let mut out: SmallVec<[(usize, isize); 8]> = SmallVec::new();
        for &(s, st) in &self.dims {
            if s == 1 {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.1 == st * s as isize => *last = (last.0 * s, st),
                _ => out.push((s, st)),
            }
        }
        if out.is_empty() {
            out.push((1, 1));
        }
        self.dims = out;
        self
    }

    /// Calls `f(strided_offset, contiguous_offset)` for each position of the axes before
    /// the last `inner` ones, in order; contiguous offsets advance by the element count
    /// of the inner axes.
    #[inline]
    fn walk(&self, inner: usize, mut f: impl FnMut(isize, usize)) {
        let n = self.dims.len();
        let outer = &self.dims[..n - inner];
        let step: usize = self.dims[n - inner..].iter().map(|d| d.0).product();
        if step == 0 || outer.iter().any(|d| d.0 == 0) {
            return;
        }
        let mut idx: SmallVec<[usize; 8]> = smallvec![0; outer.len()];
        let (mut s, mut c) = (self.base, 0usize);
        loop {
            f(s, c);
            c += step;
            let mut k = outer.len();
            loop {
                if k == 0 {
                    return;
                }
                k -= 1;
                idx[k] += 1;
                s += outer[k].1;
                if idx[k] < outer[k].0 {
                    break;
                }
                s -= outer[k].1 * idx[k] as isize;
                idx[k] = 0;
            }
        }
    }
}

/// Side of the square tiles of the transposing gather (elements).
const TILE: usize = 32;

/// Calls `f(src_offset, dst_offset)` over all positions of `dims` (size, src stride, dst
/// stride), starting from `s0` / 0.
fn walk2(dims: &[(usize, isize, usize)], s0: isize, mut f: impl FnMut(isize, usize)) {
    if dims.iter().any(|d| d.0 == 0) {
        return;
    }
    let mut idx: SmallVec<[usize; 8]> = smallvec![0; dims.len()];
    let (mut s, mut d) = (s0, 0usize);
    loop {
        f(s, d);
        let mut k = dims.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            s += dims[k].1;
            d += dims[k].2;
            if idx[k] < dims[k].0 {
                break;
            }
            s -= dims[k].1 * idx[k] as isize;
            d -= dims[k].2 * idx[k];
            idx[k] = 0;
        }
    }
}

/// `f(&mut dst[o], src[view(o)])` for every `o` (dst contiguous, src strided).
pub(super) fn gather<T: Copy>(src: &[T], v: &View, dst: &mut [T], f: impl Fn(&mut T, T) + Copy) {
    let n = v.dims.len();
    let (len, st) = v.dims[n - 1];
    // A transposition: the last output axis is strided in the source while another
    // output axis `j` is contiguous there. Copy in square tiles spanning both axes so
    // that reads and writes each touch only a few cache lines.
    if st.unsigned_abs() > 1 {
        if let Some(j) = v.dims[..n - 1].iter().position(|d| d.1 == 1) {
            let mut dstr: SmallVec<[usize; 8]> = smallvec![1; n];
            for k in (0..n - 1).rev() {
                dstr[k] = dstr[k + 1] * v.dims[k + 1].0;
            }
            let outer: SmallVec<[(usize, isize, usize); 8]> = (0..n - 1)
                .filter(|&k| k != j)
                .map(|k| (v.dims[k].0, v.dims[k].1, dstr[k]))
                .collect();
            let (rows, drs) = (v.dims[j].0, dstr[j]);
            walk2(&outer, v.base, |s, d| {
                for r0 in (0..rows).step_by(TILE) {
                    let r1 = (r0 + TILE).min(rows);
                    for c0 in (0..len).step_by(TILE) {
                        let cb = TILE.min(len - c0);
                        for r in r0..r1 {
                            let o = d + r * drs + c0;
                            let sb = s + r as isize + c0 as isize * st;
                            for (jj, dj) in dst[o..o + cb].iter_mut().enumerate() {
                                f(dj, src[(sb + jj as isize * st) as usize]);
                            }
                        }
                    }
                }
            });
            return;
        }
    }
    v.walk(1, |s, c| {
        let d = &mut dst[c..c + len];
        match st {
            1 => {
                let s = s as usize;
                d.iter_mut()
                    .zip(&src[s..s + len])
                    .for_each(|(d, &x)| f(d, x));
            }
            0 => {
                let x = src[s as usize];
                d.iter_mut().for_each(|d| f(d, x));
            }
            -1 => {
                let s = s as usize;
                d.iter_mut()
                    .zip(src[s + 1 - len..=s].iter().rev())
                    .for_each(|(d, &x)| f(d, x));
            }
            _ => {
                for (j, d) in d.iter_mut().enumerate() {
                    f(d, src[(s + j as isize * st) as usize]);
                }
            }
        }
    });
}

/// `f(&mut dst[view(o)], src[o])` for every `o` (dst strided, src contiguous).
pub(super) fn scatter<T: Copy>(dst: &mut [T], v: &View, src: &[T], f: impl Fn(&mut T, T) + Copy) {
    let (len, st) = v.dims[v.dims.len() - 1];
    v.walk(1, |s, c| {
        let x = &src[c..c + len];
        if st == 1 {
            let s = s as usize;
            dst[s..s + len]
                .iter_mut()
                .zip(x)
                .for_each(|(d, &x)| f(d, x));
        } else {
            for (j, &x) in x.iter().enumerate() {
                f(&mut dst[(s + j as isize * st) as usize], x);
            }
        }
    });
}

/// Gathers a value of either storage through a view (`out` already sized).
pub(super) fn gather_value(x: &Value, v: &View, out: &mut Value) {
    if x.dt() == DType::I32 {
        gather(&x.i, v, &mut out.i, set);
    } else {
        gather(&x.f, v, &mut out.f, set);
    }
}

/// An op whose output is its one input read through a strided [`View`]: permute,
/// slice, reverse, repeat, repeat_elements and tile. [`Viewed`] makes it an [`Op`]
/// with one forward and one backward for all of them: the forward gathers the input
/// through the view, the backward adds the output gradient back through it (by
/// default a scatter-add, which also sums the copies of a replicated element).
pub(super) trait ViewOp: Debug + Send + Sync {
    /// The op's registry name.
    fn name(&self) -> &str;

    /// Output type from the input types ([`Op::infer`]; [`Viewed`] has checked that
    /// there is one input).
    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo>;

    /// The view through which the output reads an input of concrete shape `x`.
    fn view(&self, x: &[usize]) -> Result<View>;

    /// Adds the output gradient `g` (output of shape `out`) into the gradient `gin` of
    /// the input (shape `x`).
    fn add_grad(&self, x: &[usize], _out: &[usize], g: &[f32], gin: &mut [f32]) -> Result<()> {
        scatter(gin, &self.view(x)?, g, acc);
        Ok(())
    }
}

/// A [`ViewOp`] as an [`Op`].
#[derive(Debug)]
pub(super) struct Viewed<V>(pub(super) V);

impl<V: ViewOp> Op for Viewed<V> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(self.0.name(), inputs, 1)?;
        self.0.infer(inputs)
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        gather_value(inputs[0], &self.0.view(&inputs[0].shape)?, out);
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        inputs: &[&Value],
        out: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        self.0.add_grad(&inputs[0].shape, &out.shape, g, gin)
    }
}
