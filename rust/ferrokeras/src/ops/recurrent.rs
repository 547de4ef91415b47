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
//! | next, with `recurrent_dropout` | recurrent dropout mask | (B, G·U) |
//! | last, optional | mask | (B, T), nonzero = real step (float, bool or int) |
//!
//! Attributes: `activation` (default `"tanh"`), `inner_activation` (LSTM/GRU, default
//! `"hard_sigmoid"`), `go_backwards` (default false), `return_state` (LSTM only, default
//! false), `recurrent_dropout` (default false).
//!
//! Output: the hidden state after each processed step, (B, T, U), in processing order
//! (reversed time when `go_backwards`, as Keras 1 returns it). Masked steps copy the
//! previous hidden state (and cell state) forward, so the last output step is always the
//! final hidden state. With `return_state` the LSTM output is (B, T + 1, U) and its extra
//! last step is the final cell state (what a stateful LSTM stores).
//!
//! Recurrent dropout (Keras 1 `dropout_U`): column block `g` of the mask multiplies
//! h_{t-1} before its product with U_g at every step (for GRU's candidate: r ⊙ h_{t-1} ⊙
//! mask_h, as Keras 1). The mask is an input, drawn by the caller once per batch; a
//! shared Keras 1 'gpu' mask is the same block repeated. The mask is not differentiated.
//!
//! Forward: the input projection of all timesteps is ONE gemm over the time-major copy
//! of x; each step is one gemm (two for GRU: Keras 1's candidate uses (r ⊙ h)·U_h; one
//! per gate with recurrent dropout) and vectorised passes of gate math. Activated gates,
//! states and the time-major input live in the node's scratch. The recurrent weights
//! are packed for the gemm kernels once per call ([`pack_b`]), not once per step.
//! Backward ([`Op::backward_many`]) runs BPTT once for all the wanted input gradients and
//! leaves the pre-activation gradients of all steps in scratch, from which the weight
//! gradients are large gemms over all T·B rows. dW = xᵀ·dZ and (one block of U) dU =
//! hᵀ·dZ share one packing of dZ, the largest operand.
//!
//! Threads: a per-step product (e.g. 32x128x512) is far too small to split across
//! threads, so instead the batch is cut into lanes of rows, each run through the whole
//! sequence (forward and BPTT) by one participant of a [`parallel_for`] with its own
//! scratch: one fork/join per sequence instead of one per step, and the calling thread
//! runs a lane itself at once rather than parking while two pool workers wake (W6's
//! three small LSTMs paid those wake-ups six times a step). A lane also computes its
//! part of dW, dU and db (those sums over its rows) before the join; the parts are added
//! in lane order after it. The other gradient gemms run afterwards on the calling thread
//! (threaded by the gemm wrapper); dx is one product over all the lanes' dZ that writes
//! straight into the batch-major gradient (`RnnSequence::x_gradient`).

use std::sync::Arc;

use super::{expect_float, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::kernels::act::{hard_sigmoid, Act};
use crate::kernels::alloc::grow;
use crate::kernels::gemm::{
    n as nop, pack_b, packed_b_len, sgemm, sgemm_gathered, sgemm_packed, t as top, GatheredOperand,
    PackedB,
};
use crate::kernels::pool::{parallel_for, Disjoint};
use crate::kernels::{pool, simd};
use crate::simd_fn;
use crate::tensor::{fmt_shape, DType, Dim, Value};
use crate::{Error, Result};

/// Smallest batch lane (rows); narrower lanes waste the gemm micro-kernel.
const LANE_MIN_ROWS: usize = 4;
/// Sequences below this many multiply-adds run in one lane (a fork/join costs more).
const LANE_MIN_MACS: usize = 1 << 20;

/// The four LSTM gates (input, forget, cell, output), `u` wide each, of one row of
/// `4·u` pre-activations or activations.
#[inline(always)]
fn lstm_gates(z: &[f32], u: usize) -> [&[f32]; 4] {
    let (i, rest) = z.split_at(u);
    let (f, rest) = rest.split_at(u);
    let (g, o) = rest.split_at(u);
    [i, f, g, &o[..u]]
}

/// [`lstm_gates`] of a row of gradients.
#[inline(always)]
fn lstm_gates_mut(z: &mut [f32], u: usize) -> [&mut [f32]; 4] {
    let (i, rest) = z.split_at_mut(u);
    let (f, rest) = rest.split_at_mut(u);
    let (g, o) = rest.split_at_mut(u);
    [i, f, g, &mut o[..u]]
}

simd_fn! {
    /// LSTM cell update of one step over all rows: c = f·c_prev + i·g (the activated
    /// gates of row r are z[r·4U ..]).
    fn k_lstm_cell(u: usize, z: &[f32], cprev: &[f32], cnext: &mut [f32]) {
        for ((zr, cp), cn) in z
            .chunks_exact(4 * u)
            .zip(cprev.chunks_exact(u))
            .zip(cnext.chunks_exact_mut(u))
        {
            let [i, f, g, _] = lstm_gates(zr, u);
            for k in 0..u {
                cn[k] = f[k] * cp[k] + i[k] * g[k];
            }
        }
    }
}

simd_fn! {
    /// h = o · act(c) over all rows (`tc` holds act(c)).
    fn k_lstm_out(u: usize, z: &[f32], tc: &[f32], h: &mut [f32]) {
        for ((zr, t), hr) in z
            .chunks_exact(4 * u)
            .zip(tc.chunks_exact(u))
            .zip(h.chunks_exact_mut(u))
        {
            let o = &zr[3 * u..4 * u];
            for k in 0..u {
                hr[k] = o[k] * t[k];
            }
        }
    }
}

simd_fn! {
    /// LSTM gate gradients of one row. On entry `dz` holds the activation derivatives
    /// of the four gates and `dtc` act'(c); on exit the pre-activation gradients, and
    /// `dc` the cell-state gradient carried to the previous step.
    #[allow(clippy::too_many_arguments)]
    fn k_lstm_bwd_row(
        u: usize,
        z: &[f32],
        dz: &mut [f32],
        dh: &[f32],
        dc: &mut [f32],
        tc: &[f32],
        dtc: &[f32],
        cprev: &[f32],
    ) {
        let [zi, zf, zg, zo] = lstm_gates(z, u);
        let [di, df, dg, dout] = lstm_gates_mut(dz, u);
        let (dh, dc, tc, dtc, cprev) = (&dh[..u], &mut dc[..u], &tc[..u], &dtc[..u], &cprev[..u]);
        for k in 0..u {
            let dct = dc[k] + dh[k] * zo[k] * dtc[k];
            dout[k] *= dh[k] * tc[k];
            di[k] *= dct * zg[k];
            dg[k] *= dct * zi[k];
            df[k] *= dct * cprev[k];
            dc[k] = dct * zf[k];
        }
    }
}

/// Gate activations [`lstm_step_rows`] applies first: none (already applied), or
/// hard_sigmoid or sigmoid gates with a tanh candidate.
const GATES_DONE: u8 = 0;
const GATES_HARD: u8 = 1;
const GATES_SIGMOID: u8 = 2;

/// The body of [`k_lstm_step`] for one `GATES` choice, known at compile time so that
/// every loop vectorises.
#[inline(always)]
fn lstm_step_rows<const GATES: u8>(
    u: usize,
    z: &mut [f32],
    cprev: &[f32],
    cnext: &mut [f32],
    tc: &mut [f32],
    h: &mut [f32],
) {
    let gate = |x: f32| {
        if GATES == GATES_HARD {
            hard_sigmoid(x)
        } else {
            simd::sigmoid(x)
        }
    };
    for ((((zr, cp), cn), t), hr) in z
        .chunks_exact_mut(4 * u)
        .zip(cprev.chunks_exact(u))
        .zip(cnext.chunks_exact_mut(u))
        .zip(tc.chunks_exact_mut(u))
        .zip(h.chunks_exact_mut(u))
    {
        let (ifg, o) = zr.split_at_mut(3 * u);
        let (i_f, g) = ifg.split_at_mut(2 * u);
        if GATES != GATES_DONE {
            // one loop per gate kind (each vectorises), while the row is in L1
            i_f.iter_mut().for_each(|v| *v = gate(*v));
            g.iter_mut().for_each(|v| *v = simd::tanh(*v));
            o.iter_mut().for_each(|v| *v = gate(*v));
        }
        let (i, f) = i_f.split_at(u);
        let (f, g, o) = (&f[..u], &g[..u], &o[..u]);
        for k in 0..u {
            let c = f[k] * cp[k] + i[k] * g[k];
            let a = simd::tanh(c);
            cn[k] = c;
            t[k] = a;
            hr[k] = o[k] * a;
        }
    }
}

simd_fn! {
    /// The rest of one LSTM step after its gemms, in one pass over the rows, with a tanh
    /// activation: with `gates` (`Some(hard)`: hard_sigmoid, else sigmoid gates) first
    /// the gate activations, written back into `z` for the backward; then
    /// c = f·c_prev + i·g, act(c) and h = o·act(c). The same arithmetic as separate
    /// passes of [`Act::apply`], [`k_lstm_cell`], a tanh pass and [`k_lstm_out`].
    fn k_lstm_step(
        gates: Option<bool>,
        u: usize,
        z: &mut [f32],
        cprev: &[f32],
        cnext: &mut [f32],
        tc: &mut [f32],
        h: &mut [f32],
    ) {
        match gates {
            None => lstm_step_rows::<GATES_DONE>(u, z, cprev, cnext, tc, h),
            Some(true) => lstm_step_rows::<GATES_HARD>(u, z, cprev, cnext, tc, h),
            Some(false) => lstm_step_rows::<GATES_SIGMOID>(u, z, cprev, cnext, tc, h),
        }
    }
}

simd_fn! {
    /// The LSTM gate gradients of one row in one pass, for a tanh activation and
    /// hard_sigmoid (`hard`) or sigmoid gates: `dz` receives the pre-activation gradients and `dc` becomes the
    /// cell-state gradient carried to the previous step (what the derivative passes and
    /// [`k_lstm_bwd_row`] compute, in the same order).
    #[allow(clippy::too_many_arguments)]
    fn k_lstm_bwd_fused(
        hard: bool,
        u: usize,
        z: &[f32],
        dz: &mut [f32],
        dh: &[f32],
        dc: &mut [f32],
        tc: &[f32],
        cprev: &[f32],
    ) {
        let [zi, zf, zg, zo] = lstm_gates(z, u);
        let [di, df, dg, dout] = lstm_gates_mut(dz, u);
        let (dh, dc, tc, cprev) = (&dh[..u], &mut dc[..u], &tc[..u], &cprev[..u]);
        let gate = if hard { Act::HardSigmoid } else { Act::Sigmoid };
        for k in 0..u {
            let dct = dc[k] + dh[k] * zo[k] * (1.0 - tc[k] * tc[k]);
            dout[k] = gate.d(zo[k]) * (dh[k] * tc[k]);
            di[k] = gate.d(zi[k]) * (dct * zg[k]);
            dg[k] = Act::Tanh.d(zg[k]) * (dct * zi[k]);
            df[k] = gate.d(zf[k]) * (dct * cprev[k]);
            dc[k] = dct * zf[k];
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
    /// Inputs without the optional masks.
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
    rdrop: bool,
}

/// Concrete sizes of one call (`b`: the rows of one lane, or of the whole batch).
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
    rdrop: bool,
}

// Scratch layout: [forward packs][forward lanes][backward packs][backward lanes], so
// that a predict-only Program never sizes the backward regions. Every lane has the size
// of the widest. The packs are the column blocks of U (see `RnnSequence::block`) packed
// for the per-step products: as they are (forward) and transposed (backward).
/// Most column blocks of U with a per-step product of their own (LSTM with dropout).
const MAX_BLOCKS: usize = 4;
// forward, per lane:
// xt: T*b*D time-major input (processing order)
// z: T*b*G*U activated gates (GRU: z, r, hh; RNN: h)
// h: (T+1)*b*U hidden states, h[0] = h0
// c: (T+1)*b*U cell states (LSTM)
// tc: T*b*U act(c) (LSTM)
// m: T*b mask (1 = real step)
// rec: b*G*U recurrent gemm output
// rh: T*b*U r*h (GRU; times the h dropout mask)
// hd: G*T*b*U h ⊙ dropout mask, gate-major (recurrent dropout)
const NF: usize = 9;
// backward, per lane:
// dz: T*b*G*U pre-activation gradients
// dh: b*U carry
// dc: b*U carry (LSTM)
// tmp: max(b, U)*G*U + b*U (per-step gemm output; U x U blocks of dU; derivatives)
// dzzr: T*b*2U (GRU without dropout)
// dzh: T*b*U (GRU)
// drh: b*U (GRU)
// dzg: G*T*b*U gate-major copies of dz (recurrent dropout)
// dzp: dz packed as the right operand of the weight-gradient products
// gw: D*G*U this lane's part of dW
// gu: U*G*U this lane's part of dU (LSTM, RNN without recurrent dropout)
// gb: G*U this lane's part of db
const NB: usize = 12;

impl Dims {
    fn fwd(&self, cell: Cell) -> [usize; NF] {
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
            iff(self.rdrop, g * t * b * u),
        ]
    }

    fn bwd(&self, cell: Cell) -> [usize; NB] {
        let (b, t, d, u, g) = (self.b, self.t, self.d, self.u, self.g);
        let lstm = cell == Cell::Lstm;
        let gru = cell == Cell::Gru;
        let iff = |c: bool, n: usize| if c { n } else { 0 };
        [
            t * b * g * u,
            b * u,
            iff(lstm, b * u),
            b.max(u) * g * u + b * u,
            iff(gru && !self.rdrop, t * b * 2 * u),
            iff(gru, t * b * u),
            iff(gru, b * u),
            iff(self.rdrop, g * t * b * u),
            packed_b_len(t * b, g * u),
            d * g * u,
            iff(!gru && !self.rdrop, u * g * u),
            g * u,
        ]
    }

    /// Lane `l` of lanes of `bl` rows: its sizes and its first batch row.
    fn lane(&self, bl: usize, l: usize) -> (Dims, usize) {
        let b0 = l * bl;
        let b = (self.b - b0).min(bl);
        (Dims { b, ..*self }, b0)
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

/// `acc += v`.
fn add_to(acc: &mut [f32], v: &[f32]) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a += x;
    }
}

/// `acc = m ⊙ v` (first) or `acc += m ⊙ v` over one row.
fn mask_acc(acc: &mut [f32], m: &[f32], v: &[f32], first: bool) {
    if first {
        for ((a, &mm), &vv) in acc.iter_mut().zip(m).zip(v) {
            *a = mm * vv;
        }
    } else {
        for ((a, &mm), &vv) in acc.iter_mut().zip(m).zip(v) {
            *a += mm * vv;
        }
    }
}

/// What one lane reads: the op's inputs, the lane's first row and the packed blocks of
/// U (forward: as they are; backward: transposed).
struct LaneIn<'a> {
    inputs: &'a [&'a Value],
    b0: usize,
    packs: &'a [PackedB<'a>; MAX_BLOCKS],
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
            masked: inputs.len() > self.cell.base_inputs() + usize::from(self.rdrop),
            rdrop: self.rdrop,
        }
    }

    /// Rows per batch lane (the whole batch when splitting does not pay).
    fn lane_rows(&self, dm: &Dims) -> usize {
        let threads = pool::threads();
        let macs = dm.t * dm.b * dm.g * dm.u * (dm.d + dm.u);
        if threads < 2
            || dm.b < 2 * LANE_MIN_ROWS
            || macs < LANE_MIN_MACS
            || pool::in_parallel_region()
        {
            return dm.b;
        }
        dm.b.div_ceil(threads.min(dm.b / LANE_MIN_ROWS))
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
            "{}: {what} (inputs x, W, U, b, h0{}{}[, mask] have shapes {})",
            self.name,
            if self.cell == Cell::Lstm { ", c0" } else { "" },
            if self.rdrop { ", dropout mask" } else { "" },
            shapes.join(", ")
        ))
    }

    /// The recurrent dropout mask rows of a lane.
    fn rmask<'a>(&self, li: &LaneIn<'a>, dm: &Dims) -> &'a [f32] {
        if !self.rdrop {
            return &[];
        }
        let gu = dm.g * dm.u;
        &li.inputs[self.cell.base_inputs()].f[li.b0 * gu..(li.b0 + dm.b) * gu]
    }

    /// `Some(hard)` when an LSTM step's gradients can run as one fused pass per row
    /// ([`k_lstm_bwd_fused`]): tanh activation, hard_sigmoid (`hard`) or sigmoid gates.
    fn fused_lstm(&self) -> Option<bool> {
        match (self.act, self.inner) {
            (Act::Tanh, Act::HardSigmoid) => Some(true),
            (Act::Tanh, Act::Sigmoid) => Some(false),
            _ => None,
        }
    }

    /// Column blocks of U with a per-step product of their own.
    fn blocks(&self) -> usize {
        if self.rdrop {
            self.cell.gates()
        } else if self.cell == Cell::Gru {
            2
        } else {
            1
        }
    }

    /// Column block `i` of U as (first gate, gates): with recurrent dropout one per
    /// gate (each multiplies its own masked h); GRU's z|r gates and its candidate
    /// (which multiplies r ⊙ h); otherwise all gates in one.
    fn block(&self, i: usize) -> (usize, usize) {
        if self.rdrop {
            (i, 1)
        } else if self.cell == Cell::Gru {
            [(0, 2), (2, 1)][i]
        } else {
            (0, self.cell.gates())
        }
    }

    /// The block whose product gives gate `g`'s recurrent term.
    fn block_of(&self, g: usize) -> usize {
        if self.rdrop {
            g
        } else {
            usize::from(self.cell == Cell::Gru && g == 2)
        }
    }

    /// Floats of the packed blocks (forward, or transposed for backward).
    fn packs_len(&self, dm: &Dims) -> usize {
        (0..self.blocks())
            .map(|i| {
                let w = self.block(i).1 * dm.u;
                packed_b_len(dm.u, w).max(packed_b_len(w, dm.u))
            })
            .sum()
    }

    /// Packs every block of `uw` (transposed for `backward`) into `buf`.
    fn pack<'a>(
        &self,
        dm: &Dims,
        uw: &[f32],
        buf: &'a mut [f32],
        backward: bool,
    ) -> [PackedB<'a>; MAX_BLOCKS] {
        let (u, gu) = (dm.u, dm.g * dm.u);
        let mut packs = [PackedB::default(); MAX_BLOCKS];
        let mut rest = buf;
        for (i, p) in packs.iter_mut().enumerate().take(self.blocks()) {
            let (g0, gw) = self.block(i);
            let w = gw * u;
            let len = packed_b_len(u, w).max(packed_b_len(w, u));
            let (mine, r) = std::mem::take(&mut rest).split_at_mut(len);
            rest = r;
            *p = if backward {
                pack_b(w, u, uw, g0 * u, 1, gu, mine)
            } else {
                pack_b(u, w, uw, g0 * u, gu, 1, mine)
            };
        }
        packs
    }

    /// Forward of one lane of `dm.b` rows starting at batch row `li.b0`; `o` is the
    /// lane's rows of the output.
    #[allow(clippy::needless_range_loop)] // rows index several buffers at once
    fn forward_lane(&self, dm: Dims, li: &LaneIn, buf: &mut [f32], o: &mut [f32]) {
        let Dims {
            b,
            t,
            d,
            u,
            g,
            tout,
            masked,
            ..
        } = dm;
        let gu = g * u;
        let bt = t; // full sequence length of the inputs
        let [xt, z, h, c, tc, m, rec, rh, hd] = carve(buf, dm.fwd(self.cell));
        let inputs = li.inputs;
        let b0 = li.b0;
        let (x, w, bias) = (&inputs[0].f, &inputs[1].f, &inputs[3].f);
        let rm = self.rmask(li, &dm);
        for s in 0..t {
            let ti = self.time(s, t);
            for bi in 0..b {
                let src = ((b0 + bi) * bt + ti) * d;
                xt[(s * b + bi) * d..(s * b + bi + 1) * d].copy_from_slice(&x[src..src + d]);
            }
        }
        if masked {
            let mv = inputs[inputs.len() - 1];
            for s in 0..t {
                let ti = self.time(s, t);
                for bi in 0..b {
                    let k = (b0 + bi) * t + ti;
                    let on = if mv.dt() == DType::I32 {
                        mv.i[k] != 0
                    } else {
                        mv.f[k] != 0.0
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
        h[..b * u].copy_from_slice(&inputs[4].f[b0 * u..(b0 + b) * u]);
        if self.cell == Cell::Lstm {
            c[..b * u].copy_from_slice(&inputs[5].f[b0 * u..(b0 + b) * u]);
        }
        let tbu = t * b * u;
        for s in 0..t {
            let (hprev, hnext) = h[s * b * u..(s + 2) * b * u].split_at_mut(b * u);
            let zs = &mut z[s * b * gu..(s + 1) * b * gu];
            let ms = &m[s * b..(s + 1) * b];
            // recurrent products of the gates that take h_{t-1} directly (all but GRU's h)
            let direct = if self.cell == Cell::Gru { 2 } else { g };
            if self.rdrop {
                for gi in 0..direct {
                    let hds = &mut hd[gi * tbu + s * b * u..gi * tbu + (s + 1) * b * u];
                    for bi in 0..b {
                        let mrow = &rm[bi * gu + gi * u..bi * gu + (gi + 1) * u];
                        for ((a, &hh), &mm) in hds[bi * u..(bi + 1) * u]
                            .iter_mut()
                            .zip(&hprev[bi * u..(bi + 1) * u])
                            .zip(mrow)
                        {
                            *a = hh * mm;
                        }
                    }
                    let r = &mut rec[..b * u];
                    sgemm_packed(b, nop(hds), li.packs[self.block_of(gi)], r, false);
                    for bi in 0..b {
                        for (v, &q) in zs[bi * gu + gi * u..bi * gu + (gi + 1) * u]
                            .iter_mut()
                            .zip(&r[bi * u..(bi + 1) * u])
                        {
                            *v += q;
                        }
                    }
                }
            } else if self.cell == Cell::Gru {
                let rec2 = &mut rec[..b * 2 * u];
                sgemm_packed(b, nop(hprev), li.packs[0], rec2, false);
                for bi in 0..b {
                    for (v, &q) in zs[bi * gu..bi * gu + 2 * u]
                        .iter_mut()
                        .zip(&rec2[bi * 2 * u..(bi + 1) * 2 * u])
                    {
                        *v += q;
                    }
                }
            } else {
                sgemm_packed(b, nop(hprev), li.packs[0], zs, true);
            }
            match self.cell {
                Cell::Lstm => {
                    let (cprev, cnext) = c[s * b * u..(s + 2) * b * u].split_at_mut(b * u);
                    let tcs = &mut tc[s * b * u..(s + 1) * b * u];
                    let fused = self.fused_lstm();
                    if fused.is_none() {
                        for zr in zs.chunks_exact_mut(gu) {
                            self.inner.apply(&mut zr[..2 * u]);
                            self.act.apply(&mut zr[2 * u..3 * u]);
                            self.inner.apply(&mut zr[3 * u..]);
                        }
                    }
                    if fused.is_some() || self.act == Act::Tanh {
                        k_lstm_step(fused, u, zs, cprev, cnext, tcs, hnext);
                    } else {
                        k_lstm_cell(u, zs, cprev, cnext);
                        tcs.copy_from_slice(cnext);
                        self.act.apply(tcs);
                        k_lstm_out(u, zs, tcs, hnext);
                    }
                    for (bi, &mb) in ms.iter().enumerate() {
                        if mb == 0.0 {
                            let r = bi * u..(bi + 1) * u;
                            cnext[r.clone()].copy_from_slice(&cprev[r.clone()]);
                            hnext[r.clone()].copy_from_slice(&hprev[r.clone()]);
                            tcs[r].fill(0.0);
                        }
                    }
                }
                Cell::Rnn => {
                    self.act.apply(zs);
                    for (bi, &mb) in ms.iter().enumerate() {
                        let r = bi * u..(bi + 1) * u;
                        if mb != 0.0 {
                            hnext[r.clone()].copy_from_slice(&zs[r]);
                        } else {
                            hnext[r.clone()].copy_from_slice(&hprev[r]);
                        }
                    }
                }
                Cell::Gru => {
                    let rhs = &mut rh[s * b * u..(s + 1) * b * u];
                    for bi in 0..b {
                        let zr = &mut zs[bi * gu..(bi + 1) * gu];
                        self.inner.apply(&mut zr[..2 * u]);
                        for k in 0..u {
                            rhs[bi * u + k] = zr[u + k] * hprev[bi * u + k];
                        }
                        if self.rdrop {
                            let mh = &rm[bi * gu + 2 * u..(bi + 1) * gu];
                            for (v, &mm) in rhs[bi * u..(bi + 1) * u].iter_mut().zip(mh) {
                                *v *= mm;
                            }
                        }
                    }
                    let rech = &mut rec[..b * u];
                    sgemm_packed(b, nop(rhs), li.packs[self.block_of(2)], rech, false);
                    for bi in 0..b {
                        let on = ms[bi] != 0.0;
                        let zr = &mut zs[bi * gu..(bi + 1) * gu];
                        for (v, &q) in zr[2 * u..].iter_mut().zip(&rech[bi * u..(bi + 1) * u]) {
                            *v += q;
                        }
                        self.act.apply(&mut zr[2 * u..]);
                        for k in 0..u {
                            let j = bi * u + k;
                            let (zz, hh) = (zr[k], zr[2 * u + k]);
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
        // output (b, Tout, U)
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
    }

    /// BPTT of one lane for its rows `gout` of the output gradient, leaving dZ, dh0
    /// (and dc0) in the lane's backward regions.
    #[allow(clippy::needless_range_loop)] // rows index several buffers at once
    fn bptt_lane(&self, dm: Dims, li: &LaneIn, fbuf: &mut [f32], bbuf: &mut [f32], gout: &[f32]) {
        let Dims {
            b,
            t,
            u,
            g,
            tout,
            masked,
            ..
        } = dm;
        let gu = g * u;
        let tbu = t * b * u;
        let [_, z, h, c, tc, m, _, _, _] = carve(fbuf, dm.fwd(self.cell));
        let [dz, dh, dc, tmp, dzzr, dzh, drh, dzg, ..] = carve(bbuf, dm.bwd(self.cell));
        let rm = self.rmask(li, &dm);
        let (tmp, der) = tmp.split_at_mut(b.max(u) * gu);
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
                    let der = &mut der[..b * u];
                    let fused = self.fused_lstm();
                    if fused.is_none() {
                        self.act.deriv(tcs, der);
                    }
                    for bi in 0..b {
                        let row = &mut dzs[bi * gu..(bi + 1) * gu];
                        if ms[bi] == 0.0 {
                            row.fill(0.0);
                            continue;
                        }
                        let zr = &zs[bi * gu..(bi + 1) * gu];
                        if let Some(hard) = fused {
                            let r = bi * u..(bi + 1) * u;
                            let (dhr, tcr, cpr) = (&dh[r.clone()], &tcs[r.clone()], &cp[r.clone()]);
                            k_lstm_bwd_fused(hard, u, zr, row, dhr, &mut dc[r], tcr, cpr);
                            continue;
                        }
                        self.inner.deriv(&zr[..2 * u], &mut row[..2 * u]);
                        self.act.deriv(&zr[2 * u..3 * u], &mut row[2 * u..3 * u]);
                        self.inner.deriv(&zr[3 * u..], &mut row[3 * u..]);
                        let r = bi * u..(bi + 1) * u;
                        k_lstm_bwd_row(
                            u,
                            zr,
                            row,
                            &dh[r.clone()],
                            &mut dc[r.clone()],
                            &tcs[r.clone()],
                            &der[r.clone()],
                            &cp[r],
                        );
                    }
                }
                Cell::Rnn => {
                    for bi in 0..b {
                        let r = bi * u..(bi + 1) * u;
                        let row = &mut dzs[r.clone()];
                        if ms[bi] == 0.0 {
                            row.fill(0.0);
                            continue;
                        }
                        self.act.deriv(&zs[r.clone()], row);
                        for (v, &dd) in row.iter_mut().zip(&dh[r]) {
                            *v *= dd;
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
                    // d(r*h*mask_h) = dpre_h · Uh^T
                    let dzh_s = &mut dzh[s * b * u..(s + 1) * b * u];
                    for bi in 0..b {
                        dzh_s[bi * u..(bi + 1) * u]
                            .copy_from_slice(&dzs[bi * gu + 2 * u..(bi + 1) * gu]);
                    }
                    sgemm_packed(b, nop(dzh_s), li.packs[self.block_of(2)], drh, false);
                    if self.rdrop {
                        for bi in 0..b {
                            let mh = &rm[bi * gu + 2 * u..(bi + 1) * gu];
                            for (v, &mm) in drh[bi * u..(bi + 1) * u].iter_mut().zip(mh) {
                                *v *= mm;
                            }
                        }
                    }
                    // pass 2: dr, and the direct terms of dh_prev
                    for bi in 0..b {
                        if ms[bi] == 0.0 {
                            continue;
                        }
                        let zr = &zs[bi * gu..(bi + 1) * gu];
                        for k in 0..u {
                            let i = bi * u + k;
                            let rr = zr[u + k];
                            dzs[bi * gu + u + k] = drh[i] * hp[i] * self.inner.d(rr);
                            dh[i] = dh[i] * zr[k] + drh[i] * rr;
                        }
                    }
                    if !self.rdrop {
                        let dzzr_s = &mut dzzr[s * b * 2 * u..(s + 1) * b * 2 * u];
                        for bi in 0..b {
                            dzzr_s[bi * 2 * u..(bi + 1) * 2 * u]
                                .copy_from_slice(&dzs[bi * gu..bi * gu + 2 * u]);
                        }
                        let tb = &mut tmp[..b * u];
                        sgemm_packed(b, nop(dzzr_s), li.packs[0], tb, false);
                        for bi in 0..b {
                            if ms[bi] != 0.0 {
                                let r = bi * u..(bi + 1) * u;
                                for (a, &v) in dh[r.clone()].iter_mut().zip(&tb[r]) {
                                    *a += v;
                                }
                            }
                        }
                    }
                }
            }
            // dh_prev through the gates that take h_{t-1} directly
            let direct = if self.cell == Cell::Gru { 2 } else { g };
            if self.rdrop {
                for gi in 0..direct {
                    let dzgs = &mut dzg[gi * tbu + s * b * u..gi * tbu + (s + 1) * b * u];
                    for bi in 0..b {
                        dzgs[bi * u..(bi + 1) * u]
                            .copy_from_slice(&dzs[bi * gu + gi * u..bi * gu + (gi + 1) * u]);
                    }
                    let tb = &mut tmp[..b * u];
                    sgemm_packed(b, nop(dzgs), li.packs[self.block_of(gi)], tb, false);
                    for bi in 0..b {
                        if ms[bi] != 0.0 {
                            let r = bi * u..(bi + 1) * u;
                            let mrow = &rm[bi * gu + gi * u..bi * gu + (gi + 1) * u];
                            // LSTM/RNN: dh_prev comes only from here (first gate sets it)
                            let first = gi == 0 && self.cell != Cell::Gru;
                            mask_acc(&mut dh[r.clone()], mrow, &tb[r], first);
                        }
                    }
                }
            } else if self.cell != Cell::Gru && !masked {
                // every row is a real step: the product is dh_prev as it stands
                sgemm_packed(b, nop(dzs), li.packs[0], dh, false);
            } else if self.cell != Cell::Gru {
                let tb = &mut tmp[..b * u];
                sgemm_packed(b, nop(dzs), li.packs[0], tb, false);
                for bi in 0..b {
                    if ms[bi] != 0.0 {
                        let r = bi * u..(bi + 1) * u;
                        dh[r.clone()].copy_from_slice(&tb[r]);
                    }
                }
            }
        }
        // dh now holds dh0, dc holds dc0.
    }

    /// The four layout parts of the scratch: forward packs, one forward lane, backward
    /// packs, one backward lane.
    fn layout(&self, dm: &Dims, bl: usize) -> (usize, usize, usize, usize) {
        let ld = Dims { b: bl, ..*dm };
        let packs = self.packs_len(dm);
        (
            packs,
            ld.fwd(self.cell).iter().sum(),
            packs,
            ld.bwd(self.cell).iter().sum(),
        )
    }

    /// Whether dU is a product with dZ itself (one block of U, no dropout).
    fn du_from_dz(&self) -> bool {
        self.cell != Cell::Gru && !self.rdrop
    }

    /// The lane's parts of the weight gradients, all sums over its rows of dZ: dW =
    /// xᵀ·dZ (`want_w`) and, when [`Self::du_from_dz`], dU = hᵀ·dZ (`want_u`) from ONE
    /// packing of dZ, and db = the sum of dZ's rows (`want_b`). Run on the lane's thread
    /// (serial gemms, like its steps), they need no fork/join per product, dZ, the
    /// largest operand, is packed once instead of once per product, and the bias sum,
    /// a pass over all of dZ, runs on every core instead of the caller's alone. Only
    /// with several lanes: with one, the threaded products that pack as they go are as
    /// fast (`rnn_cpu`, one thread).
    fn lane_weight_grads(&self, dm: Dims, fbuf: &mut [f32], bbuf: &mut [f32], want: [bool; 3]) {
        let [want_w, want_u, want_b] = want;
        let Dims { b, t, d, u, g, .. } = dm;
        let (gu, tb) = (g * u, t * b);
        let [xt, _, h, ..] = carve(fbuf, dm.fwd(self.cell));
        let [dz, .., dzp, gw, gdu, gb] = carve(bbuf, dm.bwd(self.cell));
        if want_b {
            gb.fill(0.0);
            for row in dz.chunks_exact(gu) {
                add_to(gb, row);
            }
        }
        if !want_w && !want_u {
            return;
        }
        let dzp = pack_b(tb, gu, dz, 0, gu, 1, dzp);
        if want_w {
            sgemm_packed(d, top(xt), dzp, gw, false);
        }
        if want_u {
            sgemm_packed(u, top(&h[..tb * u]), dzp, gdu, false);
        }
    }

    /// Runs the BPTT of every lane for output gradient `gout`, leaving each lane's
    /// gradients in its backward region, with its parts of dW and dU (see
    /// [`Self::lane_weight_grads`]) when `want` says so.
    fn bptt(
        &self,
        inputs: &[&Value],
        gout: &[f32],
        want: [bool; 3],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        let dm = self.dims(inputs);
        let bl = lane_rows_of(ctx, self.name)?;
        let sc = &mut *ctx.scratch;
        let p = dm.b.div_ceil(bl);
        let (fpk, fl, bpk, bwl) = self.layout(&dm, bl);
        grow(&mut sc.f, fpk + p * fl + bpk + p * bwl, self.name)?;
        let (fwd, rest) = sc.f[fpk..].split_at_mut(p * fl);
        let (bpacks, rest) = rest.split_at_mut(bpk);
        let bwd = &mut rest[..p * bwl];
        let packs = self.pack(&dm, &inputs[2].f, bpacks, true);
        // one lane: the products run threaded on the calling thread instead
        let want = if p > 1 { want } else { [false; 3] };
        let gl = bl * dm.tout * dm.u;
        let run = |l: usize, fb: &mut [f32], bb: &mut [f32], go: &[f32]| {
            let (ld, b0) = dm.lane(bl, l);
            let li = LaneIn {
                inputs,
                b0,
                packs: &packs,
            };
            self.bptt_lane(ld, &li, fb, bb, go);
            self.lane_weight_grads(ld, fb, bb, want);
        };
        if p == 1 {
            run(0, fwd, bwd, gout);
        } else {
            let (fwds, bwds) = (Disjoint::new(fwd), Disjoint::new(bwd));
            parallel_for(p, pool::threads(), &|l, _| {
                let go = &gout[l * gl..((l + 1) * gl).min(gout.len())];
                // SAFETY: lane l's regions are its own.
                let (fb, bb) = unsafe { (fwds.part(l * fl, fl), bwds.part(l * bwl, bwl)) };
                run(l, fb, bb, go);
            });
        }
        Ok(())
    }

    /// Adds dx = dZ·Wᵀ into `gin` (batch-major `B x T x D`) with ONE product over every
    /// lane's dZ rows (time-major within a lane), read through a gathered left operand
    /// whose row `(batch row, time)` points at that row of dZ: the product writes each
    /// row of `gin` where it lies, instead of into a time-major copy that a serial pass
    /// then adds to `gin` row by row.
    fn x_gradient(&self, inputs: &[&Value], gin: &mut [f32], ctx: &mut OpCtx) -> Result<()> {
        let dm = self.dims(inputs);
        let Dims { b, t, d, g, u, .. } = dm;
        let gu = g * u;
        let bl = lane_rows_of(ctx, self.name)?;
        let p = b.div_ceil(bl);
        let (fpk, fl, bpk, bwl) = self.layout(&dm, bl);
        if p * bwl > i32::MAX as usize {
            return Err(Error::Value(format!(
                "{}: the batch's gradient buffers exceed 2^31 floats; use a smaller batch",
                self.name
            )));
        }
        let sc = &mut *ctx.scratch;
        grow(&mut sc.i, b * t + gu, self.name)?;
        let (rows, cols) = sc.i.split_at_mut(b * t);
        for l in 0..p {
            let (ld, b0) = dm.lane(bl, l);
            for s in 0..t {
                let ti = self.time(s, t);
                for bi in 0..ld.b {
                    // dZ is the first region of a lane's backward part
                    rows[(b0 + bi) * t + ti] = (l * bwl + (s * ld.b + bi) * gu) as i32;
                }
            }
        }
        for (j, c) in cols[..gu].iter_mut().enumerate() {
            *c = j as i32;
        }
        let start = fpk + p * fl + bpk;
        let dz = GatheredOperand {
            data: &sc.f[start..start + p * bwl],
            rows,
            cols,
        };
        sgemm_gathered(b * t, d, gu, dz, top(&inputs[1].f), gin, true, false);
        Ok(())
    }

    /// Adds the gradient of input `index` into `gin` from the lanes' BPTT results.
    fn input_gradient(
        &self,
        index: usize,
        inputs: &[&Value],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        if index == 0 {
            return self.x_gradient(inputs, gin, ctx);
        }
        let dm = self.dims(inputs);
        let Dims { t, d, u, g, .. } = dm;
        let gu = g * u;
        let bl = lane_rows_of(ctx, self.name)?;
        let p = dm.b.div_ceil(bl);
        let (fpk, fl, bpk, bwl) = self.layout(&dm, bl);
        let (fwd, rest) = ctx.scratch.f[fpk..].split_at_mut(p * fl);
        let bwd = &mut rest[bpk..bpk + p * bwl];
        for (l, (fb, bb)) in fwd.chunks_mut(fl).zip(bwd.chunks_mut(bwl)).enumerate() {
            let (ld, b0) = dm.lane(bl, l);
            let b = ld.b;
            let tbu = t * b * u;
            let [xt, _, h, _, _, _, _, rh, hd] = carve(fb, ld.fwd(self.cell));
            let [dz, dh, dc, tmp, dzzr, dzh, _, dzg, _, gw, gdu, gb] = carve(bb, ld.bwd(self.cell));
            match index {
                1 if p > 1 => add_to(gin, gw),
                1 => sgemm(d, gu, t * b, top(xt), nop(dz), gin, true),
                2 => {
                    // (U x U or U x 2U block product, its first gate column) pairs
                    let add_block = |gin: &mut [f32], blk: &[f32], g0: usize, w: usize| {
                        for k in 0..u {
                            let at = k * gu + g0 * u;
                            add_to(&mut gin[at..at + w], &blk[k * w..(k + 1) * w]);
                        }
                    };
                    if self.rdrop {
                        let direct = if self.cell == Cell::Gru { 2 } else { g };
                        for gi in 0..direct {
                            let blk = &mut tmp[..u * u];
                            let hg = &hd[gi * tbu..(gi + 1) * tbu];
                            sgemm(
                                u,
                                u,
                                t * b,
                                top(hg),
                                nop(&dzg[gi * tbu..(gi + 1) * tbu]),
                                blk,
                                false,
                            );
                            add_block(gin, blk, gi, u);
                        }
                    } else if self.cell == Cell::Gru {
                        let tzr = &mut tmp[..u * 2 * u];
                        sgemm(u, 2 * u, t * b, top(&h[..tbu]), nop(dzzr), tzr, false);
                        add_block(gin, tzr, 0, 2 * u);
                    } else if p > 1 {
                        add_to(gin, gdu);
                    } else {
                        sgemm(u, gu, t * b, top(&h[..tbu]), nop(dz), gin, true);
                    }
                    if self.cell == Cell::Gru {
                        let th = &mut tmp[..u * u];
                        sgemm(u, u, t * b, top(rh), nop(dzh), th, false);
                        add_block(gin, th, 2, u);
                    }
                }
                3 if p > 1 => add_to(gin, gb),
                3 => {
                    for row in dz.chunks_exact(gu) {
                        add_to(gin, row);
                    }
                }
                4 => add_to(&mut gin[b0 * u..(b0 + b) * u], dh),
                5 if self.cell == Cell::Lstm => add_to(&mut gin[b0 * u..(b0 + b) * u], dc),
                _ => {}
            }
        }
        Ok(())
    }
}

/// What a forward leaves for its backward besides the floats of the scratch (whose
/// regions follow from the sizes and these).
#[derive(Debug, Default)]
struct RnnState {
    /// Rows per batch lane of the last forward (0 before the first).
    lane_rows: usize,
}

/// The lane rows the last forward used.
fn lane_rows_of(ctx: &mut OpCtx, name: &str) -> Result<usize> {
    match ctx.scratch.state::<RnnState>().lane_rows {
        0 => Err(Error::Value(format!("{name}: backward before forward"))),
        bl => Ok(bl),
    }
}

impl Op for RnnSequence {
    fn name(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let nb = self.cell.base_inputs();
        let nr = nb + usize::from(self.rdrop);
        if inputs.len() != nr && inputs.len() != nr + 1 {
            return Err(Error::Value(format!(
                "{} takes {nr} inputs (or {} with a mask), got {}",
                self.name,
                nr + 1,
                inputs.len()
            )));
        }
        for t in &inputs[..nr] {
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
        if self.rdrop {
            let r = s(nb);
            if r.len() != 2 || !eq(r[0], x[0]) || !eq(r[1], gu) {
                return Err(self.shape_err(
                    "the recurrent dropout mask must be (batch, gates * units)",
                    inputs,
                ));
            }
        }
        if inputs.len() > nr {
            let mk = s(nr);
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
        let u = dm.u;
        let bl = self.lane_rows(&dm);
        let p = dm.b.div_ceil(bl);
        let (fpk, fl, _, _) = self.layout(&dm, bl);
        ctx.scratch.state::<RnnState>().lane_rows = bl;
        let sc = &mut *ctx.scratch;
        grow(&mut sc.f, fpk + p * fl, self.name)?;
        let (fpacks, rest) = sc.f.split_at_mut(fpk);
        let packs = self.pack(&dm, &inputs[2].f, fpacks, false);
        let lanes = &mut rest[..p * fl];
        let ol = bl * dm.tout * u;
        let run = |l: usize, buf: &mut [f32], o: &mut [f32]| {
            let (ld, b0) = dm.lane(bl, l);
            let li = LaneIn {
                inputs,
                b0,
                packs: &packs,
            };
            self.forward_lane(ld, &li, buf, o);
        };
        if p == 1 {
            run(0, lanes, &mut out.f);
        } else {
            let total = out.f.len();
            let (bufs, outs) = (Disjoint::new(lanes), Disjoint::new(&mut out.f));
            parallel_for(p, pool::threads(), &|l, _| {
                let len = ol.min(total - l * ol);
                // SAFETY: lane l's region and rows of the output are its own.
                let (buf, o) = unsafe { (bufs.part(l * fl, fl), outs.part(l * ol, len)) };
                run(l, buf, o);
            });
        }
        Ok(())
    }

    /// One BPTT for all the wanted input gradients (each then one gemm or a sum over
    /// its results), so asking for them together or one by one gives the same bits.
    fn backward_many(
        &self,
        wanted: &[usize],
        inputs: &[&Value],
        _out: &Value,
        gout: &[f32],
        gins: &mut [&mut [f32]],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        if !wanted.iter().any(|&i| self.has_grad(i)) {
            return Ok(());
        }
        let want = [
            wanted.contains(&1),
            wanted.contains(&2) && self.du_from_dz(),
            wanted.contains(&3),
        ];
        self.bptt(inputs, gout, want, ctx)?;
        for (&index, gin) in wanted.iter().zip(gins.iter_mut()) {
            self.input_gradient(index, inputs, gin, ctx)?;
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
        let rdrop = a.bool("recurrent_dropout", false)?;
        Ok(Arc::new(RnnSequence {
            name,
            cell,
            act,
            inner,
            go_backwards,
            return_state,
            rdrop,
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
        // with recurrent dropout the (B, G*U) mask comes before the sequence mask
        let rdrop = ins.len() > nb && ins[nb].shape == [b, g * u];
        let rm = |bi: usize, gate: usize, k: usize| {
            if rdrop {
                ins[nb].f[bi * g * u + gate * u + k] as f64
            } else {
                1.0
            }
        };
        let mask = ins.get(nb + usize::from(rdrop));
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
                        s += hh * rm(bi, j / u, i) * uu(i, j);
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
                                rh[k] = inner(pre(u + k, &h)) * h[k] * rm(bi, 2, k);
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
        inputs_with(cell, b, t, d, u, masked, false)
    }

    /// Test inputs; `rdrop` adds a recurrent dropout mask of zeros and 2s (p = 0.5).
    fn inputs_with(
        cell: &str,
        b: usize,
        t: usize,
        d: usize,
        u: usize,
        masked: bool,
        rdrop: bool,
    ) -> Vec<Value> {
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
        if rdrop {
            let r = rand(&[b, g * u], 8, 0.0, 1.0);
            let m: Vec<f32> =
                r.f.iter()
                    .map(|&x| if x < 0.5 { 0.0 } else { 2.0 })
                    .collect();
            v.push(val(&[b, g * u], &m));
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

    #[test]
    fn recurrent_dropout_forward_and_gradients() {
        for cell in ["lstm", "gru", "rnn"] {
            for masked in [false, true] {
                for back in [false, true] {
                    let mut attrs = vec![
                        ("go_backwards", Attr::Bool(back)),
                        ("recurrent_dropout", Attr::Bool(true)),
                    ];
                    if cell != "rnn" {
                        attrs.push(("inner_activation", Attr::Str("sigmoid".into())));
                    }
                    let ins = inputs_with(cell, 3, 5, 4, 3, masked, true);
                    let o = op(opname(cell), &attrs);
                    let y = forward(&o, &ins);
                    let want = reference(cell, &ins, false, back, false);
                    assert_close(&y.f, &want, 1e-5);
                    let ins = inputs_with(cell, 3, 4, 3, 2, masked, true);
                    grad_check(&o, &ins, 1e-2, 2e-2)
                        .unwrap_or_else(|e| panic!("{cell} masked={masked} back={back}: {e}"));
                }
            }
        }
        // an all-ones mask is the plain op
        let mut ins = inputs_with("lstm", 2, 3, 4, 3, false, true);
        ins[6].f.iter_mut().for_each(|v| *v = 1.0);
        let a = forward(
            &op("lstm_sequence", &[("recurrent_dropout", Attr::Bool(true))]),
            &ins,
        );
        let b = forward(&op("lstm_sequence", &[]), &ins[..6]);
        assert_close(&a.f, &b.f, 1e-6);
    }

    /// Rows `r` of the batch axis of every per-sample input.
    fn rows(ins: &[Value], r: usize, per_sample: &[usize]) -> Vec<Value> {
        ins.iter()
            .enumerate()
            .map(|(i, v)| {
                if !per_sample.contains(&i) {
                    return v.clone();
                }
                let row: usize = v.shape[1..].iter().product();
                let mut shape = v.shape.clone();
                shape[0] = 1;
                val(&shape, &v.f[r * row..(r + 1) * row])
            })
            .collect()
    }

    /// Runs forward + every backward; returns the output and the input gradients.
    fn run_all(
        o: &crate::ops::OpRef,
        ins: &[Value],
        gout: &[f32],
    ) -> (Value, Vec<Vec<f32>>, usize) {
        use crate::ops::Scratch;
        let mut sc = Scratch::default();
        let out = forward_with(o, ins, &mut sc).unwrap();
        let lane_rows = sc.state::<super::RnnState>().lane_rows;
        let refs: Vec<&Value> = ins.iter().collect();
        let grads = (0..ins.len())
            .map(|i| {
                if o.has_grad(i) {
                    grad_with(o, i, &refs, &out, gout, &mut sc)
                } else {
                    vec![0.0f32; ins[i].len()]
                }
            })
            .collect();
        (out, grads, lane_rows)
    }

    /// All input gradients from one `backward_many` equal one `backward` call per
    /// input, in any order and subset, with and without a mask and recurrent dropout.
    #[test]
    fn backward_many_equals_one_call_per_input() {
        use crate::ops::{OpCtx, Scratch};
        for cell in ["lstm", "gru", "rnn"] {
            for (masked, rdrop) in [(false, false), (true, true)] {
                let ins = inputs_with(cell, 5, 4, 3, 6, masked, rdrop);
                let o = op(opname(cell), &[("recurrent_dropout", Attr::Bool(rdrop))]);
                let mut sc = Scratch::default();
                let y = forward_with(&o, &ins, &mut sc).unwrap();
                let g = rand(&y.shape, 9, -1.0, 1.0);
                let refs: Vec<&Value> = ins.iter().collect();
                let nb = if cell == "lstm" { 6 } else { 5 };
                let all: Vec<usize> = (0..nb).collect();
                let some: Vec<usize> = vec![nb - 1, 2, 0];
                for wanted in [all, some] {
                    let mut ctx = OpCtx { scratch: &mut sc };
                    let singles: Vec<Vec<f32>> = wanted
                        .iter()
                        .map(|&i| {
                            let mut gin = vec![0.5; ins[i].len()];
                            o.backward_one(i, &refs, &y, &g.f, &mut gin, &mut ctx)
                                .unwrap();
                            gin
                        })
                        .collect();
                    let mut many: Vec<Vec<f32>> =
                        wanted.iter().map(|&i| vec![0.5; ins[i].len()]).collect();
                    let mut slices: Vec<&mut [f32]> =
                        many.iter_mut().map(|v| v.as_mut_slice()).collect();
                    o.backward_many(&wanted, &refs, &y, &g.f, &mut slices, &mut ctx)
                        .unwrap();
                    assert_eq!(many, singles, "{cell} masked={masked} {wanted:?}");
                }
            }
        }
    }

    #[test]
    fn backward_before_forward_is_an_error() {
        use crate::ops::{OpCtx, Scratch};
        let ins = inputs("lstm", 2, 3, 2, 2, false);
        let o = op("lstm_sequence", &[]);
        let refs: Vec<&Value> = ins.iter().collect();
        let y = Value::zeros(crate::tensor::DType::F32, &[2, 3, 2]);
        let mut gin = vec![0.0; ins[1].len()];
        let mut sc = Scratch::default();
        let e = o
            .backward_one(
                1,
                &refs,
                &y,
                &y.f,
                &mut gin,
                &mut OpCtx { scratch: &mut sc },
            )
            .unwrap_err();
        assert!(e.to_string().contains("backward before forward"), "{e}");
    }

    /// The cells with activations outside the fused LSTM step (softsign, linear gates)
    /// take the general path: its gradients still match finite differences.
    #[test]
    fn unfused_activations_match_finite_differences() {
        for (act, inner) in [("softsign", "sigmoid"), ("tanh", "linear")] {
            let attrs = [
                ("activation", Attr::Str(act.into())),
                ("inner_activation", Attr::Str(inner.into())),
            ];
            let ins = inputs("lstm", 3, 4, 3, 2, true);
            grad_check(&op("lstm_sequence", &attrs), &ins, 1e-2, 2e-2)
                .unwrap_or_else(|e| panic!("{act}/{inner}: {e}"));
        }
    }

    /// A batch big enough to be split into lanes gives the reference output, and
    /// gradients equal to the sums (weights) / rows (inputs) of per-sample runs.
    #[test]
    fn batch_lanes_match_per_sample_runs() {
        let (b, t, d, u) = (9, 10, 128, 64);
        for cell in ["lstm", "gru", "rnn"] {
            for (masked, rdrop, back) in [
                (false, false, false),
                (true, true, true),
                (true, false, true),
            ] {
                let ins = inputs_with(cell, b, t, d, u, masked, rdrop);
                let mut attrs = vec![
                    ("go_backwards", Attr::Bool(back)),
                    ("recurrent_dropout", Attr::Bool(rdrop)),
                ];
                if cell == "lstm" {
                    attrs.push(("return_state", Attr::Bool(true)));
                }
                let o = op(opname(cell), &attrs);
                let tout = t + usize::from(cell == "lstm");
                let gout = rand(&[b, tout, u], 11, -1.0, 1.0);
                let (y, grads, lane_rows) = run_all(&o, &ins, &gout.f);
                if crate::kernels::pool::threads() > 1 {
                    assert!(lane_rows < b, "{cell}: the batch was not split");
                }
                let nb = if cell == "lstm" { 6 } else { 5 };
                // f32 vs f64 over 10 steps of large weights (x2 dropout scale): up to ~3e-4
                let want = reference(cell, &ins, true, back, cell == "lstm");
                assert_close(&y.f, &want, 1e-3);
                let mut per: Vec<usize> = vec![0, 4];
                if cell == "lstm" {
                    per.push(5);
                }
                per.extend(nb..ins.len());
                let mut sum: Vec<Vec<f32>> = ins.iter().map(|v| vec![0.0; v.len()]).collect();
                for r in 0..b {
                    let one = rows(&ins, r, &per);
                    let g1 = &gout.f[r * tout * u..(r + 1) * tout * u];
                    let (y1, gr, _) = run_all(&o, &one, g1);
                    assert_close(&y1.f, &y.f[r * tout * u..(r + 1) * tout * u], 1e-4);
                    for (i, g) in gr.iter().enumerate() {
                        if per.contains(&i) {
                            let n = g.len();
                            sum[i][r * n..(r + 1) * n].copy_from_slice(g);
                        } else {
                            sum[i].iter_mut().zip(g).for_each(|(a, &v)| *a += v);
                        }
                    }
                }
                for i in 0..nb {
                    assert_close(&grads[i], &sum[i], 1e-3);
                }
            }
        }
    }
}
