"""Runs a script of examples/ as a subprocess in its shortened mode
(FERROKERAS_EXAMPLE_QUICK=1: few samples, one epoch), for test_examples.py and
test_keras1_examples.py."""

import os
import re
import subprocess
import sys

from conftest import REPO, SHARED_DATA

EXAMPLES = os.path.join(REPO, "examples")
NUMBER = r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?"


def run_example(name, timeout):
    """The output of ``examples/<name>``; an AssertionError when it does not exit 0."""
    env = dict(os.environ)
    env["FERROKERAS_EXAMPLE_QUICK"] = "1"
    env["FERROKERAS_SHARED_DATA"] = SHARED_DATA
    proc = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, name)],
        cwd=REPO,
        env=env,  # HOME is conftest's empty temporary folder: no Keras cache, no keras.json
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, "%s exited %d:\n%s" % (name, proc.returncode, out[-4000:])
    return out


def result(out, pattern):
    """The number in group 1 of the first line of ``out`` that matches ``pattern``."""
    m = re.search(pattern, out, re.M)
    assert m, "result line %r not found in:\n%s" % (pattern, out[-4000:])
    return float(m.group(1))
