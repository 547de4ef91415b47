//! Values that flow through a Program: a dtype, a concrete shape and a contiguous
//! row-major buffer. Buffers are grown, never shrunk, so a Program that runs again with
//! the same shapes reuses them without allocating.

use crate::{type_err, Error, Result};

/// Element type of a node or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float, Keras' `floatx`.
    F32,
    /// 32-bit signed integer: token ids, gather indices, argmax results.
    I32,
    /// Boolean stored as 0.0 / 1.0 in a float buffer (comparisons, masks).
    Bool,
}

impl DType {
    /// The numpy-style name (`float32`, `int32`, `bool`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I32 => "int32",
            DType::Bool => "bool",
        }
    }

    /// Parses a numpy-style dtype name. `int64`/`uint8`/... map to `I32` (values are
    /// range-checked when they cross the boundary).
    pub fn parse(s: &str) -> Result<DType> {
        Ok(match s {
            "float32" | "float" | "f32" => DType::F32,
            "int32" | "int64" | "int" | "int16" | "int8" | "uint8" | "uint16" | "uint32"
            | "i32" => DType::I32,
            "bool" => DType::Bool,
            "float64" | "float16" => {
                return Err(Error::Unsupported(format!(
                    "dtype {s} is not supported by the ferrokeras engine (float32 only)"
                )))
            }
            _ => return type_err!("unknown dtype '{s}'"),
        })
    }

    /// True for dtypes stored in the float buffer.
    pub fn is_float_storage(self) -> bool {
        !matches!(self, DType::I32)
    }
}

/// One dimension of a symbolic shape: known size or unknown (`None` in Keras).
pub type Dim = Option<usize>;

/// A symbolic shape; the batch dimension is usually `None`.
pub type Shape = Vec<Dim>;

/// Formats a symbolic shape the Keras way: `(None, 784)`.
pub fn fmt_shape(s: &[Dim]) -> String {
    let parts: Vec<String> = s
        .iter()
        .map(|d| d.map_or("None".to_string(), |v| v.to_string()))
        .collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Formats a concrete shape: `(32, 784)`.
pub fn fmt_dims(s: &[usize]) -> String {
    let d: Shape = s.iter().map(|&v| Some(v)).collect();
    fmt_shape(&d)
}

/// Converts a concrete shape to a symbolic one.
pub fn known(s: &[usize]) -> Shape {
    s.iter().map(|&v| Some(v)).collect()
}

/// Number of elements of a concrete shape.
pub fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// A concrete tensor value. `f` holds float and bool data, `i` holds int data; only the
/// one matching `dtype` is meaningful.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Value {
    /// Element type.
    pub dtype: Option<DType>,
    /// Concrete shape.
    pub shape: Vec<usize>,
    /// Float / bool storage.
    pub f: Vec<f32>,
    /// Integer storage.
    pub i: Vec<i32>,
}

/// Whether `len` elements fill `shape` exactly (a shape error otherwise).
fn fits(shape: &[usize], len: usize) -> Result<()> {
    if numel(shape) != len {
        return Err(Error::Shape(format!(
            "data of length {len} does not fit shape {}",
            fmt_dims(shape)
        )));
    }
    Ok(())
}

impl Value {
    /// A float32 value from a shape and data (lengths must agree).
    pub fn from_f32(shape: &[usize], data: Vec<f32>) -> Result<Value> {
        fits(shape, data.len())?;
        Ok(Value {
            dtype: Some(DType::F32),
            shape: shape.to_vec(),
            f: data,
            i: Vec::new(),
        })
    }

    /// An int32 value from a shape and data.
    pub fn from_i32(shape: &[usize], data: Vec<i32>) -> Result<Value> {
        fits(shape, data.len())?;
        Ok(Value {
            dtype: Some(DType::I32),
            shape: shape.to_vec(),
            f: Vec::new(),
            i: data,
        })
    }

    /// A float scalar.
    pub fn scalar(v: f32) -> Value {
        Value {
            dtype: Some(DType::F32),
            shape: vec![],
            f: vec![v],
            i: Vec::new(),
        }
    }

    /// Zeros of the given dtype and shape.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Value {
        let mut v = Value::default();
        v.reset(dtype, shape);
        v
    }

    /// The dtype (F32 for a default-constructed value).
    pub fn dt(&self) -> DType {
        self.dtype.unwrap_or(DType::F32)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        numel(&self.shape)
    }

    /// True when the value has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Re-shapes the value in place for reuse as an output buffer: sets dtype and shape
    /// and resizes the live buffer. Allocates only when the buffer has to grow. The
    /// contents are unspecified (kernels overwrite them).
    pub fn reset(&mut self, dtype: DType, shape: &[usize]) {
        self.dtype = Some(dtype);
        if self.shape.as_slice() != shape {
            self.shape.clear();
            self.shape.extend_from_slice(shape);
        }
        let n = numel(shape);
        if dtype.is_float_storage() {
            self.f.resize(n, 0.0);
        } else {
            self.i.resize(n, 0);
        }
    }

    /// Like [`Value::reset`] but reports a buffer that cannot be allocated as an error
    /// instead of aborting the process (the executor uses this for every node).
    pub fn try_reset(&mut self, dtype: DType, shape: &[usize]) -> Result<()> {
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| {
                Error::Value(format!(
                    "a tensor of shape {} is too large",
                    fmt_dims(shape)
                ))
            })?;
        let oom = |_| {
            Error::Memory(format!(
                "cannot allocate a tensor of shape {} ({} elements): out of memory",
                fmt_dims(shape),
                n
            ))
        };
        if dtype.is_float_storage() {
            if n > self.f.len() {
                self.f.try_reserve_exact(n - self.f.len()).map_err(oom)?;
            }
        } else if n > self.i.len() {
            self.i.try_reserve_exact(n - self.i.len()).map_err(oom)?;
        }
        self.reset(dtype, shape);
        Ok(())
    }

    /// Float (or bool) data; a type error for int values.
    pub fn fdata(&self) -> &[f32] {
        &self.f
    }

    /// Integer data.
    pub fn idata(&self) -> &[i32] {
        &self.i
    }

    /// Element `k` as f64 whatever the dtype (for tests and scalar reads).
    pub fn get_f64(&self, k: usize) -> f64 {
        match self.dt() {
            DType::I32 => self.i[k] as f64,
            _ => self.f[k] as f64,
        }
    }

    /// Copies another value into this one, reusing this buffer.
    pub fn assign_from(&mut self, other: &Value) {
        self.reset(other.dt(), &other.shape);
        if other.dt().is_float_storage() {
            self.f.copy_from_slice(&other.f);
        } else {
            self.i.copy_from_slice(&other.i);
        }
    }
}
