"""A 1-thread worker stays one thread wide in numpy too (worker/__main__.py ``limit_native_threads``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# The OS threads of a process that loaded numpy and ran a matrix product (OpenBLAS starts its pool at load).
THREADS_AFTER_NUMPY = """
import os, sys
if sys.argv[1] == "limit":
    from worker.__main__ import limit_native_threads
    limit_native_threads(1)
import numpy
a = numpy.ones((512, 512))
a @ a
print(len(os.listdir("/proc/self/task")))
"""
NATIVE = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _threads(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in NATIVE}
    out = subprocess.run(
        [sys.executable, "-c", THREADS_AFTER_NUMPY, mode], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif((os.cpu_count() or 1) < 2 or not os.path.isdir("/proc/self/task"), reason="needs 2+ cores, Linux")
def test_numpy_runs_one_thread_in_a_one_thread_worker() -> None:
    # Unlimited, OpenBLAS runs a thread per core: one more per extra core than the limited process.
    assert _threads("limit") < _threads("free")


def test_the_worker_module_loads_no_numpy_before_main_limits_it() -> None:
    """The limit works only if numpy is not yet loaded when main() sets it: importing the entry point must not."""
    probe = "import sys, worker.__main__; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_value_already_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.__main__ import limit_native_threads

    for name in NATIVE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    limit_native_threads(1)
    assert (os.environ["OMP_NUM_THREADS"], os.environ["OPENBLAS_NUM_THREADS"]) == ("3", "1")
    monkeypatch.delenv("MKL_NUM_THREADS")
    limit_native_threads(0)  # 0: all cores, the libraries' own default
    assert "MKL_NUM_THREADS" not in os.environ
