//! Inference over a whole data set in one call ([`Program::run_batches`]): what Keras'
//! `predict` runs, batch after batch, into one output array per output (and `evaluate`:
//! a scalar output, such as a loss, comes back as one value per batch).
//!
//! Why in the engine: on a small core count the threaded products of one batch leave a
//! share of each core idle (a fork/join per product, and the halves of a product share
//! the caches), while consecutive batches of a prediction do not depend on each other.
//! So, with several threads, whole rounds of batches run side by side, each batch on
//! one thread with its own buffers (an [`ExecState`] per participant, kept for the next
//! call up to [`KEPT_STATES_MAX_BYTES`]) and each op inside it serial (a parallel
//! region: see [`crate::kernels::pool::in_parallel_region`]). The batches left over when
//! the count is not a multiple of the threads run one after the other with their ops
//! threaded, so that no core waits while another finishes a batch; so do all the
//! batches on one thread, or of a model whose buffers for the other threads would pass
//! [`SIDE_STATES_MAX_BYTES`]. The outputs' shapes come from planning the first batch
//! (shape inference only). Every op's forward computes each element by the same code in
//! the same order whatever the thread count (README, "Determinism"), so the outputs are
//! bitwise those of one run per batch.
//!
//! Only a Program whose runs are independent of each other takes this path (no updates,
//! no random ops, no output read from a variable); for any other, and when an output is
//! neither a scalar nor has the batch as its first axis,
//! [`Program::run_batches_state`] returns `None` and the caller runs batch by batch.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use super::{copy_in, ExecState, Loc, Program};
use crate::array::Element;
use crate::graph::{NodeKind, VarData};
use crate::kernels::fpmode::FlushDenormals;
use crate::kernels::pool::{self, parallel_for, Disjoint};
use crate::tensor::{fmt_dims, DType, Value};
use crate::{Error, Result};

/// At most this many bytes of buffers (estimated: twice the planned values of a batch,
/// for the ops' scratch) for the threads other than the caller: a large model's batches
/// run one after the other, threaded, rather than one copy of its buffers per core.
const SIDE_STATES_MAX_BYTES: usize = 1 << 30;

/// The other threads' buffers stay with the Program for its next call when they take at
/// most this many bytes (estimated as above); larger ones are freed after the call.
const KEPT_STATES_MAX_BYTES: usize = 256 << 20;

/// Bytes of the values planned in `st`.
fn planned_bytes(st: &ExecState) -> usize {
    st.values.iter().map(|v| v.len() * 4).sum()
}

/// The data of one input of [`Program::run_batches`].
#[derive(Debug, Clone, Copy)]
pub enum BatchData<'a> {
    /// float32 elements.
    F32(&'a [f32]),
    /// int32 elements.
    I32(&'a [i32]),
}

/// One input of [`Program::run_batches`]: a row-major array whose first axis is the
/// samples, or a scalar (the learning phase), fed whole to every batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchInput<'a> {
    /// The array's shape.
    pub shape: &'a [usize],
    /// Its elements.
    pub data: BatchData<'a>,
}

/// Which rows of every input with a sample axis one run feeds.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rows<'a> {
    /// Rows `lo..hi`, in order.
    Range(usize, usize),
    /// These rows (checked), in this order.
    Picks(&'a [i64]),
}

impl BatchInput<'_> {
    fn len(&self) -> usize {
        match self.data {
            BatchData::F32(d) => d.len(),
            BatchData::I32(d) => d.len(),
        }
    }
}

impl Program {
    /// Runs the Program on rows `0..n` of `inputs` in consecutive batches of `batch`
    /// rows (the last one shorter) and returns each output with the batches' rows in
    /// order, as one run per batch would give them; a scalar output as a vector of one
    /// value per batch. See [`Program::run_batches_state`].
    pub fn run_batches(&self, inputs: &[BatchInput], batch: usize) -> Result<Option<Vec<Value>>> {
        self.run_batches_state(&mut self.session().st, inputs, batch)
    }

    /// [`Program::run_batches`] on a locked state ([`super::Session::parts`]).
    ///
    /// Returns `Ok(None)`, having run nothing, when the runs of this Program are not
    /// independent of each other (it updates variables or draws random numbers), an
    /// output is a variable, no input has a sample axis, or an output planned for the
    /// first batch is neither a scalar nor has the batch's rows as its first axis: the
    /// caller then runs it batch by batch. Errors: a batch of 0 rows, inputs with different numbers of
    /// samples or data that does not fit its shape, and whatever a run raises.
    pub fn run_batches_state(
        &self,
        st: &mut ExecState,
        inputs: &[BatchInput],
        batch: usize,
    ) -> Result<Option<Vec<Value>>> {
        self.check_input_count(inputs.len())?;
        if batch == 0 {
            return Err(Error::Value("the batch size must be at least 1".into()));
        }
        for x in inputs {
            if x.shape.iter().product::<usize>() != x.len() {
                return Err(Error::Shape(format!(
                    "data of length {} does not fit shape {}",
                    x.len(),
                    fmt_dims(x.shape)
                )));
            }
        }
        let mut samples = inputs.iter().filter_map(|x| x.shape.first().copied());
        let Some(n) = samples.next() else {
            return Ok(None);
        };
        if let Some(m) = samples.find(|&m| m != n) {
            return Err(Error::Value(format!(
                "all input arrays must have the same number of samples, got {n} and {m}"
            )));
        }
        if n == 0 || !self.runs_independent() {
            return Ok(None);
        }
        let rows = |b: usize| (b * batch, ((b + 1) * batch).min(n));
        // Plan the first batch (no run): it gives the outputs' shapes.
        let (lo, hi) = rows(0);
        let planned = self
            .feed_batch(st, inputs, Rows::Range(lo, hi))
            .and_then(|()| self.prepare(st, &self.store.lock()));
        self.unfeed(st);
        planned?;
        let batches = n.div_ceil(batch);
        let mut outs = Vec::with_capacity(self.outputs.len());
        for &s in &self.outputs {
            let v = &st.values[s];
            match v.shape.split_first() {
                None => outs.push(Value::zeros(v.dt(), &[batches])),
                Some((&r, rest)) if r == hi - lo => {
                    let mut shape = vec![n];
                    shape.extend_from_slice(rest);
                    outs.push(Value::zeros(v.dt(), &shape));
                }
                _ => return Ok(None),
            }
        }
        let threads = pool::threads();
        // Batches 0..side run side by side, a whole number of rounds of `threads`, when
        // the other threads' buffers fit the budget.
        let state_bytes = 2 * planned_bytes(st);
        let side = if threads > 1
            && !pool::in_parallel_region()
            && (threads - 1).saturating_mul(state_bytes) <= SIDE_STATES_MAX_BYTES
        {
            batches / threads * threads
        } else {
            0
        };
        {
            let sinks: Vec<Sink> = self
                .outputs
                .iter()
                .zip(outs.iter_mut())
                .map(|(&s, out)| Sink::new(out, st.values[s].shape.is_empty()))
                .collect();
            if side > 0 {
                let keep = (threads - 1) * state_bytes <= KEPT_STATES_MAX_BYTES;
                self.side_by_side(st, inputs, &sinks, threads, side, &rows, keep)?;
            }
            for b in side..batches {
                let (lo, hi) = rows(b);
                if let Err(e) = self.feed_batch(st, inputs, Rows::Range(lo, hi)) {
                    self.unfeed(st);
                    return Err(e);
                }
                self.run_state(st)?;
                // SAFETY: the side-by-side batches are done; this thread alone writes.
                unsafe { self.put_rows_into(st, &sinks, b, lo, hi) }?;
            }
        }
        Ok(Some(outs))
    }

    /// Whether one run depends on no other: no updates, no random op, and every output
    /// computed by the run (not read from a variable).
    fn runs_independent(&self) -> bool {
        self.updates.is_empty()
            && self
                .nodes
                .iter()
                .all(|n| !matches!(&n.kind, NodeKind::Op(op) if op.is_random()))
            && self
                .outputs
                .iter()
                .all(|&s| !matches!(self.locs[s], Loc::Var(_)))
    }

    /// Runs batches `0..count` on `threads` participants, each on its own state (the
    /// caller on `st`, the others on states kept from earlier calls), holding the
    /// variables' lock once for all of them; keeps the other states for the next call
    /// when `keep`.
    #[allow(clippy::too_many_arguments)]
    fn side_by_side(
        &self,
        st: &mut ExecState,
        inputs: &[BatchInput],
        sinks: &[Sink],
        threads: usize,
        count: usize,
        rows: &(dyn Fn(usize) -> (usize, usize) + Sync),
        keep: bool,
    ) -> Result<()> {
        let mut states = {
            let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
            let mut states = vec![std::mem::take(st)];
            while states.len() < threads {
                states.push(spare.pop().unwrap_or_else(|| self.fresh_state()));
            }
            states
        };
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let panicked;
        {
            let _ftz = FlushDenormals::new();
            let guard = self.store.lock();
            let vars: &VarData = &guard;
            let parts = Disjoint::new(&mut states);
            let run = || {
                parallel_for(count, threads, &|i, who| {
                    if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    // SAFETY: participant `who` alone uses state `who`.
                    let st = unsafe { &mut parts.part(who, 1)[0] };
                    let (lo, hi) = rows(i);
                    let r = self
                        .feed_batch(st, inputs, Rows::Range(lo, hi))
                        .and_then(|()| self.prepare(st, vars))
                        .and_then(|()| self.compute(st, vars));
                    self.unfeed(st);
                    let r = r.and_then(|()| {
                        // SAFETY: batch i's rows lo..hi of every output are its own.
                        unsafe { self.put_rows_into(st, sinks, i, lo, hi) }
                    });
                    if let Err(e) = r {
                        let mut f = failed.lock().unwrap_or_else(|e| e.into_inner());
                        f.get_or_insert(e);
                    }
                })
            };
            panicked = catch_unwind(AssertUnwindSafe(run)).err();
        }
        // The caller's state goes back even when a batch panicked (the Program stays
        // usable; the panic is re-raised below).
        *st = states.swap_remove(0);
        if let Some(p) = panicked {
            resume_unwind(p);
        }
        if keep {
            self.spare
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .append(&mut states);
        }
        match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Feeds rows `rows` of every input (scalars whole) into `st`.
    pub(super) fn feed_batch(
        &self,
        st: &mut ExecState,
        inputs: &[BatchInput],
        rows: Rows,
    ) -> Result<()> {
        inputs
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| match x.data {
                BatchData::F32(d) => self.feed_input(st, i, x.shape, d, rows),
                BatchData::I32(d) => self.feed_input(st, i, x.shape, d, rows),
            })
    }

    /// Feeds rows `rows` of `data` (shape `shape`; a scalar whole) into input `i`.
    fn feed_input<T: Element + Send + Sync>(
        &self,
        st: &mut ExecState,
        i: usize,
        shape: &[usize],
        data: &[T],
        rows: Rows,
    ) -> Result<()> {
        match (shape.split_first(), rows) {
            (None, _) => self.feed_into(st, i, T::DTYPE, shape, |v| copy_in(T::data_mut(v), data)),
            (Some(_), Rows::Picks(picks)) => self.feed_rows_into(st, i, shape, data, picks),
            (Some((_, rest)), Rows::Range(lo, hi)) => {
                let width: usize = rest.iter().product();
                let mut batch = vec![hi - lo];
                batch.extend_from_slice(rest);
                let src = &data[lo * width..hi * width];
                self.feed_into(st, i, T::DTYPE, &batch, |v| copy_in(T::data_mut(v), src))
            }
        }
    }

    /// Copies the outputs of the run on `st` (batch `b`, rows `lo..hi`) into `sinks`:
    /// rows `lo..hi` of a batch-major output, element `b` of a scalar one. Checks that
    /// each output has its sink's dtype and is `hi - lo` rows of its row shape (a
    /// scalar, for a scalar output).
    ///
    /// # Safety
    /// No other thread may access batch `b`'s part of the sinks meanwhile.
    unsafe fn put_rows_into(
        &self,
        st: &ExecState,
        sinks: &[Sink],
        b: usize,
        lo: usize,
        hi: usize,
    ) -> Result<()> {
        for (k, (&s, sink)) in self.outputs.iter().zip(sinks).enumerate() {
            let v = &st.values[s];
            let fits = v.dt() == sink.dtype
                && if sink.per_batch {
                    v.shape.is_empty()
                } else {
                    v.shape.split_first() == Some((&(hi - lo), &sink.row_shape[..]))
                };
            if !fits {
                let first = if sink.per_batch {
                    "a scalar".to_string()
                } else {
                    format!("rows of shape {}", fmt_dims(&sink.row_shape))
                };
                return Err(Error::Shape(format!(
                    "output {k}: the batch of rows {lo}..{hi} gave {} data of shape {}, which \
                     does not stack with the first batch's {first}",
                    v.dt().name(),
                    fmt_dims(&v.shape),
                )));
            }
            let at = if sink.per_batch { b } else { lo * sink.width };
            let len = v.len();
            // SAFETY: the caller owns rows lo..hi of this output.
            unsafe {
                if sink.dtype.is_float_storage() {
                    sink.f.part(at, len).copy_from_slice(&v.f[..len]);
                } else {
                    sink.i.part(at, len).copy_from_slice(&v.i[..len]);
                }
            }
        }
        Ok(())
    }
}

/// An output of [`Program::run_batches`] as the batches write their rows into it.
struct Sink<'a> {
    f: Disjoint<'a, f32>,
    i: Disjoint<'a, i32>,
    dtype: DType,
    /// A scalar output: one element per batch, not rows.
    per_batch: bool,
    /// The shape of one row (the output's shape after its first axis).
    row_shape: Vec<usize>,
    /// Elements per row.
    width: usize,
}

impl<'a> Sink<'a> {
    fn new(out: &'a mut Value, per_batch: bool) -> Sink<'a> {
        let dtype = out.dt();
        let row_shape = out.shape[1..].to_vec();
        Sink {
            width: row_shape.iter().product(),
            row_shape,
            dtype,
            per_batch,
            f: Disjoint::new(&mut out.f),
            i: Disjoint::new(&mut out.i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BatchData, BatchInput};
    use crate::graph::{Graph, Update};
    use crate::ops::{Attr, Attrs};
    use crate::tensor::{DType, Value};
    use crate::{Error, Result};

    /// relu(x·w), and the int input k as an output, over `n` rows.
    fn program_and_data(n: usize) -> Result<(crate::Program, Vec<f32>, Vec<i32>)> {
        let mut g = Graph::new();
        let x = g.placeholder(DType::F32, vec![None, Some(3)], "x");
        let k = g.placeholder(DType::I32, vec![None], "k");
        let w = g.variable(
            Value::from_f32(&[3, 2], vec![0.5, -1.0, 0.25, 2.0, -0.75, 1.5])?,
            "w",
        );
        let y = g.op("matmul", &[x, w], &Attrs::new("matmul"))?;
        let y = g.op("relu", &[y], &Attrs::new("relu"))?;
        let p = g.compile_inference(&[x, k], &[y, k], vec![])?;
        let xs = (0..n * 3).map(|i| (i as f32 * 0.37).sin()).collect();
        let ks = (0..n as i32).collect();
        Ok((p, xs, ks))
    }

    fn inputs<'a>(
        xs: &'a [f32],
        ks: &'a [i32],
        shapes: &'a [[usize; 2]; 2],
    ) -> [BatchInput<'a>; 2] {
        [
            BatchInput {
                shape: &shapes[0],
                data: BatchData::F32(xs),
            },
            BatchInput {
                shape: &shapes[1][..1],
                data: BatchData::I32(ks),
            },
        ]
    }

    #[test]
    fn batches_give_the_bits_of_one_run_per_batch() -> Result<()> {
        for (n, batch) in [(1, 4), (4, 4), (9, 4), (17, 2), (30, 1), (33, 5)] {
            let (p, xs, ks) = program_and_data(n)?;
            let shapes = [[n, 3], [n, 0]];
            let got = p
                .run_batches(&inputs(&xs, &ks, &shapes), batch)?
                .expect("an independent program is run");
            assert_eq!(got[0].shape, vec![n, 2]);
            assert_eq!(got[1].shape, vec![n]);
            for lo in (0..n).step_by(batch) {
                let hi = (lo + batch).min(n);
                let want = p.run_values(&[
                    Value::from_f32(&[hi - lo, 3], xs[lo * 3..hi * 3].to_vec())?,
                    Value::from_i32(&[hi - lo], ks[lo..hi].to_vec())?,
                ])?;
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got[0].f[lo * 2..hi * 2]),
                    bits(&want[0].f),
                    "{n} rows by {batch}"
                );
                assert_eq!(&got[1].i[lo..hi], &want[1].i[..]);
            }
        }
        Ok(())
    }

    #[test]
    fn dependent_or_unbatched_programs_are_declined_and_bad_inputs_are_errors() -> Result<()> {
        let mut g = Graph::new();
        let x = g.placeholder(DType::F32, vec![None, Some(3)], "x");
        let c = g.variable(Value::from_f32(&[1], vec![0.0])?, "count");
        let total = g.op("sum", &[x], &Attrs::new("sum").with("axis", Attr::None))?;
        let c1 = g.op("add", &[c, total], &Attrs::new("add"))?;
        let xs = vec![1.0f32; 12];
        let one = [BatchInput {
            shape: &[4, 3],
            data: BatchData::F32(&xs),
        }];
        // a run that updates a variable, and a scalar output
        let updating = g.compile(
            &[x],
            &[x],
            vec![Update::Assign {
                var: g.var_id(c)?,
                value: c1,
            }],
        )?;
        assert!(updating.run_batches(&one, 2)?.is_none());
        assert_eq!(
            g.get_value(g.var_id(c)?)?.f,
            vec![0.0],
            "declined before any run"
        );
        // a scalar output comes back per batch; one of another shape is declined
        let scalar = g.compile_inference(&[x], &[total], vec![])?;
        let per_batch = scalar
            .run_batches(&one, 3)?
            .expect("a scalar output is run");
        assert_eq!(
            (&per_batch[0].shape[..], &per_batch[0].f[..]),
            (&[2][..], &[9.0, 3.0][..])
        );
        let columns = g.op("sum", &[x], &Attrs::new("sum").with("axis", Attr::Int(0)))?;
        let unbatched = g.compile_inference(&[x], &[columns], vec![])?;
        assert!(unbatched.run_batches(&one, 2)?.is_none());
        // errors
        let id = g.compile_inference(&[x], &[x], vec![])?;
        assert!(
            matches!(id.run_batches(&one, 0), Err(Error::Value(m)) if m.contains("at least 1"))
        );
        let short = [BatchInput {
            shape: &[5, 3],
            data: BatchData::F32(&xs),
        }];
        assert!(matches!(id.run_batches(&short, 2), Err(Error::Shape(_))));
        assert_eq!(id.run_batches(&one, 3)?.expect("runs")[0].f, xs);
        Ok(())
    }
}
