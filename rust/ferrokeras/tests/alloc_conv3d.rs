//! A steady-state train step through `conv3d`, `maxpool3d` and `avgpool3d` allocates
//! nothing outside the gemm crate (the twin of `alloc.rs` for the 3-D ops; its own test
//! binary so no other test allocates concurrently), nor one through the channels-last
//! pooling kernels (`layout` `"nhwc"` / `"ndhwc"`). The batch is large enough for the
//! per-sample parallel conv3d path on a multi-core machine; its products are split
//! across threads too, and posting a product's helper jobs to rayon boxes one small job
//! per helper (`kernels::pool::handing_off`), which is not counted either.

mod common;

#[path = "common/counting.rs"]
mod counting;

use common::*;
use counting::assert_steady_descent;
use ferrokeras::{Attr, DType, Graph, NodeId};

#[test]
fn steady_state_conv3d_pool3d_train_step_allocates_nothing() {
    let mut g = Graph::new();
    let shape = [8, 2, 6, 8, 8];
    let x = g.placeholder(
        DType::F32,
        vec![None, Some(2), Some(6), Some(8), Some(8)],
        "x",
    );
    let k = g.variable(data(&[3, 2, 3, 3, 3], 1), "k");
    let h = op(
        &mut g,
        "conv3d",
        &[x, k],
        &[("pads", Attr::Ints(vec![1; 6])), ("flip", Attr::Bool(true))],
    );
    let h = op(&mut g, "relu", &[h], &[]);
    let h = op(
        &mut g,
        "maxpool3d",
        &[h],
        &[("pool", Attr::Ints(vec![2, 2, 2]))],
    );
    let h = op(
        &mut g,
        "avgpool3d",
        &[h],
        &[
            ("pool", Attr::Ints(vec![2, 2, 2])),
            ("strides", Attr::Ints(vec![1, 1, 1])),
            ("pads", Attr::Ints(vec![0, 1, 0, 1, 0, 1])),
        ],
    );
    let sq = op(&mut g, "square", &[h], &[]);
    let loss = op(&mut g, "mean", &[sq], &[]);
    let updates = sgd_updates(&mut g, loss, &[k], 0.01);
    let prog = g.compile(&[x], &[loss], updates).unwrap();
    assert_steady_descent(&prog, &data(&shape, 5));
    channels_last_pooling_step();
}

/// x + k (k a variable of x's shape) -> maxpool2d 2x2 -> avgpool2d 3x3 'same' (both
/// "nhwc") -> reshape to 5-D -> maxpool3d "ndhwc". Small enough to stay on the calling
/// thread: on a loaded 2-core host the parallel loop's shared states can all still be
/// held by helper jobs waiting in rayon's queue, and then a call makes a new one (an
/// allocation of the thread pool's, not of these kernels).
fn channels_last_pooling_step() {
    let mut g = Graph::new();
    let shape = [2, 16, 16, 8];
    let x = g.placeholder(DType::F32, vec![None, Some(16), Some(16), Some(8)], "x");
    let k = g.variable(data(&shape, 2), "k");
    let h = op(&mut g, "add", &[x, k], &[]);
    let nhwc = || ("layout", Attr::Str("nhwc".into()));
    let h = op(&mut g, "maxpool2d", &[h], &[nhwc()]);
    let h = op(
        &mut g,
        "avgpool2d",
        &[h],
        &[
            ("pool", Attr::Ints(vec![3, 3])),
            ("strides", Attr::Ints(vec![1, 1])),
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            nhwc(),
        ],
    );
    let h = op(
        &mut g,
        "reshape",
        &[h],
        &[("shape", Attr::Ints(vec![-1, 2, 4, 8, 8]))],
    );
    let h: NodeId = op(
        &mut g,
        "maxpool3d",
        &[h],
        &[("layout", Attr::Str("ndhwc".into()))],
    );
    let sq = op(&mut g, "square", &[h], &[]);
    let loss = op(&mut g, "mean", &[sq], &[]);
    let updates = sgd_updates(&mut g, loss, &[k], 0.5);
    let prog = g.compile(&[x], &[loss], updates).unwrap();
    assert_steady_descent(&prog, &data(&shape, 6));
}
