//! Variable updates run at the end of a Program call, after every output and gradient
//! has been computed from the pre-step values (Keras' simultaneous-assignment rule).

use std::fmt::Debug;
use std::sync::Arc;

use super::{NodeId, VarData, VarId};
use crate::tensor::Value;
use crate::Result;

/// An in-place update of several variables from computed inputs: the optimizers'
/// fused steps (parameters, slots and `iterations` in one pass).
pub trait UpdateOp: Send + Sync + Debug {
    /// A name for messages.
    fn name(&self) -> &str;
    /// Variables this update writes (checked against the store at compile time).
    fn writes(&self) -> Vec<VarId>;
    /// Applies the update; `inputs` are the values of the nodes given with it.
    fn apply(&self, inputs: &[&Value], vars: &mut VarData) -> Result<()>;
    /// The optimizer step this is, if it is one (what a saved program records).
    fn as_optimizer(&self) -> Option<&crate::optim::OptimizerUpdate> {
        None
    }
}

/// One update of a Program.
#[derive(Debug, Clone)]
pub enum Update {
    /// `var <- value of node` (Keras `K.update`, `(var, new_value)` tuples).
    Assign {
        /// Target variable.
        var: VarId,
        /// Node whose value is written.
        value: NodeId,
    },
    /// A fused in-place update reading the values of `inputs`.
    Fused {
        /// The update kernel.
        op: Arc<dyn UpdateOp>,
        /// Nodes whose values it reads (gradients, usually).
        inputs: Vec<NodeId>,
    },
}
