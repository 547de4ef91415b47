//! The executor. A Program is compiled once from (inputs, outputs, updates): it keeps
//! only the nodes needed, in topological order, plans the reverse sweeps for gradient
//! nodes, and owns the buffers of every node. Buffers are reset in place, so a call with
//! the same input shapes as the previous one reuses them and allocates nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use smallvec::SmallVec;

mod batches;
mod steps;
pub use batches::{BatchData, BatchInput};
pub use steps::Steps;

use super::autodiff::{self, Sweep};
use super::{Graph, Node, NodeId, NodeKind, Update, UpdateOp, VarData, VarId, VarStore};
use crate::array::Element;
use crate::kernels::fpmode::FlushDenormals;
use crate::kernels::pool::{for_each_part, threads};
use crate::ops::{OpCtx, Scratch, TypeInfo};
use crate::tensor::{fmt_dims, fmt_shape, known, DType, Value};
use crate::{Error, Result};

/// Where a slot's value lives.
#[derive(Debug, Clone)]
enum Loc {
    /// In the Program's own buffer for the slot.
    Buf,
    /// In the variable store.
    Var(VarId),
    /// In the node itself.
    Const(Arc<Value>),
    /// In a sweep's gradient buffer: (sweep, slot of the differentiated node).
    Grad(usize, usize),
}

#[derive(Debug)]
enum PlannedUpdate {
    Assign {
        var: VarId,
        slot: usize,
    },
    Fused {
        op: Arc<dyn UpdateOp>,
        slots: Vec<usize>,
    },
}

/// Mutable per-Program state: buffers, scratch, gradient buffers and the shape plan.
#[derive(Debug, Default)]
pub struct ExecState {
    values: Vec<Value>,
    scratch: Vec<Scratch>,
    grads: Vec<Vec<Value>>,
    fed: Vec<bool>,
    key: Vec<Vec<usize>>,
    planned: bool,
    /// Global row of the batch's first row for the next run (reset to 0 after it).
    row_offset: u64,
}

impl ExecState {
    /// Empty buffers for a Program of `nodes` nodes, `sweeps` reverse sweeps and `feeds`
    /// inputs (planned on the first run).
    fn new(nodes: usize, sweeps: usize, feeds: usize) -> ExecState {
        ExecState {
            values: vec![Value::default(); nodes],
            scratch: std::iter::repeat_with(Scratch::default)
                .take(nodes)
                .collect(),
            grads: vec![vec![Value::default(); nodes]; sweeps],
            fed: vec![false; nodes],
            key: vec![Vec::new(); feeds],
            planned: false,
            row_offset: 0,
        }
    }
}

/// A compiled, runnable computation over a graph's variables.
#[derive(Debug)]
pub struct Program {
    nodes: Vec<Arc<Node>>,
    ids: Vec<NodeId>,
    locs: Vec<Loc>,
    inputs_of: Vec<SmallVec<[usize; 8]>>,
    /// Per slot: bit `i` set when input `i` is a variable or a constant
    /// ([`Scratch::fixed_inputs`]).
    fixed_inputs: Vec<u64>,
    feeds: Vec<usize>,
    lp_slot: Option<usize>,
    outputs: Vec<usize>,
    updates: Vec<PlannedUpdate>,
    sweeps: Vec<Sweep>,
    store: Arc<VarStore>,
    state: Mutex<ExecState>,
    /// States kept from the side-by-side batches of [`Program::run_batches`], for its
    /// next call.
    spare: Mutex<Vec<ExecState>>,
    /// What the Program was compiled from, for [`Program::save`].
    origin: crate::saved::Origin,
}

/// A locked Program ready to be fed and run (see [`Program::session`]).
pub struct Session<'a> {
    prog: &'a Program,
    st: MutexGuard<'a, ExecState>,
}

/// The graph as an inference Program sees it: every node that is the identity in the
/// test phase on the graph's learning phase ([`crate::ops::Op::test_phase_identity`]:
/// dropout, the Gaussian noise ops, `switch` on the learning phase) is bypassed, its
/// consumers reading the input it forwards. Returns the rewritten nodes and, per node,
/// the node that stands for it.
fn test_phase_view(all: &[Arc<Node>], lp: NodeId) -> (Vec<Arc<Node>>, Vec<NodeId>) {
    let mut to: Vec<NodeId> = (0..all.len()).map(NodeId).collect();
    let mut nodes = Vec::with_capacity(all.len());
    for (id, n) in all.iter().enumerate() {
        // nodes only read earlier nodes, so `to` is final for every input
        let inputs: Vec<NodeId> = n.inputs.iter().map(|i| to[i.0]).collect();
        if let NodeKind::Op(op) = &n.kind {
            if let Some((phase, forwarded)) = op.test_phase_identity() {
                if inputs.get(phase) == Some(&lp) && forwarded < inputs.len() {
                    to[id] = inputs[forwarded];
                }
            }
        }
        let kind = match n.kind {
            NodeKind::Grad { loss, wrt } => NodeKind::Grad {
                loss: to[loss.0],
                wrt: to[wrt.0],
            },
            ref k => k.clone(),
        };
        let same = inputs == n.inputs && !matches!(n.kind, NodeKind::Grad { .. });
        nodes.push(if same {
            n.clone()
        } else {
            Arc::new(Node {
                kind,
                inputs,
                ty: n.ty.clone(),
                name: n.name.clone(),
            })
        });
    }
    (nodes, to)
}

impl Program {
    pub(crate) fn compile(
        g: &Graph,
        inputs: &[NodeId],
        outputs: &[NodeId],
        updates: Vec<Update>,
        inference: bool,
    ) -> Result<Program> {
        for &id in inputs.iter().chain(outputs) {
            g.node(id)?;
        }
        let origin = crate::saved::Origin::capture(g, inputs, outputs, &updates, inference)?;
        // An inference Program sees the graph with its test-phase identities bypassed.
        let (owned, to) = if inference {
            test_phase_view(g.nodes(), g.learning_phase())
        } else {
            (Vec::new(), Vec::new())
        };
        let all: &[Arc<Node>] = if inference { &owned } else { g.nodes() };
        let at = |id: NodeId| if inference { to[id.0] } else { id };
        let outputs: Vec<NodeId> = outputs.iter().map(|&o| at(o)).collect();
        let outputs = &outputs[..];
        let updates: Vec<Update> = updates
            .into_iter()
            .map(|u| match u {
                Update::Assign { var, value } => Update::Assign {
                    var,
                    value: at(value),
                },
                Update::Fused { op, inputs } => Update::Fused {
                    op,
                    inputs: inputs.into_iter().map(at).collect(),
                },
            })
            .collect();
        let node = |id: NodeId| -> Result<&Arc<Node>> {
            all.get(id.0)
                .ok_or_else(|| Error::Value(format!("node {} does not belong to this graph", id.0)))
        };
        // Which nodes are needed: everything reachable backwards from outputs, update
        // values and fed inputs. Grad nodes pull in their loss (and so the forward).
        let mut needed = vec![false; all.len()];
        let mut stack: Vec<NodeId> = Vec::new();
        for &i in inputs {
            let n = node(i)?;
            if !matches!(n.kind, NodeKind::Placeholder) {
                return Err(Error::Type(format!(
                    "function inputs must be placeholders; '{}' is not (it is computed from other tensors)",
                    n.name
                )));
            }
            stack.push(i);
        }
        stack.extend_from_slice(outputs);
        for u in &updates {
            match u {
                Update::Assign { var, value } => {
                    stack.push(g.var_node(*var)?);
                    stack.push(*value);
                }
                Update::Fused { op, inputs } => {
                    for v in op.writes() {
                        stack.push(g.var_node(v)?);
                    }
                    stack.extend_from_slice(inputs);
                }
            }
        }
        while let Some(id) = stack.pop() {
            let n = node(id)?;
            if needed[id.0] {
                continue;
            }
            needed[id.0] = true;
            stack.extend_from_slice(&n.inputs);
        }
        let replaced = if g.fusion() {
            let mut protected: HashSet<NodeId> = outputs.iter().copied().collect();
            for u in &updates {
                match u {
                    Update::Assign { value, .. } => {
                        protected.insert(*value);
                    }
                    Update::Fused { inputs, .. } => protected.extend(inputs.iter().copied()),
                }
            }
            for (id, n) in all.iter().enumerate() {
                if let (true, NodeKind::Grad { loss, wrt }) = (needed[id], &n.kind) {
                    protected.insert(*loss);
                    protected.insert(*wrt);
                }
            }
            super::fuse::fuse(all, &mut needed, &protected)
        } else {
            HashMap::new()
        };
        let ids: Vec<NodeId> = (0..all.len()).filter(|&i| needed[i]).map(NodeId).collect();
        let slot_of: HashMap<NodeId, usize> =
            ids.iter().enumerate().map(|(s, &id)| (id, s)).collect();
        let nodes: Vec<Arc<Node>> = ids
            .iter()
            .map(|id| replaced.get(&id.0).unwrap_or(&all[id.0]).clone())
            .collect();
        let inputs_of: Vec<SmallVec<[usize; 8]>> = nodes
            .iter()
            .map(|n| n.inputs.iter().map(|i| slot_of[i]).collect())
            .collect();

        // Feeds.
        let mut feeds = Vec::new();
        let mut seen = HashSet::new();
        for &i in inputs {
            if !seen.insert(i) {
                return Err(Error::Value(format!(
                    "input '{}' is given twice",
                    node(i)?.name
                )));
            }
            feeds.push(slot_of[&i]);
        }
        let lp = g.learning_phase();
        let lp_slot = slot_of.get(&lp).copied().filter(|s| !feeds.contains(s));
        for (s, n) in nodes.iter().enumerate() {
            if matches!(n.kind, NodeKind::Placeholder) && !feeds.contains(&s) && Some(s) != lp_slot
            {
                return Err(Error::Value(format!(
                    "the outputs depend on input '{}' of shape {}, which is not among the function's inputs",
                    n.name,
                    fmt_shape(&n.ty.shape)
                )));
            }
        }

        // Reverse sweeps, one per distinct loss.
        let mut sweeps: Vec<Sweep> = Vec::new();
        let mut sweep_of_loss: HashMap<usize, usize> = HashMap::new();
        let mut wrt_of_loss: HashMap<usize, HashSet<usize>> = HashMap::new();
        for n in &nodes {
            if let NodeKind::Grad { loss, wrt } = n.kind {
                wrt_of_loss
                    .entry(slot_of[&loss])
                    .or_default()
                    .insert(slot_of[&wrt]);
            }
        }
        let node_refs: Vec<&Node> = nodes.iter().map(|n| n.as_ref()).collect();
        let plain_inputs: Vec<Vec<usize>> = inputs_of.iter().map(|v| v.to_vec()).collect();
        let mut losses: Vec<usize> = wrt_of_loss.keys().copied().collect();
        losses.sort_unstable();
        for loss in losses {
            let sw = autodiff::plan(&node_refs, &plain_inputs, loss, &wrt_of_loss[&loss])?;
            sweep_of_loss.insert(loss, sweeps.len());
            sweeps.push(sw);
        }

        let locs: Vec<Loc> = nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Variable(v) => Loc::Var(*v),
                NodeKind::Constant(c) => Loc::Const(c.clone()),
                NodeKind::Grad { loss, wrt } => {
                    Loc::Grad(sweep_of_loss[&slot_of[loss]], slot_of[wrt])
                }
                _ => Loc::Buf,
            })
            .collect();

        let outputs = outputs.iter().map(|o| slot_of[o]).collect();
        let mut planned = Vec::new();
        for u in updates {
            match u {
                Update::Assign { var, value } => {
                    let vt = &nodes[slot_of[&value]].ty;
                    let var_node = &nodes[slot_of[&g.var_node(var)?]];
                    if vt.dtype != var_node.ty.dtype || vt.shape.len() != var_node.ty.shape.len() {
                        return Err(Error::Value(format!(
                            "update of variable '{}' {} {}: the new value is {} {}",
                            var_node.name,
                            var_node.ty.dtype.name(),
                            fmt_shape(&var_node.ty.shape),
                            vt.dtype.name(),
                            fmt_shape(&vt.shape)
                        )));
                    }
                    planned.push(PlannedUpdate::Assign {
                        var,
                        slot: slot_of[&value],
                    })
                }
                Update::Fused { op, inputs } => {
                    if let Some(v) = inputs
                        .iter()
                        .find(|i| matches!(nodes[slot_of[i]].kind, NodeKind::Variable(_)))
                    {
                        return Err(Error::Value(format!(
                            "{}: inputs of a fused update must be computed values, '{}' is a variable",
                            op.name(),
                            nodes[slot_of[v]].name
                        )));
                    }
                    planned.push(PlannedUpdate::Fused {
                        slots: inputs.iter().map(|i| slot_of[i]).collect(),
                        op,
                    })
                }
            }
        }
        let state = ExecState::new(nodes.len(), sweeps.len(), feeds.len());
        let fixed_inputs = inputs_of
            .iter()
            .map(|ins| {
                ins.iter().enumerate().take(64).fold(0u64, |bits, (k, &i)| {
                    let fixed = matches!(locs[i], Loc::Var(_) | Loc::Const(_));
                    bits | (u64::from(fixed) << k)
                })
            })
            .collect();
        Ok(Program {
            nodes,
            ids,
            locs,
            inputs_of,
            fixed_inputs,
            feeds,
            lp_slot,
            outputs,
            updates: planned,
            sweeps,
            store: g.store().clone(),
            state: Mutex::new(state),
            spare: Mutex::new(Vec::new()),
            origin,
        })
    }

    /// Empty buffers for another thread's runs of this Program.
    fn fresh_state(&self) -> ExecState {
        ExecState::new(self.nodes.len(), self.sweeps.len(), self.feeds.len())
    }

    /// The variable store the Program reads and updates.
    pub(crate) fn store(&self) -> &Arc<VarStore> {
        &self.store
    }

    pub(crate) fn origin(&self) -> &crate::saved::Origin {
        &self.origin
    }

    pub(crate) fn origin_mut(&mut self) -> &mut crate::saved::Origin {
        &mut self.origin
    }

    /// Number of nodes the Program runs or reads (after fusion).
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The registry names of the ops the Program runs (after fusion), in execution
    /// order: one entry per op node (its backward runs in the same node's sweep, so it
    /// adds no entry); placeholders, variables, constants and gradients are left out.
    pub fn op_names(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Op(op) => Some(op.name()),
                _ => None,
            })
            .collect()
    }

    /// Number of fed inputs.
    pub fn n_inputs(&self) -> usize {
        self.feeds.len()
    }

    /// Number of outputs.
    pub fn n_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Static type of fed input `i`.
    pub fn input_info(&self, i: usize) -> &TypeInfo {
        &self.nodes[self.feeds[i]].ty
    }

    /// Name of fed input `i`.
    pub fn input_name(&self, i: usize) -> &str {
        &self.nodes[self.feeds[i]].name
    }

    /// Locks the Program for one call. A second thread calling the same Program waits.
    pub fn session(&self) -> Session<'_> {
        Session {
            prog: self,
            st: self.state.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Like [`Program::session`] but returns None instead of waiting when another
    /// thread holds the Program (callers holding a foreign lock, such as Python's GIL,
    /// release it, wait with [`Program::wait_unlocked`], then retry).
    pub fn try_session(&self) -> Option<Session<'_>> {
        match self.state.try_lock() {
            Ok(st) => Some(Session { prog: self, st }),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(Session {
                prog: self,
                st: e.into_inner(),
            }),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Blocks until no other thread holds the Program (another may take it at once).
    pub fn wait_unlocked(&self) {
        drop(self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Feeds engine values (in order), runs, and returns copies of the outputs as engine
    /// values (see [`Program::run`] for the ndarray way).
    pub fn run_values(&self, inputs: &[Value]) -> Result<Vec<Value>> {
        let mut s = self.session();
        self.check_input_count(inputs.len())?;
        for (i, v) in inputs.iter().enumerate() {
            s.feed(i, v)?;
        }
        s.run()?;
        Ok((0..self.outputs.len())
            .map(|i| s.output(i).clone())
            .collect())
    }

    /// An error unless the Program takes `n` inputs.
    fn check_input_count(&self, n: usize) -> Result<()> {
        if n != self.feeds.len() {
            return Err(Error::Value(format!(
                "the function takes {} input(s), got {n}",
                self.feeds.len()
            )));
        }
        Ok(())
    }

    /// Marks every input of `st` as not fed (what a run leaves, whatever the feeding or
    /// the run did).
    fn unfeed(&self, st: &mut ExecState) {
        for s in &self.feeds {
            st.fed[*s] = false;
        }
    }

    /// The node of input `i`.
    fn feed_node(&self, i: usize) -> Result<usize> {
        self.feeds.get(i).copied().ok_or_else(|| {
            Error::Value(format!(
                "input index {i} out of range ({} inputs)",
                self.feeds.len()
            ))
        })
    }

    /// Sizes input `i`'s buffer in `st` for `shape` (checked against the input's type)
    /// and fills it with `fill`.
    fn feed_into(
        &self,
        st: &mut ExecState,
        i: usize,
        dtype: DType,
        shape: &[usize],
        fill: impl FnOnce(&mut Value),
    ) -> Result<()> {
        let s = self.feed_node(i)?;
        self.check_feed(i, dtype, shape)?;
        let v = &mut st.values[s];
        v.try_reset(self.nodes[s].ty.dtype, shape)?;
        fill(v);
        st.fed[s] = true;
        Ok(())
    }

    /// Feeds rows `rows` of `data` (shape `shape`, rows first) into input `i` of `st`
    /// (see [`Session::feed_rows`]).
    fn feed_rows_into<T: Element + Send + Sync>(
        &self,
        st: &mut ExecState,
        i: usize,
        shape: &[usize],
        data: &[T],
        rows: &[i64],
    ) -> Result<()> {
        let (batch, width) = self.rows_shape(i, shape, data.len(), rows)?;
        self.feed_into(st, i, T::DTYPE, &batch, |v| {
            gather_rows(T::data_mut(v), data, width, rows)
        })
    }

    /// The fed shape of rows `rows` of an array of shape `shape` holding `len`
    /// elements, and the elements per row; every row index is checked.
    fn rows_shape(
        &self,
        i: usize,
        shape: &[usize],
        len: usize,
        rows: &[i64],
    ) -> Result<(SmallVec<[usize; 6]>, usize)> {
        let name = &self.nodes[self.feed_node(i)?].name;
        let Some((&n, rest)) = shape.split_first() else {
            return Err(Error::Shape(format!(
                "input '{name}': rows of a scalar cannot be fed"
            )));
        };
        let width: usize = rest.iter().product();
        if width.checked_mul(n) != Some(len) {
            return Err(Error::Shape(format!(
                "input '{name}': data of length {len} does not fit shape {}",
                fmt_dims(shape)
            )));
        }
        if let Some(&r) = rows.iter().find(|&&r| r < 0 || r as u64 >= n as u64) {
            return Err(Error::Value(format!(
                "input '{name}': row {r} is out of range for an array of {n} rows"
            )));
        }
        let mut batch = SmallVec::new();
        batch.push(rows.len());
        batch.extend_from_slice(rest);
        Ok((batch, width))
    }

    fn check_feed(&self, i: usize, dtype: DType, shape: &[usize]) -> Result<()> {
        let n = &self.nodes[self.feeds[i]];
        let ok_rank = n.ty.shape.len() == shape.len();
        let ok_dims = ok_rank
            && n.ty
                .shape
                .iter()
                .zip(shape)
                .all(|(d, &s)| d.is_none_or(|d| d == s));
        if !ok_dims {
            return Err(Error::Shape(format!(
                "input '{}' expects shape {}, got an array of shape {}",
                n.name,
                fmt_shape(&n.ty.shape),
                fmt_dims(shape)
            )));
        }
        if shape.contains(&0) {
            return Err(Error::Value(format!(
                "input '{}' is empty (shape {}); an empty batch cannot be run",
                n.name,
                fmt_dims(shape)
            )));
        }
        let want = n.ty.dtype;
        let compatible = want == dtype || (want.is_float_storage() && dtype.is_float_storage());
        if !compatible {
            return Err(Error::Type(format!(
                "input '{}' expects {} data, got {}",
                n.name,
                want.name(),
                dtype.name()
            )));
        }
        Ok(())
    }

    fn val<'a>(
        &'a self,
        s: usize,
        values: &'a [Value],
        vars: &'a VarData,
        grads: &'a [Vec<Value>],
    ) -> &'a Value {
        match &self.locs[s] {
            Loc::Var(v) => &vars.values()[v.0],
            _ => self.val_local(s, values, grads),
        }
    }

    /// Like `val` for slots whose value does not live in the variable store (variables
    /// read as outputs are copied to their slot buffer during the forward pass).
    fn val_local<'a>(
        &'a self,
        s: usize,
        values: &'a [Value],
        grads: &'a [Vec<Value>],
    ) -> &'a Value {
        match &self.locs[s] {
            Loc::Buf | Loc::Var(_) => &values[s],
            Loc::Const(c) => c,
            Loc::Grad(sw, w) => &grads[*sw][*w],
        }
    }

    /// Concrete shape planning: infers every node's concrete type from the fed shapes
    /// and resets buffers. Skipped when the fed shapes equal the previous call's.
    fn plan(&self, st: &mut ExecState, vars: &VarData) -> Result<()> {
        let ExecState { values, grads, .. } = st;
        let mut sized: SmallVec<[usize; 4]> = SmallVec::new();
        for s in 0..self.nodes.len() {
            let node = &self.nodes[s];
            match &node.kind {
                NodeKind::Placeholder => {
                    if Some(s) == self.lp_slot {
                        values[s].reset(DType::F32, &[]);
                        values[s].f[0] = 0.0;
                    }
                }
                NodeKind::Op(op) => {
                    let mut tys: SmallVec<[TypeInfo; 4]> = SmallVec::new();
                    for &i in &self.inputs_of[s] {
                        let v = self.val(i, values, vars, grads);
                        tys.push(TypeInfo {
                            dtype: v.dt(),
                            shape: known(&v.shape),
                        });
                    }
                    let t = op.infer(&tys)?;
                    let mut dims = Vec::with_capacity(t.shape.len());
                    for d in &t.shape {
                        dims.push(d.ok_or_else(|| {
                            Error::Shape(format!(
                                "{}: could not infer a concrete output shape",
                                op.name()
                            ))
                        })?);
                    }
                    values[s].try_reset(t.dtype, &dims)?;
                }
                NodeKind::Grad { .. } => {
                    // Size the sweep's gradient buffers here, before any later node infers
                    // its shape from this gradient. Every slot of the sweep precedes this
                    // node (they are ancestors of the loss or differentiated nodes).
                    if let Loc::Grad(k, _) = self.locs[s] {
                        if !sized.contains(&k) {
                            for t in 0..s {
                                if self.sweeps[k].needs[t] {
                                    let shape = self.val(t, values, vars, grads).shape.clone();
                                    grads[k][t].try_reset(DType::F32, &shape)?;
                                }
                            }
                            sized.push(k);
                        }
                    }
                }
                NodeKind::Variable(_) | NodeKind::Constant(_) => {}
            }
        }
        Ok(())
    }

    /// Runs on a locked state (see [`Session::parts`]); inputs must have been fed.
    pub fn run_state(&self, st: &mut ExecState) -> Result<()> {
        let r = self.execute(st);
        self.unfeed(st);
        st.row_offset = 0;
        r
    }

    fn execute(&self, st: &mut ExecState) -> Result<()> {
        crate::kernels::pool::init();
        let _ftz = FlushDenormals::new();
        let mut vars = self.store.lock();
        self.prepare(st, &vars)?;
        // Random streams draw their counters before any kernel runs.
        for (s, node) in self.nodes.iter().enumerate() {
            if let NodeKind::Op(op) = &node.kind {
                if op.is_random() {
                    let c = vars.counters.entry(self.ids[s]).or_insert(0);
                    st.scratch[s].counter = *c;
                    st.scratch[s].row = st.row_offset;
                    *c += 1;
                }
            }
        }
        self.compute(st, &vars)?;
        self.apply_updates(st, &mut vars)
    }

    /// Checks that every input was fed, and plans the buffers when the fed shapes differ
    /// from the last run's.
    fn prepare(&self, st: &mut ExecState, vars: &VarData) -> Result<()> {
        for (k, &s) in self.feeds.iter().enumerate() {
            if !st.fed[s] {
                return Err(Error::Value(format!(
                    "input '{}' was not fed",
                    self.nodes[s].name
                )));
            }
            if st.key[k] != st.values[s].shape {
                st.planned = false;
            }
        }
        if !st.planned {
            self.plan(st, vars)?;
            for (k, &s) in self.feeds.iter().enumerate() {
                st.key[k].clone_from(&st.values[s].shape);
            }
            st.planned = true;
        }
        Ok(())
    }

    /// Runs every node (forward ops and reverse sweeps) on a prepared state, and copies
    /// the outputs that are variables into their slots. Reads the variables only.
    fn compute(&self, st: &mut ExecState, vars_ref: &VarData) -> Result<()> {
        let mut swept: SmallVec<[bool; 4]> = SmallVec::from_elem(false, self.sweeps.len());
        for s in 0..self.nodes.len() {
            match &self.nodes[s].kind {
                NodeKind::Op(op) => {
                    let mut out = std::mem::take(&mut st.values[s]);
                    let r = {
                        let refs: SmallVec<[&Value; 8]> = self.inputs_of[s]
                            .iter()
                            .map(|&i| self.val(i, &st.values, vars_ref, &st.grads))
                            .collect();
                        let scratch = &mut st.scratch[s];
                        scratch.fixed_inputs = self.fixed_inputs[s];
                        scratch.epoch = vars_ref.epoch();
                        let t0 = super::profile::start();
                        let r = op.forward(&refs, &mut out, &mut OpCtx { scratch });
                        super::profile::record(op.name(), "forward", t0);
                        r
                    };
                    st.values[s] = out;
                    r?;
                }
                NodeKind::Grad { .. } => {
                    if let Loc::Grad(k, _) = self.locs[s] {
                        if !swept[k] {
                            self.sweep(k, st, vars_ref)?;
                            swept[k] = true;
                        }
                    }
                }
                _ => {}
            }
        }
        drop(swept);
        for &s in &self.outputs {
            if let Loc::Var(v) = self.locs[s] {
                st.values[s].assign_from(&vars_ref.values()[v.0]);
            }
        }
        Ok(())
    }

    /// Applies the updates of a computed state to the variables.
    fn apply_updates(&self, st: &mut ExecState, vars: &mut VarData) -> Result<()> {
        // Updates: every value above was computed from pre-step variables. Check every
        // assignment before applying any, so a failing call leaves the variables intact.
        let ExecState { values, grads, .. } = st;
        for u in &self.updates {
            if let PlannedUpdate::Assign { var, slot } = u {
                let src = self.val(*slot, values, vars, grads);
                let dst = &vars.values()[var.0];
                if src.shape != dst.shape {
                    return Err(Error::Shape(format!(
                        "update of variable '{}' of shape {}: the new value has shape {}",
                        vars.names[var.0],
                        fmt_dims(&dst.shape),
                        fmt_dims(&src.shape)
                    )));
                }
            }
        }
        // Updates whose new value is itself a variable read it before any update is
        // written (`[(a, b), (b, a)]` swaps); snapshot those few values first.
        let any_var_sourced = self
            .updates
            .iter()
            .any(|u| matches!(u, PlannedUpdate::Assign { slot, .. } if matches!(self.locs[*slot], Loc::Var(_))));
        let snapshots: Vec<Option<Value>> = if !any_var_sourced {
            Vec::new()
        } else {
            self.updates
                .iter()
                .map(|u| match u {
                    PlannedUpdate::Assign { slot, .. } => match self.locs[*slot] {
                        Loc::Var(src) => Some(vars.values()[src.0].clone()),
                        _ => None,
                    },
                    PlannedUpdate::Fused { .. } => None,
                })
                .collect()
        };
        for (i, u) in self.updates.iter().enumerate() {
            match u {
                PlannedUpdate::Assign { var, slot } => {
                    match snapshots.get(i).and_then(|s| s.as_ref()) {
                        Some(v) => vars.values_mut()[var.0].assign_from(v),
                        None => vars.values_mut()[var.0]
                            .assign_from(self.val_local(*slot, values, grads)),
                    }
                }
                PlannedUpdate::Fused { op, slots } => {
                    let refs: SmallVec<[&Value; 8]> = slots
                        .iter()
                        .map(|&i| self.val_local(i, values, grads))
                        .collect();
                    let t0 = super::profile::start();
                    let r = op.apply(&refs, vars);
                    super::profile::record(op.name(), "update", t0);
                    r?;
                }
            }
        }
        Ok(())
    }

    fn sweep(&self, k: usize, st: &mut ExecState, vars: &VarData) -> Result<()> {
        let sw = &self.sweeps[k];
        let ExecState {
            values,
            scratch,
            grads,
            ..
        } = st;
        let t0 = super::profile::start();
        for (g, &need) in grads[k].iter_mut().zip(&sw.needs) {
            if need {
                zero(&mut g.f);
            }
        }
        super::profile::record("gradient buffers", "zero", t0);
        if sw.needs[sw.loss] {
            grads[k][sw.loss].f[0] = 1.0;
        }
        for &s in &sw.order {
            let NodeKind::Op(op) = &self.nodes[s].kind else {
                continue;
            };
            let gout = std::mem::take(&mut grads[k][s]);
            let inputs = &self.inputs_of[s];
            let wanted: SmallVec<[usize; 4]> = (0..inputs.len())
                .filter(|&idx| sw.needs[inputs[idx]] && op.has_grad(idx))
                .collect();
            // One call for all of a node's input gradients, unless an input node repeats
            // (`mul(x, x)`): its gradient buffer can be lent out only once at a time.
            let distinct = wanted
                .iter()
                .enumerate()
                .all(|(a, &x)| wanted[..a].iter().all(|&y| inputs[y] != inputs[x]));
            let groups: SmallVec<[&[usize]; 4]> = if distinct {
                smallvec::smallvec![&wanted[..]]
            } else {
                wanted.chunks(1).collect()
            };
            let mut r = Ok(());
            for group in groups {
                let mut gins: SmallVec<[Value; 4]> = group
                    .iter()
                    .map(|&idx| std::mem::take(&mut grads[k][inputs[idx]]))
                    .collect();
                {
                    let refs: SmallVec<[&Value; 8]> = inputs
                        .iter()
                        .map(|&j| self.val(j, values, vars, grads))
                        .collect();
                    let out = self.val(s, values, vars, grads);
                    let mut slices: SmallVec<[&mut [f32]; 4]> =
                        gins.iter_mut().map(|v| v.f.as_mut_slice()).collect();
                    let t0 = super::profile::start();
                    r = op.backward_many(
                        group,
                        &refs,
                        out,
                        &gout.f,
                        &mut slices,
                        &mut OpCtx {
                            scratch: &mut scratch[s],
                        },
                    );
                    super::profile::record(op.name(), "backward", t0);
                }
                for (&idx, gin) in group.iter().zip(gins) {
                    grads[k][inputs[idx]] = gin;
                }
                if r.is_err() {
                    break;
                }
            }
            grads[k][s] = gout;
            r?;
        }
        Ok(())
    }
}

impl Session<'_> {
    /// Copies a float32 array into input `i` (shape and dtype checked).
    pub fn feed_f32(&mut self, i: usize, shape: &[usize], data: &[f32]) -> Result<()> {
        self.feed_slice(i, DType::F32, shape, |v| copy_in(&mut v.f, data))
    }

    /// Copies an int32 array into input `i`.
    pub fn feed_i32(&mut self, i: usize, shape: &[usize], data: &[i32]) -> Result<()> {
        self.feed_slice(i, DType::I32, shape, |v| copy_in(&mut v.i, data))
    }

    /// Copies rows `rows` of a float32 or int32 array of shape `shape` (rows first)
    /// into input `i`, which gets shape `[rows.len(), shape[1..]]`: a training loop
    /// feeds each batch of a shuffled epoch straight from its whole data set, with no
    /// gathered copy of the data in between.
    pub fn feed_rows<T: Element + Send + Sync>(
        &mut self,
        i: usize,
        shape: &[usize],
        data: &[T],
        rows: &[i64],
    ) -> Result<()> {
        self.prog.feed_rows_into(&mut self.st, i, shape, data, rows)
    }

    /// Copies a value into input `i`.
    pub fn feed(&mut self, i: usize, v: &Value) -> Result<()> {
        match v.dt() {
            DType::I32 => self.feed_i32(i, &v.shape, &v.i),
            d => self.feed_slice(i, d, &v.shape, |dst| copy_in(&mut dst.f, &v.f)),
        }
    }

    fn feed_slice(
        &mut self,
        i: usize,
        dtype: DType,
        shape: &[usize],
        fill: impl FnOnce(&mut Value),
    ) -> Result<()> {
        self.prog.feed_into(&mut self.st, i, dtype, shape, fill)
    }

    /// Declares that the fed batch is rows `row ..` of a larger batch, for the next run
    /// only (it falls back to 0 afterwards). Random ops whose noise follows the batch
    /// axis (dropout, Gaussian noise) then draw, for local row `j`, the noise the whole
    /// batch draws for row `row + j`; random counters advance as usual (once per run).
    /// Data-parallel training feeds each worker's shard with its first row here, so the
    /// shards together draw exactly the single-process noise of the batch.
    pub fn set_row_offset(&mut self, row: u64) {
        self.st.row_offset = row;
    }

    /// Runs the Program on the fed inputs.
    pub fn run(&mut self) -> Result<()> {
        self.prog.run_state(&mut self.st)
    }

    /// The Program and its locked state, for callers that run it on another thread or
    /// with a foreign lock released (the Python bindings release the GIL around
    /// [`Program::run_state`]).
    pub fn parts(&mut self) -> (&Program, &mut ExecState) {
        (self.prog, &mut self.st)
    }

    /// Output `i` of the last run; valid until the next run.
    pub fn output(&self, i: usize) -> &Value {
        self.prog
            .val_local(self.prog.outputs[i], &self.st.values, &self.st.grads)
    }
}

/// Elements of a fed batch below which it is copied on the calling thread alone.
const FEED_PAR_MIN: usize = 1 << 16;
/// Elements per chunk of a parallel feed copy.
const FEED_CHUNK: usize = 1 << 14;

/// `dst` (rows of `width` elements) = rows `rows` of `src`; every index was checked. A
/// large batch is copied in chunks of whole rows by the caller and the pool
/// ([`for_each_part`]): the copy is memory-bound, and while the caller alone copied a
/// 128x784 batch (400 KB) the second core idled (W1b: a sixth of the calling thread's
/// time).
fn gather_rows<T: Copy + Send + Sync>(dst: &mut [T], src: &[T], width: usize, rows: &[i64]) {
    let copy = |dst: &mut [T], rows: &[i64]| {
        for (d, &r) in dst.chunks_exact_mut(width).zip(rows) {
            let r = r as usize * width;
            d.copy_from_slice(&src[r..r + width]);
        }
    };
    let n = rows.len();
    if n * width < FEED_PAR_MIN {
        return copy(dst, rows);
    }
    let per = (FEED_CHUNK / width.max(1)).max(1);
    for_each_part(&mut dst[..n * width], per * width, threads(), &|c, part| {
        copy(part, &rows[c * per..])
    });
}

/// `dst = src`, in parallel chunks when large (see [`gather_rows`]).
fn copy_in<T: Copy + Send + Sync>(dst: &mut [T], src: &[T]) {
    if src.len() < FEED_PAR_MIN {
        return dst.copy_from_slice(src);
    }
    assert_eq!(
        dst.len(),
        src.len(),
        "feed: destination and source lengths differ"
    );
    for_each_part(dst, FEED_CHUNK, threads(), &|c, part| {
        part.copy_from_slice(&src[c * FEED_CHUNK..][..part.len()])
    });
}

/// `dst = 0`, in parallel chunks when large (an embedding's gradient: megabytes that one
/// core alone writes at a fraction of the memory bandwidth).
fn zero(dst: &mut [f32]) {
    if dst.len() < FEED_PAR_MIN {
        return dst.fill(0.0);
    }
    for_each_part(dst, FEED_CHUNK, threads(), &|_, part| part.fill(0.0));
}

#[cfg(test)]
mod inference_tests {
    use crate::graph::{Graph, NodeId};
    use crate::ops::{Attr, Attrs};
    use crate::tensor::{DType, Value};
    use crate::Result;

    /// `x` dropped out at level 0.5 in the training phase of `lp`.
    fn dropout(g: &mut Graph, x: NodeId, lp: NodeId, seed: i64) -> Result<NodeId> {
        let a = Attrs::new("dropout")
            .with("level", Attr::Float(0.5))
            .with("seed", Attr::Int(seed));
        g.op("dropout", &[x, lp], &a)
    }

    /// x -> dropout(lp) -> relu -> switch(lp, d * 3, d) and a Gaussian noise branch,
    /// with the learning phase as a second input; returns the graph, its nodes and the
    /// outputs.
    fn noisy() -> Result<(Graph, Vec<NodeId>)> {
        let mut g = Graph::new();
        let x = g.placeholder(DType::F32, vec![None, Some(6)], "x");
        let lp = g.learning_phase();
        let d = dropout(&mut g, x, lp, 7)?;
        let r = g.op("relu", &[d], &Attrs::new("relu"))?;
        let three = g.constant(Value::from_f32(&[1], vec![3.0])?, "three");
        let t = g.op("mul", &[r, three], &Attrs::new("mul"))?;
        let s = g.op("switch", &[lp, t, r], &Attrs::new("switch"))?;
        let n = g.op(
            "gaussian_noise",
            &[s, lp],
            &Attrs::new("gaussian_noise")
                .with("sigma", Attr::Float(0.3))
                .with("seed", Attr::Int(3)),
        )?;
        Ok((g, vec![x, lp, n]))
    }

    #[test]
    fn an_inference_program_leaves_test_phase_identities_out_and_computes_the_same() -> Result<()> {
        let (g, ids) = noisy()?;
        let (x, lp, out) = (ids[0], ids[1], ids[2]);
        let xv = Value::from_f32(&[2, 6], (0..12).map(|i| i as f32 - 5.5).collect())?;
        let zero = Value::from_f32(&[], vec![0.0])?;
        let full = g.compile(&[x, lp], &[out], vec![])?;
        let lean = g.compile_inference(&[x, lp], &[out], vec![])?;
        let bare = g.compile_inference(&[x], &[out], vec![])?;
        // x, lp, dropout, relu, constant, mul, switch, noise -> x, lp, relu (and x, relu)
        assert_eq!(full.n_nodes(), 8);
        assert_eq!(lean.n_nodes(), 3);
        assert_eq!(bare.n_nodes(), 2);
        let want = full.run_values(&[xv.clone(), zero.clone()])?;
        assert_eq!(lean.run_values(&[xv.clone(), zero])?[0].f, want[0].f);
        assert_eq!(bare.run_values(std::slice::from_ref(&xv))?[0].f, want[0].f);
        assert_eq!(
            want[0].f,
            xv.f.iter().map(|v| v.max(0.0)).collect::<Vec<_>>()
        );
        Ok(())
    }

    #[test]
    fn an_output_that_is_a_bypassed_node_reads_the_forwarded_value() -> Result<()> {
        let mut g = Graph::new();
        let x = g.placeholder(DType::F32, vec![None, Some(3)], "x");
        let lp = g.learning_phase();
        let d = dropout(&mut g, x, lp, 1)?;
        let p = g.compile_inference(&[x], &[d], vec![])?;
        let xv = Value::from_f32(&[1, 3], vec![1.0, -2.0, 3.0])?;
        assert_eq!(p.run_values(std::slice::from_ref(&xv))?[0].f, xv.f);
        Ok(())
    }
}

#[cfg(test)]
mod feed_rows_tests {
    use super::{copy_in, gather_rows, FEED_CHUNK, FEED_PAR_MIN};
    use crate::graph::Graph;
    use crate::ops::Attrs;
    use crate::tensor::DType;
    use crate::{Error, Result};

    #[test]
    fn fed_rows_are_the_gathered_rows_and_bad_rows_are_errors() -> Result<()> {
        let mut g = Graph::new();
        let x = g.placeholder(DType::F32, vec![None, Some(2)], "x");
        let k = g.placeholder(DType::I32, vec![None], "k");
        let y = g.op("relu", &[x], &Attrs::new("relu"))?;
        let p = g.compile(&[x, k], &[y, k], vec![])?;
        let mut s = p.session();
        let data: Vec<f32> = (0..8).map(|v| v as f32).collect();
        s.feed_rows(0, &[4, 2], &data, &[3, 0, 3])?;
        s.feed_rows(1, &[4], &[10, 11, 12, 13], &[3, 0, 3])?;
        s.run()?;
        assert_eq!(s.output(0).shape, vec![3, 2]);
        assert_eq!(s.output(0).f, vec![6.0, 7.0, 0.0, 1.0, 6.0, 7.0]);
        assert_eq!(s.output(1).i, vec![13, 10, 13]);
        let out_of_range = s.feed_rows(0, &[4, 2], &data, &[0, 4]);
        assert!(matches!(out_of_range, Err(Error::Value(m)) if m.contains("row 4")));
        assert!(matches!(
            s.feed_rows(0, &[4, 2], &data, &[-1]),
            Err(Error::Value(_))
        ));
        assert!(matches!(
            s.feed_rows(0, &[3, 2], &data, &[0]),
            Err(Error::Shape(_))
        ));
        assert!(matches!(
            s.feed_rows(0, &[], &data[..1], &[0]),
            Err(Error::Shape(m)) if m.contains("scalar")
        ));
        assert!(matches!(
            s.feed_rows(2, &[4, 2], &data, &[0]),
            Err(Error::Value(m)) if m.contains("out of range")
        ));
        Ok(())
    }

    #[test]
    fn large_feeds_copy_every_row_whatever_the_split() {
        // widths below, at and above a chunk; batches below and above the parallel size,
        // with a ragged last chunk
        for &(width, n) in &[
            (784, 3),
            (784, 129),
            (FEED_CHUNK, 5),
            (FEED_CHUNK + 3, 7),
            (7, FEED_PAR_MIN / 7 + 11),
        ] {
            let src_rows = n + 9;
            let src: Vec<f32> = (0..src_rows * width).map(|i| i as f32).collect();
            let rows: Vec<i64> = (0..n).map(|k| ((k * 7 + 3) % src_rows) as i64).collect();
            let mut dst = vec![-1.0f32; n * width];
            gather_rows(&mut dst, &src, width, &rows);
            for (k, &r) in rows.iter().enumerate() {
                let r = r as usize;
                assert_eq!(
                    &dst[k * width..(k + 1) * width],
                    &src[r * width..(r + 1) * width],
                    "width {width}, {n} rows: row {k}"
                );
            }
            let mut whole = vec![-1.0f32; src.len()];
            copy_in(&mut whole, &src);
            assert_eq!(whole, src, "width {width}: plain copy");
        }
    }
}
