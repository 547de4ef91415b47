//! Compile-time fusion: an elementwise epilogue folded into the op that produces its
//! input, so a Program makes one pass over memory where the graph has two or three.
//!
//! Two rewrites, applied in topological order so they chain:
//! - `act(p(...))` with `act` relu/tanh/sigmoid ([`Op::as_activation`](crate::ops::Op::as_activation)) becomes
//!   `p'(...)` when `p` can apply it itself ([`Op::with_activation`](crate::ops::Op::with_activation): `bias_add`,
//!   `conv2d`, and the channels-last `conv2d_transpose`, `depthwise_conv2d`, `conv3d`);
//! - `bias_add(p(...), b)` becomes `p'(..., b)` when `p` can add a per-channel bias
//!   along that axis in its epilogue ([`Op::with_bias_activation`](crate::ops::Op::with_bias_activation):
//!   `matmul`, any axis; `conv2d`, axis 1 of a channels-first output, axis 3 (the last)
//!   of a channels-last one; the channels-last `conv2d_transpose`, `depthwise_conv2d`
//!   and `conv3d`, their last axis). A folded `matmul` then takes the activation too.
//!
//! So Keras' `Convolution2D` followed by `Activation('relu')` runs as one `conv2d`
//! node, and `Dense` (with or without an `Activation` layer after it) as one `matmul`.
//!
//! A producer is folded only when its output is needed nowhere else: its only
//! consumer is the fused node, and it is not a Program output, not the value of an
//! update and not a loss or a differentiated node of a gradient. The fused ops compute
//! exactly what the chain computes (`ops/epilogue.rs`), so fusing never changes a
//! result; [`crate::graph::Graph::set_fusion`] turns the pass off to prove it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{Node, NodeId, NodeKind};

/// Rewrites the `needed` nodes of `all`. Returns the replaced nodes by id; the folded
/// producers are marked not needed. `protected` holds the ids whose values must stay
/// observable.
pub(crate) fn fuse(
    all: &[Arc<Node>],
    needed: &mut [bool],
    protected: &HashSet<NodeId>,
) -> HashMap<usize, Arc<Node>> {
    let mut consumers = vec![0usize; all.len()];
    for (id, n) in all.iter().enumerate() {
        if needed[id] {
            for i in &n.inputs {
                consumers[i.0] += 1;
            }
        }
    }
    let mut replaced: HashMap<usize, Arc<Node>> = HashMap::new();
    for id in 0..all.len() {
        if !needed[id] {
            continue;
        }
        let node = replaced.get(&id).unwrap_or(&all[id]).clone();
        let NodeKind::Op(op) = &node.kind else {
            continue;
        };
        let Some(&src) = node.inputs.first() else {
            continue;
        };
        let foldable = needed[src.0] && consumers[src.0] == 1 && !protected.contains(&src);
        if !foldable {
            continue;
        }
        let producer = replaced.get(&src.0).unwrap_or(&all[src.0]).clone();
        let NodeKind::Op(pop) = &producer.kind else {
            continue;
        };
        let fused = if let Some(act) = op.as_activation() {
            pop.with_activation(act)
                .map(|f| (f, producer.inputs.clone()))
        } else if let Some((axis, act)) = op.as_bias_add(node.ty.shape.len()) {
            pop.with_bias_activation(axis, act).map(|f| {
                let mut inputs = producer.inputs.clone();
                inputs.push(node.inputs[1]);
                (f, inputs)
            })
        } else {
            None
        };
        let Some((f, inputs)) = fused else {
            continue;
        };
        // Bias inputs are counted once per consumer already; the producer's inputs
        // move to the fused node, so every count stays right.
        replaced.insert(
            id,
            Arc::new(Node {
                kind: NodeKind::Op(f),
                inputs,
                ty: node.ty.clone(),
                name: producer.name.clone(),
            }),
        );
        needed[src.0] = false;
    }
    replaced
}

#[cfg(test)]
mod tests;
