//! Reverse-mode autodiff planning. For each scalar loss whose gradients a Program needs,
//! the sweep is the set of nodes that lie on a path from a differentiated node to the
//! loss; at run time the executor visits them in reverse topological order, calling each
//! op's vector-Jacobian product and accumulating where a node feeds several consumers.

use std::collections::HashSet;

use super::{Node, NodeKind};
use crate::{Error, Result};

/// A planned reverse sweep, in Program slot numbers.
#[derive(Debug, Clone)]
pub(crate) struct Sweep {
    /// Slot of the loss.
    pub loss: usize,
    /// Every slot that needs a gradient buffer (region nodes and differentiated leaves).
    pub needs: Vec<bool>,
    /// Op slots whose backward runs, in reverse topological order.
    pub order: Vec<usize>,
}

/// Plans the sweep of `loss` (a slot) for the differentiated slots `wrt`. `inputs[s]`
/// gives the input slots of slot `s`; slots are topologically ordered.
pub(crate) fn plan(
    nodes: &[&Node],
    inputs: &[Vec<usize>],
    loss: usize,
    wrt: &HashSet<usize>,
) -> Result<Sweep> {
    let n = nodes.len();
    // Forward pass: which slots depend on a differentiated slot.
    let mut reaches = vec![false; n];
    for s in 0..=loss {
        if wrt.contains(&s) {
            reaches[s] = true;
            continue;
        }
        match &nodes[s].kind {
            NodeKind::Op(op) => {
                reaches[s] = inputs[s]
                    .iter()
                    .enumerate()
                    .any(|(k, &i)| reaches[i] && op.has_grad(k));
            }
            // A gradient depends on whatever its loss and differentiated node depend on;
            // meeting one on the way back from the loss means a second-order gradient,
            // which is refused below rather than silently treated as a constant.
            NodeKind::Grad { .. } => reaches[s] = inputs[s].iter().any(|&i| reaches[i]),
            _ => {}
        }
    }
    // Backward pass: which of those the loss depends on.
    let mut needs = vec![false; n];
    if reaches[loss] {
        needs[loss] = true;
    }
    let mut order = Vec::new();
    for s in (0..=loss).rev() {
        if !needs[s] {
            continue;
        }
        match &nodes[s].kind {
            NodeKind::Op(op) => {
                order.push(s);
                for (k, &i) in inputs[s].iter().enumerate() {
                    if reaches[i] && op.has_grad(k) {
                        needs[i] = true;
                    }
                }
            }
            NodeKind::Grad { .. } => {
                return Err(Error::Unsupported(format!(
                "second-order gradients are not supported (the loss depends on the gradient '{}')",
                nodes[s].name
            )))
            }
            _ => {}
        }
    }
    // Differentiated slots always get a (possibly zero) buffer.
    for &w in wrt {
        needs[w] = true;
    }
    Ok(Sweep { loss, needs, order })
}
