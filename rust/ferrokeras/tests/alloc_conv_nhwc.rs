//! A steady-state train step through channels-last `conv2d` (`layout` "nhwc") allocates
//! nothing outside the gemm crate (the twin of `alloc_conv3d.rs`; its own test binary so
//! no other test allocates concurrently). The layers take every channels-last path: a
//! padded first layer with a fused bias and relu (no input gradient), col2im input
//! gradients (16 channels; stride 2), a full-correlation one (32 channels, stride 1) and
//! a 1x1 one. The shapes keep every layer serial: with four convolutions split over the batch, the
//! eight `parallel_for` calls of a step can outrun the pool's kept states while their
//! helper jobs wait in rayon's queue on a loaded machine, and `kernels::pool` then makes
//! a new one (an allocation of the pool, whatever the layout; `alloc_conv3d.rs` covers
//! the per-sample parallel path with one layer).

mod common;

#[path = "common/counting.rs"]
mod counting;

use common::*;
use counting::assert_steady_descent;
use ferrokeras::{Attr, DType, Graph};

#[test]
fn steady_state_channels_last_conv_train_step_allocates_nothing() {
    let mut g = Graph::new();
    let shape = [1, 5, 5, 3];
    let x = g.placeholder(DType::F32, vec![None, Some(5), Some(5), Some(3)], "x");
    // (kernel shape (rows, cols, in, out), strides, pads)
    let layers: [([usize; 4], i64, i64); 5] = [
        ([3, 3, 3, 16], 1, 1),
        ([3, 3, 16, 32], 1, 1),
        ([3, 3, 32, 32], 1, 1),
        ([3, 3, 32, 8], 2, 0),
        ([1, 1, 8, 4], 1, 0),
    ];
    let mut h = x;
    let mut params = Vec::new();
    for (i, &(ks, stride, pad)) in layers.iter().enumerate() {
        let k = g.variable(data(&ks, 1 + i as u64), &format!("k{i}"));
        let b = g.variable(data(&[ks[3]], 11 + i as u64), &format!("b{i}"));
        h = op(
            &mut g,
            "conv2d",
            &[h, k],
            &[
                ("layout", Attr::Str("nhwc".into())),
                ("kernel_layout", Attr::Str("hwio".into())),
                ("strides", Attr::Ints(vec![stride; 2])),
                ("pads", Attr::Ints(vec![pad; 4])),
            ],
        );
        h = op(&mut g, "bias_add", &[h, b], &[("axis", Attr::Int(-1))]);
        h = op(&mut g, "relu", &[h], &[]);
        params.extend([k, b]);
    }
    let sq = op(&mut g, "square", &[h], &[]);
    let loss = op(&mut g, "mean", &[sq], &[]);
    let updates = sgd_updates(&mut g, loss, &params, 0.01);
    let prog = g.compile(&[x], &[loss], updates).unwrap();
    assert_steady_descent(&prog, &data(&shape, 5));
}
