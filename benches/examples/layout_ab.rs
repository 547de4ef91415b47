//! 'tf' (channels-last) vs 'th' (channels-first) time per layer, interleaved: for each
//! shape of `ferrokeras_benches::layouts`, rounds alternate the two orderings (A B, then
//! B A, ...), each timing a few forward and backward (`backward_many` of the input and
//! kernel gradients, as a training step asks) passes in this thread's CPU time, so a
//! busy host's drift hits both alike. Prints per shape the medians (ms per forward,
//! per backward) of each ordering and the ratios tf / th.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo run --release -p ferrokeras-benches --example layout_ab
//! [-- ROUNDS [NAME-FILTER]]` (default 11 rounds).

use ferrokeras::ops::{OpCtx, Scratch};
use ferrokeras::{DType, Value};
use ferrokeras_benches::layouts::{cases, Side};
use ferrokeras_benches::{data, thread_cpu_seconds};

/// One ordering's buffers.
struct Run<'a> {
    side: &'a Side,
    x: Value,
    k: Value,
    y: Value,
    g: Vec<f32>,
    gx: Vec<f32>,
    gk: Vec<f32>,
    scratch: Scratch,
}

impl<'a> Run<'a> {
    fn new(side: &'a Side) -> Self {
        let (x, k) = side.inputs();
        let y = Value::zeros(DType::F32, &side.y);
        let g = data(y.len(), 3);
        Run {
            side,
            gx: vec![0.0; x.len()],
            gk: vec![0.0; k.len()],
            x,
            k,
            y,
            g,
            scratch: Scratch::default(),
        }
    }

    /// Seconds of `reps` forwards and of `reps` backwards.
    fn time(&mut self, reps: usize) -> (f64, f64) {
        let Run {
            side,
            x,
            k,
            y,
            g,
            gx,
            gk,
            scratch,
        } = self;
        let ins = [&*x, &*k];
        let fwd = seconds(reps, || {
            let mut ctx = OpCtx { scratch };
            side.op.forward(&ins, y, &mut ctx).unwrap()
        });
        let bwd = seconds(reps, || {
            let mut ctx = OpCtx { scratch };
            let mut gins = [&mut gx[..], &mut gk[..]];
            side.op
                .backward_many(&[0, 1], &ins, y, g, &mut gins, &mut ctx)
                .unwrap()
        });
        (fwd, bwd)
    }
}

/// Seconds of this thread's CPU time that `reps` calls of `f` take.
fn seconds(reps: usize, mut f: impl FnMut()) -> f64 {
    let t0 = thread_cpu_seconds();
    for _ in 0..reps {
        f();
    }
    thread_cpu_seconds() - t0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).map_or(11, |a| a.parse().expect("ROUNDS"));
    let filter = args.get(2).cloned().unwrap_or_default();
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}",
        "shape", "th fwd ms", "tf fwd ms", "th bwd ms", "tf bwd ms", "fwd tf/th", "bwd tf/th"
    );
    for case in cases() {
        if !case.name.contains(&filter) {
            continue;
        }
        let mut runs = [Run::new(&case.th), Run::new(&case.tf)];
        // about 50 ms of forward work per round at 10 GFLOP/s
        let reps = (2.5e7 / case.macs as f64).ceil().max(1.0) as usize;
        for r in runs.iter_mut() {
            r.time(1);
        }
        let mut t = [[vec![], vec![]], [vec![], vec![]]];
        for round in 0..rounds {
            for i in [round % 2, 1 - round % 2] {
                let (f, b) = runs[i].time(reps);
                t[i][0].push(f / reps as f64 * 1e3);
                t[i][1].push(b / reps as f64 * 1e3);
            }
        }
        let [[thf, thb], [tff, tfb]] = t.map(|s| s.map(|mut v| median(&mut v)));
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>7.2} {:>7.2}",
            case.name,
            thf,
            tff,
            thb,
            tfb,
            tff / thf,
            tfb / thb
        );
    }
}
