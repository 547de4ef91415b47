//! Training over a whole epoch in one call ([`Program::run_steps_state`]): what Keras'
//! `fit` runs, batch after batch, when no user code runs between the batches.
//!
//! Why in the engine: a small model's step is a few tens of microseconds of products,
//! and what the caller does around each step (its loop, converting the call's arguments,
//! the batch's logs) costs a good share of that again in Python. Step `k` here is
//! exactly one run on rows `order[k * batch ..]` of every array input, fed as
//! [`super::Session::feed_rows`] feeds them: the same random counters, the same updates,
//! so the same bits as one call per batch. The caller gets every completed step's
//! outputs (scalars: a loss and its metrics) and the error that stopped the loop, if
//! any, so that it can account for the steps that ran before it raises that error; a
//! `between` hook, called between steps, lets it stop the loop (Python checks for
//! Ctrl-C there).

use super::batches::Rows;
use super::{ExecState, Program};
use crate::graph::BatchInput;
use crate::{Error, Result};

/// What [`Program::run_steps_state`] ran.
#[derive(Debug)]
pub struct Steps {
    /// The outputs of each completed step, step after step (`done * n_outputs` values).
    pub outputs: Vec<f32>,
    /// The number of steps completed.
    pub done: usize,
    /// The error that stopped the loop before its last step (the step that raised it
    /// is not counted in `done`; its updates were not applied).
    pub error: Option<Error>,
}

impl Program {
    /// [`Program::run_steps_state`] on the Program's own state (locked for the call).
    pub fn run_steps(
        &self,
        inputs: &[BatchInput],
        order: &[i64],
        batch: usize,
        between: &mut dyn FnMut() -> bool,
    ) -> Result<Steps> {
        self.run_steps_state(&mut self.session().st, inputs, order, batch, between)
    }

    /// Runs the Program once per batch of `order`: step `k` feeds rows
    /// `order[k * batch .. min((k + 1) * batch, order.len())]` of every input with a
    /// sample axis, and every scalar input (the learning phase) whole, then runs, as one
    /// [`super::Session::feed_rows`] and [`super::Session::run`] per batch would.
    /// `between()` is called before every step but the first; returning false stops
    /// the loop there.
    ///
    /// Errors (nothing run): a wrong number of inputs, a batch of 0 rows, and an output
    /// that is not a float32 scalar. An error raised by a step stops the loop and is
    /// returned in [`Steps::error`] with the steps completed before it.
    pub fn run_steps_state(
        &self,
        st: &mut ExecState,
        inputs: &[BatchInput],
        order: &[i64],
        batch: usize,
        between: &mut dyn FnMut() -> bool,
    ) -> Result<Steps> {
        self.check_input_count(inputs.len())?;
        if batch == 0 {
            return Err(Error::Value("the batch size must be at least 1".into()));
        }
        for &s in &self.outputs {
            let ty = &self.nodes[s].ty;
            if !ty.shape.is_empty() || ty.dtype != crate::tensor::DType::F32 {
                return Err(Error::Value(format!(
                    "run_steps: output '{}' is not a float32 scalar",
                    self.nodes[s].name
                )));
            }
        }
        let steps = order.len().div_ceil(batch);
        let mut ran = Steps {
            outputs: Vec::with_capacity(steps * self.outputs.len()),
            done: 0,
            error: None,
        };
        for (k, rows) in order.chunks(batch).enumerate() {
            if k > 0 && !between() {
                break;
            }
            if let Err(e) = self.step_on_rows(st, inputs, rows) {
                ran.error = Some(e);
                break;
            }
            for &s in &self.outputs {
                let v = self.val_local(s, &st.values, &st.grads);
                ran.outputs.push(v.f[0]);
            }
            ran.done += 1;
        }
        Ok(ran)
    }

    /// One step of [`Program::run_steps_state`]: feeds `rows` and runs.
    fn step_on_rows(&self, st: &mut ExecState, inputs: &[BatchInput], rows: &[i64]) -> Result<()> {
        if let Err(e) = self.feed_batch(st, inputs, Rows::Picks(rows)) {
            self.unfeed(st);
            return Err(e);
        }
        st.row_offset = 0;
        self.run_state(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{BatchData, Graph, NodeId, Update};
    use crate::ops::Attrs;
    use crate::tensor::{DType, Value};

    /// A Program that trains `y = x W` by SGD on mean squared error and returns the loss:
    /// its steps depend on each other through W, so any difference in what a step feeds
    /// or in the order of the steps shows in the losses.
    fn trainer() -> Result<crate::Program> {
        let mut g = Graph::new();
        let x = g.placeholder(DType::F32, vec![None, Some(3)], "x");
        let y = g.placeholder(DType::F32, vec![None, Some(2)], "y");
        let lr = g.placeholder(DType::F32, vec![], "lr");
        let w = g.variable(
            Value::from_f32(&[3, 2], vec![0.1, -0.2, 0.3, 0.05, -0.1, 0.2])?,
            "w",
        );
        let op =
            |g: &mut Graph, name: &str, inputs: &[NodeId]| g.op(name, inputs, &Attrs::new(name));
        let p = op(&mut g, "matmul", &[x, w])?;
        let d = op(&mut g, "sub", &[p, y])?;
        let sq = op(&mut g, "square", &[d])?;
        let loss = op(&mut g, "mean", &[sq])?;
        let gw = g.gradients(loss, &[w])?[0];
        let step = op(&mut g, "mul", &[gw, lr])?;
        let nw = op(&mut g, "sub", &[w, step])?;
        let var = g.var_id(w)?;
        g.compile(
            &[x, y, lr],
            &[loss],
            vec![Update::Assign { var, value: nw }],
        )
    }

    fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
        let x = (0..n * 3)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0)
            .collect();
        let y = (0..n * 2)
            .map(|i| ((i * 5 % 13) as f32 - 6.0) / 6.0)
            .collect();
        (x, y)
    }

    /// The learning rate every step is fed.
    const LR: [f32; 1] = [0.05];

    /// x, y (rows first, of `shapes`) and the learning rate, as `trainer`'s inputs.
    fn inputs<'a>(x: &'a [f32], y: &'a [f32], shapes: &'a [[usize; 2]; 2]) -> [BatchInput<'a>; 3] {
        [
            BatchInput {
                shape: &shapes[0],
                data: BatchData::F32(x),
            },
            BatchInput {
                shape: &shapes[1],
                data: BatchData::F32(y),
            },
            BatchInput {
                shape: &[],
                data: BatchData::F32(&LR),
            },
        ]
    }

    #[test]
    fn steps_give_the_bits_of_one_run_per_batch() -> Result<()> {
        let n = 23;
        let (x, y) = data(n);
        let order: Vec<i64> = (0..n as i64).map(|i| (i * 10) % n as i64).collect();
        let shapes = [[n, 3], [n, 2]];
        let inputs = inputs(&x, &y, &shapes);
        let (one_call, by_batch) = (trainer()?, trainer()?);
        let ran = one_call.run_steps(&inputs, &order, 5, &mut || true)?;
        assert_eq!((ran.done, ran.error.is_none()), (5, true));
        let mut want = Vec::new();
        for rows in order.chunks(5) {
            let mut s = by_batch.session();
            s.feed_rows(0, &[n, 3], &x, rows)?;
            s.feed_rows(1, &[n, 2], &y, rows)?;
            s.feed_f32(2, &[], &LR)?;
            s.run()?;
            want.push(s.output(0).f[0]);
        }
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ran.outputs), bits(&want));
        let w = |p: &crate::Program| p.store().lock().values()[0].f.clone();
        assert_eq!(bits(&w(&one_call)), bits(&w(&by_batch)));
        Ok(())
    }

    #[test]
    fn a_stop_or_a_failing_step_keeps_the_completed_steps() -> Result<()> {
        let n = 10;
        let (x, y) = data(n);
        let shapes = [[n, 3], [n, 2]];
        let inputs = inputs(&x, &y, &shapes);
        let p = trainer()?;
        let mut calls = 0;
        let ran = p.run_steps_state(
            &mut p.session().st,
            &inputs,
            &[0, 1, 2, 3, 4, 5, 6],
            2,
            &mut || {
                calls += 1;
                calls < 2
            },
        )?;
        assert_eq!(
            (ran.done, ran.outputs.len(), ran.error.is_none()),
            (2, 2, true)
        );
        // Row 10 is out of range: the third step fails, the first two stand.
        let ran = p.run_steps_state(
            &mut p.session().st,
            &inputs,
            &[0, 1, 2, 3, 10, 5],
            2,
            &mut || true,
        )?;
        assert_eq!((ran.done, ran.outputs.len()), (2, 2));
        let e = ran.error.expect("the third step must fail").to_string();
        assert!(e.contains("row 10 is out of range"), "{e}");
        // Errors before any step: input count, batch size.
        assert!(p
            .run_steps_state(&mut p.session().st, &inputs[..2], &[0], 1, &mut || true)
            .is_err());
        assert!(p
            .run_steps_state(&mut p.session().st, &inputs, &[0], 0, &mut || true)
            .is_err());
        // The Program still runs afterwards.
        let ran = p.run_steps_state(&mut p.session().st, &inputs, &[0, 1], 2, &mut || true)?;
        assert_eq!((ran.done, ran.error.is_none()), (1, true));
        Ok(())
    }
}
