//! Criterion benchmarks of 2-D max and average pooling (2x2, stride 2: Keras'
//! MaxPooling2D / AveragePooling2D defaults) in both layouts on the same data, at the
//! shapes the W4 and W4b workloads pool (the outputs of their second and fourth
//! convolutions, batch 32).
//!
//! Ids: `<op>_fwd_bwd/<layout>/<shape>`, one training step of the layer (forward, then
//! the input gradient), throughput in input elements; `<shape>` is N x C x H x W.
//! Layouts:
//! - `nchw`: the channels-first op on (N, C, H, W) ('th' ordering);
//! - `nhwc`: the channels-last op (`layout = "nhwc"`) on (N, H, W, C) ('tf' ordering);
//! - `nhwc_permuted`: what 'tf' ordering paid before the channels-last op: permute to
//!   (N, C, H, W), the channels-first op, permute back (and the permutes' backward).
//!
//! After the criterion groups, one line per op and shape gives the ratios from
//! interleaved rounds (the fastest round of each): `ratio <op> <shape>: nhwc/nchw fwd
//! <r>x, fwd+bwd <r>x; nhwc/permuted fwd+bwd <r>x`.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo bench -p ferrokeras-benches --bench pool`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokeras::ops::{build, OpCtx, OpRef, Scratch};
use ferrokeras::{Attr, Attrs, DType, Value};
use ferrokeras_benches::data;

/// (name, N, C, H, W) of the pooled feature maps.
const SHAPES: &[(&str, [usize; 4])] = &[
    ("w4_32x32x28x28", [32, 32, 28, 28]),
    ("w4_32x64x10x10", [32, 64, 10, 10]),
    ("w4b_32x32x96x96", [32, 32, 96, 96]),
    ("w4b_32x64x44x44", [32, 64, 44, 44]),
];

fn pool_op(name: &str, layout: &str) -> OpRef {
    build(
        name,
        &Attrs::new(name)
            .with("pool", Attr::Ints(vec![2, 2]))
            .with("layout", Attr::Str(layout.into())),
    )
    .unwrap()
}

fn permute(pattern: &[i64]) -> OpRef {
    build(
        "permute",
        &Attrs::new("permute").with("pattern", Attr::Ints(pattern.to_vec())),
    )
    .unwrap()
}

/// One op on one input: buffers for its output and input gradient.
struct Step {
    op: OpRef,
    y: Value,
    gx: Vec<f32>,
    scratch: Scratch,
}

impl Step {
    fn new(op: OpRef, in_shape: &[usize], out_shape: &[usize]) -> Step {
        Step {
            op,
            y: Value::zeros(DType::F32, out_shape),
            gx: vec![0.0; in_shape.iter().product()],
            scratch: Scratch::default(),
        }
    }
    fn fwd(&mut self, x: &Value) {
        let mut ctx = OpCtx {
            scratch: &mut self.scratch,
        };
        self.op.forward(&[x], &mut self.y, &mut ctx).unwrap();
    }
    /// Input gradient for `gy` (overwritten, as the executor hands out zeroed buffers).
    fn bwd(&mut self, x: &Value, gy: &[f32]) {
        self.gx.fill(0.0);
        let mut ctx = OpCtx {
            scratch: &mut self.scratch,
        };
        self.op
            .backward(0, &[x], &self.y, gy, &mut self.gx, &mut ctx)
            .unwrap();
    }
}

fn bench_pool(c: &mut Criterion) {
    let mut grp = c.benchmark_group("pool");
    grp.sample_size(20);
    grp.warm_up_time(Duration::from_millis(800));
    grp.measurement_time(Duration::from_millis(2500));
    let mut lines = Vec::new();
    for &(name, [n, ch, h, w]) in SHAPES {
        let (oh, ow) = (h / 2, w / 2);
        let len = n * ch * h * w;
        let x_cf = Value::from_f32(&[n, ch, h, w], data(len, 1)).unwrap();
        let x_cl = Value::from_f32(&[n, h, w, ch], data(len, 1)).unwrap();
        let gy = data(n * ch * oh * ow, 2);
        grp.throughput(Throughput::Elements(len as u64));
        for opname in ["maxpool2d", "avgpool2d"] {
            let mut cf = Step::new(pool_op(opname, "nchw"), &[n, ch, h, w], &[n, ch, oh, ow]);
            let mut cl = Step::new(pool_op(opname, "nhwc"), &[n, h, w, ch], &[n, oh, ow, ch]);
            // the permuted path: x_cl -> (N, C, H, W) -> pool -> (N, OH, OW, C)
            let mut p_in = Step::new(permute(&[0, 3, 1, 2]), &[n, h, w, ch], &[n, ch, h, w]);
            let mut p_pool = Step::new(pool_op(opname, "nchw"), &[n, ch, h, w], &[n, ch, oh, ow]);
            let mut p_out = Step::new(permute(&[0, 2, 3, 1]), &[n, ch, oh, ow], &[n, oh, ow, ch]);

            let mut nchw_fwd = || {
                cf.fwd(&x_cf);
                black_box(&cf.y);
            };
            let mut nhwc_fwd = || {
                cl.fwd(&x_cl);
                black_box(&cl.y);
            };
            let fwd_ratio = ratio(&mut nhwc_fwd, &mut nchw_fwd);

            let mut nchw = || {
                cf.fwd(&x_cf);
                cf.bwd(&x_cf, &gy);
                black_box(&cf.gx);
            };
            let mut nhwc = || {
                cl.fwd(&x_cl);
                cl.bwd(&x_cl, &gy);
                black_box(&cl.gx);
            };
            let mut permuted = || {
                p_in.fwd(&x_cl);
                p_pool.fwd(&p_in.y);
                p_out.fwd(&p_pool.y);
                p_out.bwd(&p_pool.y, &gy);
                p_pool.bwd(&p_in.y, &p_out.gx);
                p_in.bwd(&x_cl, &p_pool.gx);
                black_box(&p_in.gx);
            };
            grp.bench_function(format!("{opname}_fwd_bwd/nchw/{name}"), |b| {
                b.iter(&mut nchw)
            });
            grp.bench_function(format!("{opname}_fwd_bwd/nhwc/{name}"), |b| {
                b.iter(&mut nhwc)
            });
            grp.bench_function(format!("{opname}_fwd_bwd/nhwc_permuted/{name}"), |b| {
                b.iter(&mut permuted)
            });
            let step_ratio = ratio(&mut nhwc, &mut nchw);
            let perm_ratio = ratio(&mut nhwc, &mut permuted);
            lines.push(format!(
                "ratio {opname} {name}: nhwc/nchw fwd {fwd_ratio:.2}x, fwd+bwd {step_ratio:.2}x; \
                 nhwc/permuted fwd+bwd {perm_ratio:.2}x"
            ));
        }
    }
    grp.finish();
    for l in lines {
        println!("{l}");
    }
}

/// Fastest-round time of `a` over fastest-round time of `b`, from 15 interleaved rounds
/// of enough calls for about 20 ms each.
fn ratio(a: &mut impl FnMut(), b: &mut impl FnMut()) -> f64 {
    let calls = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        (0.02 / t.elapsed().as_secs_f64().max(1e-7)).clamp(1.0, 10_000.0) as usize
    };
    let (na, nb) = (calls(a), calls(b));
    let round = |f: &mut dyn FnMut(), k: usize| {
        let t = Instant::now();
        for _ in 0..k {
            f();
        }
        t.elapsed().as_secs_f64() / k as f64
    };
    let (mut ta, mut tb) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..15 {
        ta = ta.min(round(a, na));
        tb = tb.min(round(b, nb));
    }
    ta / tb
}

criterion_group!(benches, bench_pool);
criterion_main!(benches);
