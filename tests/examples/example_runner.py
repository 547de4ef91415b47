"""Runs a script of examples/ as a subprocess in its shortened mode
(FERROKERAS_EXAMPLE_QUICK=1: few samples, one epoch), for test_examples.py and
test_keras1_examples.py; ``Case`` and ``check`` hold what a run must print."""

import math
import os
import re
import subprocess
import sys

from conftest import EXAMPLES, REPO, SHARED_DATA, shared_data

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


class Range:
    """Where a result may lie: ``lo <= v <= hi``, or ``lo < v < hi`` when ``strict``
    (a strict range also excludes infinities)."""

    def __init__(self, lo=-math.inf, hi=math.inf, strict=False):
        self.lo, self.hi, self.strict = lo, hi, strict

    def __contains__(self, v):
        return self.lo < v < self.hi if self.strict else self.lo <= v <= self.hi

    def __repr__(self):
        return "%s%r, %r%s" % ("(" if self.strict else "[", self.lo, self.hi, ")" if self.strict else "]")


FRACTION = Range(0.0, 1.0)


class Case:
    """One example's run: ``script`` of examples/; ``data``, the shared data file it
    reads (skipped like ``shared_data`` when missing); ``says``, texts its output holds;
    ``counts``, {text: how many times it appears}; ``lines``, regular expressions a line
    of it matches; ``result``, the pattern of its result line (group 1 the number), which
    lies in ``within`` when given."""

    def __init__(self, script, result=None, within=None, says=(), counts=None, lines=(), data=None):
        self.script, self.result, self.within = script, result, within
        self.says, self.counts, self.lines, self.data = says, counts or {}, lines, data

    def __repr__(self):
        return self.script


def check(case, timeout):
    """Runs ``case`` and asserts all it names; returns the output."""
    if case.data:
        shared_data(case.data)
    out = run_example(case.script, timeout)
    for text in case.says:
        assert text in out, "%r not in the output of %s:\n%s" % (text, case.script, out[-4000:])
    for text, n in case.counts.items():
        assert out.count(text) == n, "%r appears %d times, not %d" % (text, out.count(text), n)
    for pattern in case.lines:
        assert re.search(pattern, out, re.M), "no line matches %r in:\n%s" % (pattern, out[-4000:])
    if case.result is not None:
        value = result(out, case.result)
        if case.within is not None:
            assert value in case.within, "%s: result %r not in %r" % (case.script, value, case.within)
    return out
