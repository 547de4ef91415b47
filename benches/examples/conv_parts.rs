//! Where a conv2d's time goes on one thread, in this thread's CPU time: the op's
//! forward and its two backward passes on a batch of 32, per sample, next to the bare
//! gemm of the same size, at the W4 layer shapes. The difference is what the op adds
//! around its products: padding, transposes, kernel re-layout (and, for 3 channels,
//! im2col / col2im). A second line per shape times the channels-last op (Keras 'tf').
//!
//! Run: `RAYON_NUM_THREADS=1 cargo run --release -p ferrokeras-benches --example conv_parts`

use ferrokeras::kernels::gemm::{n, sgemm_serial, t};
use ferrokeras::ops::{build, OpCtx, Scratch};
use ferrokeras::{Attr, Attrs, Value};
use ferrokeras_benches::{data, thread_cpu_seconds};

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
        const N: usize = 32;
        let x = Value::from_f32(&[N, c, h, w], data(N * c * h * w, 1)).unwrap();
        let kern = Value::from_f32(&[o, c, 3, 3], data(o * k, 2)).unwrap();
        let gb = data(N * o * p, 3);
        let g = &gb[..o * p];
        let op = build("conv2d", &Attrs::new("conv2d")).unwrap();
        let mut y = Value::from_f32(&[N, o, oh, ow], vec![0.0; N * o * p]).unwrap();
        let mut s = Scratch::default();
        let reps = (2e8 / (2.0 * (o * k * p) as f64)) as usize + 5;
        let per = |us: f64| us / N as f64;
        let fwd = per(time(reps / N + 1, || {
            op.forward(&[&x, &kern], &mut y, &mut OpCtx { scratch: &mut s })
                .unwrap()
        }));
        let mut gx = vec![0.0; N * c * h * w];
        let bx = per(time(reps / N + 1, || {
            op.backward_one(
                0,
                &[&x, &kern],
                &y,
                &gb,
                &mut gx,
                &mut OpCtx { scratch: &mut s },
            )
            .unwrap()
        }));
        let mut gk = vec![0.0; o * k];
        let bk = per(time(reps / N + 1, || {
            op.backward_one(
                1,
                &[&x, &kern],
                &y,
                &gb,
                &mut gk,
                &mut OpCtx { scratch: &mut s },
            )
            .unwrap()
        }));
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
        let (nf, nx, nk, nb) = nhwc(c, h, w, o);
        println!(
            "    channels-last (HWIO, no flip): fwd {nf:6.1} us  dX {nx:6.1}  dW {nk:6.1}  dX+dW in one call {nb:6.1}"
        );
    }
}

/// Per-sample µs of the channels-last op (Keras 'tf': an HWIO kernel, no flip) at one W4
/// shape: forward, input gradient, kernel gradient, and both gradients in one
/// `backward_many` call (the executor's way).
fn nhwc(c: usize, h: usize, w: usize, o: usize) -> (f64, f64, f64, f64) {
    const N: usize = 32;
    let (oh, ow) = (h - 2, w - 2);
    let (k, p) = (c * 9, oh * ow);
    let x = Value::from_f32(&[N, h, w, c], data(N * c * h * w, 1)).unwrap();
    let kern = Value::from_f32(&[3, 3, c, o], data(o * k, 2)).unwrap();
    let gb = data(N * o * p, 3);
    let attrs = Attrs::new("conv2d")
        .with("layout", Attr::Str("nhwc".into()))
        .with("kernel_layout", Attr::Str("hwio".into()));
    let op = build("conv2d", &attrs).unwrap();
    let mut y = Value::from_f32(&[N, oh, ow, o], vec![0.0; N * o * p]).unwrap();
    let mut s = Scratch::default();
    let reps = (2e8 / (2.0 * (o * k * p) as f64)) as usize + 5;
    let per = |us: f64| us / N as f64;
    let ins = [&x, &kern];
    let fwd = per(time(reps / N + 1, || {
        op.forward(&ins, &mut y, &mut OpCtx { scratch: &mut s })
            .unwrap()
    }));
    let (mut gx, mut gk) = (vec![0.0; N * c * h * w], vec![0.0; o * k]);
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
