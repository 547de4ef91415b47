"""One model replica of data-parallel training: what a Ray worker actor runs.

The class is plain Python (no Ray import): `keras.distributed.fit` turns it into an
actor with `ray.remote`. A replica rebuilds the driver's model from its config, compiles
it the same way, loads the driver's weights and optimizer state, and then serves one
request per training step (apply the previous step's averaged gradient, compute the
gradient of this step's shard). It holds the whole training set (sent once through
the object store) and gathers each epoch's order itself, so a step only carries row
ranges and, once, the averaged gradient (with, when the model has state updates such
as BatchNormalization's moving statistics, the driver's combined state).

A replica of a stateful model is built with batch size = its fixed share of the global
batch and keeps the recurrent states of those rows across batches.
"""

import os

import numpy as np


class Replica:
    def __init__(self, spec, data, rank, threads):
        # Before the engine starts its thread pool (on first use).
        os.environ["RAYON_NUM_THREADS"] = str(int(threads))
        from .. import backend as K
        from . import _spec

        self.rank = rank
        self.outer = _spec.build_model(spec, rank)
        self.model = _spec.inner(self.outer)
        self.gradient_function = self.model._make_gradient_function()
        self.apply_function = self.model._make_apply_function()
        _spec.load_state(self.model, spec["state"])
        _spec.set_hyper(self.model.optimizer, spec["hyper"])
        # the random streams continue where the driver's model left them
        _spec.set_counters(self.outer, spec["counters"])
        # state variables the driver combines after every step (None: not synced)
        self.state_vars = (
            _spec.state_variables(_spec.state_rules(self.model)) if spec.get("sync_state") else None
        )
        # stateful RNNs: this replica's rows of the global batch
        self.rnn_layers = _spec.stateful_layers(self.model)
        rows = spec.get("stateful_rows")
        self.rows = tuple(rows[rank]) if rows else None
        if self.rnn_layers:
            self.set_rnn_states(spec["rnn_states"])
        self.data = list(data)
        self.epoch_ins = self.data
        self.lp = [np.asarray(1.0, dtype=np.float32)] if self.model._learning_phase_inputs() else []
        self.n_x = len(self.model.inputs)
        self.n_y = len(self.model.targets)
        self.calls = 0  # gradient-program calls: the random streams' call counter
        self.threads = K.num_threads()

    def info(self):
        return {"pid": os.getpid(), "threads": self.threads, "rank": self.rank}

    def set_epoch(self, index_array):
        """The epoch's sample order (None: the data's own order); one gather, as in fit."""
        if index_array is None:
            self.epoch_ins = self.data
        else:
            self.epoch_ins = [a[index_array] for a in self.data]
        return True

    def _batch(self, start, end, scales):
        ins = [a[start:end] for a in self.epoch_ins]
        if scales is not None:
            base = self.n_x + self.n_y
            for o, s in enumerate(scales):
                if s != 1.0:
                    ins[base + o] = (ins[base + o] * np.float32(s)).astype(np.float32)
        return ins

    def _grad(self, start, end, scales, row0):
        # row0: the shard's first row within the global batch, so that random ops draw
        # the single-process noise of these rows.
        from .. import backend as K

        outs = self.gradient_function.run(self._batch(start, end, scales) + self.lp, row_offset=row0)
        self.calls += 1
        state = None if self.state_vars is None else [np.asarray(K.get_value(v)) for v in self.state_vars]
        return [float(o) for o in outs[:-1]], np.asarray(outs[-1], dtype=np.float32), state

    def _begin(self, pending, hyper, reset):
        """The start of a step: the previous step's averaged gradient (and combined
        state), new hyper-parameter values, a `reset_states()` the driver's callbacks
        made since."""
        from .. import backend as K

        if pending is not None:
            flat, state = pending
            self.apply_function.run([flat])
            if state is not None:
                for v, value in zip(self.state_vars, state):
                    K.set_value(v, value)
        if hyper:
            from . import _spec

            _spec.set_hyper(self.model.optimizer, hyper)
        if reset:
            self.reset_states()

    def step(self, pending, hyper, start, end, scales, row0, reset=False):
        """Runs `_begin`, then returns (outs, flat gradient, state values or None) of
        rows start:end of the epoch order, which are rows row0.. of the global batch."""
        self._begin(pending, hyper, reset)
        return self._grad(start, end, scales, row0)

    def apply(self, pending, hyper=None, skip=0, reset=False):
        """Runs `_begin` without computing a gradient (an idle step: an empty shard, or
        one whose weights are all zero), then advances the random streams by `skip`
        calls, as the gradient call it does not make would have."""
        self._begin(pending, hyper, reset)
        return self.skip(skip)

    def get_counters(self):
        """The random streams' call counters (see `_spec.get_counters`)."""
        from . import _spec

        return _spec.get_counters(self.outer)

    def get_state_values(self):
        """Values of the state variables (moving statistics; see `_spec.state_rules`)."""
        from .. import backend as K
        from . import _spec

        return [np.asarray(K.get_value(v)) for v in _spec.state_variables(_spec.state_rules(self.model))]

    def reset_states(self):
        for layer in self.rnn_layers:
            layer.reset_states()
        return True

    def get_rnn_states(self):
        """This replica's rows of every stateful RNN state."""
        from .. import backend as K

        return [np.asarray(K.get_value(v)) for layer in self.rnn_layers for v in layer.states]

    def set_rnn_states(self, states):
        """Takes this replica's rows of the global states `states`."""
        from .. import backend as K

        r0, r1 = self.rows
        variables = [v for layer in self.rnn_layers for v in layer.states]
        for v, value in zip(variables, states):
            K.set_value(v, np.ascontiguousarray(value[r0:r1]))
        return True

    def local_step(self, hyper, start, end, scales, row0, reset=False):
        """`sync_every > 1`: a step on this replica's own gradient."""
        self._begin(None, hyper, reset)
        outs, flat, _ = self._grad(start, end, scales, row0)
        self.apply_function.run([flat])
        return outs

    def skip(self, n):
        """Advances the random streams by `n` calls, as `n` gradient steps would, with
        a one-sample forward (a stateful replica: its rows) in the training phase and
        no update."""
        if n <= 0:
            return True
        from .. import backend as K

        m = self.model
        if not hasattr(self, "_skip_function"):
            self._skip_function = K.function(m.inputs + m._learning_phase_inputs(), m.outputs)
        rows = self.rows[1] - self.rows[0] if self.rows else 1
        ins = [a[:rows] for a in self.data[: self.n_x]] + self.lp
        for _ in range(int(n)):
            self._skip_function.run(ins)
        self.calls += int(n)
        return True

    def get_state(self):
        from . import _spec

        return _spec.get_state(self.model)

    def set_state(self, state):
        from . import _spec

        _spec.load_state(self.model, state)
        return True

    def fail(self, message):
        """Raises (test hook for the error path)."""
        raise RuntimeError(message)
