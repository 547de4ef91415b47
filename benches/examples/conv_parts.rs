//! Where a conv2d's time goes on one thread, in this thread's CPU time: the op's
//! forward and its two backward passes on a batch of 32, per sample, next to the bare
//! gemm of the same size, at the W4 layer shapes. The difference is what the op adds
//! around its products: padding, transposes, kernel re-layout (and, for 3 channels,
//! im2col / col2im). A second line per shape gives both gradients in one `backward_many`
//! call, then the same four times for the channels-last op (Keras 'tf').
//!
//! Run: `RAYON_NUM_THREADS=1 cargo run --release -p ferrokeras-benches --example conv_parts`

use ferrokeras::kernels::gemm::{n, sgemm_serial, t};
use ferrokeras::ops::{build, OpCtx, OpRef, Scratch};
use ferrokeras::{Attr, Attrs, Value};
use ferrokeras_benches::{data, thread_cpu_seconds};

/// Batch size of the timed calls.
const N: usize = 32;

/// Best of 7 timings of `reps` calls, in µs per call.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t0 = thread_cpu_seconds();
        for _ in 0..reps {
            f();
        }
        best = best.min((thread_cpu_seconds() - t0) / reps as f64);
    }
    best * 1e6
}

fn main() {
    // (C, H, W, O): the four convolutions of W4 (3x3, valid).
    for &(c, h, w, o) in &[
        (3, 32, 32, 32),
        (32, 30, 30, 32),
        (32, 14, 14, 64),
        (64, 12, 12, 64),
    ] {
        let (oh, ow) = (h - 2, w - 2);
        let (k, p) = (c * 9, oh * ow);
        let gb = data(N * o * p, 3);
        let g = &gb[..o * p];
        let reps = (2e8 / (2.0 * (o * k * p) as f64)) as usize + 5;
        let th = build("conv2d", &Attrs::new("conv2d")).unwrap();
        let shapes = [[N, c, h, w], [o, c, 3, 3], [N, o, oh, ow]];
        let (fwd, bx, bk, bb) = op_parts(&th, shapes, reps);
        let (wm, cols) = (data(o * k, 4), data(k * p, 5));
        let mut out = vec![0.0; o * p];
        let gf = time(reps, || {
            sgemm_serial(o, p, k, n(&wm), n(&cols), &mut out, false)
        });
        let mut outt = vec![0.0; p * o];
        let gft = time(reps, || {
            sgemm_serial(p, o, k, t(&cols), t(&wm), &mut outt, false)
        });
        let mut dcols = vec![0.0; k * p];
        let gbx = time(reps, || {
            sgemm_serial(k, p, o, t(&wm), n(g), &mut dcols, false)
        });
        let mut dw = vec![0.0; o * k];
        let gbk = time(reps, || {
            sgemm_serial(o, k, p, n(g), t(&cols), &mut dw, true)
        });
        let mut dwt = vec![0.0; k * o];
        let gbkt = time(reps, || {
            sgemm_serial(k, o, p, n(&cols), t(g), &mut dwt, true)
        });
        let gfl = |us: f64| 2.0 * (o * k * p) as f64 / us / 1e3;
        println!(
            "C{c:>2} {h}x{w} O{o:>2}: fwd {fwd:6.1} us (gemm {gf:6.1}, as Yt {gft:6.1}, {:.0} GF/s)  dX {bx:6.1} (gemm {gbx:6.1})  dW {bk:6.1} (gemm {gbk:6.1}; as dWt {gbkt:6.1})  gemm GF/s fwd {:.0} dX {:.0} dW {:.0} dWt {:.0}",
            gfl(fwd), gfl(gf), gfl(gbx), gfl(gbk), gfl(gbkt)
        );
        let tf = Attrs::new("conv2d")
            .with("layout", Attr::Str("nhwc".into()))
            .with("kernel_layout", Attr::Str("hwio".into()));
        let shapes = [[N, h, w, c], [3, 3, c, o], [N, oh, ow, o]];
        let (nf, nx, nk, nb) = op_parts(&build("conv2d", &tf).unwrap(), shapes, reps);
        println!(
            "    dX+dW in one call {bb:6.1}; channels-last (HWIO, no flip): fwd {nf:6.1} us  dX {nx:6.1}  dW {nk:6.1}  dX+dW in one call {nb:6.1}"
        );
    }
}

/// Per-sample µs of a conv2d `op` on a batch of `N` (shapes `[x, kernel, y]`), each the
/// best of 7 runs of about `reps / N` calls: forward, input gradient, kernel gradient, and
/// both gradients in one `backward_many` call (the executor's way).
fn op_parts(op: &OpRef, [xs, ks, ys]: [[usize; 4]; 3], reps: usize) -> (f64, f64, f64, f64) {
    let len = |s: &[usize]| s.iter().product::<usize>();
    let x = Value::from_f32(&xs, data(len(&xs), 1)).unwrap();
    let kern = Value::from_f32(&ks, data(len(&ks), 2)).unwrap();
    let gb = data(len(&ys), 3);
    let mut y = Value::from_f32(&ys, vec![0.0; len(&ys)]).unwrap();
    let mut s = Scratch::default();
    let per = |us: f64| us / N as f64;
    let ins = [&x, &kern];
    let fwd = per(time(reps / N + 1, || {
        op.forward(&ins, &mut y, &mut OpCtx { scratch: &mut s })
            .unwrap()
    }));
    let (mut gx, mut gk) = (vec![0.0; x.len()], vec![0.0; kern.len()]);
    let one = |i: usize, g: &mut [f32], s: &mut Scratch| {
        op.backward_one(i, &ins, &y, &gb, g, &mut OpCtx { scratch: s })
            .unwrap()
    };
    let bx = per(time(reps / N + 1, || one(0, &mut gx, &mut s)));
    let bk = per(time(reps / N + 1, || one(1, &mut gk, &mut s)));
    let both = per(time(reps / N + 1, || {
        op.backward_many(
            &[0, 1],
            &ins,
            &y,
            &gb,
            &mut [&mut gx, &mut gk],
            &mut OpCtx { scratch: &mut s },
        )
        .unwrap()
    }));
    (fwd, bx, bk, both)
}
