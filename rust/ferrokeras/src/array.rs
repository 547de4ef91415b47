//! ndarray at the boundary: what a [`Program`] takes ([`Feed`]) and returns
//! ([`Tensor`]), and the conversions between ndarray arrays and the engine's [`Value`].
//!
//! | direction | conversion | copies? |
//! |---|---|---|
//! | array -> input | [`Program::run`] with any `ArrayBase<_, D>` of `f32`/`i32` (views included) | one copy into the Program's input buffer (the Program owns its buffers so a second call with the same shapes allocates nothing); a view that is not in standard layout is gathered element by element |
//! | output -> array | [`Program::run`] returns [`Tensor`]s | one copy out of the Program's buffer (the buffer is reused by the next call) |
//! | owned array -> [`Value`] | [`Value::from_array`] | none when the array is in standard layout with no offset; otherwise one gathering copy |
//! | [`Value`] -> array | [`Value::into_tensor`] | none (the buffer becomes the array's) |
//! | [`Value`] -> view | [`Value::view_f32`], [`Value::view_i32`] | none |
//! | variables | [`Graph::get_array`], [`Graph::set_array`], [`Program::variable`], [`Program::set_variable`] | one copy (the store keeps its own buffer) |
//!
//! Bool values (comparisons, masks) are stored as 0.0/1.0 floats inside the engine and
//! come out as `ArrayD<bool>`.

use ndarray::{ArrayBase, ArrayD, ArrayViewD, Data, Dimension, IxDyn};

use crate::graph::{Graph, Program, Session, VarId};
use crate::tensor::{fmt_dims, DType, Value};
use crate::{Error, Result};

/// An element type a Program can be fed: `f32` or `i32`.
pub trait Element: Copy + 'static {
    /// The engine dtype of this element type.
    const DTYPE: DType;
    /// Copies `data` (row-major, `shape`) into input `i` of a session.
    fn feed(sess: &mut Session<'_>, i: usize, shape: &[usize], data: &[Self]) -> Result<()>;
    /// Wraps a row-major buffer of `shape` as a [`Value`] (no copy).
    fn value(shape: &[usize], data: Vec<Self>) -> Result<Value>;
    /// The data of a [`Value`] of this element type (for generic copies into it).
    fn data_mut(v: &mut Value) -> &mut [Self];
}

/// [`Element`] for a scalar type: its dtype, its typed session feed and [`Value`]
/// constructor, and the [`Value`] field that holds its data.
macro_rules! element {
    ($t:ty, $dtype:ident, $feed:ident, $from:ident, $field:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
            fn feed(sess: &mut Session<'_>, i: usize, shape: &[usize], data: &[$t]) -> Result<()> {
                sess.$feed(i, shape, data)
            }
            fn value(shape: &[usize], data: Vec<$t>) -> Result<Value> {
                Value::$from(shape, data)
            }
            fn data_mut(v: &mut Value) -> &mut [$t] {
                &mut v.$field
            }
        }
    };
}

element!(f32, F32, feed_f32, from_f32, f);
element!(i32, I32, feed_i32, from_i32, i);

/// Something [`Program::run`] can take as one input: any ndarray array or view of
/// `f32` or `i32` (of any dimensionality), a [`Value`], or a reference to one of these.
/// Mixed inputs (floats and ints in one call) go in as `&[&dyn Feed]`.
pub trait Feed {
    /// Copies this input into input `i` of the session (shape and dtype checked there).
    fn feed_into(&self, sess: &mut Session<'_>, i: usize) -> Result<()>;
}

impl<A: Element, S: Data<Elem = A>, D: Dimension> Feed for ArrayBase<S, D> {
    fn feed_into(&self, sess: &mut Session<'_>, i: usize) -> Result<()> {
        match self.as_slice() {
            Some(s) => A::feed(sess, i, self.shape(), s),
            None => {
                let gathered: Vec<A> = self.iter().copied().collect();
                A::feed(sess, i, self.shape(), &gathered)
            }
        }
    }
}

impl Feed for Value {
    fn feed_into(&self, sess: &mut Session<'_>, i: usize) -> Result<()> {
        sess.feed(i, self)
    }
}

impl<T: Feed + ?Sized> Feed for &T {
    fn feed_into(&self, sess: &mut Session<'_>, i: usize) -> Result<()> {
        (**self).feed_into(sess, i)
    }
}

/// An output of a Program (or a variable's value) as an owned ndarray array of the
/// node's dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    /// A float32 array.
    F32(ArrayD<f32>),
    /// An int32 array (token ids, argmax results).
    I32(ArrayD<i32>),
    /// A boolean array (comparisons, masks).
    Bool(ArrayD<bool>),
}

impl Tensor {
    /// The engine dtype.
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::I32(_) => DType::I32,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::I32(a) => a.shape(),
            Tensor::Bool(a) => a.shape(),
        }
    }

    /// The float32 array; a [`Error::Type`] for any other dtype.
    pub fn into_f32(self) -> Result<ArrayD<f32>> {
        match self {
            Tensor::F32(a) => Ok(a),
            other => Err(wrong_dtype(other.dtype(), DType::F32)),
        }
    }

    /// The int32 array; a [`Error::Type`] for any other dtype.
    pub fn into_i32(self) -> Result<ArrayD<i32>> {
        match self {
            Tensor::I32(a) => Ok(a),
            other => Err(wrong_dtype(other.dtype(), DType::I32)),
        }
    }

    /// A view of the float32 array; a [`Error::Type`] for any other dtype.
    pub fn as_f32(&self) -> Result<ArrayViewD<'_, f32>> {
        match self {
            Tensor::F32(a) => Ok(a.view()),
            other => Err(wrong_dtype(other.dtype(), DType::F32)),
        }
    }

    /// A copy of the live part of a value (the engine's buffers may be longer than
    /// their shape, as they are grown and never shrunk).
    pub fn from_value(v: &Value) -> Tensor {
        let n = v.len();
        let shape = IxDyn(&v.shape);
        let arr = |data| ArrayD::from_shape_vec(shape.clone(), data);
        match v.dt() {
            DType::F32 => Tensor::F32(arr(v.f[..n].to_vec()).expect("length matches shape")),
            DType::I32 => Tensor::I32(
                ArrayD::from_shape_vec(shape.clone(), v.i[..n].to_vec())
                    .expect("length matches shape"),
            ),
            DType::Bool => Tensor::Bool(
                ArrayD::from_shape_vec(shape.clone(), v.f[..n].iter().map(|&x| x != 0.0).collect())
                    .expect("length matches shape"),
            ),
        }
    }
}

fn wrong_dtype(got: DType, want: DType) -> Error {
    Error::Type(format!(
        "expected a {} tensor, got {}",
        want.name(),
        got.name()
    ))
}

impl Value {
    /// An owned ndarray array as a value: no copy when the array is in standard
    /// (row-major, contiguous) layout starting at its buffer's first element, one
    /// gathering copy otherwise.
    pub fn from_array<A: Element, D: Dimension>(a: ndarray::Array<A, D>) -> Result<Value> {
        let shape = a.shape().to_vec();
        let n: usize = shape.iter().product();
        let data = if a.is_standard_layout() {
            let (v, off) = a.into_raw_vec_and_offset();
            let off = off.unwrap_or(0);
            if off == 0 && v.len() == n {
                v
            } else {
                v[off..off + n].to_vec()
            }
        } else {
            a.iter().copied().collect()
        };
        A::value(&shape, data)
    }

    /// The value as an owned array, without copying (the buffer is truncated to the
    /// shape's length).
    pub fn into_tensor(mut self) -> Tensor {
        let n = self.len();
        let shape = IxDyn(&self.shape);
        match self.dt() {
            DType::F32 => {
                self.f.truncate(n);
                Tensor::F32(ArrayD::from_shape_vec(shape, self.f).expect("length matches shape"))
            }
            DType::I32 => {
                self.i.truncate(n);
                Tensor::I32(ArrayD::from_shape_vec(shape, self.i).expect("length matches shape"))
            }
            DType::Bool => Tensor::from_value(&self),
        }
    }

    /// A float32 (or bool-as-float) value as a view, without copying; a
    /// [`Error::Type`] for int32 values.
    pub fn view_f32(&self) -> Result<ArrayViewD<'_, f32>> {
        if !self.dt().is_float_storage() {
            return Err(wrong_dtype(self.dt(), DType::F32));
        }
        view(&self.shape, &self.f[..self.len()])
    }

    /// An int32 value as a view, without copying; a [`Error::Type`] otherwise.
    pub fn view_i32(&self) -> Result<ArrayViewD<'_, i32>> {
        if self.dt() != DType::I32 {
            return Err(wrong_dtype(self.dt(), DType::I32));
        }
        view(&self.shape, &self.i[..self.len()])
    }
}

fn view<'a, A>(shape: &[usize], data: &'a [A]) -> Result<ArrayViewD<'a, A>> {
    ArrayViewD::from_shape(IxDyn(shape), data).map_err(|e| {
        Error::Shape(format!(
            "a buffer of {} elements does not fit shape {}: {e}",
            data.len(),
            fmt_dims(shape)
        ))
    })
}

/// Copies an ndarray array (any layout) into a [`Value`].
fn value_of<A: Element, S: Data<Elem = A>, D: Dimension>(a: &ArrayBase<S, D>) -> Result<Value> {
    let data = match a.as_slice() {
        Some(s) => s.to_vec(),
        None => a.iter().copied().collect(),
    };
    A::value(a.shape(), data)
}

impl Graph {
    /// Adds a variable initialised from an ndarray array (copied).
    pub fn variable_array<A: Element, S: Data<Elem = A>, D: Dimension>(
        &mut self,
        value: &ArrayBase<S, D>,
        name: &str,
    ) -> Result<crate::NodeId> {
        Ok(self.variable(value_of(value)?, name))
    }

    /// A variable's current value as an array.
    pub fn get_array(&self, v: VarId) -> Result<Tensor> {
        Ok(self.get_value(v)?.into_tensor())
    }

    /// Writes a variable from an array (copied); dtype and shape must match.
    pub fn set_array<A: Element, S: Data<Elem = A>, D: Dimension>(
        &self,
        v: VarId,
        value: &ArrayBase<S, D>,
    ) -> Result<()> {
        self.set_value(v, value_of(value)?)
    }
}

impl Program {
    /// Feeds `inputs` (in order), runs, and returns the outputs as arrays: the
    /// ndarray way to call a compiled or loaded program.
    ///
    /// ```
    /// use ferrokeras::{Attrs, DType, Graph};
    /// use ndarray::array;
    /// let mut g = Graph::new();
    /// let x = g.placeholder(DType::F32, vec![None, Some(2)], "x");
    /// let y = g.op("square", &[x], &Attrs::new("square"))?;
    /// let p = g.compile(&[x], &[y], vec![])?;
    /// let out = p.run(&[array![[1.0f32, -3.0]].view()])?;
    /// assert_eq!(out[0].as_f32()?, array![[1.0f32, 9.0]].into_dyn());
    /// # Ok::<(), ferrokeras::Error>(())
    /// ```
    pub fn run<F: Feed>(&self, inputs: &[F]) -> Result<Vec<Tensor>> {
        let mut s = self.session();
        if inputs.len() != self.n_inputs() {
            return Err(Error::Value(format!(
                "the program takes {} input(s) ({}), got {}",
                self.n_inputs(),
                (0..self.n_inputs())
                    .map(|i| self.input_name(i))
                    .collect::<Vec<_>>()
                    .join(", "),
                inputs.len()
            )));
        }
        for (i, x) in inputs.iter().enumerate() {
            x.feed_into(&mut s, i)?;
        }
        s.run()?;
        Ok((0..self.n_outputs())
            .map(|i| Tensor::from_value(s.output(i)))
            .collect())
    }

    /// The names of the variables the program reads or writes, in store order.
    pub fn variable_names(&self) -> Vec<String> {
        self.store().lock().names.clone()
    }

    /// A variable's current value, by name (the first variable of that name).
    pub fn variable(&self, name: &str) -> Result<Tensor> {
        let s = self.store().lock();
        let k = find_var(&s.names, name)?;
        Ok(Tensor::from_value(&s.values()[k]))
    }

    /// Writes a variable by name from an array (copied); dtype and shape must match.
    pub fn set_variable<A: Element, S: Data<Elem = A>, D: Dimension>(
        &self,
        name: &str,
        value: &ArrayBase<S, D>,
    ) -> Result<()> {
        let v = value_of(value)?;
        let mut s = self.store().lock();
        let k = find_var(&s.names, name)?;
        let cur = &mut s.values_mut()[k];
        if cur.shape != v.shape || cur.dt() != v.dt() {
            return Err(Error::Shape(format!(
                "set_variable: '{name}' is {} {}, the new value is {} {}",
                cur.dt().name(),
                fmt_dims(&cur.shape),
                v.dt().name(),
                fmt_dims(&v.shape)
            )));
        }
        *cur = v;
        Ok(())
    }
}

fn find_var(names: &[String], name: &str) -> Result<usize> {
    names.iter().position(|n| n == name).ok_or_else(|| {
        Error::Value(format!(
            "no variable named '{name}' (the program has {})",
            names.join(", ")
        ))
    })
}
