//! # ferrokeras — the engine
//!
//! A static computation graph with reverse-mode autodiff and a compiled executor, CPU
//! kernels on rayon (the engine's own packed gemm kernels for small and medium products,
//! the `gemm` crate for the largest), ndarray arrays in and out of its API, and Keras 1's
//! optimizers as fused in-place updates. It has no Python in it: the `keras` Python package drives it
//! through the `ferrokeras-python` bindings, and Rust programs use it directly, in two
//! ways.
//!
//! ## Running a model trained in Python
//!
//! Train with the Keras 1 API in Python and save the compiled program as one file:
//!
//! ```python
//! model.fit(X_train, Y_train, nb_epoch=10)
//! model.save_program("model.fkp")                   # what model.predict runs
//! model.save_program("train.fkp", training=True)    # the train step, optimizer state included
//! ```
//!
//! then load and run it from Rust with ndarray arrays in and out:
//!
//! ```no_run
//! use ferrokeras::Program;
//! use ndarray::Array2;
//!
//! let program = Program::load("model.fkp")?;
//! let x = Array2::<f32>::zeros((32, 784)); // a batch of inputs
//! let outputs = program.run(&[x.view()])?; // one Tensor per model output
//! let probabilities = outputs[0].as_f32()?; // an ArrayViewD<f32> of shape (32, 10)
//! # let _ = probabilities;
//! # Ok::<(), ferrokeras::Error>(())
//! ```
//!
//! The outputs equal what `model.predict` returns for the same batch, bit for bit: the
//! file holds the graph by op name and arguments, and loading rebuilds it through the
//! same op factory and kernels. A training program takes one optimizer step per
//! [`Program::run`] (inputs: the model inputs, the targets, the sample weights and the
//! learning phase, in the order of [`Program::input_name`]) and [`Program::save`]
//! writes it back with its new weights, optimizer state and dropout counters; Python
//! loads it with `keras.models.load_program`. The file format (one safetensors file
//! whose metadata holds the graph as versioned JSON) is described in [`saved`].
//! `examples/predict_saved.rs` classifies MNIST digits with a model trained by
//! `examples/mnist_mlp.py`; `examples/train_saved.rs` continues its training.
//!
//! ## Building a graph in Rust
//!
//! ```
//! use ferrokeras::{Attrs, DType, Graph};
//! use ndarray::array;
//!
//! let mut g = Graph::new();
//! let x = g.placeholder(DType::F32, vec![None, Some(3)], "x");
//! let y = g.op("square", &[x], &Attrs::new("square"))?;
//! let s = g.op("sum", &[y], &Attrs::new("sum"))?;
//! let dx = g.gradients(s, &[x])?;
//! let f = g.compile(&[x], &[s, dx[0]], vec![])?;
//! let out = f.run(&[array![[1.0f32, 2.0, 3.0]].view()])?;
//! assert_eq!(out[0].as_f32()?.sum(), 14.0);
//! assert_eq!(out[1].as_f32()?, array![[2.0f32, 4.0, 6.0]].into_dyn());
//! # Ok::<(), ferrokeras::Error>(())
//! ```
//!
//! Ops are built by registry name with named arguments ([`Graph::op`], through
//! [`ops::build`]); variables live in the graph's store, shared by every Program compiled
//! from it; updates ([`Update`]) assign variables or run a fused optimizer step
//! ([`optim`]). `examples/logreg_mnist.rs` trains a softmax regression this way.
//!
//! ## ndarray at the boundary
//!
//! [`Program::run`] takes any ndarray array or view of `f32` or `i32` ([`Feed`]) and
//! returns [`Tensor`]s (owned `ArrayD`s); variables are read and written as arrays
//! ([`Program::variable`], [`Program::set_variable`], [`Graph::get_array`],
//! [`Graph::set_array`]). The [`array`](mod@array) module lists which conversions copy: inputs are
//! copied once into the Program's reusable buffers, outputs once out of them, and an
//! owned standard-layout array becomes an engine [`Value`] without a copy.
//!
//! ## Errors and threads
//!
//! Every failure is an [`Error`]; nothing reachable from user input or a file panics.
//! Kernels run on a rayon pool (`RAYON_NUM_THREADS` sets its size); a Program may be
//! called from several threads (calls are serialised on its buffers). For inference over
//! many rows, [`Program::run_batches`] runs consecutive batches side by side on the pool,
//! with the bits of one run per batch; for training, [`Program::run_steps`] runs a
//! whole epoch of steps in one call, with the bits of one call per batch.

#![warn(missing_docs)]

pub mod array;
pub mod error;
pub mod graph;
pub mod kernels;
pub mod ops;
pub mod optim;
pub mod saved;
pub mod tensor;

pub use array::{Element, Feed, Tensor};
pub use error::{Error, Result};
pub use graph::{Graph, NodeId, OpRecord, Program, Update, VarId};
pub use ops::{Attr, Attrs, TypeInfo};
pub use tensor::{DType, Dim, Shape, Value};
