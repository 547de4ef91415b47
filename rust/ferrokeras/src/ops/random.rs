//! Random ops: `dropout`, `gaussian_noise`, `gaussian_dropout` (training-phase noise
//! on an input) and `random_uniform`, `random_normal`, `random_binomial` (fresh
//! tensors).
//!
//! Every random number is a pure function of (seed, call counter, element index)
//! through the counter-based Philox generator of `kernels::rng`: the executor stores
//! the call counter in `ctx.scratch.counter` before each forward (`is_random()` is
//! true), and the backward regenerates the same noise from it instead of storing a
//! mask. Results therefore do not depend on the number of threads or on how the work
//! is chunked, and a steady-state call allocates nothing.
//!
//! Conventions (identical to `rng::fill_uniform` / `rng::fill_normal`): uniform number
//! `i` is word `i % 4` of Philox block `i / 4`; normal number `i` comes from block
//! `i / 2` (Box-Muller on its first two words, cosine for even `i`, sine for odd).
//! The dropout mask keeps element `i` when its uniform `u >= level`; with a
//! `noise_shape`, `i` is the flat index in the noise-shaped mask, which is broadcast.
//!
//! Shards of a batch: when the executor says the fed batch starts at global row `r`
//! (`Scratch::row`, set through `Session::set_row_offset`), noise that follows the
//! batch axis (dropout masks whose `noise_shape` does not broadcast the first axis,
//! Gaussian noise) draws its element `i` as element `r * elements_per_row + i`. A shard
//! of rows `r .. r + n` therefore draws exactly what the whole batch draws for those
//! rows, at the same call counter. Fixed-shape random tensors (`random_*`) and masks
//! broadcast over the batch ignore the row: every shard draws the whole tensor.

use std::sync::Arc;

use crate::kernels::alloc::grow;
use crate::kernels::pool::{self, parallel_for, Disjoint};
use smallvec::SmallVec;

use super::{expect_float, expect_inputs, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::rng;
use crate::simd_fn;
use crate::tensor::{fmt_dims, fmt_shape, DType, Value};
use crate::{Error, Result};

/// Tensors at least this long draw their noise on all threads: generating random
/// words costs ten Philox rounds per four elements, enough to pay for a wake-up sooner
/// than a plain elementwise op (whose threshold is `activation::PAR_MIN`).
const PAR_MIN: usize = 1 << 16;

/// Chunk length (elements) of the parallel kernels; a multiple of 64 so every chunk
/// starts on a Philox batch boundary.
const CHUNK: usize = 1 << 14;

/// Defines a dropout kernel through [`simd_fn!`]: `$name(x, y, seed, call, start, p,
/// keep)` does `y[i] $op (u >= p ? x[i] / keep : 0)` over a slice whose first element has
/// mask index `start` (a multiple of 4), `u` the element's uniform number.
macro_rules! dropout_kernel {
    ($(#[$m:meta])* fn $name:ident $op:tt) => {
        simd_fn! {
            $(#[$m])*
            fn $name(x: &[f32], y: &mut [f32], seed: u64, call: u64, start: u64, p: f32, keep: f32) {
                let mut w = [0u32; rng::WORDS];
                for (k, (yc, xc)) in y.chunks_mut(rng::WORDS).zip(x.chunks(rng::WORDS)).enumerate() {
                    rng::batch(seed, call, start / 4 + (k * rng::BLOCKS) as u64, &mut w);
                    for ((o, &v), &u) in yc.iter_mut().zip(xc).zip(w.iter()) {
                        *o $op if rng::to_unit(u) >= p { v / keep } else { 0.0 };
                    }
                }
            }
        }
    };
}

dropout_kernel! {
    /// Inverted dropout: `y = u >= p ? x / keep : 0`.
    fn dropout_set =
}

dropout_kernel! {
    /// Backward of [`dropout_set`]: `d += u >= p ? g / keep : 0` (`x` is `g`, `y` is `d`).
    fn dropout_add +=
}

simd_fn! {
    /// Keep flags (1.0 / 0.0) of mask elements `start ..` (start a multiple of 4).
    fn keep_flags(m: &mut [f32], seed: u64, call: u64, start: u64, p: f32) {
        let mut w = [0u32; rng::WORDS];
        for (k, mc) in m.chunks_mut(rng::WORDS).enumerate() {
            rng::batch(seed, call, start / 4 + (k * rng::BLOCKS) as u64, &mut w);
            for (o, &u) in mc.iter_mut().zip(w.iter()) {
                *o = if rng::to_unit(u) >= p { 1.0 } else { 0.0 };
            }
        }
    }
}

simd_fn! {
    /// `y = u * scale + low` (uniform) or, with `binomial`, `y = u < p ? 1 : 0`
    /// (`p` passed as `low`).
    fn uniform_fill(y: &mut [f32], seed: u64, call: u64, start: u64, scale: f32, low: f32, binomial: bool) {
        let mut w = [0u32; rng::WORDS];
        for (k, yc) in y.chunks_mut(rng::WORDS).enumerate() {
            rng::batch(seed, call, start / 4 + (k * rng::BLOCKS) as u64, &mut w);
            for (o, &u) in yc.iter_mut().zip(w.iter()) {
                let u = rng::to_unit(u);
                *o = if binomial { if u < low { 1.0 } else { 0.0 } } else { u * scale + low };
            }
        }
    }
}

/// Uniform words of mask elements `start ..` that precede the next multiple of 4
/// (at most 3, fewer when `len` is shorter), one per element: the unaligned head of
/// a slice whose aligned rest the batch kernels above handle.
#[inline]
fn head_words(seed: u64, call: u64, start: u64, len: usize) -> SmallVec<[u32; 3]> {
    let skip = (start % 4) as usize;
    if skip == 0 {
        return SmallVec::new();
    }
    let w = rng::block(seed, call, start / 4);
    w[skip..].iter().take(len).copied().collect()
}

/// [`dropout_set`] (`add == false`) or [`dropout_add`] for any `start`: the elements
/// before the next multiple of 4 one by one, the rest with the batch kernel.
#[allow(clippy::too_many_arguments)]
fn dropout_at(
    src: &[f32],
    dst: &mut [f32],
    add: bool,
    seed: u64,
    call: u64,
    start: u64,
    p: f32,
    keep: f32,
) {
    let head = head_words(seed, call, start, dst.len());
    for ((o, &v), &u) in dst.iter_mut().zip(src).zip(&head) {
        let val = if rng::to_unit(u) >= p { v / keep } else { 0.0 };
        if add {
            *o += val;
        } else {
            *o = val;
        }
    }
    let h = head.len();
    let (s, d, at) = (&src[h..], &mut dst[h..], start + h as u64);
    if add {
        dropout_add(s, d, seed, call, at, p, keep)
    } else {
        dropout_set(s, d, seed, call, at, p, keep)
    }
}

/// [`keep_flags`] for any `start`.
fn keep_flags_at(m: &mut [f32], seed: u64, call: u64, start: u64, p: f32) {
    let head = head_words(seed, call, start, m.len());
    for (o, &u) in m.iter_mut().zip(&head) {
        *o = if rng::to_unit(u) >= p { 1.0 } else { 0.0 };
    }
    let h = head.len();
    keep_flags(&mut m[h..], seed, call, start + h as u64, p)
}

/// Calls `f(k, n)` for the standard normals `n` of indices `start + k`, `k < len`,
/// with `rng::fill_normal`'s numerics (normal `i` is the cosine (even `i`) or sine
/// (odd `i`) of block `i / 2`'s Box-Muller pair).
#[inline]
fn for_each_normal(seed: u64, call: u64, start: u64, len: usize, mut f: impl FnMut(usize, f32)) {
    let mut k = 0;
    let mut b = start / 2;
    let mut odd = start % 2 == 1;
    while k < len {
        let (r, t) = rng::polar(rng::block(seed, call, b));
        if !odd {
            f(k, (r * t.cos()) as f32);
            k += 1;
        }
        if k < len {
            f(k, (r * t.sin()) as f32);
            k += 1;
        }
        odd = false;
        b += 1;
    }
}

/// First stream element of a call's noise: `row` (the call's first global row, see
/// [`Scratch::row`](crate::ops::Scratch::row)) times the noise elements per batch row,
/// for noise of `len` elements whose first axis (of size `rows`) is the batch axis.
fn row_start(row: u64, len: usize, rows: usize) -> u64 {
    if row == 0 || rows == 0 {
        0
    } else {
        row * (len / rows) as u64
    }
}

/// Runs `f(chunk_start, chunk)` over `y` in [`CHUNK`]-sized pieces, in parallel when
/// `y` is large.
fn chunked(y: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync) {
    if y.len() >= PAR_MIN {
        let len = y.len();
        let ys = Disjoint::new(y);
        // chunks claimed by the caller and the pool: no wait for a worker to wake
        parallel_for(len.div_ceil(CHUNK), pool::threads(), &|i, _| {
            let lo = i * CHUNK;
            // SAFETY: chunk i is claimed once.
            f(lo, unsafe { ys.part(lo, CHUNK.min(len - lo)) })
        });
    } else {
        f(0, y);
    }
}

/// Like [`chunked`] with a read-only companion slice of the same length.
fn chunked2(x: &[f32], y: &mut [f32], f: impl Fn(usize, &[f32], &mut [f32]) + Sync) {
    chunked(y, |lo, c| f(lo, &x[lo..lo + c.len()], c));
}

/// True when the learning-phase value says "training" (any non-zero value).
fn training(lp: &Value) -> bool {
    match lp.dt() {
        DType::I32 => lp.i.first().is_some_and(|&v| v != 0),
        _ => lp.f.first().is_some_and(|&v| v != 0.0),
    }
}

/// Type checks shared by the noise ops: `(x, learning_phase)` with a one-element
/// learning phase.
fn infer_noise(op: &str, inputs: &[TypeInfo]) -> Result<TypeInfo> {
    expect_inputs(op, inputs, 2)?;
    expect_float(op, &inputs[0])?;
    if !inputs[1].shape.iter().all(|&d| d == Some(1)) {
        return Err(Error::Shape(format!(
            "{op}: the learning phase must be a scalar, got shape {}",
            fmt_shape(&inputs[1].shape)
        )));
    }
    Ok(TypeInfo::f32(inputs[0].shape.clone()))
}

fn pass_through(g: &[f32], gin: &mut [f32]) {
    gin.iter_mut().zip(g).for_each(|(d, &g)| *d += g);
}

// ---------------------------------------------------------------------------------
// dropout

/// Inverted dropout: in the training phase keeps each element with probability
/// `1 - level` and divides kept elements by `1 - level`; identity in the test phase.
#[derive(Debug)]
pub struct Dropout {
    level: f32,
    keep: f32,
    seed: u64,
    noise_shape: Option<Vec<i64>>,
}

/// Mask shapes have small rank; this keeps them off the heap.
type Dims = SmallVec<[usize; 8]>;

impl Dropout {
    /// The concrete mask shape for input shape `xs` (validated).
    fn mask_shape(&self, xs: &[usize]) -> Result<Dims> {
        let Some(ns) = &self.noise_shape else {
            return Ok(xs.iter().copied().collect());
        };
        let bad = || {
            Error::Shape(format!(
                "dropout: noise_shape {ns:?} does not fit an input of shape {} (entries must be -1, 1 or the input's size)",
                fmt_dims(xs)
            ))
        };
        if ns.len() != xs.len() {
            return Err(bad());
        }
        ns.iter()
            .zip(xs)
            .map(|(&e, &d)| match e {
                -1 => Ok(d),
                1 => Ok(1),
                e if e >= 0 && e as usize == d => Ok(d),
                _ => Err(bad()),
            })
            .collect()
    }

    fn active(&self, lp: &Value) -> bool {
        self.level > 0.0 && training(lp)
    }

    /// Applies the mask to `src`, writing (`add == false`) or adding into `dst`.
    fn apply(
        &self,
        xs: &[usize],
        src: &[f32],
        dst: &mut [f32],
        add: bool,
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let (seed, call, p, keep) = (self.seed, ctx.scratch.counter, self.level, self.keep);
        let ms = self.mask_shape(xs)?;
        if src.is_empty() {
            return Ok(());
        }
        let mlen: usize = ms.iter().product();
        // The mask follows the batch axis unless noise_shape broadcasts it (entry 1).
        let follows_batch = self
            .noise_shape
            .as_ref()
            .is_none_or(|ns| ns.first() != Some(&1));
        let off = match ms.first() {
            Some(&rows) if follows_batch => row_start(ctx.scratch.row, mlen, rows),
            _ => 0,
        };
        if ms[..] == xs[..] {
            chunked2(src, dst, |start, s, d| {
                dropout_at(s, d, add, seed, call, off + start as u64, p, keep)
            });
            return Ok(());
        }
        // Broadcast mask: regenerate it into the scratch buffer, then walk rows of
        // the last axis with the mask offset of each row.
        let n = xs.len();
        let mask = &mut ctx.scratch.f;
        grow(mask, mlen, "dropout")?;
        chunked(&mut mask[..mlen], |start, m| {
            keep_flags_at(m, seed, call, off + start as u64, p)
        });
        let mask = &mask[..mlen];
        // mask strides seen from x (0 on broadcast axes)
        let mut mst: Dims = SmallVec::from_elem(0, n);
        let mut acc = 1;
        for k in (0..n).rev() {
            mst[k] = if ms[k] == 1 { 0 } else { acc };
            acc *= ms[k];
        }
        let last = xs[n - 1];
        let lstride = mst[n - 1];
        let rows_per_task = (CHUNK / last.max(1)).max(1);
        let step = rows_per_task * last;
        let row_off = |mut r: usize| {
            let mut off = 0;
            for k in (0..n - 1).rev() {
                off += (r % xs[k]) * mst[k];
                r /= xs[k];
            }
            off
        };
        let work = |task: usize, s: &[f32], d: &mut [f32]| {
            for (j, (sr, dr)) in s
                .chunks_exact(last)
                .zip(d.chunks_exact_mut(last))
                .enumerate()
            {
                let off = row_off(task * rows_per_task + j);
                for (c, (o, &v)) in dr.iter_mut().zip(sr).enumerate() {
                    let kept = mask[off + c * lstride] != 0.0;
                    let val = if kept { v / keep } else { 0.0 };
                    if add {
                        *o += val;
                    } else {
                        *o = val;
                    }
                }
            }
        };
        if dst.len() >= PAR_MIN {
            let len = dst.len();
            let ds = Disjoint::new(dst);
            parallel_for(len.div_ceil(step), pool::threads(), &|t, _| {
                let lo = t * step;
                let n = step.min(len - lo);
                // SAFETY: task t's rows are claimed once.
                work(t, &src[lo..lo + n], unsafe { ds.part(lo, n) })
            });
        } else {
            for (t, (d, s)) in dst.chunks_mut(step).zip(src.chunks(step)).enumerate() {
                work(t, s, d);
            }
        }
        Ok(())
    }
}

/// The [`Op`] flags of a training-phase noise op on `(x, learning_phase)`: it draws
/// random numbers, its gradient flows to `x` only, and in the test phase it is `x`.
/// Expands inside an `impl Op`.
macro_rules! training_noise_flags {
    () => {
        fn test_phase_identity(&self) -> Option<(usize, usize)> {
            Some((1, 0))
        }

        fn has_grad(&self, index: usize) -> bool {
            index == 0
        }

        fn is_random(&self) -> bool {
            true
        }
    };
}

impl Op for Dropout {
    fn name(&self) -> &str {
        "dropout"
    }

    training_noise_flags!();

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let t = infer_noise("dropout", inputs)?;
        if let Some(ns) = &self.noise_shape {
            let xs = &inputs[0].shape;
            let fits = ns.len() == xs.len()
                && ns.iter().zip(xs).all(|(&e, &d)| {
                    e == -1 || e == 1 || d.is_none_or(|d| e >= 0 && e as usize == d)
                });
            if !fits {
                return Err(Error::Shape(format!(
                    "dropout: noise_shape {ns:?} does not fit an input of shape {} (entries must be -1, 1 or the input's size)",
                    fmt_shape(xs)
                )));
            }
        }
        Ok(t)
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        if !self.active(inputs[1]) {
            out.f.copy_from_slice(&x.f);
            return Ok(());
        }
        self.apply(&x.shape, &x.f, &mut out.f, false, ctx)
    }

    fn backward(
        &self,
        _: usize,
        inputs: &[&Value],
        _: &Value,
        g: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        if !self.active(inputs[1]) {
            pass_through(g, gin);
            return Ok(());
        }
        self.apply(&inputs[0].shape, g, gin, true, ctx)
    }
}

// ---------------------------------------------------------------------------------
// gaussian_noise, gaussian_dropout

/// Which Gaussian noise.
#[derive(Debug, Clone, Copy, PartialEq)]
enum GaussKind {
    /// `x + sigma * n`
    Additive { sigma: f32 },
    /// `x * (1 + std * n)`, `std = sqrt(p / (1 - p))`
    Multiplicative { std: f32 },
}

/// Training-phase Gaussian noise: additive (`gaussian_noise`, Keras `GaussianNoise`)
/// or multiplicative with mean 1 (`gaussian_dropout`, Keras `GaussianDropout`).
/// Identity in the test phase.
#[derive(Debug)]
pub struct GaussianNoise {
    kind: GaussKind,
    seed: u64,
    name: &'static str,
}

impl GaussianNoise {
    fn active(&self, lp: &Value) -> bool {
        let on = match self.kind {
            GaussKind::Additive { sigma } => sigma != 0.0,
            GaussKind::Multiplicative { std } => std != 0.0,
        };
        on && training(lp)
    }
}

impl Op for GaussianNoise {
    fn name(&self) -> &str {
        self.name
    }

    training_noise_flags!();

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        infer_noise(self.name, inputs)
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        if !self.active(inputs[1]) {
            out.f.copy_from_slice(&x.f);
            return Ok(());
        }
        let (seed, call) = (self.seed, ctx.scratch.counter);
        let off = row_start(
            ctx.scratch.row,
            x.len(),
            x.shape.first().copied().unwrap_or(0),
        );
        match self.kind {
            GaussKind::Additive { sigma } => chunked2(&x.f, &mut out.f, |start, xc, yc| {
                for_each_normal(seed, call, off + start as u64, yc.len(), |k, n| {
                    yc[k] = xc[k] + sigma * n
                })
            }),
            GaussKind::Multiplicative { std } => chunked2(&x.f, &mut out.f, |start, xc, yc| {
                for_each_normal(seed, call, off + start as u64, yc.len(), |k, n| {
                    yc[k] = xc[k] * (n * std + 1.0)
                })
            }),
        }
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        inputs: &[&Value],
        _: &Value,
        g: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        match self.kind {
            GaussKind::Multiplicative { std } if self.active(inputs[1]) => {
                let (seed, call) = (self.seed, ctx.scratch.counter);
                let x = inputs[0];
                let off = row_start(
                    ctx.scratch.row,
                    x.len(),
                    x.shape.first().copied().unwrap_or(0),
                );
                chunked2(g, gin, |start, gc, dc| {
                    for_each_normal(seed, call, off + start as u64, dc.len(), |k, n| {
                        dc[k] += gc[k] * (n * std + 1.0)
                    })
                });
            }
            _ => pass_through(g, gin),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// random_uniform, random_normal, random_binomial

/// Which distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dist {
    Uniform { low: f32, high: f32 },
    Normal { mean: f32, std: f32 },
    Binomial { p: f32 },
}

/// A fresh random tensor of a fixed shape (Keras `K.random_uniform`,
/// `K.random_normal`, `K.random_binomial`), redrawn at every call.
#[derive(Debug)]
pub struct RandomTensor {
    dist: Dist,
    shape: Vec<usize>,
    seed: u64,
    name: &'static str,
}

impl Op for RandomTensor {
    fn name(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs(self.name, inputs, 0)?;
        Ok(TypeInfo::f32(self.shape.iter().map(|&d| Some(d)).collect()))
    }

    fn forward(&self, _: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let (seed, call) = (self.seed, ctx.scratch.counter);
        match self.dist {
            Dist::Uniform { low, high } => chunked(&mut out.f, |s, y| {
                uniform_fill(y, seed, call, s as u64, high - low, low, false)
            }),
            Dist::Binomial { p } => chunked(&mut out.f, |s, y| {
                uniform_fill(y, seed, call, s as u64, 0.0, p, true)
            }),
            Dist::Normal { mean, std } => chunked(&mut out.f, |s, y| {
                for_each_normal(seed, call, s as u64, y.len(), |k, n| y[k] = n * std + mean)
            }),
        }
        Ok(())
    }

    fn has_grad(&self, _: usize) -> bool {
        false
    }

    fn is_random(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------------
// registry

fn req_float(a: &Attrs, op: &str, key: &str) -> Result<f64> {
    a.float_opt(key)?
        .ok_or_else(|| Error::Type(format!("{op}: missing required argument '{key}'")))
}

fn finite(op: &str, key: &str, v: f64) -> Result<f32> {
    if !v.is_finite() {
        return Err(Error::Value(format!("{op}: {key} must be finite, got {v}")));
    }
    Ok(v as f32)
}

/// A drop probability in [0, 1).
fn level(op: &str, key: &str, v: f64) -> Result<f64> {
    if !(0.0..1.0).contains(&v) {
        return Err(Error::Value(format!(
            "{op} {key} must be in [0, 1), got {v}"
        )));
    }
    Ok(v)
}

fn fixed_shape(a: &Attrs, op: &str) -> Result<Vec<usize>> {
    let s = a.ints_req("shape")?;
    let dims: Vec<usize> = s
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                Error::Value(format!(
                    "{op}: shape {s:?} must be fully known (non-negative sizes)"
                ))
            })
        })
        .collect::<Result<_>>()?;
    let fits = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .is_some_and(|n| n <= isize::MAX as usize / 4);
    if !fits {
        return Err(Error::Value(format!("{op}: shape {s:?} is too large")));
    }
    Ok(dims)
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let seed = || a.int_req("seed").map(|s| s as u64);
    let r = match name {
        "dropout" => (|| {
            let p = level("dropout", "level", req_float(a, name, "level")?)?;
            let noise_shape = a.ints_opt("noise_shape")?;
            if let Some(ns) = &noise_shape {
                if ns.iter().any(|&e| e < -1) {
                    return Err(Error::Value(format!("dropout: invalid noise_shape {ns:?}")));
                }
            }
            let seed = seed()?;
            Ok(Arc::new(Dropout {
                level: p as f32,
                keep: (1.0 - p) as f32,
                seed,
                noise_shape,
            }) as OpRef)
        })(),
        "gaussian_noise" | "gaussian_dropout" => (|| {
            let (name, kind) = if name == "gaussian_noise" {
                let sigma = finite(name, "sigma", req_float(a, name, "sigma")?)?;
                ("gaussian_noise", GaussKind::Additive { sigma })
            } else {
                let p = level(name, "p", req_float(a, name, "p")?)?;
                let std = (p / (1.0 - p)).sqrt() as f32;
                ("gaussian_dropout", GaussKind::Multiplicative { std })
            };
            Ok(Arc::new(GaussianNoise {
                kind,
                seed: seed()?,
                name,
            }) as OpRef)
        })(),
        "random_uniform" | "random_normal" | "random_binomial" => (|| {
            let float = |key: &str, default: f64| finite(name, key, a.float(key, default)?);
            let (name, dist) = match name {
                "random_uniform" => (
                    "random_uniform",
                    Dist::Uniform {
                        low: float("low", 0.0)?,
                        high: float("high", 1.0)?,
                    },
                ),
                "random_normal" => (
                    "random_normal",
                    Dist::Normal {
                        mean: float("mean", 0.0)?,
                        std: float("std", 1.0)?,
                    },
                ),
                _ => (
                    "random_binomial",
                    Dist::Binomial {
                        p: float("p", 0.0)?,
                    },
                ),
            };
            Ok(Arc::new(RandomTensor {
                dist,
                shape: fixed_shape(a, name)?,
                seed: seed()?,
                name,
            }) as OpRef)
        })(),
        _ => return None,
    };
    Some(r)
}

// Reference checks index several parallel arrays by element number.
#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::{Attr, Scratch};
    use crate::tensor::known;

    fn at(counter: u64) -> Scratch {
        Scratch {
            counter,
            ..Default::default()
        }
    }

    fn run(o: &OpRef, inputs: &[Value], counter: u64) -> Value {
        forward_with(o, inputs, &mut at(counter)).unwrap()
    }

    fn grad(o: &OpRef, inputs: &[Value], g: &[f32], counter: u64) -> Vec<f32> {
        let mut sc = at(counter);
        let y = forward_with(o, inputs, &mut sc).unwrap();
        let refs: Vec<&Value> = inputs.iter().collect();
        grad_with(o, 0, &refs, &y, g, &mut sc)
    }

    fn dropout(p: f64, seed: i64) -> OpRef {
        op(
            "dropout",
            &[("level", Attr::Float(p)), ("seed", Attr::Int(seed))],
        )
    }

    fn uniforms(seed: u64, call: u64, n: usize) -> Vec<f32> {
        let mut u = vec![0.0; n];
        rng::fill_uniform(seed, call, &mut u);
        u
    }

    fn normals(seed: u64, call: u64, n: usize) -> Vec<f32> {
        let mut u = vec![0.0; n];
        rng::fill_normal(seed, call, &mut u);
        u
    }

    const TRAIN: f32 = 1.0;

    #[test]
    fn dropout_mask_is_the_reference_mask_with_exact_scaling() {
        let p = 0.3;
        let o = dropout(p, 11);
        let x = rand(&[37, 29], 1, -2.0, 2.0);
        let lp = Value::scalar(TRAIN);
        let y = run(&o, &[x.clone(), lp.clone()], 5);
        let u = uniforms(11, 5, x.len());
        let keep = (1.0 - p) as f32;
        for i in 0..x.len() {
            let want = if u[i] >= p as f32 { x.f[i] / keep } else { 0.0 };
            assert_eq!(y.f[i].to_bits(), want.to_bits(), "element {i}");
        }
        // determinism and fresh masks per call
        assert_eq!(run(&o, &[x.clone(), lp.clone()], 5), y);
        let y6 = run(&o, &[x.clone(), lp.clone()], 6);
        assert_ne!(y6, y);
        let mask = |v: &Value| v.f.iter().map(|&a| a != 0.0).collect::<Vec<_>>();
        assert_ne!(mask(&y6), mask(&y));
        // another seed, another mask
        assert_ne!(mask(&run(&dropout(p, 12), &[x.clone(), lp], 5)), mask(&y));
        assert!(o.is_random());
        assert!(!o.has_grad(1));
    }

    #[test]
    fn dropout_keep_fraction() {
        for p in [0.1, 0.5, 0.8] {
            let x = Value::from_f32(&[100_000], vec![1.0; 100_000]).unwrap();
            let y = run(&dropout(p, 3), &[x, Value::scalar(TRAIN)], 0);
            let kept = y.f.iter().filter(|&&v| v != 0.0).count() as f64 / 1e5;
            assert!((kept - (1.0 - p)).abs() < 0.01, "p={p}: kept {kept}");
            let scale = (1.0 / (1.0 - p)) as f32;
            assert!(y
                .f
                .iter()
                .all(|&v| v == 0.0 || (v - scale).abs() <= 1e-6 * scale));
            // E[y] = x
            let mean = y.f.iter().map(|&v| v as f64).sum::<f64>() / 1e5;
            assert!((mean - 1.0).abs() < 0.03, "{mean}");
        }
    }

    #[test]
    fn dropout_test_phase_and_zero_level_are_identity() {
        let x = rand(&[4, 6], 2, -1.0, 1.0);
        let g = rand(&[4, 6], 3, -1.0, 1.0);
        let test = Value::scalar(0.0);
        for (o, lp) in [
            (dropout(0.5, 1), test.clone()),
            (dropout(0.0, 1), Value::scalar(TRAIN)),
        ] {
            assert_eq!(run(&o, &[x.clone(), lp.clone()], 9).f, x.f);
            assert_eq!(grad(&o, &[x.clone(), lp], &g.f, 9), g.f);
        }
    }

    #[test]
    fn dropout_gradient_is_mask_times_scale_times_g() {
        let p = 0.4;
        let o = dropout(p, 21);
        let x = rand(&[5, 7], 4, -1.0, 1.0);
        let g = rand(&[5, 7], 5, -1.0, 1.0);
        let lp = Value::scalar(TRAIN);
        let gin = grad(&o, &[x.clone(), lp.clone()], &g.f, 2);
        let u = uniforms(21, 2, x.len());
        let keep = (1.0 - p) as f32;
        for i in 0..x.len() {
            let want = if u[i] >= p as f32 { g.f[i] / keep } else { 0.0 };
            assert_eq!(gin[i], want);
        }
        // accumulates into gin
        let y = run(&o, &[x.clone(), lp.clone()], 2);
        let mut acc = vec![1.0; x.len()];
        o.backward(
            0,
            &[&x, &lp],
            &y,
            &g.f,
            &mut acc,
            &mut OpCtx {
                scratch: &mut at(2),
            },
        )
        .unwrap();
        let want: Vec<f32> = gin.iter().map(|v| v + 1.0).collect();
        assert_eq!(acc, want);
        // and it is the derivative of the forward at the same counter
        for s in [&[6usize][..], &[3, 4], &[2, 3, 4]] {
            let x = rand(s, 6, -1.0, 1.0);
            grad_check(&o, &[x, lp.clone()], 1e-2, 1e-3).unwrap();
        }
    }

    #[test]
    fn dropout_noise_shape_broadcasts_the_mask() {
        let p = 0.5;
        let (n, t, c) = (6, 5, 8);
        let x = rand(&[n, t, c], 7, 0.5, 1.5);
        let lp = Value::scalar(TRAIN);
        for ns in [
            vec![-1i64, 1, -1],
            vec![n as i64, 1, c as i64],
            vec![1, t as i64, 1],
            vec![1, 1, 1],
            vec![-1, -1, 1],
        ] {
            let o = op(
                "dropout",
                &[
                    ("level", Attr::Float(p)),
                    ("seed", Attr::Int(4)),
                    ("noise_shape", Attr::Ints(ns.clone())),
                ],
            );
            let y = run(&o, &[x.clone(), lp.clone()], 3);
            let ms: Vec<usize> = ns
                .iter()
                .zip([n, t, c])
                .map(|(&e, d)| if e == -1 { d } else { e as usize })
                .collect();
            let u = uniforms(4, 3, ms.iter().product());
            let g = rand(&[n, t, c], 8, -1.0, 1.0);
            let gin = grad(&o, &[x.clone(), lp.clone()], &g.f, 3);
            for a in 0..n {
                for b in 0..t {
                    for d in 0..c {
                        let i = (a * t + b) * c + d;
                        let mi = |k: usize, v: usize| if ms[k] == 1 { 0 } else { v };
                        let m = (mi(0, a) * ms[1] + mi(1, b)) * ms[2] + mi(2, d);
                        let kept = u[m] >= p as f32;
                        assert_eq!(
                            y.f[i],
                            if kept { x.f[i] / 0.5 } else { 0.0 },
                            "{ns:?} at {i}"
                        );
                        assert_eq!(
                            gin[i],
                            if kept { g.f[i] / 0.5 } else { 0.0 },
                            "{ns:?} grad at {i}"
                        );
                    }
                }
            }
            grad_check(&o, &[x.clone(), lp.clone()], 1e-2, 1e-3).unwrap();
        }
        // rank 1
        let o = op(
            "dropout",
            &[
                ("level", Attr::Float(p)),
                ("seed", Attr::Int(4)),
                ("noise_shape", Attr::Ints(vec![1])),
            ],
        );
        let y = run(&o, &[rand(&[10], 1, 1.0, 2.0), lp], 0);
        assert!(y.f.iter().all(|&v| v == 0.0) || y.f.iter().all(|&v| v != 0.0));
    }

    #[test]
    fn dropout_argument_and_shape_errors() {
        for bad in [1.0, 1.5, -0.1, f64::NAN] {
            let e = crate::ops::build(
                "dropout",
                &Attrs::new("dropout")
                    .with("level", Attr::Float(bad))
                    .with("seed", Attr::Int(1)),
            )
            .unwrap_err();
            assert!(
                matches!(e, Error::Value(_))
                    && e.to_string().contains("dropout level must be in [0, 1)"),
                "{e}"
            );
        }
        assert!(crate::ops::build(
            "dropout",
            &Attrs::new("dropout").with("level", Attr::Float(0.5))
        )
        .is_err());
        let ns = |v: Vec<i64>| {
            op(
                "dropout",
                &[
                    ("level", Attr::Float(0.5)),
                    ("seed", Attr::Int(1)),
                    ("noise_shape", Attr::Ints(v)),
                ],
            )
        };
        let x = TypeInfo::f32(vec![None, Some(4)]);
        let lp = TypeInfo::f32(vec![]);
        assert!(ns(vec![-1, 3]).infer(&[x.clone(), lp.clone()]).is_err());
        assert!(ns(vec![-1]).infer(&[x.clone(), lp.clone()]).is_err());
        assert!(ns(vec![32, 1]).infer(&[x.clone(), lp.clone()]).is_ok()); // unknown batch: checked at run time
        let e = forward_with(
            &ns(vec![32, 1]),
            &[rand(&[8, 4], 1, 0.0, 1.0), Value::scalar(1.0)],
            &mut at(0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("noise_shape"), "{e}");
        assert!(dropout(0.5, 1)
            .infer(&[x.clone(), TypeInfo::f32(known(&[2]))])
            .is_err());
        assert!(dropout(0.5, 1)
            .infer(&[x.clone(), TypeInfo::f32(known(&[1, 1]))])
            .is_ok());
        assert!(dropout(0.5, 1).infer(&[x]).is_err());
    }

    #[test]
    fn gaussian_noise_and_dropout() {
        let x = rand(&[9, 7], 1, -1.0, 1.0);
        let g = rand(&[9, 7], 2, -1.0, 1.0);
        let lp = Value::scalar(TRAIN);
        let n = normals(13, 4, x.len());
        // additive
        let gn = op(
            "gaussian_noise",
            &[("sigma", Attr::Float(0.3)), ("seed", Attr::Int(13))],
        );
        let y = run(&gn, &[x.clone(), lp.clone()], 4);
        for i in 0..x.len() {
            assert_eq!(y.f[i], x.f[i] + 0.3 * n[i]);
        }
        assert_ne!(run(&gn, &[x.clone(), lp.clone()], 5), y);
        assert_eq!(grad(&gn, &[x.clone(), lp.clone()], &g.f, 4), g.f);
        // multiplicative
        let p = 0.2f64;
        let gd = op(
            "gaussian_dropout",
            &[("p", Attr::Float(p)), ("seed", Attr::Int(13))],
        );
        let std = (p / (1.0 - p)).sqrt() as f32;
        let y = run(&gd, &[x.clone(), lp.clone()], 4);
        let gin = grad(&gd, &[x.clone(), lp.clone()], &g.f, 4);
        for i in 0..x.len() {
            let m = n[i] * std + 1.0;
            assert_eq!(y.f[i], x.f[i] * m);
            assert_eq!(gin[i], g.f[i] * m);
        }
        for s in [&[5usize][..], &[3, 4], &[2, 3, 2]] {
            let x = rand(s, 9, -1.0, 1.0);
            grad_check(&gd, &[x.clone(), lp.clone()], 1e-2, 1e-3).unwrap();
            grad_check(&gn, &[x, lp.clone()], 1e-2, 1e-3).unwrap();
        }
        // test phase: identity both ways
        let test = Value::scalar(0.0);
        for o in [&gn, &gd] {
            assert_eq!(run(o, &[x.clone(), test.clone()], 4).f, x.f);
            assert_eq!(grad(o, &[x.clone(), test.clone()], &g.f, 4), g.f);
            assert!(o.is_random() && !o.has_grad(1));
        }
        // statistics on a large tensor
        let big = Value::from_f32(&[100_000], vec![1.0; 100_000]).unwrap();
        let y = run(&gd, &[big, lp.clone()], 0);
        let mean = y.f.iter().map(|&v| v as f64).sum::<f64>() / 1e5;
        let var = y.f.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 1e5;
        assert!(
            (mean - 1.0).abs() < 0.01 && (var - 0.25).abs() < 0.01,
            "{mean} {var}"
        );
        for (k, p) in [("p", 1.0), ("p", -0.5)] {
            let a = Attrs::new("gaussian_dropout")
                .with(k, Attr::Float(p))
                .with("seed", Attr::Int(1));
            assert!(matches!(
                crate::ops::build("gaussian_dropout", &a),
                Err(Error::Value(_))
            ));
        }
        let a = Attrs::new("gaussian_noise").with("seed", Attr::Int(1));
        assert!(crate::ops::build("gaussian_noise", &a)
            .unwrap_err()
            .to_string()
            .contains("sigma"));
    }

    #[test]
    fn random_tensors() {
        let shape = Attr::Ints(vec![300, 400]);
        let u = op(
            "random_uniform",
            &[
                ("shape", shape.clone()),
                ("low", Attr::Float(-2.0)),
                ("high", Attr::Float(3.0)),
                ("seed", Attr::Int(5)),
            ],
        );
        let y = run(&u, &[], 7);
        assert_eq!(y.shape, vec![300, 400]);
        let r = uniforms(5, 7, y.len());
        for i in 0..y.len() {
            assert_eq!(y.f[i], r[i] * 5.0 + -2.0);
        }
        assert!(y.f.iter().all(|&v| (-2.0..3.0).contains(&v)));
        let mean = y.f.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert_ne!(run(&u, &[], 8), y);

        let nrm = op(
            "random_normal",
            &[
                ("shape", shape.clone()),
                ("mean", Attr::Float(1.0)),
                ("std", Attr::Float(2.0)),
                ("seed", Attr::Int(5)),
            ],
        );
        let y = run(&nrm, &[], 7);
        let r = normals(5, 7, y.len());
        for i in 0..y.len() {
            assert_eq!(y.f[i], r[i] * 2.0 + 1.0);
        }
        let mean = y.f.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
        let var = y.f.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / y.len() as f64;
        assert!(
            (mean - 1.0).abs() < 0.02 && (var - 4.0).abs() < 0.05,
            "{mean} {var}"
        );

        let b = op(
            "random_binomial",
            &[
                ("shape", shape),
                ("p", Attr::Float(0.25)),
                ("seed", Attr::Int(5)),
            ],
        );
        let y = run(&b, &[], 7);
        assert!(y.f.iter().all(|&v| v == 0.0 || v == 1.0));
        let frac = y.f.iter().sum::<f32>() as f64 / y.len() as f64;
        assert!((frac - 0.25).abs() < 0.01, "{frac}");
        let r = uniforms(5, 7, y.len());
        assert!(y
            .f
            .iter()
            .zip(&r)
            .all(|(&v, &u)| v == (u < 0.25) as i32 as f32));
        // odd sizes, a scalar, defaults
        let y = run(
            &op(
                "random_normal",
                &[("shape", Attr::Ints(vec![3])), ("seed", Attr::Int(1))],
            ),
            &[],
            0,
        );
        assert_eq!(y.f, normals(1, 0, 3));
        let y = run(
            &op(
                "random_uniform",
                &[("shape", Attr::Ints(vec![])), ("seed", Attr::Int(1))],
            ),
            &[],
            0,
        );
        assert_eq!(y.f, uniforms(1, 0, 1));
        for name in ["random_uniform", "random_normal", "random_binomial"] {
            let o = op(
                name,
                &[("shape", Attr::Ints(vec![2])), ("seed", Attr::Int(1))],
            );
            assert!(o.is_random());
            assert!(o.infer(&[TypeInfo::f32(vec![])]).is_err());
            let a = Attrs::new(name)
                .with("shape", Attr::Ints(vec![-1, 3]))
                .with("seed", Attr::Int(1));
            assert!(matches!(crate::ops::build(name, &a), Err(Error::Value(_))));
            let a = Attrs::new(name)
                .with("shape", Attr::Ints(vec![1 << 40, 1 << 40]))
                .with("seed", Attr::Int(1));
            assert!(matches!(crate::ops::build(name, &a), Err(Error::Value(_))));
            let a = Attrs::new(name).with("shape", Attr::Ints(vec![2]));
            assert!(crate::ops::build(name, &a)
                .unwrap_err()
                .to_string()
                .contains("seed"));
        }
    }

    /// Tensors above the parallel threshold give the same bits on 1 and 2 threads, and
    /// the same bits as the serial reference generators.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (rows, cols) = (3 * PAR_MIN / 100 + 7, 100);
        let x = rand(&[rows, cols], 1, -1.0, 1.0);
        let g = rand(&[rows, cols], 2, -1.0, 1.0);
        let lp = Value::scalar(TRAIN);
        let ops: Vec<OpRef> = vec![
            dropout(0.3, 17),
            op(
                "dropout",
                &[
                    ("level", Attr::Float(0.3)),
                    ("seed", Attr::Int(17)),
                    ("noise_shape", Attr::Ints(vec![-1, 1])),
                ],
            ),
            op(
                "dropout",
                &[
                    ("level", Attr::Float(0.3)),
                    ("seed", Attr::Int(17)),
                    ("noise_shape", Attr::Ints(vec![1, -1])),
                ],
            ),
            op(
                "gaussian_noise",
                &[("sigma", Attr::Float(0.5)), ("seed", Attr::Int(17))],
            ),
            op(
                "gaussian_dropout",
                &[("p", Attr::Float(0.5)), ("seed", Attr::Int(17))],
            ),
        ];
        for o in &ops {
            let go = || {
                let y = run(o, &[x.clone(), lp.clone()], 3);
                (y.f, grad(o, &[x.clone(), lp.clone()], &g.f, 3))
            };
            let one = on_threads(1, go);
            let two = on_threads(2, go);
            assert!(one == two, "{} depends on the thread count", o.name());
        }
        // the big unshaped dropout equals the serial reference
        let y = on_threads(2, || run(&ops[0], &[x.clone(), lp.clone()], 3));
        let u = uniforms(17, 3, x.len());
        assert!((0..x.len()).all(|i| y.f[i] == if u[i] >= 0.3 { x.f[i] / 0.7 } else { 0.0 }));
        let y = on_threads(2, || run(&ops[3], &[x.clone(), lp.clone()], 3));
        let n = normals(17, 3, x.len());
        assert!((0..x.len()).all(|i| y.f[i] == x.f[i] + 0.5 * n[i]));
        for name in ["random_uniform", "random_normal", "random_binomial"] {
            let o = op(
                name,
                &[
                    ("shape", Attr::Ints(vec![rows as i64, cols as i64])),
                    ("seed", Attr::Int(2)),
                ],
            );
            let one = on_threads(1, || run(&o, &[], 1));
            let two = on_threads(2, || run(&o, &[], 1));
            assert_eq!(one, two, "{name}");
        }
    }

    /// Forward output and input gradient of `o` on rows `r0..r1` of `x` fed as a batch
    /// that starts at global row `r0`.
    fn shard(
        o: &OpRef,
        x: &Value,
        g: &Value,
        r0: usize,
        r1: usize,
        counter: u64,
    ) -> (Vec<f32>, Vec<f32>) {
        let row = x.len() / x.shape[0];
        let mut shape = x.shape.clone();
        shape[0] = r1 - r0;
        let xs = Value::from_f32(&shape, x.f[r0 * row..r1 * row].to_vec()).unwrap();
        let inputs = [xs, Value::scalar(TRAIN)];
        let mut sc = Scratch {
            counter,
            row: r0 as u64,
            ..Default::default()
        };
        let y = forward_with(o, &inputs, &mut sc).unwrap();
        let refs: Vec<&Value> = inputs.iter().collect();
        let gin = grad_with(o, 0, &refs, &y, &g.f[r0 * row..r1 * row], &mut sc);
        (y.f, gin)
    }

    #[test]
    fn shards_with_a_row_offset_draw_the_whole_batch_noise() {
        // Odd row lengths put shard starts off the Philox word and pair boundaries;
        // the last shape is large enough for the parallel kernels.
        let cases: Vec<(Vec<usize>, Option<Vec<i64>>)> = vec![
            (vec![7, 5], None),
            (vec![9, 3, 5], None),
            (vec![6, 4, 3], Some(vec![-1, 1, 3])),
            (vec![6, 4, 3], Some(vec![1, 4, 3])),
            (vec![5, 30_001], None),
        ];
        for (shape, ns) in cases {
            let x = rand(&shape, 3, -2.0, 2.0);
            let g = rand(&shape, 4, -1.0, 1.0);
            let mut ops = vec![match &ns {
                None => dropout(0.4, 21),
                Some(ns) => op(
                    "dropout",
                    &[
                        ("level", Attr::Float(0.4)),
                        ("seed", Attr::Int(21)),
                        ("noise_shape", Attr::Ints(ns.clone())),
                    ],
                ),
            }];
            if ns.is_none() {
                ops.push(op(
                    "gaussian_noise",
                    &[("sigma", Attr::Float(0.7)), ("seed", Attr::Int(22))],
                ));
                ops.push(op(
                    "gaussian_dropout",
                    &[("p", Attr::Float(0.3)), ("seed", Attr::Int(23))],
                ));
            }
            let n = shape[0];
            for o in &ops {
                let (y, gin) = shard(o, &x, &g, 0, n, 6);
                assert_eq!(y, run(o, &[x.clone(), Value::scalar(TRAIN)], 6).f);
                for cuts in [vec![0, 1, n], vec![0, 3, n], vec![0, 2, 3, n - 1, n]] {
                    let (mut ys, mut gs) = (Vec::new(), Vec::new());
                    for w in cuts.windows(2) {
                        let (a, b) = shard(o, &x, &g, w[0], w[1], 6);
                        ys.extend(a);
                        gs.extend(b);
                    }
                    let what = format!("{} {shape:?} {ns:?} cuts {cuts:?}", o.name());
                    assert!(ys == y, "forward of {what}");
                    assert!(gs == gin, "backward of {what}");
                }
                // Row 1 fed alone without its offset draws row 0's noise, not its own
                // (unless the mask is shared by all rows).
                let row = x.len() / n;
                let mut one = shape.clone();
                one[0] = 1;
                let x1 = Value::from_f32(&one, x.f[row..2 * row].to_vec()).unwrap();
                let plain = run(o, &[x1, Value::scalar(TRAIN)], 6).f;
                let shared = ns.as_ref().is_some_and(|v| v[0] == 1);
                assert_eq!(shard(o, &x, &g, 1, 2, 6).0 == plain, shared, "{}", o.name());
            }
        }
    }
}
