//! The batch split shared by the channels-last transposed, depthwise and volumetric
//! convolutions (`deconv_nhwc.rs`, `depthwise_nhwc.rs`, `conv3d_ndhwc.rs`), the same
//! split `conv_nhwc.rs` uses: samples run in turn, or are claimed one at a time by the
//! pool's participants ([`parallel_for`]), each participant with its own slot of scratch.
//! Backward, the batch is cut into fixed contiguous sample ranges (at most four per
//! participant) whose weight-gradient partials are added in range order afterwards, so
//! the result depends on the thread count but never on which thread ran what.

use crate::kernels::pool::{parallel_for, Disjoint};

/// Per-sample work of a forward pass: `f(i, slot, out_i, serial)`, `serial` true when
/// the call runs inside the parallel loop (its gemms must not split further).
pub(super) type SampleFn<'a> = dyn Fn(usize, &mut [f32], &mut [f32], bool) + Sync + 'a;

/// Per-sample work of a backward pass: `f(i, slot, gx_i, partial, first, serial)`, with
/// `first` true for the first sample of its range (the partial is to be overwritten,
/// not added to).
pub(super) type RangeFn<'a> =
    dyn Fn(usize, &mut [f32], &mut [f32], &mut [f32], bool, bool) + Sync + 'a;

/// Number of weight-gradient ranges for `n` samples on `workers` participants.
pub(super) fn ranges(n: usize, workers: usize) -> usize {
    if workers > 1 {
        n.min(4 * workers)
    } else {
        1
    }
}

/// Runs `f` for each of the `n` samples of `out` (`os` floats each), with `slots`
/// holding `workers` slots of `slot` floats.
pub(super) fn forward_samples(
    n: usize,
    workers: usize,
    out: &mut [f32],
    os: usize,
    slots: &mut [f32],
    slot: usize,
    f: &SampleFn,
) {
    if workers <= 1 {
        let own = &mut slots[..slot];
        for (i, y) in out[..n * os].chunks_mut(os.max(1)).enumerate() {
            f(i, own, y, false);
        }
        return;
    }
    let (ys, parts) = (
        Disjoint::new(out),
        Disjoint::new(&mut slots[..workers * slot]),
    );
    parallel_for(n, workers, &|i, who| {
        // SAFETY: sample i's output and participant who's slot are theirs alone.
        let (y, own) = unsafe { (ys.part(i * os, os), parts.part(who * slot, slot)) };
        f(i, own, y, true);
    });
}

/// Runs `f` for each of the `n` samples over [`ranges`] fixed ranges: `gx` holds the
/// samples' input gradients (`xs` floats each; `xs` 0 when not wanted), `partials`
/// one partial of `plen` floats per range; afterwards `partials[..plen]` holds their
/// sum, added in range order.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_ranges(
    n: usize,
    workers: usize,
    gx: &mut [f32],
    xs: usize,
    slots: &mut [f32],
    slot: usize,
    partials: &mut [f32],
    plen: usize,
    f: &RangeFn,
) {
    if n == 0 {
        return;
    }
    let rn = ranges(n, workers);
    if rn == 1 {
        let own = &mut slots[..slot];
        for i in 0..n {
            f(
                i,
                own,
                &mut gx[i * xs..(i + 1) * xs],
                &mut partials[..plen],
                i == 0,
                false,
            );
        }
        return;
    }
    {
        let (parts, dws, gxs) = (
            Disjoint::new(&mut slots[..workers * slot]),
            Disjoint::new(&mut partials[..rn * plen]),
            Disjoint::new(gx),
        );
        parallel_for(rn, workers, &|r, who| {
            let (lo, hi) = (r * n / rn, (r + 1) * n / rn);
            // SAFETY: range r's partial, its samples' gradients and participant who's
            // slot are theirs alone.
            let (own, dw) = unsafe { (parts.part(who * slot, slot), dws.part(r * plen, plen)) };
            for i in lo..hi {
                // SAFETY: as above.
                let gxi = unsafe { gxs.part(i * xs, xs) };
                f(i, own, gxi, dw, i == lo, true);
            }
        });
    }
    let (first, others) = partials[..rn * plen].split_at_mut(plen);
    for other in others.chunks(plen.max(1)) {
        for (a, &b) in first.iter_mut().zip(other) {
            *a += b;
        }
    }
}
