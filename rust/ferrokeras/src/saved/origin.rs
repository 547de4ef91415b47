//! What a Program was compiled from, kept by the Program so it can be saved: the graph
//! nodes it depends on (as built, before test-phase bypassing and fusion, with each op's
//! registry name and arguments), and the compile call's inputs, outputs and updates.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::graph::{Graph, Node, NodeId, NodeKind, OpRecord, Update};
use crate::{Error, Result};

/// One graph node a Program depends on.
#[derive(Debug, Clone)]
pub(crate) struct OriginNode {
    /// Its id in the graph it came from.
    pub id: NodeId,
    /// The node.
    pub node: Arc<Node>,
    /// How it was built, for op nodes built by name.
    pub record: Option<Arc<OpRecord>>,
}

/// The compile call of a Program, over the nodes it needs.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The nodes, in ascending id order (so inputs precede their consumers).
    pub nodes: Vec<OriginNode>,
    /// The graph's learning-phase placeholder.
    pub learning_phase: NodeId,
    /// Fed inputs.
    pub inputs: Vec<NodeId>,
    /// Outputs.
    pub outputs: Vec<NodeId>,
    /// Updates, as given to the compile call.
    pub updates: Vec<Update>,
    /// Compiled for the test phase only ([`Graph::compile_inference`]).
    pub inference: bool,
    /// The graph's fusion setting.
    pub fusion: bool,
    /// Free-form metadata carried by a program file (empty for a freshly compiled one).
    pub metadata: BTreeMap<String, String>,
}

impl Origin {
    /// Collects every node reachable backwards from the inputs, outputs and updates
    /// (including every variable an optimizer step reads or writes) and the learning
    /// phase.
    pub fn capture(
        g: &Graph,
        inputs: &[NodeId],
        outputs: &[NodeId],
        updates: &[Update],
        inference: bool,
    ) -> Result<Origin> {
        let all = g.nodes();
        let mut needed = vec![false; all.len()];
        let mut stack: Vec<NodeId> = vec![g.learning_phase()];
        stack.extend_from_slice(inputs);
        stack.extend_from_slice(outputs);
        for u in updates {
            match u {
                Update::Assign { var, value } => {
                    stack.push(g.var_node(*var)?);
                    stack.push(*value);
                }
                Update::Fused { op, inputs } => {
                    stack.extend_from_slice(inputs);
                    for v in op.writes() {
                        stack.push(g.var_node(v)?);
                    }
                    if let Some(opt) = op.as_optimizer() {
                        for (_, v) in opt.hyper().vars() {
                            stack.push(g.var_node(v)?);
                        }
                    }
                }
            }
        }
        while let Some(id) = stack.pop() {
            let n = all.get(id.0).ok_or_else(|| {
                Error::Value(format!("node {} does not belong to this graph", id.0))
            })?;
            if !needed[id.0] {
                needed[id.0] = true;
                stack.extend_from_slice(&n.inputs);
                if let NodeKind::Grad { loss, wrt } = n.kind {
                    stack.push(loss);
                    stack.push(wrt);
                }
            }
        }
        let nodes = (0..all.len())
            .filter(|&i| needed[i])
            .map(|i| OriginNode {
                id: NodeId(i),
                node: all[i].clone(),
                record: g.op_record(NodeId(i)).cloned(),
            })
            .collect();
        Ok(Origin {
            nodes,
            learning_phase: g.learning_phase(),
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            updates: updates.to_vec(),
            inference,
            fusion: g.fusion(),
            metadata: BTreeMap::new(),
        })
    }
}
