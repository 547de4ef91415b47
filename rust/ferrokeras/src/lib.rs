//! # ferrokeras — the engine
//!
//! A static computation graph with reverse-mode autodiff and a compiled executor, CPU
//! kernels built on ndarray, rayon and the `gemm` crate, and Keras 1's optimizers as
//! fused in-place updates. It has no Python in it: the `keras` Python package drives it
//! through the `ferrokeras-python` bindings, and Rust programs can use it directly (see
//! `examples/`).
//!
//! ```
//! use ferrokeras::{Graph, DType, Attrs, Value};
//! let mut g = Graph::new();
//! let x = g.placeholder(DType::F32, vec![None, Some(3)], "x");
//! let y = g.op("square", &[x], &Attrs::new("square")).unwrap();
//! let s = g.op("sum", &[y], &Attrs::new("sum")).unwrap();
//! let dx = g.gradients(s, &[x]).unwrap();
//! let f = g.compile(&[x], &[s, dx[0]], vec![]).unwrap();
//! let out = f.run(&[Value::from_f32(&[1, 3], vec![1.0, 2.0, 3.0]).unwrap()]).unwrap();
//! assert_eq!(out[0].f, vec![14.0]);
//! assert_eq!(out[1].f, vec![2.0, 4.0, 6.0]);
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod graph;
pub mod kernels;
pub mod ops;
pub mod optim;
pub mod tensor;

pub use error::{Error, Result};
pub use graph::{Graph, NodeId, Program, Update, VarId};
pub use ops::{Attr, Attrs, TypeInfo};
pub use tensor::{DType, Dim, Shape, Value};
