//! Fused recurrent sequence ops: `lstm_sequence`, `gru_sequence` and
//! `simple_rnn_sequence` (Keras 1 LSTM / GRU / SimpleRNN over a whole sequence).
//!
//! Inputs, in order (`G` gates: LSTM 4 in the order i, f, c, o; GRU 3 in the order
//! z, r, h; SimpleRNN 1):
//!
//! | # | input | shape |
//! |---|---|---|
//! | 0 | x | (B, T, D) |
//! | 1 | W | (D, G·U) |
//! | 2 | U | (U, G·U) |
//! | 3 | b | (G·U) |
//! | 4 | h0 | (B, U) |
//! | 5 | c0 (LSTM only) | (B, U) |
//! | last, optional | mask | (B, T), nonzero = real step (float, bool or int) |
//!
//! Attributes: `activation` (default `"tanh"`), `inner_activation` (LSTM/GRU, default
//! `"hard_sigmoid"`), `go_backwards` (default false), `return_state` (LSTM only, default
//! false).
//!
//! Output: the hidden state after each processed step, (B, T, U), in processing order
//! (reversed time when `go_backwards`, as Keras 1 returns it). Masked steps copy the
//! previous hidden state (and cell state) forward, so the last output step is always the
//! final hidden state. With `return_state` the LSTM output is (B, T + 1, U) and its extra
//! last step is the final cell state (what a stateful LSTM stores).
//!
//! Forward: the input projection of all timesteps is ONE gemm over the time-major copy
//! of x; each step is one gemm (two for GRU: Keras 1's candidate uses (r ⊙ h)·U_h) and a
//! fused pass of gate math. Activated gates, states and the time-major input live in the
//! node's scratch. Backward (BPTT) runs once per output gradient (it is cached under a
//! hash of the gradient, since the executor asks for one input gradient at a time) and
//! leaves the pre-activation gradients of all steps in scratch, from which the weight
//! gradients are large gemms over all T·B rows.

use std::sync::Arc;

use super::{expect_float, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::gemm::{n as nop, sgemm, t as top};
use crate::kernels::simd;
use crate::tensor::{fmt_shape, DType, Dim, Value};
use crate::{Error, Result};

/// An activation usable inside a cell, with its derivative expressed through its output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Tanh,
    Sigmoid,
    HardSigmoid,
    Relu,
    Linear,
    Softsign,
    Softplus,
    Elu,
}

impl Act {
    fn parse(op: &str, s: &str) -> Result<Act> {
        Ok(match s {
            "tanh" => Act::Tanh,
            "sigmoid" => Act::Sigmoid,
            "hard_sigmoid" => Act::HardSigmoid,
            "relu" => Act::Relu,
            "linear" => Act::Linear,
            "softsign" => Act::Softsign,
            "softplus" => Act::Softplus,
            "elu" => Act::Elu,
            _ => {
                return Err(Error::Value(format!(
                    "{op}: unsupported activation '{s}' (tanh, sigmoid, hard_sigmoid, relu, linear, softsign, softplus, elu)"
                )))
            }
        })
    }

    #[inline(always)]
    fn f(self, x: f32) -> f32 {
        match self {
            Act::Tanh => simd::tanh(x),
            Act::Sigmoid => simd::sigmoid(x),
            Act::HardSigmoid => (0.2 * x + 0.5).clamp(0.0, 1.0),
            Act::Relu => x.max(0.0),
            Act::Linear => x,
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Softplus => {
                // log(1 + e^x), stable
                x.max(0.0) + (1.0 + simd::exp(-x.abs())).ln()
            }
            Act::Elu => {
                if x > 0.0 {
                    x
                } else {
                    simd::exp(x) - 1.0
                }
            }
        }
    }

    /// Derivative at the point whose output is `y`.
    #[inline(always)]
    fn d(self, y: f32) -> f32 {
        match self {
            Act::Tanh => 1.0 - y * y,
            Act::Sigmoid => y * (1.0 - y),
            Act::HardSigmoid => {
                if y > 0.0 && y < 1.0 {
                    0.2
                } else {
                    0.0
                }
            }
            Act::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::Linear => 1.0,
            Act::Softsign => {
                let s = 1.0 - y.abs();
                s * s
            }
            Act::Softplus => 1.0 - simd::exp(-y),
            Act::Elu => {
                if y > 0.0 {
                    1.0
                } else {
                    y + 1.0
                }
            }
        }
    }
}

/// Cell type of a sequence op.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Lstm,
    Gru,
    Rnn,
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Rnn => 1,
        }
    }
    /// Inputs without the optional mask.
    fn base_inputs(self) -> usize {
        match self {
            Cell::Lstm => 6,
            _ => 5,
        }
    }
}

/// A fused recurrent layer over a whole sequence (see the module docs).
#[derive(Debug)]
pub struct RnnSequence {
    name: &'static str,
    cell: Cell,
    act: Act,
    inner: Act,
    go_backwards: bool,
    return_state: bool,
}

/// Concrete sizes of one call.
#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    t: usize,
    d: usize,
    u: usize,
    g: usize,
    /// Output time steps (T, or T + 1 with `return_state`).
    tout: usize,
    masked: bool,
}

/// Scratch regions, in order. Forward regions first so a predict-only Program never
/// sizes the backward ones.
// xt: T*B*D   time-major input (processing order)
// z: T*B*G*U activated gates (GRU: z, r, hh; RNN: h)
// h: (T+1)*B*U hidden states, h[0] = h0
// c: (T+1)*B*U cell states (LSTM)
// tc: T*B*U act(c) (LSTM)
// m: T*B mask (1 = real step)
// rec: B*G*U recurrent gemm output
// rh: T*B*U r*h (GRU)
// uzr: U*2U (GRU)
// uh: U*U (GRU)
const FWD_REGIONS: usize = 10;
// dz: T*B*G*U pre-activation gradients
// dh: B*U carry
// dc: B*U carry (LSTM)
// tmp: max(B, U)*G*U (per-step gemm output; GRU dU blocks)
// dzzr: T*B*2U (GRU)
// dzh: T*B*U (GRU)
// dx: T*B*D
// drh: B*U (GRU)
const NREG: usize = 18;

impl Dims {
    fn sizes(&self, cell: Cell) -> [usize; NREG] {
        let (b, t, d, u, g) = (self.b, self.t, self.d, self.u, self.g);
        let lstm = cell == Cell::Lstm;
        let gru = cell == Cell::Gru;
        let iff = |c: bool, n: usize| if c { n } else { 0 };
        [
            t * b * d,
            t * b * g * u,
            (t + 1) * b * u,
            iff(lstm, (t + 1) * b * u),
            iff(lstm, t * b * u),
            t * b,
            b * g * u,
            iff(gru, t * b * u),
            iff(gru, u * 2 * u),
            iff(gru, u * u),
            t * b * g * u,
            b * u,
            iff(lstm, b * u),
            b.max(u) * g * u,
            iff(gru, t * b * 2 * u),
            iff(gru, t * b * u),
            t * b * d,
            iff(gru, b * u),
        ]
    }
}

/// Splits `buf` into consecutive regions of the given sizes.
fn carve<const N: usize>(buf: &mut [f32], sizes: [usize; N]) -> [&mut [f32]; N] {
    let mut rest = buf;
    std::array::from_fn(|i| {
        let (a, r) = std::mem::take(&mut rest).split_at_mut(sizes[i]);
        rest = r;
        a
    })
}

/// Hash of a gradient buffer (identifies the sweep a cached BPTT belongs to).
fn hash(g: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ g.len() as u64;
    for &x in g {
        h = (h ^ x.to_bits() as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl RnnSequence {
    fn dims(&self, inputs: &[&Value]) -> Dims {
        let x = &inputs[0].shape;
        let u = inputs[2].shape[0];
        let t = x[1];
        Dims {
            b: x[0],
            t,
            d: x[2],
            u,
            g: self.cell.gates(),
            tout: t + usize::from(self.return_state),
            masked: inputs.len() > self.cell.base_inputs(),
        }
    }

    /// Time index of processing step `s`.
    fn time(&self, s: usize, t: usize) -> usize {
        if self.go_backwards {
            t - 1 - s
        } else {
            s
        }
    }

    fn shape_err(&self, what: &str, inputs: &[TypeInfo]) -> Error {
        let shapes: Vec<String> = inputs.iter().map(|t| fmt_shape(&t.shape)).collect();
        Error::Shape(format!(
            "{}: {what} (inputs x, W, U, b, h0{}[, mask] have shapes {})",
            self.name,
            if self.cell == Cell::Lstm { ", c0" } else { "" },
            shapes.join(", ")
        ))
    }

    /// Runs the BPTT for output gradient `gout`, leaving dZ, dh0 (and dc0) in scratch.
    fn bptt(&self, inputs: &[&Value], gout: &[f32], ctx: &mut OpCtx) {
        let dm = self.dims(inputs);
        let Dims {
            b, t, u, g, tout, ..
        } = dm;
        let gu = g * u;
        let sizes = dm.sizes(self.cell);
        let total: usize = sizes.iter().sum();
        let sc = &mut *ctx.scratch;
        if sc.f.len() < total {
            sc.f.resize(total, 0.0);
        }
        let r = carve(&mut sc.f, sizes);
        let [_, z, h, c, tc, m, _, rh, uzr, uh, dz, dh, dc, tmp, dzzr, dzh, _, drh] = r;
        let uw = &inputs[2].f;
        dh.fill(0.0);
        dc.fill(0.0);
        if self.return_state && self.cell == Cell::Lstm {
            for bi in 0..b {
                let o = (bi * tout + t) * u;
                dc[bi * u..(bi + 1) * u].copy_from_slice(&gout[o..o + u]);
            }
        }
        for s in (0..t).rev() {
            // dh += gout at this output step
            for bi in 0..b {
                let o = (bi * tout + s) * u;
                for (d, &gg) in dh[bi * u..(bi + 1) * u].iter_mut().zip(&gout[o..o + u]) {
                    *d += gg;
                }
            }
            let dzs = &mut dz[s * b * gu..(s + 1) * b * gu];
            let zs = &z[s * b * gu..(s + 1) * b * gu];
            let hp = &h[s * b * u..(s + 1) * b * u];
            let ms = &m[s * b..(s + 1) * b];
            match self.cell {
                Cell::Lstm => {
                    let cp = &c[s * b * u..(s + 1) * b * u];
                    let tcs = &tc[s * b * u..(s + 1) * b * u];
                    for bi in 0..b {
                        let row = &mut dzs[bi * gu..(bi + 1) * gu];
                        if ms[bi] == 0.0 {
                            row.fill(0.0);
                            continue;
                        }
                        let zr = &zs[bi * gu..(bi + 1) * gu];
                        let (di, rest) = row.split_at_mut(u);
                        let (df, rest) = rest.split_at_mut(u);
                        let (dg, dout) = rest.split_at_mut(u);
                        let dhr = &dh[bi * u..(bi + 1) * u];
                        let dcr = &mut dc[bi * u..(bi + 1) * u];
                        let tcr = &tcs[bi * u..(bi + 1) * u];
                        let cpr = &cp[bi * u..(bi + 1) * u];
                        for k in 0..u {
                            let (i, f, gg, o) = (zr[k], zr[u + k], zr[2 * u + k], zr[3 * u + k]);
                            let dhk = dhr[k];
                            let tck = tcr[k];
                            let dct = dcr[k] + dhk * o * self.act.d(tck);
                            dout[k] = dhk * tck * self.inner.d(o);
                            di[k] = dct * gg * self.inner.d(i);
                            dg[k] = dct * i * self.act.d(gg);
                            df[k] = dct * cpr[k] * self.inner.d(f);
                            dcr[k] = dct * f;
                        }
                    }
                    // dh_prev = dz · U^T (+ dh for masked rows)
                    sgemm(b, u, gu, nop(dzs), top(uw), tmp, false);
                    for bi in 0..b {
                        let dr = &mut dh[bi * u..(bi + 1) * u];
                        if ms[bi] != 0.0 {
                            dr.copy_from_slice(&tmp[bi * u..(bi + 1) * u]);
                        }
                    }
                }
                Cell::Rnn => {
                    for bi in 0..b {
                        let row = &mut dzs[bi * u..(bi + 1) * u];
                        if ms[bi] == 0.0 {
                            row.fill(0.0);
                            continue;
                        }
                        for k in 0..u {
                            row[k] = dh[bi * u + k] * self.act.d(zs[bi * u + k]);
                        }
                    }
                    sgemm(b, u, u, nop(dzs), top(uw), tmp, false);
                    for bi in 0..b {
                        if ms[bi] != 0.0 {
                            dh[bi * u..(bi + 1) * u].copy_from_slice(&tmp[bi * u..(bi + 1) * u]);
                        }
                    }
                }
                Cell::Gru => {
                    // pass 1: dz (update gate) and d pre_h
                    for bi in 0..b {
                        let row = &mut dzs[bi * gu..(bi + 1) * gu];
                        if ms[bi] == 0.0 {
                            row.fill(0.0);
                            continue;
                        }
                        let zr = &zs[bi * gu..(bi + 1) * gu];
                        for k in 0..u {
                            let (zz, hh) = (zr[k], zr[2 * u + k]);
                            let dhk = dh[bi * u + k];
                            row[k] = dhk * (hp[bi * u + k] - hh) * self.inner.d(zz);
                            row[2 * u + k] = dhk * (1.0 - zz) * self.act.d(hh);
                            row[u + k] = 0.0;
                        }
                    }
                    // d(r*h) = dpre_h · Uh^T
                    let dzh_s = &mut dzh[s * b * u..(s + 1) * b * u];
                    for bi in 0..b {
                        dzh_s[bi * u..(bi + 1) * u]
                            .copy_from_slice(&dzs[bi * gu + 2 * u..(bi + 1) * gu]);
                    }
                    sgemm(b, u, u, nop(dzh_s), top(uh), drh, false);
                    // pass 2: dr, and the direct terms of dh_prev
                    for bi in 0..b {
                        if ms[bi] == 0.0 {
                            continue;
                        }
                        let zr = &zs[bi * gu..(bi + 1) * gu];
                        for k in 0..u {
                            let rr = zr[u + k];
                            let drhk = drh[bi * u + k];
                            dzs[bi * gu + u + k] = drhk * hp[bi * u + k] * self.inner.d(rr);
                        }
                    }
                    let dzzr_s = &mut dzzr[s * b * 2 * u..(s + 1) * b * 2 * u];
                    for bi in 0..b {
                        dzzr_s[bi * 2 * u..(bi + 1) * 2 * u]
                            .copy_from_slice(&dzs[bi * gu..bi * gu + 2 * u]);
                    }
                    sgemm(b, u, 2 * u, nop(dzzr_s), top(uzr), tmp, false);
                    for bi in 0..b {
                        if ms[bi] == 0.0 {
                            continue;
                        }
                        let zr = &zs[bi * gu..(bi + 1) * gu];
                        for k in 0..u {
                            let i = bi * u + k;
                            dh[i] = tmp[i] + dh[i] * zr[k] + drh[i] * zr[u + k];
                        }
                    }
                    let _ = &rh;
                }
            }
        }
        // dh now holds dh0, dc holds dc0.
        let key = hash(gout);
        sc.i.resize(3, 0);
        sc.i[0] = 1;
        sc.i[1] = key as u32 as i32;
        sc.i[2] = (key >> 32) as u32 as i32;
    }
}

impl Op for RnnSequence {
    fn name(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let nb = self.cell.base_inputs();
        if inputs.len() != nb && inputs.len() != nb + 1 {
            return Err(Error::Value(format!(
                "{} takes {nb} inputs (or {} with a mask), got {}",
                self.name,
                nb + 1,
                inputs.len()
            )));
        }
        for t in &inputs[..nb] {
            expect_float(self.name, t)?;
        }
        let s = |i: usize| &inputs[i].shape;
        let ranks = [3usize, 2, 2, 1, 2, 2];
        for (t, &rank) in inputs.iter().zip(&ranks[..nb]) {
            if t.shape.len() != rank {
                return Err(self.shape_err("wrong rank", inputs));
            }
        }
        let eq = |a: Dim, b: Dim| !matches!((a, b), (Some(x), Some(y)) if x != y);
        let g = self.cell.gates();
        let (x, w, uu) = (s(0), s(1), s(2));
        let units = uu[0];
        let gu = units.map(|v| v * g);
        let ok = eq(x[2], w[0])
            && eq(w[1], gu)
            && eq(uu[1], gu)
            && eq(s(3)[0], gu)
            && eq(s(4)[0], x[0])
            && eq(s(4)[1], units)
            && (self.cell != Cell::Lstm || (eq(s(5)[0], x[0]) && eq(s(5)[1], units)));
        if !ok {
            return Err(self.shape_err("incompatible shapes", inputs));
        }
        if inputs.len() > nb {
            let mk = s(nb);
            if mk.len() != 2 || !eq(mk[0], x[0]) || !eq(mk[1], x[1]) {
                return Err(self.shape_err("the mask must be (batch, timesteps)", inputs));
            }
        }
        if x[1] == Some(0) {
            return Err(self.shape_err("the sequence has no timesteps", inputs));
        }
        let tout = x[1].map(|t| t + usize::from(self.return_state));
        Ok(TypeInfo::f32(vec![x[0].or(s(4)[0]), tout, units]))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()> {
        let dm = self.dims(inputs);
        let Dims {
            b,
            t,
            d,
            u,
            g,
            tout,
            masked,
        } = dm;
        let gu = g * u;
        let sizes = dm.sizes(self.cell);
        let fwd_total: usize = sizes[..FWD_REGIONS].iter().sum();
        let sc = &mut *ctx.scratch;
        if sc.f.len() < fwd_total {
            sc.f.resize(fwd_total, 0.0);
        }
        if !sc.i.is_empty() {
            sc.i[0] = 0; // invalidate a cached BPTT
        }
        let mut fsizes = [0usize; FWD_REGIONS];
        fsizes.copy_from_slice(&sizes[..FWD_REGIONS]);
        let [xt, z, h, c, tc, m, rec, rh, uzr, uh] = carve(&mut sc.f, fsizes);
        let (x, w, uw, bias) = (&inputs[0].f, &inputs[1].f, &inputs[2].f, &inputs[3].f);
        // time-major copy of x (processing order) and of the mask
        for s in 0..t {
            let ti = self.time(s, t);
            for bi in 0..b {
                let src = (bi * t + ti) * d;
                xt[(s * b + bi) * d..(s * b + bi + 1) * d].copy_from_slice(&x[src..src + d]);
            }
        }
        if masked {
            let mv = inputs[inputs.len() - 1];
            for s in 0..t {
                let ti = self.time(s, t);
                for bi in 0..b {
                    let on = if mv.dt() == DType::I32 {
                        mv.i[bi * t + ti] != 0
                    } else {
                        mv.f[bi * t + ti] != 0.0
                    };
                    m[s * b + bi] = if on { 1.0 } else { 0.0 };
                }
            }
        } else {
            m.fill(1.0);
        }
        // input projection for all steps, plus bias
        sgemm(t * b, gu, d, nop(xt), nop(w), z, false);
        for row in z.chunks_exact_mut(gu) {
            for (v, &bb) in row.iter_mut().zip(bias.iter()) {
                *v += bb;
            }
        }
        h[..b * u].copy_from_slice(&inputs[4].f);
        if self.cell == Cell::Lstm {
            c[..b * u].copy_from_slice(&inputs[5].f);
        }
        if self.cell == Cell::Gru {
            for k in 0..u {
                uzr[k * 2 * u..(k + 1) * 2 * u].copy_from_slice(&uw[k * gu..k * gu + 2 * u]);
                uh[k * u..(k + 1) * u].copy_from_slice(&uw[k * gu + 2 * u..(k + 1) * gu]);
            }
        }
        for s in 0..t {
            let (hprev, hnext) = h[s * b * u..(s + 2) * b * u].split_at_mut(b * u);
            let zs = &mut z[s * b * gu..(s + 1) * b * gu];
            let ms = &m[s * b..(s + 1) * b];
            match self.cell {
                Cell::Lstm => {
                    sgemm(b, gu, u, nop(hprev), nop(uw), rec, false);
                    let (cprev, cnext) = c[s * b * u..(s + 2) * b * u].split_at_mut(b * u);
                    let tcs = &mut tc[s * b * u..(s + 1) * b * u];
                    for bi in 0..b {
                        let zr = &mut zs[bi * gu..(bi + 1) * gu];
                        let rr = &rec[bi * gu..(bi + 1) * gu];
                        for (v, &q) in zr.iter_mut().zip(rr) {
                            *v += q;
                        }
                        let on = ms[bi] != 0.0;
                        for k in 0..u {
                            let i = self.inner.f(zr[k]);
                            let f = self.inner.f(zr[u + k]);
                            let gg = self.act.f(zr[2 * u + k]);
                            let o = self.inner.f(zr[3 * u + k]);
                            zr[k] = i;
                            zr[u + k] = f;
                            zr[2 * u + k] = gg;
                            zr[3 * u + k] = o;
                            let j = bi * u + k;
                            if on {
                                let cn = f * cprev[j] + i * gg;
                                let tcn = self.act.f(cn);
                                cnext[j] = cn;
                                tcs[j] = tcn;
                                hnext[j] = o * tcn;
                            } else {
                                cnext[j] = cprev[j];
                                tcs[j] = 0.0;
                                hnext[j] = hprev[j];
                            }
                        }
                    }
                }
                Cell::Rnn => {
                    sgemm(b, u, u, nop(hprev), nop(uw), rec, false);
                    for (bi, &mb) in ms.iter().enumerate() {
                        let on = mb != 0.0;
                        for k in 0..u {
                            let j = bi * u + k;
                            let y = self.act.f(zs[j] + rec[j]);
                            zs[j] = y;
                            hnext[j] = if on { y } else { hprev[j] };
                        }
                    }
                }
                Cell::Gru => {
                    let rec2 = &mut rec[..b * 2 * u];
                    sgemm(b, 2 * u, u, nop(hprev), nop(uzr), rec2, false);
                    let rhs = &mut rh[s * b * u..(s + 1) * b * u];
                    for bi in 0..b {
                        let zr = &mut zs[bi * gu..(bi + 1) * gu];
                        for k in 0..u {
                            let zz = self.inner.f(zr[k] + rec2[bi * 2 * u + k]);
                            let rr = self.inner.f(zr[u + k] + rec2[bi * 2 * u + u + k]);
                            zr[k] = zz;
                            zr[u + k] = rr;
                            rhs[bi * u + k] = rr * hprev[bi * u + k];
                        }
                    }
                    let rech = &mut rec[..b * u];
                    sgemm(b, u, u, nop(rhs), nop(uh), rech, false);
                    for bi in 0..b {
                        let on = ms[bi] != 0.0;
                        let zr = &mut zs[bi * gu..(bi + 1) * gu];
                        for k in 0..u {
                            let j = bi * u + k;
                            let hh = self.act.f(zr[2 * u + k] + rech[j]);
                            zr[2 * u + k] = hh;
                            let zz = zr[k];
                            hnext[j] = if on {
                                zz * hprev[j] + (1.0 - zz) * hh
                            } else {
                                hprev[j]
                            };
                        }
                    }
                }
            }
        }
        // output (B, Tout, U)
        let o = &mut out.f;
        for s in 0..t {
            for bi in 0..b {
                let src = ((s + 1) * b + bi) * u;
                let dst = (bi * tout + s) * u;
                o[dst..dst + u].copy_from_slice(&h[src..src + u]);
            }
        }
        if self.return_state && self.cell == Cell::Lstm {
            for bi in 0..b {
                let src = (t * b + bi) * u;
                let dst = (bi * tout + t) * u;
                o[dst..dst + u].copy_from_slice(&c[src..src + u]);
            }
        }
        Ok(())
    }

    fn backward(
        &self,
        index: usize,
        inputs: &[&Value],
        _out: &Value,
        gout: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let fresh = {
            let i = &ctx.scratch.i;
            i.len() >= 3 && i[0] == 1 && {
                let key = hash(gout);
                i[1] == key as u32 as i32 && i[2] == (key >> 32) as u32 as i32
            }
        };
        if !fresh {
            self.bptt(inputs, gout, ctx);
        }
        let dm = self.dims(inputs);
        let Dims { b, t, d, u, g, .. } = dm;
        let gu = g * u;
        let sizes = dm.sizes(self.cell);
        let r = carve(&mut ctx.scratch.f, sizes);
        let [xt, _, h, _, _, _, _, rh, _, _, dz, dh, dc, tmp, dzzr, dzh, dx, _] = r;
        match index {
            0 => {
                sgemm(t * b, d, gu, nop(dz), top(&inputs[1].f), dx, false);
                for s in 0..t {
                    let ti = self.time(s, t);
                    for bi in 0..b {
                        let dst = (bi * t + ti) * d;
                        let src = (s * b + bi) * d;
                        for (a, &v) in gin[dst..dst + d].iter_mut().zip(&dx[src..src + d]) {
                            *a += v;
                        }
                    }
                }
            }
            1 => sgemm(d, gu, t * b, top(xt), nop(dz), gin, true),
            2 => {
                if self.cell == Cell::Gru {
                    let hp = &h[..t * b * u];
                    let tzr = &mut tmp[..u * 2 * u];
                    sgemm(u, 2 * u, t * b, top(hp), nop(dzzr), tzr, false);
                    for k in 0..u {
                        for (a, &v) in gin[k * gu..k * gu + 2 * u]
                            .iter_mut()
                            .zip(&tzr[k * 2 * u..(k + 1) * 2 * u])
                        {
                            *a += v;
                        }
                    }
                    let th = &mut tmp[..u * u];
                    sgemm(u, u, t * b, top(rh), nop(dzh), th, false);
                    for k in 0..u {
                        for (a, &v) in gin[k * gu + 2 * u..(k + 1) * gu]
                            .iter_mut()
                            .zip(&th[k * u..(k + 1) * u])
                        {
                            *a += v;
                        }
                    }
                } else {
                    sgemm(u, gu, t * b, top(&h[..t * b * u]), nop(dz), gin, true);
                }
            }
            3 => {
                for row in dz.chunks_exact(gu) {
                    for (a, &v) in gin.iter_mut().zip(row) {
                        *a += v;
                    }
                }
            }
            4 => {
                for (a, &v) in gin.iter_mut().zip(dh.iter()) {
                    *a += v;
                }
            }
            5 if self.cell == Cell::Lstm => {
                for (a, &v) in gin.iter_mut().zip(dc.iter()) {
                    *a += v;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn has_grad(&self, index: usize) -> bool {
        index < self.cell.base_inputs()
    }
}

/// Registry entry for this family.
pub fn build(name: &str, a: &Attrs) -> Option<Result<OpRef>> {
    let (cell, name) = match name {
        "lstm_sequence" => (Cell::Lstm, "lstm_sequence"),
        "gru_sequence" => (Cell::Gru, "gru_sequence"),
        "simple_rnn_sequence" => (Cell::Rnn, "simple_rnn_sequence"),
        _ => return None,
    };
    Some((|| {
        let act = Act::parse(
            name,
            &a.str_opt("activation")?.unwrap_or_else(|| "tanh".into()),
        )?;
        let inner = if cell == Cell::Rnn {
            Act::Linear
        } else {
            Act::parse(
                name,
                &a.str_opt("inner_activation")?
                    .unwrap_or_else(|| "hard_sigmoid".into()),
            )?
        };
        let go_backwards = a.bool("go_backwards", false)?;
        let return_state = if cell == Cell::Lstm {
            a.bool("return_state", false)?
        } else {
            false
        };
        Ok(Arc::new(RnnSequence {
            name,
            cell,
            act,
            inner,
            go_backwards,
            return_state,
        }) as OpRef)
    })())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::Attr;
    use crate::tensor::Value;

    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    fn hsig(x: f64) -> f64 {
        (0.2 * x + 0.5).clamp(0.0, 1.0)
    }

    /// Naive step-by-step reference in f64. `inner` picks sigmoid or hard_sigmoid.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        cell: &str,
        ins: &[Value],
        hard: bool,
        back: bool,
        return_state: bool,
    ) -> Vec<f32> {
        let inner = |x: f64| if hard { hsig(x) } else { sig(x) };
        let x = &ins[0];
        let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2]);
        let u = ins[2].shape[0];
        let g = ins[1].shape[1] / u;
        let w = |i: usize, j: usize| ins[1].f[i * g * u + j] as f64;
        let uu = |i: usize, j: usize| ins[2].f[i * g * u + j] as f64;
        let bias = |j: usize| ins[3].f[j] as f64;
        let nb = if cell == "lstm" { 6 } else { 5 };
        let mask = ins.get(nb);
        let tout = t + usize::from(return_state);
        let mut out = vec![0.0f32; b * tout * u];
        for bi in 0..b {
            let mut h: Vec<f64> = (0..u).map(|k| ins[4].f[bi * u + k] as f64).collect();
            let mut c: Vec<f64> = if cell == "lstm" {
                (0..u).map(|k| ins[5].f[bi * u + k] as f64).collect()
            } else {
                vec![]
            };
            for s in 0..t {
                let ti = if back { t - 1 - s } else { s };
                let on = mask.map(|m| m.f[bi * t + ti] != 0.0).unwrap_or(true);
                let xv = |i: usize| x.f[(bi * t + ti) * d + i] as f64;
                let pre = |j: usize, hv: &[f64]| {
                    let mut s = bias(j);
                    for i in 0..d {
                        s += xv(i) * w(i, j);
                    }
                    for (i, &hh) in hv.iter().enumerate() {
                        s += hh * uu(i, j);
                    }
                    s
                };
                if on {
                    match cell {
                        "lstm" => {
                            let mut nh = vec![0.0; u];
                            let mut nc = vec![0.0; u];
                            for k in 0..u {
                                let i = inner(pre(k, &h));
                                let f = inner(pre(u + k, &h));
                                let gg = pre(2 * u + k, &h).tanh();
                                let o = inner(pre(3 * u + k, &h));
                                nc[k] = f * c[k] + i * gg;
                                nh[k] = o * nc[k].tanh();
                            }
                            h = nh;
                            c = nc;
                        }
                        "gru" => {
                            let mut zz = vec![0.0; u];
                            let mut rh = vec![0.0; u];
                            for k in 0..u {
                                zz[k] = inner(pre(k, &h));
                                rh[k] = inner(pre(u + k, &h)) * h[k];
                            }
                            let mut nh = vec![0.0; u];
                            for k in 0..u {
                                let mut s = bias(2 * u + k);
                                for i in 0..d {
                                    s += xv(i) * w(i, 2 * u + k);
                                }
                                for (i, &r) in rh.iter().enumerate() {
                                    s += r * uu(i, 2 * u + k);
                                }
                                nh[k] = zz[k] * h[k] + (1.0 - zz[k]) * s.tanh();
                            }
                            h = nh;
                        }
                        _ => {
                            h = (0..u).map(|k| pre(k, &h).tanh()).collect();
                        }
                    }
                }
                for k in 0..u {
                    out[(bi * tout + s) * u + k] = h[k] as f32;
                }
            }
            if return_state {
                for k in 0..u {
                    out[(bi * tout + t) * u + k] = c[k] as f32;
                }
            }
        }
        out
    }

    fn inputs(cell: &str, b: usize, t: usize, d: usize, u: usize, masked: bool) -> Vec<Value> {
        let g = match cell {
            "lstm" => 4,
            "gru" => 3,
            _ => 1,
        };
        let mut v = vec![
            rand(&[b, t, d], 1, -1.0, 1.0),
            rand(&[d, g * u], 2, -0.8, 0.8),
            rand(&[u, g * u], 3, -0.8, 0.8),
            rand(&[g * u], 4, -0.5, 0.5),
            rand(&[b, u], 5, -0.5, 0.5),
        ];
        if cell == "lstm" {
            v.push(rand(&[b, u], 6, -0.5, 0.5));
        }
        if masked {
            // row 0 fully on, row 1 with leading padding, row 2 with a hole and padding
            let mut m = vec![1.0f32; b * t];
            if b > 1 {
                m[t] = 0.0;
                m[t + 1] = 0.0;
            }
            if b > 2 {
                m[2 * t + 1] = 0.0;
                m[3 * t - 1] = 0.0;
            }
            v.push(val(&[b, t], &m));
        }
        v
    }

    fn opname(cell: &str) -> &'static str {
        match cell {
            "lstm" => "lstm_sequence",
            "gru" => "gru_sequence",
            _ => "simple_rnn_sequence",
        }
    }

    #[test]
    fn forward_matches_naive_reference() {
        for cell in ["lstm", "gru", "rnn"] {
            for masked in [false, true] {
                for back in [false, true] {
                    for hard in [false, true] {
                        let ins = inputs(cell, 3, 5, 4, 3, masked);
                        let mut attrs = vec![("go_backwards", Attr::Bool(back))];
                        if cell != "rnn" {
                            let ia = if hard { "hard_sigmoid" } else { "sigmoid" };
                            attrs.push(("inner_activation", Attr::Str(ia.into())));
                        }
                        let o = op(opname(cell), &attrs);
                        let y = forward(&o, &ins);
                        let want = reference(cell, &ins, hard && cell != "rnn", back, false);
                        assert_close(&y.f, &want, 1e-5);
                    }
                }
            }
        }
    }

    #[test]
    fn lstm_return_state_appends_the_cell_state() {
        let ins = inputs("lstm", 2, 4, 3, 2, true);
        let o = op("lstm_sequence", &[("return_state", Attr::Bool(true))]);
        let y = forward(&o, &ins);
        assert_eq!(y.shape, vec![2, 5, 2]);
        assert_close(&y.f, &reference("lstm", &ins, true, false, true), 1e-5);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for cell in ["lstm", "gru", "rnn"] {
            for masked in [false, true] {
                for back in [false, true] {
                    let ins = inputs(cell, 3, 4, 3, 2, masked);
                    let mut attrs = vec![("go_backwards", Attr::Bool(back))];
                    if cell != "rnn" {
                        attrs.push(("inner_activation", Attr::Str("sigmoid".into())));
                    }
                    // batch smaller than units
                    let small = inputs(cell, 1, 3, 2, 3, false);
                    grad_check(&op(opname(cell), &attrs), &small, 1e-2, 2e-2)
                        .unwrap_or_else(|e| panic!("{cell} B<U: {e}"));
                    if cell == "lstm" {
                        attrs.push(("return_state", Attr::Bool(true)));
                    }
                    let o = op(opname(cell), &attrs);
                    grad_check(&o, &ins, 1e-2, 2e-2)
                        .unwrap_or_else(|e| panic!("{cell} masked={masked} back={back}: {e}"));
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        use crate::ops::TypeInfo;
        use crate::tensor::known;
        let o = op("lstm_sequence", &[]);
        let t = |s: &[usize]| TypeInfo::f32(known(s));
        let ok = [
            t(&[2, 3, 4]),
            t(&[4, 8]),
            t(&[2, 8]),
            t(&[8]),
            t(&[2, 2]),
            t(&[2, 2]),
        ];
        assert!(o.infer(&ok).is_ok());
        let mut bad = ok.clone();
        bad[1] = t(&[5, 8]);
        assert!(o.infer(&bad).is_err());
        assert!(o.infer(&ok[..4]).is_err());
        let mut bad = ok.to_vec();
        bad[0] = t(&[2, 4]);
        assert!(o.infer(&bad).is_err());
        let mut a = crate::ops::Attrs::new("lstm_sequence");
        a.set("activation", Attr::Str("nope".into()));
        assert!(crate::ops::build("lstm_sequence", &a).is_err());
    }
}
