//! `keras._native`: the PyO3 bindings of the ferrokeras engine.
//!
//! Thin and mechanical: numpy <-> engine conversion, one place mapping engine errors to
//! Python exceptions, the GIL released around every Program run, and panics caught and
//! turned into `RuntimeError` so no engine bug can abort the interpreter. No numerics.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use ferrokeras::graph::{BatchData, BatchInput, Session, Update, UpdateOp};
use ferrokeras::optim::{Constraint, Hyper, OptimizerKind, OptimizerUpdate};
use ferrokeras::{Attr, Attrs, DType, Element, Error, Graph, NodeId, Program, Value, VarId};
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{
    PyIOError, PyMemoryError, PyNotImplementedError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// The one mapping from engine errors to Python exceptions.
fn to_py(e: Error) -> PyErr {
    match e {
        Error::Shape(m) | Error::Value(m) => PyValueError::new_err(m),
        Error::Type(m) => PyTypeError::new_err(m),
        Error::Unsupported(m) => PyNotImplementedError::new_err(m),
        Error::Io(m) => PyIOError::new_err(m),
        Error::Memory(m) => PyMemoryError::new_err(m),
    }
}

/// Runs engine code, turning a panic (an engine bug) into a Python RuntimeError.
fn guarded<T>(f: impl FnOnce() -> ferrokeras::Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(to_py),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(PyRuntimeError::new_err(format!(
                "internal error in the ferrokeras engine: {msg}"
            )))
        }
    }
}

/// `obj` as an array the engine may read through a pointer: an ndarray that is
/// C-contiguous and aligned is returned as is; any other ndarray (a misaligned buffer
/// such as `np.frombuffer(b, 'f4', offset=1)`, a strided or packed structured-field
/// view) is first copied by numpy into one that is (`numpy.require(obj, None, "CA")`),
/// so no unaligned or mis-strided view is ever handed to ndarray or the kernels.
fn readable<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    match obj.cast::<PyUntypedArray>() {
        Ok(a) if !(a.is_aligned() && a.is_c_contiguous()) => {
            let np = obj.py().import("numpy")?;
            np.getattr("require")?.call1((obj, obj.py().None(), "CA"))
        }
        _ => Ok(obj.clone()),
    }
}

/// numpy array (float32 or int32, any layout or alignment) -> engine value (copied).
fn value_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let obj = &readable(obj)?;
    if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        let shape = a.shape().to_vec();
        let data = a.as_array().iter().copied().collect();
        return Value::from_f32(&shape, data).map_err(to_py);
    }
    if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, i32>>() {
        let shape = a.shape().to_vec();
        let data = a.as_array().iter().copied().collect();
        return Value::from_i32(&shape, data).map_err(to_py);
    }
    Err(PyTypeError::new_err(
        "expected a float32 or int32 numpy array",
    ))
}

/// Engine value -> a fresh numpy array owned by the caller.
fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    let shape = v.shape.clone();
    let arr = match v.dt() {
        DType::I32 => PyArray1::from_vec(py, v.i[..v.len()].to_vec())
            .reshape(shape)?
            .into_any(),
        DType::Bool => {
            let b: Vec<bool> = v.f[..v.len()].iter().map(|&x| x != 0.0).collect();
            PyArray1::from_vec(py, b).reshape(shape)?.into_any()
        }
        DType::F32 => PyArray1::from_vec(py, v.f[..v.len()].to_vec())
            .reshape(shape)?
            .into_any(),
    };
    Ok(arr)
}

/// engine value -> numpy array, moving its storage when it holds exactly its elements.
fn value_into_py(py: Python<'_>, mut v: Value) -> PyResult<Bound<'_, PyAny>> {
    let n = v.len();
    match v.dt() {
        DType::I32 if v.i.len() == n => {
            let shape = std::mem::take(&mut v.shape);
            Ok(PyArray1::from_vec(py, v.i).reshape(shape)?.into_any())
        }
        DType::F32 if v.f.len() == n => {
            let shape = std::mem::take(&mut v.shape);
            Ok(PyArray1::from_vec(py, v.f).reshape(shape)?.into_any())
        }
        _ => value_to_py(py, &v),
    }
}

fn attr_from_py(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Attr> {
    if v.is_none() {
        return Ok(Attr::None);
    }
    if let Ok(b) = v.extract::<bool>() {
        if v.is_instance_of::<pyo3::types::PyBool>() {
            return Ok(Attr::Bool(b));
        }
    }
    if let Ok(i) = v.extract::<i64>() {
        return Ok(Attr::Int(i));
    }
    if let Ok(f) = v.extract::<f64>() {
        return Ok(Attr::Float(f));
    }
    if let Ok(s) = v.extract::<String>() {
        return Ok(Attr::Str(s));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        if let Ok(iv) = v.extract::<Vec<i64>>() {
            return Ok(Attr::Ints(iv));
        }
        if let Ok(fv) = v.extract::<Vec<f64>>() {
            return Ok(Attr::Floats(fv));
        }
    }
    Err(PyTypeError::new_err(format!(
        "op argument '{key}' has an unsupported type"
    )))
}

/// Per-parameter constraints as Python passes them: None or (kind, arguments).
type ConstraintArgs<'py> = Option<Vec<Option<(String, Bound<'py, PyDict>)>>>;

/// A computation graph: the native side of a Keras backend session.
#[pyclass(module = "keras._native", name = "Graph")]
struct PyGraph {
    inner: Mutex<Graph>,
}

impl PyGraph {
    fn g(&self) -> MutexGuard<'_, Graph> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn dims_to_py(shape: &[Option<usize>]) -> Vec<Option<usize>> {
    shape.to_vec()
}

#[pymethods]
impl PyGraph {
    #[new]
    fn new() -> Self {
        PyGraph {
            inner: Mutex::new(Graph::new()),
        }
    }

    /// Number of nodes.
    fn __len__(&self) -> usize {
        self.g().len()
    }

    /// The learning-phase placeholder node.
    fn learning_phase(&self) -> usize {
        self.g().learning_phase().0
    }

    /// Adds a placeholder; `shape` entries may be None.
    fn placeholder(&self, dtype: &str, shape: Vec<Option<usize>>, name: &str) -> PyResult<usize> {
        let dt = DType::parse(dtype).map_err(to_py)?;
        Ok(self.g().placeholder(dt, shape, name).0)
    }

    /// Adds a variable initialised from a float32/int32 array.
    fn variable(&self, value: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
        let v = value_from_py(value)?;
        Ok(self.g().variable(v, name).0)
    }

    /// Adds a constant.
    fn constant(&self, value: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
        let v = value_from_py(value)?;
        Ok(self.g().constant(v, name).0)
    }

    /// Adds an op node by registry name; shape errors are raised here.
    #[pyo3(signature = (name, inputs, attrs=None))]
    fn op(
        &self,
        name: &str,
        inputs: Vec<usize>,
        attrs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<usize> {
        let mut a = Attrs::new(name);
        if let Some(d) = attrs {
            for (k, v) in d.iter() {
                let key: String = k.extract()?;
                a.set(&key, attr_from_py(&key, &v)?);
            }
        }
        let ids: Vec<NodeId> = inputs.into_iter().map(NodeId).collect();
        guarded(|| self.g().op(name, &ids, &a)).map(|n| n.0)
    }

    /// Gradient nodes of a scalar loss with respect to nodes.
    fn gradients(&self, loss: usize, wrt: Vec<usize>) -> PyResult<Vec<usize>> {
        let ids: Vec<NodeId> = wrt.into_iter().map(NodeId).collect();
        guarded(|| self.g().gradients(NodeId(loss), &ids))
            .map(|v| v.into_iter().map(|n| n.0).collect())
    }

    /// (dtype name, shape with None for unknown dims) of a node.
    fn info(&self, node: usize) -> PyResult<(String, Vec<Option<usize>>)> {
        let g = self.g();
        let t = g.info(NodeId(node)).map_err(to_py)?;
        Ok((t.dtype.name().to_string(), dims_to_py(&t.shape)))
    }

    /// The node's name.
    fn name(&self, node: usize) -> PyResult<String> {
        Ok(self.g().node(NodeId(node)).map_err(to_py)?.name.clone())
    }

    /// True when the node is a variable.
    fn is_variable(&self, node: usize) -> PyResult<bool> {
        Ok(self.g().var_id(NodeId(node)).is_ok())
    }

    /// Reads a variable as a fresh numpy array.
    fn get_value<'py>(&self, py: Python<'py>, node: usize) -> PyResult<Bound<'py, PyAny>> {
        let v = {
            let g = self.g();
            let vid = g.var_id(NodeId(node)).map_err(to_py)?;
            g.get_value(vid).map_err(to_py)?
        };
        value_to_py(py, &v)
    }

    /// Writes a variable (dtype and shape must match).
    fn set_value(&self, node: usize, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = value_from_py(value)?;
        let g = self.g();
        let vid = g.var_id(NodeId(node)).map_err(to_py)?;
        g.set_value(vid, v).map_err(to_py)
    }

    /// Whether compiling folds activations and biases into their producers (on by
    /// default; results are the same either way).
    #[getter]
    fn fusion(&self) -> bool {
        self.g().fusion()
    }

    #[setter]
    fn set_fusion(&self, on: bool) {
        self.g().set_fusion(on)
    }

    /// The next call counter of a random node's stream.
    fn random_counter(&self, node: usize) -> PyResult<u64> {
        self.g().random_counter(NodeId(node)).map_err(to_py)
    }

    /// Sets the next call counter of a random node's stream.
    fn set_random_counter(&self, node: usize, counter: u64) -> PyResult<()> {
        self.g()
            .set_random_counter(NodeId(node), counter)
            .map_err(to_py)
    }

    /// A fused optimizer step (see `ferrokeras::optim`). `hyper` maps names (lr, decay,
    /// iterations, momentum, rho, beta_1, beta_2, m_schedule) to scalar variable nodes;
    /// `slots[j][i]` is the j-th slot variable of parameter i; `constraints[i]` is None or
    /// a tuple (kind, dict of arguments).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (kind, params, grads, slots, hyper, epsilon, clipnorm=None, clipvalue=None, constraints=None, nesterov=false, schedule_decay=0.004))]
    fn optimizer_update(
        &self,
        kind: &str,
        params: Vec<usize>,
        grads: Vec<usize>,
        slots: Vec<Vec<usize>>,
        hyper: &Bound<'_, PyDict>,
        epsilon: f32,
        clipnorm: Option<f32>,
        clipvalue: Option<f32>,
        constraints: ConstraintArgs<'_>,
        nesterov: bool,
        schedule_decay: f32,
    ) -> PyResult<PyUpdate> {
        let g = self.g();
        let var = |n: usize| g.var_id(NodeId(n)).map_err(to_py);
        let kind = match kind {
            "sgd" => OptimizerKind::Sgd { nesterov },
            "rmsprop" => OptimizerKind::RMSprop,
            "adagrad" => OptimizerKind::Adagrad,
            "adadelta" => OptimizerKind::Adadelta,
            "adam" => OptimizerKind::Adam,
            "adamax" => OptimizerKind::Adamax,
            "nadam" => OptimizerKind::Nadam { schedule_decay },
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown optimizer kind '{other}'"
                )))
            }
        };
        let hv = |k: &str| -> PyResult<Option<VarId>> {
            match hyper.get_item(k)? {
                Some(v) if !v.is_none() => Ok(Some(var(v.extract()?)?)),
                _ => Ok(None),
            }
        };
        let h = Hyper {
            lr: hv("lr")?
                .ok_or_else(|| PyValueError::new_err("optimizer_update: 'lr' is required"))?,
            decay: hv("decay")?,
            iterations: hv("iterations")?.ok_or_else(|| {
                PyValueError::new_err("optimizer_update: 'iterations' is required")
            })?,
            momentum: hv("momentum")?,
            rho: hv("rho")?,
            beta_1: hv("beta_1")?,
            beta_2: hv("beta_2")?,
            m_schedule: hv("m_schedule")?,
            epsilon,
        };
        let params: Vec<VarId> = params.into_iter().map(var).collect::<PyResult<_>>()?;
        let slots: Vec<Vec<VarId>> = slots
            .into_iter()
            .map(|s| s.into_iter().map(var).collect::<PyResult<_>>())
            .collect::<PyResult<_>>()?;
        let cons = match constraints {
            None => vec![None; params.len()],
            Some(list) => list
                .into_iter()
                .map(|c| c.map(|(k, d)| constraint_from_py(&k, &d)).transpose())
                .collect::<PyResult<_>>()?,
        };
        let upd = OptimizerUpdate::new(kind, params, slots, h, clipnorm, clipvalue, cons)
            .map_err(to_py)?;
        Ok(PyUpdate {
            op: Arc::new(upd),
            inputs: grads,
        })
    }

    /// Compiles a function: `assigns` are (variable node, value node) pairs, `fused` are
    /// fused updates (optimizer steps); `inference` compiles for the test phase only
    /// (`Graph::compile_inference`).
    #[pyo3(signature = (inputs, outputs, assigns=Vec::new(), fused=Vec::new(), inference=false))]
    fn compile(
        &self,
        inputs: Vec<usize>,
        outputs: Vec<usize>,
        assigns: Vec<(usize, usize)>,
        fused: Vec<PyRef<'_, PyUpdate>>,
        inference: bool,
    ) -> PyResult<PyProgram> {
        let g = self.g();
        let mut updates = Vec::new();
        for (var, value) in assigns {
            updates.push(Update::Assign {
                var: g.var_id(NodeId(var)).map_err(to_py)?,
                value: NodeId(value),
            });
        }
        for f in fused {
            updates.push(Update::Fused {
                op: f.op.clone(),
                inputs: f.inputs.iter().map(|&i| NodeId(i)).collect(),
            });
        }
        let ins: Vec<NodeId> = inputs.into_iter().map(NodeId).collect();
        let outs: Vec<NodeId> = outputs.into_iter().map(NodeId).collect();
        let p = guarded(|| {
            if inference {
                g.compile_inference(&ins, &outs, updates)
            } else {
                g.compile(&ins, &outs, updates)
            }
        })?;
        Ok(PyProgram { inner: Arc::new(p) })
    }
}

fn constraint_from_py(kind: &str, d: &Bound<'_, PyDict>) -> PyResult<Constraint> {
    let f = |k: &str, default: f32| -> PyResult<f32> {
        Ok(match d.get_item(k)? {
            Some(v) if !v.is_none() => v.extract()?,
            _ => default,
        })
    };
    let axis = || -> PyResult<Vec<i64>> {
        Ok(match d.get_item("axis")? {
            Some(v) if !v.is_none() => match v.extract::<i64>() {
                Ok(i) => vec![i],
                Err(_) => v.extract::<Vec<i64>>()?,
            },
            _ => vec![0],
        })
    };
    Ok(match kind {
        "maxnorm" => Constraint::MaxNorm {
            m: f("m", 2.0)?,
            axis: axis()?,
        },
        "nonneg" => Constraint::NonNeg,
        "unitnorm" => Constraint::UnitNorm { axis: axis()? },
        "minmaxnorm" => Constraint::MinMaxNorm {
            low: f("low", 0.0)?,
            high: f("high", 1.0)?,
            rate: f("rate", 1.0)?,
            axis: axis()?,
        },
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown constraint '{other}'"
            )))
        }
    })
}

/// A fused update handle, passed to `Graph.compile(fused=[...])`.
#[pyclass(module = "keras._native", name = "Update", frozen)]
struct PyUpdate {
    op: Arc<dyn UpdateOp>,
    inputs: Vec<usize>,
}

/// A compiled function. Calling it copies the inputs into the Program's buffers, runs
/// with the GIL released and returns fresh numpy arrays.
#[pyclass(module = "keras._native", name = "Program", frozen)]
struct PyProgram {
    inner: Arc<Program>,
}

#[pymethods]
impl PyProgram {
    /// Number of inputs.
    #[getter]
    fn n_inputs(&self) -> usize {
        self.inner.n_inputs()
    }

    /// Number of outputs.
    #[getter]
    fn n_outputs(&self) -> usize {
        self.inner.n_outputs()
    }

    /// Number of nodes the compiled function runs or reads (after fusion).
    #[getter]
    fn n_nodes(&self) -> usize {
        self.inner.n_nodes()
    }

    /// Saves the compiled function as a program file (one safetensors file holding the
    /// graph, the variables with optimizer state and the random counters; see
    /// `ferrokeras::saved`). `metadata` maps strings to strings.
    #[pyo3(signature = (path, metadata=None))]
    fn save(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    ) -> PyResult<()> {
        let prog = &*self.inner;
        let meta = metadata.unwrap_or_else(|| prog.metadata().clone());
        py.detach(|| guarded(|| prog.save_with_metadata(&path, &meta)))
    }

    /// The metadata strings a loaded program carries (empty for a compiled one).
    #[getter]
    fn metadata(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.metadata().clone()
    }

    /// The names of the inputs (placeholder names), in order.
    #[getter]
    fn input_names(&self) -> Vec<String> {
        (0..self.inner.n_inputs())
            .map(|i| self.inner.input_name(i).to_string())
            .collect()
    }

    /// The current value of the program's variable `name`, as a fresh numpy array.
    fn get_variable<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let t = guarded(|| self.inner.variable(name))?;
        let v = match t {
            ferrokeras::Tensor::F32(a) => Value::from_array(a),
            ferrokeras::Tensor::I32(a) => Value::from_array(a),
            ferrokeras::Tensor::Bool(a) => {
                Value::from_array(a.mapv(|b| b as u8 as f32)).map(|mut v| {
                    v.dtype = Some(DType::Bool);
                    v
                })
            }
        }
        .map_err(to_py)?;
        value_to_py(py, &v)
    }

    /// The names of the variables of the program's store.
    fn variable_names(&self) -> Vec<String> {
        self.inner.variable_names()
    }

    /// The names of the ops the compiled function runs (after fusion), in execution
    /// order.
    fn op_names(&self) -> Vec<String> {
        self.inner
            .op_names()
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// Runs the function on a list of C-contiguous float32/int32 arrays. `row_offset`
    /// says the batch is rows `row_offset ..` of a larger batch: random ops (dropout,
    /// Gaussian noise) then draw the noise of those rows of the larger batch, for this
    /// call only (data-parallel shards; see `Session::set_row_offset`). With `rows` (a
    /// 1-D int64 array) the batch is those rows of each input of rank 1 or more (the
    /// program gathers them; see `Session::feed_rows`); scalar inputs (the learning
    /// phase) are fed whole.
    #[pyo3(signature = (inputs, row_offset = 0, rows = None))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<Bound<'py, PyAny>>,
        row_offset: u64,
        rows: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let prog = &*self.inner;
        let rows = rows
            .as_ref()
            .map(|r| r.as_slice())
            .transpose()
            .map_err(|_| PyValueError::new_err("rows must be a C-contiguous int64 array"))?;
        if inputs.len() != prog.n_inputs() {
            return Err(PyValueError::new_err(format!(
                "the function takes {} input array(s), got {}",
                prog.n_inputs(),
                inputs.len()
            )));
        }
        let mut sess = lock(py, prog);
        for (i, obj) in inputs.iter().enumerate() {
            let obj = &readable(obj)?;
            if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, f32>>() {
                feed_array(&mut sess, i, &a, rows)?;
            } else if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, i32>>() {
                feed_array(&mut sess, i, &a, rows)?;
            } else {
                return Err(PyTypeError::new_err(format!(
                    "input {i} ('{}') must be a float32 or int32 numpy array",
                    prog.input_name(i)
                )));
            }
        }
        sess.set_row_offset(row_offset);
        {
            let (p, st) = sess.parts();
            py.detach(|| guarded(|| p.run_state(st)))?;
        }
        (0..prog.n_outputs())
            .map(|i| value_to_py(py, sess.output(i)))
            .collect()
    }

    /// Runs the (inference) function over all rows of C-contiguous float32/int32
    /// arrays in consecutive batches of `batch_size` rows (scalar arrays, such as the
    /// learning phase, fed whole to each) and returns each output with every batch's
    /// rows (a scalar output: one value per batch), or None when the function's runs are
    /// not independent of each other or an output is neither scalar nor batch-major
    /// (then run it batch by batch); see `Program::run_batches_state`.
    fn run_batches<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<Bound<'py, PyAny>>,
        batch_size: usize,
    ) -> PyResult<Option<Vec<Bound<'py, PyAny>>>> {
        let prog = &*self.inner;
        let held = Held::all(prog, &inputs)?;
        let batch_inputs = Held::batch_inputs(&held)?;
        let mut sess = lock(py, prog);
        let (p, st) = sess.parts();
        let outs = py.detach(|| guarded(|| p.run_batches_state(st, &batch_inputs, batch_size)))?;
        outs.map(|vs| vs.into_iter().map(|v| value_into_py(py, v)).collect())
            .transpose()
    }

    /// Trains: runs the function once per batch of rows
    /// `order[k * batch_size ..][..batch_size]` of C-contiguous float32/int32 arrays
    /// (scalar arrays, such as the learning phase, fed whole to each), as one
    /// `f(inputs, rows=...)` call per batch would, and returns `(outs, error)`: `outs`
    /// a float32 array with one row of outputs per completed step, `error` None or the
    /// exception that stopped the loop (a failing step, or a signal such as Ctrl-C,
    /// checked between steps), for the caller to raise once it has accounted for the
    /// completed steps. See `Program::run_steps_state`.
    fn run_steps<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<Bound<'py, PyAny>>,
        order: PyReadonlyArray1<'py, i64>,
        batch_size: usize,
    ) -> PyResult<(Bound<'py, PyArray2<f32>>, Option<PyErr>)> {
        let prog = &*self.inner;
        let held = Held::all(prog, &inputs)?;
        let batch_inputs = Held::batch_inputs(&held)?;
        let order = order
            .as_slice()
            .map_err(|_| PyValueError::new_err("order must be a C-contiguous int64 array"))?;
        let mut sess = lock(py, prog);
        let (p, st) = sess.parts();
        // Signals are looked at every few milliseconds, not every step: taking the GIL
        // back is cheap alone but waits out another Python thread's turn.
        let mut stopped_by: Option<PyErr> = None;
        let mut checked = std::time::Instant::now();
        let mut between = || {
            if checked.elapsed() < SIGNAL_CHECK_EVERY {
                return true;
            }
            checked = std::time::Instant::now();
            match Python::attach(|py| py.check_signals()) {
                Ok(()) => true,
                Err(e) => {
                    stopped_by = Some(e);
                    false
                }
            }
        };
        let ran = py.detach(|| {
            guarded(|| p.run_steps_state(st, &batch_inputs, order, batch_size, &mut between))
        })?;
        let outs = PyArray1::from_vec(py, ran.outputs).reshape([ran.done, prog.n_outputs()])?;
        Ok((outs, stopped_by.or(ran.error.map(to_py))))
    }
}

/// How often `run_steps` checks for signals (Ctrl-C) between its steps.
const SIGNAL_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// Locks `prog` for one call. Never waits for the Program's lock while holding the GIL:
/// the thread that holds the lock may need the GIL to finish its call.
fn lock<'a>(py: Python<'_>, prog: &'a Program) -> Session<'a> {
    loop {
        if let Some(s) = prog.try_session() {
            return s;
        }
        py.detach(|| prog.wait_unlocked());
    }
}

/// A numpy input held (borrowed read-only) while the engine reads it.
enum Held<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    I32(PyReadonlyArrayDyn<'py, i32>),
}

impl<'py> Held<'py> {
    /// Every input of a call of `prog`, checked for count and dtype.
    fn all(prog: &Program, inputs: &[Bound<'py, PyAny>]) -> PyResult<Vec<Held<'py>>> {
        if inputs.len() != prog.n_inputs() {
            return Err(PyValueError::new_err(format!(
                "the function takes {} input array(s), got {}",
                prog.n_inputs(),
                inputs.len()
            )));
        }
        let mut held = Vec::with_capacity(inputs.len());
        for (i, obj) in inputs.iter().enumerate() {
            let obj = readable(obj)?;
            held.push(
                if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'py, f32>>() {
                    Held::F32(a)
                } else if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'py, i32>>() {
                    Held::I32(a)
                } else {
                    return Err(PyTypeError::new_err(format!(
                        "input {i} ('{}') must be a float32 or int32 numpy array",
                        prog.input_name(i)
                    )));
                },
            );
        }
        Ok(held)
    }

    /// The engine's view of each held input.
    fn batch_inputs<'a>(held: &'a [Held<'py>]) -> PyResult<Vec<BatchInput<'a>>> {
        held.iter().map(Held::batch_input).collect()
    }

    fn batch_input(&self) -> PyResult<BatchInput<'_>> {
        let contiguous = || PyValueError::new_err("input arrays must be C-contiguous");
        Ok(match self {
            Held::F32(a) => BatchInput {
                shape: a.shape(),
                data: BatchData::F32(a.as_slice().map_err(|_| contiguous())?),
            },
            Held::I32(a) => BatchInput {
                shape: a.shape(),
                data: BatchData::I32(a.as_slice().map_err(|_| contiguous())?),
            },
        })
    }
}

/// Feeds a C-contiguous numpy array into input `i` of a session: rows `rows` of it
/// when given and the array has an axis, else all of it.
fn feed_array<T: Element + numpy::Element + Send + Sync>(
    sess: &mut Session<'_>,
    i: usize,
    a: &PyReadonlyArrayDyn<'_, T>,
    rows: Option<&[i64]>,
) -> PyResult<()> {
    let data = a
        .as_slice()
        .map_err(|_| PyValueError::new_err("input arrays must be C-contiguous"))?;
    match rows {
        Some(r) if a.ndim() > 0 => sess.feed_rows(i, a.shape(), data, r),
        _ => T::feed(sess, i, a.shape(), data),
    }
    .map_err(to_py)
}

/// Loads a program file written by `Program.save` (or the Rust `Program::save`).
#[pyfunction]
fn load_program(py: Python<'_>, path: std::path::PathBuf) -> PyResult<PyProgram> {
    let p = py.detach(|| guarded(|| Program::load(&path)))?;
    Ok(PyProgram { inner: Arc::new(p) })
}

/// The newest program file format version this build reads and writes.
#[pyfunction]
fn program_format_version() -> u64 {
    ferrokeras::saved::FORMAT_VERSION
}

/// Number of threads of the engine's pool.
#[pyfunction]
fn num_threads() -> usize {
    ferrokeras::kernels::pool::threads()
}

/// Per-op timing rows (op, phase, calls, seconds) accumulated while the environment
/// variable FERROKERAS_PROFILE was set; reading them clears them.
#[pyfunction]
fn profile_report() -> Vec<(String, String, u64, f64)> {
    ferrokeras::graph::profile::report()
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGraph>()?;
    m.add_class::<PyProgram>()?;
    m.add_class::<PyUpdate>()?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(load_program, m)?)?;
    m.add_function(wrap_pyfunction!(program_format_version, m)?)?;
    m.add_function(wrap_pyfunction!(profile_report, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
