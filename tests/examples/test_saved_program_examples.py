"""The saved-program path end to end: examples/mnist_mlp.py trains and saves its
programs, the Rust examples `predict_saved` and `train_saved` (built with cargo, as
the package itself is) classify the digits with the same accuracy and continue the
training, and Python loads what Rust saved."""

import json
import os
import pwd
import re
import shutil
import subprocess
import sys

import numpy as np

from conftest import REPO
from keras.models import load_program

NUMBER = r"\d+\.\d+"


def run(cmd, timeout, env=None):
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout
    )
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, "%s exited %d:\n%s" % (" ".join(cmd), proc.returncode, out[-4000:])
    return out


def cargo_example(name, *args):
    # conftest points HOME at a temporary directory; cargo and rustup live in the real one
    home = pwd.getpwuid(os.getuid()).pw_dir
    env = dict(os.environ)
    env.setdefault("CARGO_HOME", os.path.join(home, ".cargo"))
    env.setdefault("RUSTUP_HOME", os.path.join(home, ".rustup"))
    cargo = shutil.which("cargo") or os.path.join(env["CARGO_HOME"], "bin", "cargo")
    cmd = [cargo, "run", "--quiet", "--release", "-p", "ferrokeras", "--example", name, "--"]
    return run(cmd + list(args), timeout=1800, env=env)


def test_mnist_mlp_programs_run_and_train_on_from_rust(tmp_path):
    predict, train, more = (str(tmp_path / n) for n in ("mlp.fkp", "train.fkp", "more.fkp"))
    out = run(
        [
            sys.executable,
            os.path.join(REPO, "examples", "mnist_mlp.py"),
            "--epochs",
            "1",
            "--save-program",
            predict,
            "--save-training-program",
            train,
        ],
        timeout=600,
    )
    python_acc = float(re.search(r"^Test accuracy: (%s)" % NUMBER, out, re.M).group(1))

    out = cargo_example("predict_saved", predict)
    m = re.search(r"^test accuracy: (%s) \((\d+)/2000\)" % NUMBER, out, re.M)
    assert m, out
    # the same program on the same digits: the same predictions, so the same accuracy
    assert int(m.group(2)) == round(python_acc * 2000)

    before = load_program(train)
    out = cargo_example("train_saved", train, more, "1")
    assert re.search(r"^epoch 1/1 - loss: %s - acc: %s$" % (NUMBER, NUMBER), out, re.M), out
    after = load_program(more)
    assert after.kind == "training" and after.input_names == before.input_names
    names = after.weight_names
    assert names == before.weight_names
    moved = {n for n in names if not np.array_equal(after.get_weight(n), before.get_weight(n))}
    layers = {"dense_%d_%s" % (i, p) for i in (1, 2, 3) for p in "Wb"}
    # every weight and every RMSprop accumulator (one per weight) took the epoch's steps
    assert layers <= moved and len(moved - layers) == len(layers)
    assert json.loads(after.metadata["keras.output_names"]) == ["loss", "acc"]
