"""The extension is built against CPython's stable ABI (pyo3 `abi3-py39`), so one wheel
serves every CPython from 3.9 on; `.ci/wheel_smoke` installs that wheel into the lowest
and highest Python the machine has."""

import os
import sys

import pytest

import keras


@pytest.mark.skipif(sys.platform != "linux", reason="the abi3 file-name tag checked here is Linux's")
def test_native_extension_is_a_stable_abi_build():
    name = os.path.basename(keras._native.__file__)
    assert name.endswith(".abi3.so"), name
