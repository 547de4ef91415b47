"""One model replica of data-parallel training: what a Ray worker actor runs.

The class is plain Python (no Ray import): `keras.distributed.fit` turns it into an
actor with `ray.remote`. A replica rebuilds the driver's model from its config, compiles
it the same way, loads the driver's weights and optimizer state, and then serves one
request per training step (apply the previous step's averaged gradient, compute the
gradient of this step's shard). It holds the whole training set (sent once through
the object store) and gathers each epoch's order itself, so a step only carries row
ranges and, once, the averaged gradient.
"""

import os

import numpy as np


class Replica:
    def __init__(self, spec, data, rank, threads):
        # Before the engine starts its thread pool (on first use).
        os.environ["RAYON_NUM_THREADS"] = str(int(threads))
        from ..backend import ferrokeras_backend as FK
        from . import _spec

        self.rank = rank
        self.outer = _spec.build_model(spec, rank)
        self.model = _spec.inner(self.outer)
        self.gradient_function = self.model._make_gradient_function()
        self.apply_function = self.model._make_apply_function()
        _spec.load_state(self.model, spec["state"])
        _spec.set_hyper(self.model.optimizer, spec["hyper"])
        self.data = list(data)
        self.epoch_ins = self.data
        self.lp = [np.asarray(1.0, dtype=np.float32)] if self.model._learning_phase_inputs() else []
        self.n_x = len(self.model.inputs)
        self.n_y = len(self.model.targets)
        self.calls = 0  # gradient-program calls: the random streams' call counter
        self.threads = FK._native.num_threads() if hasattr(FK._native, "num_threads") else None

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

    def _grad(self, start, end, scales):
        outs = self.gradient_function._program(self._batch(start, end, scales) + self.lp)
        self.calls += 1
        return [float(o) for o in outs[:-1]], np.asarray(outs[-1], dtype=np.float32)

    def step(self, pending, hyper, start, end, scales):
        """Applies the previous step's averaged gradient (if any), takes the new
        hyper-parameter values (if any), returns (outs, flat gradient) of rows
        start:end of the epoch order."""
        if pending is not None:
            self.apply_function._program([pending])
        if hyper:
            from . import _spec

            _spec.set_hyper(self.model.optimizer, hyper)
        return self._grad(start, end, scales)

    def apply(self, pending, hyper=None):
        """Applies an averaged gradient without computing one (an idle step)."""
        if pending is not None:
            self.apply_function._program([pending])
        if hyper:
            from . import _spec

            _spec.set_hyper(self.model.optimizer, hyper)
        return True

    def local_step(self, hyper, start, end, scales):
        """`sync_every > 1`: a step on this replica's own gradient."""
        if hyper:
            from . import _spec

            _spec.set_hyper(self.model.optimizer, hyper)
        outs, flat = self._grad(start, end, scales)
        self.apply_function._program([flat])
        return outs

    def skip(self, n):
        """Advances the random streams by `n` calls, as `n` gradient steps would, with
        a one-sample forward in the training phase (no update)."""
        if n <= 0:
            return True
        from .. import backend as K

        m = self.model
        if not hasattr(self, "_skip_function"):
            self._skip_function = K.function(m.inputs + m._learning_phase_inputs(), m.outputs)
        ins = [a[:1] for a in self.data[: self.n_x]] + self.lp
        for _ in range(int(n)):
            self._skip_function._program(ins)
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
