//! Program files (`.fkp`): a compiled [`Program`] saved as one file and loaded back,
//! from Python (`model.save_program(path)`) or Rust ([`Program::save`],
//! [`Program::load`]).
//!
//! # The container: one safetensors file
//!
//! A program file **is a safetensors file**: any safetensors reader (the Rust
//! `safetensors` crate, the Python `safetensors` package) opens it and lists its
//! tensors. Its `__metadata__` holds exactly one entry, `"ferrokeras.program"`, whose
//! value is the graph document (JSON text, below). The tensors are the variables
//! (`variable.{i}`) and constants (`constant.{i}`) of the program, float32 (`F32`),
//! int32 (`I32`) or bool (`BOOL`), little-endian. One metadata entry (not several) keeps
//! the bytes deterministic: the same program saved twice is the same file, byte for byte.
//!
//! # The graph document (format version 1)
//!
//! ```json
//! {"format": "ferrokeras.program", "version": 1,
//!  "inference": true, "fusion": true, "learning_phase": 0,
//!  "nodes": [
//!    {"placeholder": {"name": "keras_learning_phase", "dtype": "float32", "shape": []}},
//!    {"placeholder": {"name": "dense_input_1", "dtype": "float32", "shape": [null, 784]}},
//!    {"variable": {"name": "dense_1_W", "index": 0}},
//!    {"op": {"name": "matmul", "inputs": [1, 2], "attrs": {}}},
//!    {"op": {"name": "dropout", "inputs": [3, 0], "attrs": {"level": {"float": 0.2}, "seed": {"int": 7}}}},
//!    {"gradient": {"loss": 9, "wrt": 2}}],
//!  "inputs": [1], "outputs": [8],
//!  "updates": [{"assign": {"variable": 5, "value": 7}},
//!              {"optimizer": {"kind": {"name": "RMSprop"}, "params": [2], "gradients": [10],
//!                             "slots": [[11]], "hyper": {"lr": 12, "iterations": 13, "rho": 14},
//!                             "epsilon": 1e-8, "clipnorm": null, "clipvalue": null,
//!                             "constraints": [null]}}],
//!  "random_counters": [[4, 250]],
//!  "metadata": {"keras.output_names": "[\"activation_3\"]"}}
//! ```
//!
//! - `nodes` are the graph nodes the program depends on, as they were built, in
//!   topological order: node `k` reads only nodes `< k`. An `op` node names its op by its
//!   registry name with its arguments (tagged by type: `bool`, `int`, `float`, `str`,
//!   `ints`, `floats`, or `null`; non-finite floats are the strings `"nan"`, `"inf"`,
//!   `"-inf"`), and is rebuilt through the same op factory as `Graph::op`, so a loaded
//!   program runs the same kernels on the same values: its outputs equal the saving
//!   program's bit for bit. A `gradient` node is the gradient of scalar node `loss`
//!   with respect to node `wrt` (a training step's backward pass).
//! - `inputs` / `outputs` are node indices, in the program's input and output order;
//!   `inference` says the program was compiled for the test phase
//!   ([`crate::Graph::compile_inference`]: no dropout or noise); `fusion` is the graph's
//!   fusion setting.
//! - `updates` run after the outputs: `assign` writes node `value` into variable node
//!   `variable`; `optimizer` is a fused Keras optimizer step whose variables (parameters,
//!   slots, hyper-parameters such as `lr` and `iterations`) are variable nodes, so its
//!   state (moments, accumulators, the iteration count) is saved with the weights.
//! - `random_counters` are the random streams' next call counters (dropout, noise):
//!   a training program saved after `n` steps and loaded draws the masks step `n + 1`
//!   would have drawn.
//! - `metadata` holds free-form strings (Python writes the Keras input and output
//!   names there).
//!
//! # Versions
//!
//! [`FORMAT_VERSION`] is the version this build writes and the newest it reads; a file
//! of a newer version is refused with [`crate::Error::Unsupported`] saying so. A file
//! that is not a safetensors file, has no program document, or whose document or
//! tensors are inconsistent is an [`crate::Error::Value`] beginning with the path and
//! "corrupt program file"; nothing in a file can make the loader panic.

mod format;
mod origin;
mod tensors;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::SafeTensors;

pub use format::FORMAT_VERSION;
use format::{Doc, NodeDoc, OptimizerDoc, UpdateDoc};
pub(crate) use origin::Origin;
use tensors::TensorOut;

use crate::graph::{Graph, NodeId, NodeKind, Program, Update, VarId};
use crate::ops::Attrs;
use crate::optim::{Hyper, OptimizerUpdate};
use crate::tensor::{DType, Value};
use crate::{Error, Result};

/// The `__metadata__` key holding the graph document.
pub const METADATA_KEY: &str = "ferrokeras.program";

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Value(format!("corrupt program file: {what}"))
}

fn with_path(e: Error, path: &Path) -> Error {
    let p = path.display();
    match e {
        Error::Value(m) => Error::Value(format!("{p}: {m}")),
        Error::Shape(m) => Error::Value(format!("{p}: corrupt program file: {m}")),
        Error::Type(m) => Error::Value(format!("{p}: corrupt program file: {m}")),
        Error::Unsupported(m) => Error::Unsupported(format!("{p}: {m}")),
        Error::Io(m) => Error::Io(format!("{p}: {m}")),
        Error::Memory(m) => Error::Memory(format!("{p}: {m}")),
    }
}

impl Program {
    /// Saves the program as one file (see [the module docs](crate::saved)): its graph,
    /// current variable values (with optimizer state) and random-stream counters, plus
    /// the metadata it was loaded with. The file is written beside `path` and renamed
    /// onto it, so a failed save leaves any previous file as it was.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_with_metadata(path, &self.origin().metadata)
    }

    /// Like [`Program::save`] with the given metadata strings.
    pub fn save_with_metadata(
        &self,
        path: impl AsRef<Path>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_bytes(metadata)?;
        write_atomic(path, &bytes).map_err(|e| with_path(e, path))
    }

    /// Loads a program file written by [`Program::save`] or Python's
    /// `model.save_program`.
    ///
    /// ```no_run
    /// let program = ferrokeras::Program::load("model.fkp")?;
    /// let x = ndarray::Array2::<f32>::zeros((1, 784));
    /// let probabilities = program.run(&[x.view()])?.remove(0).into_f32()?;
    /// # Ok::<(), ferrokeras::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Program> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Io(format!(
                "{}: cannot read the program file: {e}",
                path.display()
            ))
        })?;
        Program::from_bytes(&bytes).map_err(|e| with_path(e, path))
    }

    /// The metadata strings of a loaded program (empty for a compiled one).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.origin().metadata
    }

    /// The program file's bytes, as [`Program::save_with_metadata`] writes them.
    pub fn to_bytes(&self, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
        let o = self.origin();
        let store = self.store().lock();
        let mut index: HashMap<NodeId, usize> = HashMap::with_capacity(o.nodes.len());
        let mut var_index: HashMap<VarId, usize> = HashMap::new();
        let mut var_values: Vec<&Value> = Vec::new();
        let mut const_values: Vec<&Value> = Vec::new();
        let mut nodes = Vec::with_capacity(o.nodes.len());
        let mut random_counters = Vec::new();
        for (k, on) in o.nodes.iter().enumerate() {
            let n = &on.node;
            let at = |id: &NodeId| index[id];
            nodes.push(match &n.kind {
                NodeKind::Placeholder => NodeDoc::Placeholder {
                    name: n.name.clone(),
                    dtype: n.ty.dtype,
                    shape: n.ty.shape.clone(),
                },
                NodeKind::Variable(v) => {
                    var_index.insert(*v, k);
                    var_values.push(&store.values()[v.0]);
                    NodeDoc::Variable {
                        name: n.name.clone(),
                        index: var_values.len() - 1,
                    }
                }
                NodeKind::Constant(c) => {
                    const_values.push(c);
                    NodeDoc::Constant {
                        name: n.name.clone(),
                        index: const_values.len() - 1,
                    }
                }
                NodeKind::Op(op) => {
                    let rec = on.record.as_ref().ok_or_else(|| {
                        Error::Unsupported(format!(
                            "op '{}' was added as a built op (Graph::apply), not by name; a program containing it cannot be saved",
                            op.name()
                        ))
                    })?;
                    if op.is_random() {
                        random_counters.push((k, store.counters.get(&on.id).copied().unwrap_or(0)));
                    }
                    NodeDoc::Op {
                        op: rec.name.clone(),
                        inputs: n.inputs.iter().map(at).collect(),
                        attrs: rec.attrs.clone(),
                    }
                }
                NodeKind::Grad { loss, wrt } => NodeDoc::Gradient {
                    loss: at(loss),
                    wrt: at(wrt),
                },
            });
            index.insert(on.id, k);
        }
        let var = |v: &VarId| var_index[v];
        let mut updates = Vec::with_capacity(o.updates.len());
        for u in &o.updates {
            updates.push(match u {
                Update::Assign { var: v, value } => UpdateDoc::Assign {
                    variable: var(v),
                    value: index[value],
                },
                Update::Fused { op, inputs } => {
                    let opt = op.as_optimizer().ok_or_else(|| {
                        Error::Unsupported(format!(
                            "the fused update '{}' is not an optimizer step; a program containing it cannot be saved",
                            op.name()
                        ))
                    })?;
                    UpdateDoc::Optimizer(OptimizerDoc {
                        kind: opt.kind(),
                        params: opt.params().iter().map(var).collect(),
                        gradients: inputs.iter().map(|i| index[i]).collect(),
                        slots: opt
                            .slots()
                            .iter()
                            .map(|s| s.iter().map(var).collect())
                            .collect(),
                        hyper: opt
                            .hyper()
                            .vars()
                            .iter()
                            .map(|(name, v)| (name.to_string(), var(v)))
                            .collect(),
                        epsilon: opt.hyper().epsilon,
                        clipnorm: opt.clipnorm(),
                        clipvalue: opt.clipvalue(),
                        constraints: opt.constraints().to_vec(),
                    })
                }
            });
        }
        let doc = Doc {
            version: FORMAT_VERSION,
            inference: o.inference,
            fusion: o.fusion,
            learning_phase: index[&o.learning_phase],
            nodes,
            inputs: o.inputs.iter().map(|i| index[i]).collect(),
            outputs: o.outputs.iter().map(|i| index[i]).collect(),
            updates,
            random_counters,
            metadata: metadata.clone(),
        };
        let mut tensors: Vec<(String, TensorOut<'_>)> = Vec::new();
        for (i, v) in var_values.iter().enumerate() {
            tensors.push((format!("variable.{i}"), TensorOut(v)));
        }
        for (i, v) in const_values.iter().enumerate() {
            tensors.push((format!("constant.{i}"), TensorOut(v)));
        }
        let meta = HashMap::from([(METADATA_KEY.to_string(), doc.to_json())]);
        safetensors::serialize(tensors, Some(meta))
            .map_err(|e| Error::Value(format!("cannot serialize the program: {e}")))
    }

    /// Loads a program from the bytes of a program file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Program> {
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| corrupt(format!("not a safetensors file ({e})")))?;
        let text = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| {
                corrupt(format!(
                    "a safetensors file without a '{METADATA_KEY}' metadata entry (not a ferrokeras program)"
                ))
            })?;
        let doc = Doc::parse(text)?;
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| corrupt(format!("its tensors cannot be read ({e})")))?;
        rebuild(&doc, &st)
    }
}

/// Rebuilds the graph of a document and compiles it as the saving program was compiled.
fn rebuild(doc: &Doc, st: &SafeTensors<'_>) -> Result<Program> {
    let mut g = Graph::new();
    g.set_fusion(doc.fusion);
    let n = doc.nodes.len();
    if doc.learning_phase >= n
        || !matches!(doc.nodes[doc.learning_phase], NodeDoc::Placeholder { .. })
    {
        return Err(corrupt("'learning_phase' is not a placeholder node"));
    }
    let mut ids: Vec<NodeId> = Vec::with_capacity(n);
    for (k, nd) in doc.nodes.iter().enumerate() {
        let at = |j: usize| -> Result<NodeId> {
            ids.get(j).copied().ok_or_else(|| {
                corrupt(format!(
                    "node {k} reads node {j}, which does not precede it"
                ))
            })
        };
        let ctx = |e: Error| match e {
            Error::Memory(m) => Error::Memory(m),
            e => corrupt(format!("node {k}: {e}")),
        };
        let id = match nd {
            NodeDoc::Placeholder { dtype, shape, .. } if k == doc.learning_phase => {
                if *dtype != DType::F32 || !shape.is_empty() {
                    return Err(corrupt("the learning phase must be a float32 scalar"));
                }
                g.learning_phase()
            }
            NodeDoc::Placeholder { name, dtype, shape } => {
                g.placeholder(*dtype, shape.clone(), name)
            }
            NodeDoc::Variable { name, index } => {
                g.variable(tensors::read(st, &format!("variable.{index}"))?, name)
            }
            NodeDoc::Constant { name, index } => {
                g.constant(tensors::read(st, &format!("constant.{index}"))?, name)
            }
            NodeDoc::Op { op, inputs, attrs } => {
                let mut a = Attrs::new(op);
                for (key, v) in attrs {
                    a.set(key, v.clone());
                }
                let ins = inputs.iter().map(|&j| at(j)).collect::<Result<Vec<_>>>()?;
                g.op(op, &ins, &a).map_err(ctx)?
            }
            NodeDoc::Gradient { loss, wrt } => {
                let (l, w) = (at(*loss)?, at(*wrt)?);
                g.gradients(l, &[w]).map_err(ctx)?[0]
            }
        };
        ids.push(id);
    }
    let node = |j: usize| -> Result<NodeId> {
        ids.get(j)
            .copied()
            .ok_or_else(|| corrupt(format!("node {j} does not exist ({n} nodes)")))
    };
    let var = |j: usize| -> Result<VarId> {
        g.var_id(node(j)?)
            .map_err(|_| corrupt(format!("node {j} is used as a variable but is not one")))
    };
    let mut updates = Vec::with_capacity(doc.updates.len());
    for u in &doc.updates {
        updates.push(match u {
            UpdateDoc::Assign { variable, value } => Update::Assign {
                var: var(*variable)?,
                value: node(*value)?,
            },
            UpdateDoc::Optimizer(o) => {
                let hv = |name: &str| o.hyper.get(name).map(|&j| var(j)).transpose();
                for name in o.hyper.keys() {
                    if ![
                        "lr",
                        "iterations",
                        "decay",
                        "momentum",
                        "rho",
                        "beta_1",
                        "beta_2",
                        "m_schedule",
                    ]
                    .contains(&name.as_str())
                    {
                        return Err(corrupt(format!(
                            "unknown optimizer hyper-parameter '{name}'"
                        )));
                    }
                }
                let h = Hyper {
                    lr: hv("lr")?.ok_or_else(|| corrupt("the optimizer has no 'lr'"))?,
                    iterations: hv("iterations")?
                        .ok_or_else(|| corrupt("the optimizer has no 'iterations'"))?,
                    decay: hv("decay")?,
                    momentum: hv("momentum")?,
                    rho: hv("rho")?,
                    beta_1: hv("beta_1")?,
                    beta_2: hv("beta_2")?,
                    m_schedule: hv("m_schedule")?,
                    epsilon: o.epsilon,
                };
                if o.gradients.len() != o.params.len() {
                    return Err(corrupt(format!(
                        "the optimizer has {} parameter(s) and {} gradient(s)",
                        o.params.len(),
                        o.gradients.len()
                    )));
                }
                let up = OptimizerUpdate::new(
                    o.kind,
                    o.params.iter().map(|&j| var(j)).collect::<Result<_>>()?,
                    o.slots
                        .iter()
                        .map(|s| s.iter().map(|&j| var(j)).collect::<Result<_>>())
                        .collect::<Result<_>>()?,
                    h,
                    o.clipnorm,
                    o.clipvalue,
                    o.constraints.clone(),
                )
                .map_err(|e| corrupt(format!("optimizer: {e}")))?;
                Update::Fused {
                    op: std::sync::Arc::new(up),
                    inputs: o
                        .gradients
                        .iter()
                        .map(|&j| node(j))
                        .collect::<Result<_>>()?,
                }
            }
        });
    }
    let inputs = doc
        .inputs
        .iter()
        .map(|&j| node(j))
        .collect::<Result<Vec<_>>>()?;
    let outputs = doc
        .outputs
        .iter()
        .map(|&j| node(j))
        .collect::<Result<Vec<_>>>()?;
    for &(j, c) in &doc.random_counters {
        g.set_random_counter(node(j)?, c).map_err(|_| {
            corrupt(format!(
                "node {j} has a random counter but is not a random op"
            ))
        })?;
    }
    let compiled = if doc.inference {
        g.compile_inference(&inputs, &outputs, updates)
    } else {
        g.compile(&inputs, &outputs, updates)
    };
    let mut p = compiled.map_err(|e| match e {
        Error::Memory(m) => Error::Memory(m),
        e => corrupt(format!("the program does not compile: {e}")),
    })?;
    p.origin_mut().metadata = doc.metadata.clone();
    Ok(p)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it onto
/// `path`, so readers see the old file or the new one, never a partial one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::Io(format!("cannot write the program file: {e}"));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Io("the program file path has no file name".into()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            // directory fsync makes the rename durable; not every filesystem allows it
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}
