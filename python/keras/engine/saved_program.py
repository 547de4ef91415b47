"""Saved programs (not in Keras 1): a model's compiled program as one file that the Rust
engine loads and runs without Python.

``model.save_program(path)`` writes the inference program ``predict`` runs;
``model.save_program(path, training=True)`` writes the training step
``train_on_batch`` runs, with the optimizer's state and the random streams' counters,
so the step can be continued elsewhere (Rust: ``ferrokeras::Program::load(path)``, then
``program.run(...)`` and ``program.save(...)``; Python: ``keras.models.load_program``).

The file (``.fkp`` by convention) is one safetensors file: the tensors are the
program's variables and constants, and the ``__metadata__`` entry
``"ferrokeras.program"`` holds the graph as versioned JSON (ops by their registered
name and arguments, edges, inputs, outputs, updates). Any safetensors reader lists the
tensors; the format is documented in the Rust crate (``ferrokeras::saved``). Saving the
same program twice gives the same bytes. A file of a newer format version than this
build reads raises ``NotImplementedError``; a file that is not a program, or a corrupt
one, raises ``ValueError`` naming the file.

Metadata written with the program (strings; lists are JSON text):

- ``keras.kind``: ``"inference"`` or ``"training"``;
- ``keras.input_names``: the program's inputs in order (for a training program: the
  model inputs, then each output's ``<name>_target`` and ``<name>_sample_weights``,
  then ``keras_learning_phase`` when the model uses it; feed 1.0 there to train);
- ``keras.output_names``: the outputs in order (the model's output layers for an
  inference program; ``loss`` followed by the metric names for a training program);
- ``keras.version``: the Keras API version.
"""

import json

from .. import backend as K

#: The newest program file format version this build reads and writes.
FORMAT_VERSION = K.program_format_version()


def save_program(model, filepath, training=False):
    """Writes ``model``'s compiled inference program, or with ``training=True`` its
    training step (the model must be compiled), to ``filepath`` as one file.

    The inference program takes the model's inputs only (the learning phase is the
    test phase; dropout and noise are left out) and returns exactly what
    ``model.predict`` returns, bit for bit. The file is written beside ``filepath`` and
    renamed onto it, so a failed save leaves a previous file as it was.

    # Raises
        RuntimeError: ``training=True`` on a model that was not compiled.
        NotImplementedError: the program contains an op or update that cannot be
            saved (an op not built by name, a custom fused update).
        IOError: the file cannot be written.
    """
    from .. import __version__ as keras_version

    if not isinstance(training, bool):
        raise TypeError("save_program: `training` must be True or False, got %r" % (training,))
    from ..models import functional_model

    m = functional_model(model)
    if training:
        if not hasattr(m, "train_function"):
            raise RuntimeError("You must compile your model before using it.")
        m._make_train_function()
        fn = m.train_function
        names = list(m.input_names)
        names += [n + "_target" for n in m.output_names]
        names += [n + "_sample_weights" for n in m.output_names]
        if m._learning_phase_inputs():
            names.append("keras_learning_phase")
        outputs = ["loss"] + list(getattr(m, "metrics_names", ["loss"])[1:])
    else:
        # the model's inputs only: the learning phase, not fed, is the test phase
        fn = K.function(m.inputs, m.outputs, updates=getattr(m, "state_updates", None), inference=True)
        names = list(m.input_names)
        outputs = list(m.output_names)
    metadata = {
        "keras.kind": "training" if training else "inference",
        "keras.input_names": json.dumps(names),
        "keras.output_names": json.dumps(outputs),
        "keras.version": keras_version,
    }
    fn.save(filepath, metadata)


class SavedProgram:
    """A program loaded from a program file: call it with a list of arrays (one per
    input, in ``input_names`` order) to get the list of outputs; a training program
    takes one step per call. ``save`` writes it back, with its current variables."""

    def __init__(self, loaded):
        self._loaded = loaded
        meta = loaded.metadata
        self.metadata = dict(meta)
        self.kind = meta.get("keras.kind")
        self.input_names = (
            json.loads(meta["keras.input_names"]) if "keras.input_names" in meta else loaded.input_names
        )
        self.output_names = json.loads(meta["keras.output_names"]) if "keras.output_names" in meta else None

    def __call__(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise TypeError("a saved program takes a list of arrays, got %r" % (type(inputs).__name__,))
        return self._loaded(inputs)

    def save(self, filepath):
        """Writes the program (graph, current variables, optimizer state, random
        counters and metadata) to ``filepath``."""
        self._loaded.save(filepath, self.metadata)

    def get_weight(self, name):
        """The current value of the variable ``name`` (a Keras weight name such as
        ``dense_1_W``, or an optimizer variable)."""
        return self._loaded.get_variable(name)

    @property
    def weight_names(self):
        """The names of the program's variables."""
        return self._loaded.variable_names()


def load_program(filepath):
    """Loads a program file written by ``model.save_program`` (or by the Rust
    ``Program::save``).

    # Raises
        IOError: the file cannot be read.
        ValueError: the file is not a program file, or is corrupt (the message names
            the file and the part at fault).
        NotImplementedError: the file has a newer format version than this build reads.
    """
    return SavedProgram(K.load_program(filepath))
