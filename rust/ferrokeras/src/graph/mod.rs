//! The static graph: placeholders, variables, constants, op nodes and gradient nodes,
//! appended in topological order (a node's inputs always have smaller ids).
//!
//! Variables live in a [`VarStore`] shared by every [`Program`] compiled from the graph,
//! so the train, test and predict Programs (and any `K.function`) see the same weights.

mod autodiff;
mod fuse;
pub mod profile;
mod program;
mod update;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

pub use program::{BatchData, BatchInput, ExecState, Program, Session, Steps};
pub use update::{Update, UpdateOp};

use crate::ops::{self, Attr, Attrs, OpRef, TypeInfo};
use crate::tensor::{fmt_dims, fmt_shape, DType, Shape, Value};
use crate::{Error, Result};

/// Index of a node in its graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// Index of a variable in its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub usize);

/// What a node is.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// Fed at run time.
    Placeholder,
    /// Reads a variable of the store.
    Variable(VarId),
    /// A fixed value.
    Constant(Arc<Value>),
    /// Applies an op to the input nodes.
    Op(OpRef),
    /// The gradient of the scalar node `loss` with respect to node `wrt`, computed by a
    /// reverse sweep when a Program runs.
    Grad {
        /// The scalar being differentiated.
        loss: NodeId,
        /// The node differentiated against.
        wrt: NodeId,
    },
}

/// One node: kind, inputs, static type and a name for messages.
#[derive(Debug, Clone)]
pub struct Node {
    /// What the node computes.
    pub kind: NodeKind,
    /// Input nodes (empty for sources).
    pub inputs: Vec<NodeId>,
    /// Static dtype and shape.
    pub ty: TypeInfo,
    /// A name for error messages (`dense_1_W`, `x`, or the op name).
    pub name: String,
}

/// The variables of a graph plus the random streams' call counters. One lock guards it,
/// so two Programs run from two threads never interleave their updates.
///
/// The values are read through [`VarData::values`] and written only through
/// [`VarData::values_mut`], which advances the store's [`epoch`](VarData::epoch): two
/// reads in the same epoch see the same values, so an op may keep work derived from a
/// variable (a packed weight matrix) for as long as the epoch has not moved.
#[derive(Debug, Default)]
pub struct VarData {
    /// Current values, indexed by [`VarId`].
    values: Vec<Value>,
    /// Names, for messages.
    pub names: Vec<String>,
    /// Per random node: how many times it has drawn.
    pub counters: HashMap<NodeId, u64>,
    /// Advanced by every [`VarData::values_mut`].
    epoch: u64,
}

impl VarData {
    /// The current values, indexed by [`VarId`].
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values for writing (or adding a variable); advances the [`epoch`](Self::epoch).
    pub fn values_mut(&mut self) -> &mut Vec<Value> {
        self.epoch += 1;
        &mut self.values
    }

    /// A count of the writes so far: equal epochs, equal values.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// Shared, locked variable storage.
#[derive(Debug, Default)]
pub struct VarStore {
    inner: Mutex<VarData>,
}

impl VarStore {
    /// Locks the store. A poisoned lock (a panic while holding it) is recovered: the
    /// data are plain buffers, always in a valid state between kernel calls.
    pub fn lock(&self) -> MutexGuard<'_, VarData> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A computation graph under construction.
#[derive(Debug)]
pub struct Graph {
    nodes: Vec<Arc<Node>>,
    store: Arc<VarStore>,
    learning_phase: NodeId,
    var_nodes: Vec<NodeId>,
    fusion: bool,
    /// Per node: the registry name and arguments an op node was built from (what a
    /// saved program records); `None` for other nodes and ops added by [`Graph::apply`].
    records: Vec<Option<Arc<OpRecord>>>,
}

/// How an op node was built: its registry name and arguments, so the same node can be
/// rebuilt through [`crate::ops::build`] (by a loaded program file).
#[derive(Debug, Clone, PartialEq)]
pub struct OpRecord {
    /// The registry name.
    pub name: String,
    /// The arguments, by name.
    pub attrs: BTreeMap<String, Attr>,
}

impl Default for Graph {
    fn default() -> Self {
        Graph::new()
    }
}

impl Graph {
    /// An empty graph holding only the learning-phase placeholder (a float scalar:
    /// 1 = training, 0 = test; 0 when not fed).
    pub fn new() -> Graph {
        let mut g = Graph {
            nodes: Vec::new(),
            store: Arc::new(VarStore::default()),
            learning_phase: NodeId(0),
            var_nodes: Vec::new(),
            fusion: true,
            records: Vec::new(),
        };
        g.learning_phase = g.push(Node {
            kind: NodeKind::Placeholder,
            inputs: vec![],
            ty: TypeInfo {
                dtype: DType::F32,
                shape: vec![],
            },
            name: "keras_learning_phase".into(),
        });
        g
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.records.push(None);
        self.nodes.push(Arc::new(node));
        NodeId(self.nodes.len() - 1)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the graph holds only the learning-phase node.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// The learning-phase placeholder.
    pub fn learning_phase(&self) -> NodeId {
        self.learning_phase
    }

    /// The shared variable store.
    pub fn store(&self) -> &Arc<VarStore> {
        &self.store
    }

    /// A node by id.
    pub fn node(&self, id: NodeId) -> Result<&Arc<Node>> {
        self.nodes
            .get(id.0)
            .ok_or_else(|| Error::Value(format!("node {} does not belong to this graph", id.0)))
    }

    /// The static type of a node.
    pub fn info(&self, id: NodeId) -> Result<&TypeInfo> {
        Ok(&self.node(id)?.ty)
    }

    /// Adds a placeholder of the given dtype and symbolic shape.
    pub fn placeholder(&mut self, dtype: DType, shape: Shape, name: &str) -> NodeId {
        self.push(Node {
            kind: NodeKind::Placeholder,
            inputs: vec![],
            ty: TypeInfo { dtype, shape },
            name: name.to_string(),
        })
    }

    /// Adds a variable with an initial value; returns its node.
    pub fn variable(&mut self, value: Value, name: &str) -> NodeId {
        let ty = TypeInfo {
            dtype: value.dt(),
            shape: value.shape.iter().map(|&d| Some(d)).collect(),
        };
        let vid = {
            let mut s = self.store.lock();
            s.values_mut().push(value);
            s.names.push(name.to_string());
            VarId(s.values().len() - 1)
        };
        let id = self.push(Node {
            kind: NodeKind::Variable(vid),
            inputs: vec![],
            ty,
            name: name.to_string(),
        });
        self.var_nodes.push(id);
        id
    }

    /// The variable id behind a variable node.
    pub fn var_id(&self, id: NodeId) -> Result<VarId> {
        match self.node(id)?.kind {
            NodeKind::Variable(v) => Ok(v),
            _ => Err(Error::Type(format!(
                "'{}' is not a variable",
                self.node(id)?.name
            ))),
        }
    }

    /// The node reading a variable.
    pub fn var_node(&self, v: VarId) -> Result<NodeId> {
        self.var_nodes
            .get(v.0)
            .copied()
            .ok_or_else(|| Error::Value(format!("no variable {}", v.0)))
    }

    /// Adds a constant.
    pub fn constant(&mut self, value: Value, name: &str) -> NodeId {
        let ty = TypeInfo {
            dtype: value.dt(),
            shape: value.shape.iter().map(|&d| Some(d)).collect(),
        };
        self.push(Node {
            kind: NodeKind::Constant(Arc::new(value)),
            inputs: vec![],
            ty,
            name: name.to_string(),
        })
    }

    /// Adds an op node built from the registry by name. Shape errors are reported here,
    /// at build time, naming the op and the input shapes.
    pub fn op(&mut self, name: &str, inputs: &[NodeId], attrs: &Attrs) -> Result<NodeId> {
        let op = ops::build(name, attrs)?;
        let id = self.apply(op, inputs)?;
        self.records[id.0] = Some(Arc::new(OpRecord {
            name: name.to_string(),
            attrs: attrs.entries().clone(),
        }));
        Ok(id)
    }

    /// Adds a node applying an already built op.
    pub fn apply(&mut self, op: OpRef, inputs: &[NodeId]) -> Result<NodeId> {
        let mut tys = Vec::with_capacity(inputs.len());
        for &i in inputs {
            tys.push(self.info(i)?.clone());
        }
        let ty = op
            .infer(&tys)
            .map_err(|e| with_context(e, op.name(), &tys))?;
        let name = op.name().to_string();
        Ok(self.push(Node {
            kind: NodeKind::Op(op),
            inputs: inputs.to_vec(),
            ty,
            name,
        }))
    }

    /// Gradient nodes of the scalar `loss` with respect to each of `wrt`.
    pub fn gradients(&mut self, loss: NodeId, wrt: &[NodeId]) -> Result<Vec<NodeId>> {
        let lt = self.info(loss)?.clone();
        if !lt.shape.is_empty() {
            return Err(Error::Value(format!(
                "gradients: the loss must be a scalar, got a tensor of shape {} (reduce it with mean or sum first)",
                fmt_shape(&lt.shape)
            )));
        }
        if lt.dtype != DType::F32 {
            return Err(Error::Type(format!(
                "gradients: the loss must be float32, got {}",
                lt.dtype.name()
            )));
        }
        let mut out = Vec::with_capacity(wrt.len());
        for &w in wrt {
            let wn = self.node(w)?.clone();
            if wn.ty.dtype != DType::F32 {
                return Err(Error::Type(format!(
                    "gradients: cannot differentiate with respect to '{}' of dtype {}",
                    wn.name,
                    wn.ty.dtype.name()
                )));
            }
            out.push(self.push(Node {
                kind: NodeKind::Grad { loss, wrt: w },
                inputs: vec![loss, w],
                ty: wn.ty.clone(),
                name: format!("grad_{}", wn.name),
            }));
        }
        Ok(out)
    }

    /// Reads a variable.
    pub fn get_value(&self, v: VarId) -> Result<Value> {
        let s = self.store.lock();
        s.values()
            .get(v.0)
            .cloned()
            .ok_or_else(|| Error::Value(format!("no variable {}", v.0)))
    }

    /// Writes a variable; dtype and shape must match its declaration.
    pub fn set_value(&self, v: VarId, value: Value) -> Result<()> {
        let mut s = self.store.lock();
        let name = s.names.get(v.0).cloned().unwrap_or_default();
        let cur = s
            .values_mut()
            .get_mut(v.0)
            .ok_or_else(|| Error::Value(format!("no variable {}", v.0)))?;
        if cur.shape != value.shape {
            return Err(Error::Shape(format!(
                "set_value: variable '{name}' has shape {}, the new value has shape {}",
                fmt_dims(&cur.shape),
                fmt_dims(&value.shape)
            )));
        }
        if cur.dt() != value.dt() {
            return Err(Error::Type(format!(
                "set_value: variable '{name}' is {}, the new value is {}",
                cur.dt().name(),
                value.dt().name()
            )));
        }
        *cur = value;
        Ok(())
    }

    /// How many times the random node `id` has drawn (its stream's next call
    /// counter; 0 before its first run).
    pub fn random_counter(&self, id: NodeId) -> Result<u64> {
        self.expect_random(id)?;
        Ok(self.store.lock().counters.get(&id).copied().unwrap_or(0))
    }

    /// Sets the next call counter of the random node `id`'s stream, so that a graph
    /// rebuilt elsewhere (a data-parallel replica) continues a stream where another
    /// left it.
    pub fn set_random_counter(&self, id: NodeId, counter: u64) -> Result<()> {
        self.expect_random(id)?;
        self.store.lock().counters.insert(id, counter);
        Ok(())
    }

    fn expect_random(&self, id: NodeId) -> Result<()> {
        let n = self.node(id)?;
        match &n.kind {
            NodeKind::Op(op) if op.is_random() => Ok(()),
            _ => Err(Error::Value(format!(
                "node '{}' is not a random op",
                n.name
            ))),
        }
    }

    /// Whether [`Graph::compile`] folds activations and biases into the ops that
    /// produce their inputs (on by default; see `graph/fuse.rs`). Fusion never changes
    /// a result, only the number of passes over memory; turning it off is for
    /// comparisons and debugging.
    pub fn set_fusion(&mut self, on: bool) {
        self.fusion = on;
    }

    /// See [`Graph::set_fusion`].
    pub fn fusion(&self) -> bool {
        self.fusion
    }

    /// Compiles a Program computing `outputs` from the fed `inputs`, then applying
    /// `updates` to variables.
    pub fn compile(
        &self,
        inputs: &[NodeId],
        outputs: &[NodeId],
        updates: Vec<Update>,
    ) -> Result<Program> {
        Program::compile(self, inputs, outputs, updates, false)
    }

    /// Compiles a Program for the test phase only: the learning phase is taken as 0,
    /// so nodes that are then the identity (dropout, Gaussian noise, `switch` on the
    /// learning phase; see [`crate::ops::Op::test_phase_identity`]) are left out and
    /// their consumers read the input they would forward. What `predict` runs.
    pub fn compile_inference(
        &self,
        inputs: &[NodeId],
        outputs: &[NodeId],
        updates: Vec<Update>,
    ) -> Result<Program> {
        Program::compile(self, inputs, outputs, updates, true)
    }

    pub(crate) fn nodes(&self) -> &[Arc<Node>] {
        &self.nodes
    }

    /// How op node `id` was built, when it was built by name ([`Graph::op`]).
    pub fn op_record(&self, id: NodeId) -> Option<&Arc<OpRecord>> {
        self.records.get(id.0).and_then(|r| r.as_ref())
    }
}

/// Prefixes an inference error with the op and its input shapes.
fn with_context(e: Error, op: &str, tys: &[TypeInfo]) -> Error {
    let shapes: Vec<String> = tys.iter().map(|t| fmt_shape(&t.shape)).collect();
    let ctx = format!("{op} (input shapes {})", shapes.join(", "));
    match e {
        Error::Shape(m) if !m.starts_with(op) => Error::Shape(format!("{ctx}: {m}")),
        Error::Value(m) if !m.starts_with(op) => Error::Value(format!("{ctx}: {m}")),
        Error::Type(m) if !m.starts_with(op) => Error::Type(format!("{ctx}: {m}")),
        other => other,
    }
}
