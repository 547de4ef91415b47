//! Ops: the vocabulary of the graph. Each op family lives in its own file (or, for
//! `shape`, its own directory of one file per op) with its forward and backward
//! (vector-Jacobian product) kernels, and its tests at the bottom or, where they
//! outweigh the code, in a sibling `tests.rs`. The kernels several families share (the
//! activation functions, window geometry, gemm, random numbers) are in `crate::kernels`.
//!
//! An op is a value implementing [`Op`]; ops are created by name from [`Attrs`] through
//! [`build`], which asks each family in turn. Adding an op touches only its family file.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use crate::kernels::act::Act;
use crate::tensor::{fmt_shape, DType, Shape, Value};
use crate::{Error, Result};

pub mod activation;
pub mod binary;
pub mod conv;
pub mod conv3d;
mod conv3d_ndhwc;
mod conv_nhwc;
pub mod deconv;
mod deconv_nhwc;
pub mod depthwise;
mod depthwise_nhwc;
pub mod epilogue;
pub mod loss;
pub mod matmul;
mod nhwc_batch;
pub mod normalization;
pub mod pool;
pub mod pool3d;
mod pool_cl;
pub mod random;
pub mod recurrent;
pub mod reduce;
pub mod shape;
pub mod unary;

#[cfg(test)]
pub(crate) mod testing;

/// Static type of a node: dtype and symbolic shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeInfo {
    /// Element type.
    pub dtype: DType,
    /// Symbolic shape (`None` = unknown until run time).
    pub shape: Shape,
}

impl TypeInfo {
    /// Float32 of the given shape.
    pub fn f32(shape: Shape) -> TypeInfo {
        TypeInfo {
            dtype: DType::F32,
            shape,
        }
    }
    /// Shape rank.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
}

/// Per-node scratch space that lives as long as the Program's buffers: kernels keep
/// what their backward needs here (argmax indices, saved statistics, the random
/// counter of the call), so a steady-state call allocates nothing. An op with several
/// named quantities keeps them as one struct of its own in [`Scratch::state`] rather
/// than as regions of `f` at agreed offsets.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Float scratch.
    pub f: Vec<f32>,
    /// Integer scratch.
    pub i: Vec<i32>,
    /// The random-stream call counter used by the last forward (random ops only).
    pub counter: u64,
    /// The global row of this call's first batch row (random ops only; see
    /// [`Session::set_row_offset`](crate::graph::Session::set_row_offset)):
    /// noise that follows the batch axis draws its element `i` as element
    /// `row * elements_per_row + i` of the stream, so a shard of a batch draws exactly
    /// the noise the whole batch draws for its rows.
    pub row: u64,
    /// Bit `i` set: input `i` of this call is a variable or a constant, so it holds the
    /// same value in every call made in the same [`epoch`](Scratch::epoch) (set by the
    /// executor before each forward; 0 when called outside a Program).
    pub fixed_inputs: u64,
    /// The variable store's write count at this call
    /// ([`VarData::epoch`](crate::graph::VarData::epoch)).
    pub epoch: u64,
    /// The op's typed state; see [`Scratch::state`].
    state: Option<Box<dyn Any + Send + Sync>>,
}

impl Scratch {
    /// The op's own state: a `T` that persists from call to call (a forward leaves
    /// what its backward reads), `T::default()` on first use.
    pub fn state<T: Any + Send + Sync + Default>(&mut self) -> &mut T {
        if !self.state.as_ref().is_some_and(|s| s.is::<T>()) {
            self.state = Some(Box::<T>::default());
        }
        match self.state.as_mut().and_then(|s| s.downcast_mut::<T>()) {
            Some(t) => t,
            None => unreachable!("the state was just set to a T"),
        }
    }
}

/// What the executor hands a kernel besides its inputs and output.
#[derive(Debug)]
pub struct OpCtx<'a> {
    /// This node's persistent scratch space.
    pub scratch: &'a mut Scratch,
}

/// One operation of the graph.
pub trait Op: Send + Sync + Debug {
    /// The op's registry name (used in error messages).
    fn name(&self) -> &str;

    /// Output type from input types. Works on symbolic shapes at build time (unknown
    /// dims stay unknown) and on concrete shapes at run time. Must return an error,
    /// never panic, on incompatible inputs.
    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo>;

    /// Computes the output into `out`, which the executor has already reset to the
    /// inferred dtype and concrete shape.
    fn forward(&self, inputs: &[&Value], out: &mut Value, ctx: &mut OpCtx) -> Result<()>;

    // Gradients. The executor calls only `backward_many`, and only for the inputs whose
    // `has_grad` is true. An op states its gradient in exactly one of two ways: per input
    // (implement `backward`; the default `backward_many` calls it once per wanted input)
    // or all at once (override `backward_many` where the inputs' gradients share work, and
    // leave `backward` alone). An op with no gradient at all implements neither and answers
    // false from `has_grad`. The defaults are chosen so that a forgotten gradient fails
    // loudly: `has_grad` is true and `backward` returns `Error::Unsupported`, so the first
    // backward pass through such an op errors instead of recursing between the two
    // defaults or leaving a silent zero. One input's gradient, whichever way the op
    // states it, is `<dyn Op>::backward_one`.

    /// Accumulates (adds) into `gin` the gradient of the loss with respect to input
    /// `index`, given the gradient `gout` with respect to this op's output. The default
    /// is an error: an op that overrides [`Op::backward_many`] or has no gradient leaves
    /// it.
    fn backward(
        &self,
        index: usize,
        _inputs: &[&Value],
        _out: &Value,
        _gout: &[f32],
        _gin: &mut [f32],
        _ctx: &mut OpCtx,
    ) -> Result<()> {
        Err(Error::Unsupported(format!(
            "op '{}' defines no gradient with respect to input {index}",
            self.name()
        )))
    }

    /// Accumulates the gradients of several inputs in one call: `gins[k]` receives the
    /// gradient with respect to input `wanted[k]` (distinct inputs). The default calls
    /// [`Op::backward`] once per input; an op whose input gradients share work (a fused
    /// activation's derivative, one pass over each sample for all of them) overrides it,
    /// and must then give exactly the bits of one call per input.
    fn backward_many(
        &self,
        wanted: &[usize],
        inputs: &[&Value],
        out: &Value,
        gout: &[f32],
        gins: &mut [&mut [f32]],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        for (&index, gin) in wanted.iter().zip(gins.iter_mut()) {
            self.backward(index, inputs, out, gout, gin, ctx)?;
        }
        Ok(())
    }

    /// Whether a gradient flows to input `index` (false for comparisons, integer
    /// arguments, stop_gradient, random draws, ...). True by default: an op without a
    /// gradient must say so here.
    fn has_grad(&self, _index: usize) -> bool {
        true
    }

    /// Random ops draw a fresh counter from their stream before each forward.
    fn is_random(&self) -> bool {
        false
    }

    /// `(learning-phase input, forwarded input)` when this op, its learning-phase input
    /// at 0 (the test phase), returns the other input unchanged: dropout and the
    /// Gaussian noise ops, `switch` on the learning phase. An inference Program leaves
    /// such nodes out ([`crate::graph::Graph::compile_inference`]).
    fn test_phase_identity(&self) -> Option<(usize, usize)> {
        None
    }

    // Compile-time fusion (`graph/fuse.rs`). A fused op must compute exactly what the
    // unfused chain computes; the defaults opt out.

    /// The epilogue activation this op is, if a producer may apply it instead (relu
    /// with alpha 0 and no max_value, tanh, sigmoid).
    fn as_activation(&self) -> Option<Act> {
        None
    }

    /// This op with `act` applied to its output in its own pass, if it can (its own
    /// activation is linear).
    fn with_activation(&self, _act: Act) -> Option<OpRef> {
        None
    }

    /// For a bias add on an input of rank `ndim`: (the bias axis, its activation).
    fn as_bias_add(&self, _ndim: usize) -> Option<(usize, Act)> {
        None
    }

    /// This op followed by a bias add along axis `axis` of its output (the bias becomes
    /// an extra last input) and `act`, in its own pass, if it can.
    fn with_bias_activation(&self, _axis: usize, _act: Act) -> Option<OpRef> {
        None
    }
}

/// A shared op handle.
pub type OpRef = Arc<dyn Op>;

/// The [`Op::backward`] of an op whose output is its input's data, copied or reshaped
/// (`cast` between floats, `print`, `reshape`): the output gradient is added to the
/// input's unchanged. Expands inside an `impl Op`.
macro_rules! pass_through_backward {
    () => {
        fn backward(
            &self,
            _: usize,
            _: &[&$crate::tensor::Value],
            _: &$crate::tensor::Value,
            g: &[f32],
            gin: &mut [f32],
            _: &mut $crate::ops::OpCtx,
        ) -> $crate::Result<()> {
            for (d, &v) in gin.iter_mut().zip(g) {
                *d += v;
            }
            Ok(())
        }
    };
}
pub(crate) use pass_through_backward;

/// The [`Op::forward`] and [`Op::backward`] of a one-input elementwise op whose type has
/// the flat-buffer kernels `fwd(x, y)` and `bwd(x, y, g, d)` (input, output, output
/// gradient, input gradient: `bwd` adds into `d`). Expands inside an `impl Op`.
macro_rules! elementwise_forward_backward {
    () => {
        fn forward(
            &self,
            inputs: &[&$crate::tensor::Value],
            out: &mut $crate::tensor::Value,
            _: &mut $crate::ops::OpCtx,
        ) -> $crate::Result<()> {
            self.fwd(&inputs[0].f, &mut out.f);
            Ok(())
        }

        fn backward(
            &self,
            _: usize,
            inputs: &[&$crate::tensor::Value],
            out: &$crate::tensor::Value,
            g: &[f32],
            gin: &mut [f32],
            _: &mut $crate::ops::OpCtx,
        ) -> $crate::Result<()> {
            self.bwd(&inputs[0].f, &out.f, g, gin);
            Ok(())
        }
    };
}
pub(crate) use elementwise_forward_backward;

impl dyn Op {
    /// Adds into `gin` the gradient with respect to input `index` alone, through
    /// [`Op::backward_many`], so it works whichever way the op states its gradient (and
    /// cannot be overridden to disagree with what the executor runs).
    pub fn backward_one(
        &self,
        index: usize,
        inputs: &[&Value],
        out: &Value,
        gout: &[f32],
        gin: &mut [f32],
        ctx: &mut OpCtx,
    ) -> Result<()> {
        self.backward_many(&[index], inputs, out, gout, &mut [gin], ctx)
    }
}

/// One argument value of an op.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// Absent / Python `None`.
    None,
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// String.
    Str(String),
    /// Integer list (axes, shapes, patterns); -1 may mean "infer" where documented.
    Ints(Vec<i64>),
    /// Float list.
    Floats(Vec<f64>),
}

/// Named op arguments. Builders read them through the typed getters; any argument left
/// unread makes [`Attrs::finish`] fail, so a misspelt argument is an error, not ignored.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    op: String,
    map: BTreeMap<String, Attr>,
    used: std::cell::RefCell<Vec<String>>,
}

impl Attrs {
    /// Arguments for op `op`.
    pub fn new(op: &str) -> Attrs {
        Attrs {
            op: op.to_string(),
            ..Default::default()
        }
    }

    /// Adds an argument (builder style).
    pub fn with(mut self, key: &str, v: Attr) -> Attrs {
        self.map.insert(key.to_string(), v);
        self
    }

    /// Adds an argument.
    pub fn set(&mut self, key: &str, v: Attr) {
        self.map.insert(key.to_string(), v);
    }

    /// The op these arguments are for.
    pub fn op_name(&self) -> &str {
        &self.op
    }

    /// Every argument, by name (what a saved program records for the op).
    pub fn entries(&self) -> &BTreeMap<String, Attr> {
        &self.map
    }

    fn take(&self, key: &str) -> Option<&Attr> {
        let v = self.map.get(key);
        if v.is_some() {
            self.used.borrow_mut().push(key.to_string());
        }
        match v {
            Some(Attr::None) | None => None,
            Some(a) => Some(a),
        }
    }

    fn bad(&self, key: &str, want: &str, got: &Attr) -> Error {
        Error::Type(format!(
            "{}: argument '{key}' must be {want}, got {got:?}",
            self.op
        ))
    }

    /// Optional float.
    pub fn float_opt(&self, key: &str) -> Result<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Attr::Float(v)) => Ok(Some(*v)),
            Some(Attr::Int(v)) => Ok(Some(*v as f64)),
            Some(Attr::Bool(b)) => Ok(Some(*b as i64 as f64)),
            Some(a) => Err(self.bad(key, "a number", a)),
        }
    }

    /// Float with a default.
    pub fn float(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self.float_opt(key)?.unwrap_or(default))
    }

    /// Optional integer.
    pub fn int_opt(&self, key: &str) -> Result<Option<i64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Attr::Int(v)) => Ok(Some(*v)),
            Some(Attr::Bool(b)) => Ok(Some(*b as i64)),
            Some(a) => Err(self.bad(key, "an integer", a)),
        }
    }

    /// Integer with a default.
    pub fn int(&self, key: &str, default: i64) -> Result<i64> {
        Ok(self.int_opt(key)?.unwrap_or(default))
    }

    /// Required integer.
    pub fn int_req(&self, key: &str) -> Result<i64> {
        self.int_opt(key)?
            .ok_or_else(|| Error::Type(format!("{}: missing required argument '{key}'", self.op)))
    }

    /// Boolean with a default.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.take(key) {
            None => Ok(default),
            Some(Attr::Bool(b)) => Ok(*b),
            Some(Attr::Int(v)) => Ok(*v != 0),
            Some(a) => Err(self.bad(key, "a boolean", a)),
        }
    }

    /// Optional string.
    pub fn str_opt(&self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Attr::Str(s)) => Ok(Some(s.clone())),
            Some(a) => Err(self.bad(key, "a string", a)),
        }
    }

    /// Optional integer list (a single integer is accepted as a one-element list).
    pub fn ints_opt(&self, key: &str) -> Result<Option<Vec<i64>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(Attr::Int(v)) => Ok(Some(vec![*v])),
            Some(a) => Err(self.bad(key, "a list of integers", a)),
        }
    }

    /// Required integer list.
    pub fn ints_req(&self, key: &str) -> Result<Vec<i64>> {
        self.ints_opt(key)?
            .ok_or_else(|| Error::Type(format!("{}: missing required argument '{key}'", self.op)))
    }

    /// Optional float list.
    pub fn floats_opt(&self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Attr::Floats(v)) => Ok(Some(v.clone())),
            Some(Attr::Ints(v)) => Ok(Some(v.iter().map(|&x| x as f64).collect())),
            Some(Attr::Float(v)) => Ok(Some(vec![*v])),
            Some(a) => Err(self.bad(key, "a list of numbers", a)),
        }
    }

    /// Fails if an argument was given that the op did not read.
    pub fn finish(&self) -> Result<()> {
        let used = self.used.borrow();
        let unknown: Vec<&String> = self.map.keys().filter(|k| !used.contains(k)).collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::Type(format!(
                "{}: unknown argument(s) {}",
                self.op,
                unknown
                    .iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// Creates an op by registry name. Unknown names and unknown or ill-typed arguments
/// are errors.
pub fn build(name: &str, attrs: &Attrs) -> Result<OpRef> {
    type Family = fn(&str, &Attrs) -> Option<Result<OpRef>>;
    const FAMILIES: &[Family] = &[
        unary::build,
        binary::build,
        activation::build,
        reduce::build,
        shape::build,
        matmul::build,
        loss::build,
        random::build,
        conv::build,
        // the channels-last variants claim their op names when `layout` asks for them
        deconv_nhwc::build,
        depthwise_nhwc::build,
        conv3d_ndhwc::build,
        deconv::build,
        depthwise::build,
        conv3d::build,
        pool::build,
        pool3d::build,
        recurrent::build,
        normalization::build,
    ];
    for fam in FAMILIES {
        if let Some(r) = fam(name, attrs) {
            let op = r?;
            attrs.finish()?;
            return Ok(op);
        }
    }
    Err(Error::Value(format!("unknown op '{name}'")))
}

/// Checks the input count of an op.
pub fn expect_inputs(op: &str, inputs: &[TypeInfo], n: usize) -> Result<()> {
    if inputs.len() != n {
        return Err(Error::Value(format!(
            "{op} takes {n} input(s), got {}",
            inputs.len()
        )));
    }
    Ok(())
}

/// Checks that an op of any number of inputs has at least one.
pub fn expect_some_inputs(op: &str, inputs: &[TypeInfo]) -> Result<()> {
    if inputs.is_empty() {
        return Err(Error::Value(format!("{op}: needs at least one input")));
    }
    Ok(())
}

/// Checks that an input is stored as float (float32 or bool).
pub fn expect_float(op: &str, t: &TypeInfo) -> Result<()> {
    if t.dtype == DType::I32 {
        return Err(Error::Type(format!(
            "{op} expects a float32 input, got int32 of shape {} (cast it first)",
            fmt_shape(&t.shape)
        )));
    }
    Ok(())
}

/// Checks that `t` (`what`: "indices", "class ids") is int32.
pub fn expect_int(op: &str, what: &str, t: &TypeInfo) -> Result<()> {
    if t.dtype != DType::I32 {
        return Err(Error::Type(format!(
            "{op}: {what} must be int32, got {} of shape {} (cast them first)",
            t.dtype.name(),
            fmt_shape(&t.shape)
        )));
    }
    Ok(())
}

/// Checks the input count and that every input is stored as float.
pub fn expect_floats(op: &str, inputs: &[TypeInfo], n: usize) -> Result<()> {
    expect_inputs(op, inputs, n)?;
    inputs.iter().try_for_each(|t| expect_float(op, t))
}

/// Normalises a possibly negative axis against a rank.
pub fn norm_axis(op: &str, axis: i64, ndim: usize) -> Result<usize> {
    let a = if axis < 0 { axis + ndim as i64 } else { axis };
    if a < 0 || a >= ndim as i64 {
        return Err(Error::Value(format!(
            "{op}: axis {axis} is out of range for a tensor of rank {ndim}"
        )));
    }
    Ok(a as usize)
}

/// `(outer, n, inner)` of `shape` around axis `ax`: the product of the dims before it,
/// its own length and the product of the dims after it.
pub fn around_axis(shape: &[usize], ax: usize) -> (usize, usize, usize) {
    (
        shape[..ax].iter().product(),
        shape[ax],
        shape[ax + 1..].iter().product(),
    )
}
