//! The batch split of the whole convolution family (both layouts of `conv2d`,
//! `conv2d_transpose`, `depthwise_conv2d` and `conv3d`): samples run in turn, or in
//! parallel through [`parallel_for`], each participant with its own slot of scratch
//! ([`Cut`]: samples claimed one at a time, or one block per worker). Backward, the
//! batch is cut into fixed contiguous sample ranges whose
//! weight-gradient partials are added in range order afterwards, so the result depends
//! on the thread count but never on which thread ran what. [`Batch::carve`] lays out a
//! backward pass's scratch, and [`Batch::backward_from`] starts each sample from its
//! output gradient taken through the epilogue's activation.

use super::conv::attrs::Epilogue;
use crate::kernels::alloc::grow;
use crate::kernels::gemm::PARALLEL_MIN_MACS;
use crate::kernels::pool::{parallel_for, participants, threads, Disjoint};
use crate::tensor::Value;
use crate::Result;

/// How many participants a batch of `n` samples and `macs` multiply-adds in all runs
/// on: one per pool thread (at most one per sample) where there are two samples or
/// more, the work reaches [`PARALLEL_MIN_MACS`] and the caller is not a pool worker
/// itself; else 1 (samples in turn, their gemms free to split).
pub(super) fn workers(n: usize, macs: usize) -> usize {
    let threads = threads();
    if threads > 1 && n >= 2 && macs >= PARALLEL_MIN_MACS {
        participants(n, threads)
    } else {
        1
    }
}

/// A buffer of equal parts, one per sample (or per participant, or per range): part
/// `i` is `data[i·len..(i+1)·len]`. `len` 0 gives every part empty (not wanted).
pub(super) struct Parts<'a> {
    pub(super) data: &'a mut [f32],
    pub(super) len: usize,
}

impl<'a> Parts<'a> {
    pub(super) fn new(data: &'a mut [f32], len: usize) -> Self {
        Parts { data, len }
    }

    /// No buffer: every part is empty.
    pub(super) fn none() -> Self {
        Parts {
            data: &mut [],
            len: 0,
        }
    }

    /// `data` as parts of `len` floats if it is wanted, else [`Parts::none`].
    pub(super) fn wanted(data: Option<&'a mut [f32]>, len: usize) -> Self {
        match data {
            Some(data) => Parts { data, len },
            None => Parts::none(),
        }
    }
}

/// How the batch is split over the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// Samples claimed one at a time by the pool's participants ([`parallel_for`]);
    /// backward, `min(n, 4·workers)` ranges of about equal size (at most four per
    /// participant, so a participant the host slows down takes fewer).
    Even,
    /// One block of `ceil(n / workers)` samples per worker (the last ones shorter or
    /// empty): the channels-first `conv3d` and `conv2d_transpose`.
    Blocks,
}

impl Cut {
    /// Number of ranges for `n` samples on `workers` participants.
    pub(super) fn count(self, n: usize, workers: usize) -> usize {
        match self {
            _ if workers <= 1 => 1,
            Cut::Even => n.min(4 * workers),
            Cut::Blocks => workers,
        }
    }

    /// Samples `[lo, hi)` of range `r` of `rn`.
    fn bounds(self, r: usize, rn: usize, n: usize) -> (usize, usize) {
        match self {
            Cut::Even => (r * n / rn, (r + 1) * n / rn),
            Cut::Blocks => {
                let per = n.div_ceil(rn);
                ((r * per).min(n), ((r + 1) * per).min(n))
            }
        }
    }
}

/// Per-sample work of a forward pass: `f(i, slot, out_i, serial)`, `serial` true when
/// the call runs inside the parallel loop (its gemms must not split further).
pub(super) type SampleFn<'a> = dyn Fn(usize, &mut [f32], &mut [f32], bool) + Sync + 'a;

/// What one sample of a backward pass works with.
pub(super) struct Sample<'a> {
    /// The sample's index in the batch.
    pub(super) i: usize,
    /// The participant's scratch slot.
    pub(super) slot: &'a mut [f32],
    /// The sample's input gradient (empty when not wanted).
    pub(super) gx: &'a mut [f32],
    /// The sample's own part of a per-sample result (empty when there is none).
    pub(super) own: &'a mut [f32],
    /// The range's weight-gradient partial.
    pub(super) dw: &'a mut [f32],
    /// Whether this is the first sample of its range (the partial is to be
    /// overwritten, not added to).
    pub(super) first: bool,
    /// Whether this is the last sample of its range (a partial kept in another form
    /// while the range runs is to be finished).
    pub(super) last: bool,
    /// Whether the call runs inside the parallel loop (its gemms must not split).
    pub(super) serial: bool,
}

/// Per-sample work of a backward pass.
pub(super) type RangeFn<'a> = dyn Fn(Sample) + Sync + 'a;

/// Per-sample work of a backward pass from the output gradient ([`Batch::backward_from`]):
/// the sample, its slot what follows the gradient's floats, and the sample's output
/// gradient through the activation.
pub(super) type GradFn<'a> = dyn Fn(Sample, &[f32]) + Sync + 'a;

/// The output gradient a backward pass starts from: `gout`, `len` floats a sample, to
/// be taken through the epilogue's activation at the output `y`.
#[derive(Clone, Copy)]
pub(super) struct OutGrad<'a> {
    pub(super) epi: Epilogue,
    pub(super) gout: &'a [f32],
    pub(super) y: &'a [f32],
    pub(super) len: usize,
}

impl<'a> OutGrad<'a> {
    pub(super) fn new(epi: Epilogue, gout: &'a [f32], y: &'a [f32], len: usize) -> Self {
        OutGrad { epi, gout, y, len }
    }

    /// A participant's slot: the floats the sample's gradient through the activation
    /// takes ([`Epilogue::grad_len`]), then `extra` more.
    pub(super) fn slot(&self, extra: usize) -> usize {
        self.epi.grad_len(self.len) + extra
    }
}

/// The scratch a backward pass's participants work in ([`Batch::carve`]): one slot per
/// participant, one kernel-gradient partial per range.
pub(super) struct Work<'a> {
    slots: Parts<'a>,
    partials: Parts<'a>,
}

impl Work<'_> {
    /// The participants' slots, for a [`Batch::forward`] in the same scratch.
    pub(super) fn slots(&mut self) -> Parts<'_> {
        Parts::new(self.slots.data, self.slots.len)
    }

    /// The kernel gradient after [`Batch::backward`]: the first partial, which then
    /// holds the sum of all.
    pub(super) fn sum(&self) -> &[f32] {
        &self.partials.data[..self.partials.len]
    }
}

/// The participants of a batch: `n` samples on `workers` of them (1: samples in
/// turn, the gemms free to split), split as `cut` says.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batch {
    pub(super) n: usize,
    pub(super) workers: usize,
    pub(super) cut: Cut,
}

impl Batch {
    /// [`Cut::Even`].
    pub(super) fn even(n: usize, workers: usize) -> Batch {
        Batch {
            n,
            workers,
            cut: Cut::Even,
        }
    }

    /// [`Cut::Blocks`].
    pub(super) fn blocks(n: usize, workers: usize) -> Batch {
        Batch {
            n,
            workers,
            cut: Cut::Blocks,
        }
    }

    /// Runs `f` for each sample of `out` (parts of one sample each), with `slots`
    /// holding `workers` slots.
    pub(super) fn forward(&self, out: Parts, slots: Parts, f: &SampleFn) {
        let (n, os, slot) = (self.n, out.len, slots.len);
        if self.workers <= 1 {
            let own = &mut slots.data[..slot];
            for (i, y) in out.data[..n * os].chunks_mut(os.max(1)).enumerate() {
                f(i, own, y, false);
            }
            return;
        }
        let (ys, parts) = (
            Disjoint::new(out.data),
            Disjoint::new(&mut slots.data[..self.workers * slot]),
        );
        let sample = |i: usize, who: usize| {
            // SAFETY: sample i's output and participant who's slot are theirs alone.
            let (y, own) = unsafe { (ys.part(i * os, os), parts.part(who * slot, slot)) };
            f(i, own, y, true);
        };
        match self.cut {
            Cut::Even => parallel_for(n, self.workers, &sample),
            Cut::Blocks => parallel_for(self.workers, self.workers, &|blk, who| {
                let (lo, hi) = self.cut.bounds(blk, self.workers, n);
                (lo..hi).for_each(|i| sample(i, who));
            }),
        }
    }

    /// [`Batch::forward`] of a channels-last op: after `f`, each sample's output takes
    /// the epilogue `epi` (the bias along the last axis, from `inputs`, then the
    /// activation) while it is in cache.
    pub(super) fn forward_last(
        &self,
        epi: Epilogue,
        inputs: &[&Value],
        out: Parts,
        slots: Parts,
        f: &SampleFn,
    ) {
        let bias = epi.bias(inputs);
        self.forward(out, slots, &|i, slot, y, serial| {
            f(i, slot, y, serial);
            epi.apply_last(y, bias);
        });
    }

    /// A backward pass's float scratch in `buf` (grown to fit; `op` names the op in an
    /// allocation error): `head` floats first (what the pass prepares: kernel matrices),
    /// then the [`Work`]: a slot of `slot` floats per participant and a kernel-gradient
    /// partial of `partial` floats per range; then `tail` floats.
    pub(super) fn carve<'s>(
        &self,
        buf: &'s mut Vec<f32>,
        [head, slot, partial, tail]: [usize; 4],
        op: &str,
    ) -> Result<(&'s mut [f32], Work<'s>, &'s mut [f32])> {
        let slots = self.workers.max(1) * slot;
        let partials = self.cut.count(self.n, self.workers) * partial;
        grow(buf, head + slots + partials + tail, op)?;
        let (head, rest) = buf.split_at_mut(head);
        let (slots, rest) = rest.split_at_mut(slots);
        let (partials, rest) = rest.split_at_mut(partials);
        let work = Work {
            slots: Parts::new(slots, slot),
            partials: Parts::new(partials, partial),
        };
        Ok((head, work, &mut rest[..tail]))
    }

    /// Runs `f` for each sample over the ranges of the cut: `gx` and `own` hold per-sample
    /// parts, `work` one slot per participant and one weight-gradient partial per range;
    /// afterwards the first partial ([`Work::sum`]) holds their sum, added in range order.
    pub(super) fn backward(&self, gx: Parts, own: Parts, work: &mut Work, f: &RangeFn) {
        let n = self.n;
        if n == 0 {
            return;
        }
        let (cut, rn) = (self.cut, self.cut.count(n, self.workers));
        let (xs, ss, slot, plen) = (gx.len, own.len, work.slots.len, work.partials.len);
        let (parts, dws, gxs, owns) = (
            Disjoint::new(&mut work.slots.data[..self.workers.max(1) * slot]),
            Disjoint::new(&mut work.partials.data[..rn * plen]),
            Disjoint::new(gx.data),
            Disjoint::new(own.data),
        );
        let range = |r: usize, who: usize, serial: bool| {
            let (lo, hi) = cut.bounds(r, rn, n);
            // SAFETY: range r's partial, its samples' parts and participant who's slot
            // are theirs alone (with one range, all are the caller's).
            let (slot, dw) = unsafe { (parts.part(who * slot, slot), dws.part(r * plen, plen)) };
            if lo >= hi {
                dw.fill(0.0);
            }
            for i in lo..hi {
                // SAFETY: as above.
                let (gx, own) = unsafe { (gxs.part(i * xs, xs), owns.part(i * ss, ss)) };
                f(Sample {
                    i,
                    slot: &mut *slot,
                    gx,
                    own,
                    dw: &mut *dw,
                    first: i == lo,
                    last: i + 1 == hi,
                    serial,
                });
            }
        };
        if rn == 1 {
            return range(0, 0, false);
        }
        // each range run whole by one participant, in that participant's slot
        parallel_for(rn, self.workers, &|r, who| range(r, who, true));
        let (first, others) = work.partials.data[..rn * plen].split_at_mut(plen);
        for other in others.chunks(plen.max(1)) {
            for (a, &b) in first.iter_mut().zip(other) {
                *a += b;
            }
        }
    }

    /// [`Batch::backward`] from `og`: each slot ([`OutGrad::slot`] floats) first takes
    /// the sample's output gradient through the activation, and `f` gets it with the
    /// sample, whose slot is then the rest.
    pub(super) fn backward_from(
        &self,
        og: OutGrad,
        gx: Parts,
        own: Parts,
        work: &mut Work,
        f: &GradFn,
    ) {
        let gmn = og.epi.grad_len(og.len);
        self.backward(gx, own, work, &|s: Sample| {
            let (gm, slot) = s.slot.split_at_mut(gmn);
            let gi = og.epi.sample_grad(og.gout, og.y, s.i, og.len, gm);
            f(Sample { slot, ..s }, gi)
        });
    }

    /// A channels-last backward pass from `og`: `f` for each sample if the input or the
    /// kernel gradient is wanted (`grads.x` holding `xs` floats a sample), then the
    /// kernel gradient's sum added into `grads.w` by `add_back(gw, sum)`, and the bias
    /// gradient: the column sums of the gradient through the activation, rows in order
    /// (what `bias_add` along the last axis computes, so fusion changes no bit).
    pub(super) fn backward_last(
        &self,
        og: OutGrad,
        grads: Grads,
        xs: usize,
        work: &mut Work,
        f: &GradFn,
        add_back: impl FnOnce(&mut [f32], &[f32]),
    ) {
        if grads.x.is_some() || grads.w.is_some() {
            self.backward_from(og, Parts::wanted(grads.x, xs), Parts::none(), work, f);
        }
        if let Some(gw) = grads.w {
            add_back(gw, work.sum());
        }
        (og.epi).bias_grad_last(grads.b, og.gout, og.y, self.n, og.len);
    }
}

/// The gradients one `backward_many` call wants: of the input (index 0), the kernel
/// (1) and the bias (2).
pub(super) struct Grads<'a> {
    pub(super) x: Option<&'a mut [f32]>,
    pub(super) w: Option<&'a mut [f32]>,
    pub(super) b: Option<&'a mut [f32]>,
}

impl<'a> Grads<'a> {
    /// `gins[k]` is the gradient of input `wanted[k]`.
    pub(super) fn new(wanted: &[usize], gins: &'a mut [&mut [f32]]) -> Self {
        let mut g = Grads {
            x: None,
            w: None,
            b: None,
        };
        for (&index, gin) in wanted.iter().zip(gins.iter_mut()) {
            match index {
                0 => g.x = Some(&mut **gin),
                1 => g.w = Some(&mut **gin),
                _ => g.b = Some(&mut **gin),
            }
        }
        g
    }
}
