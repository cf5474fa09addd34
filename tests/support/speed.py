"""How much slower than the reference machine this one runs right now: the one factor every stack wait scales by.

A test that waits for the stack (a job to end, a host to log a line, a command to stop) has a deadline that only
says when to give up: it must hold on any machine the suite runs on, idle or shared. Fixed seconds tuned on one CPU
failed under load (a 60 s deadline for the host to meet a full disk, a resumed run on a busy 2-core machine). So
deadlines are written as what the reference machine needs, with their headroom, and go through :func:`scaled`.

How it is measured: once per test session (the first deadline asks), one process per core runs the same fixed
CPU work at once (SHA-256 chains and an integer loop: pure CPU, no I/O), three rounds; the round's slowest process
is its time, the median round the session's. Dividing by :data:`REFERENCE_S` gives the factor, never below 1 (a
faster machine keeps the written deadlines, which are upper bounds). One process per core takes a share of every
core as the stack's processes (Azurite, the devhost, workers) do, so other load on the machine shows as it does for
them: on the reference machine, shared with three other people's test runs, it measured 3.1x, and 6.7x a moment
later with two ``yes > /dev/null`` beside it.

:data:`REFERENCE_S`: the reference machine, a 2-core AMD EPYC (this suite's first home), 0.06 s for the work, best
of six single runs (the machine was shared at the time, so idle may be a little lower: the factor errs long).
``TRANSCRIBE_TEST_SLOWDOWN`` overrides the measurement (e.g. ``3`` under a debugger).
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys

REFERENCE_S = 0.06
WORK = """
import hashlib, time
t = time.perf_counter()
h = b"x" * 64
for _ in range(40_000):
    h = hashlib.sha256(h).digest()
n = 0
for i in range(300_000):
    n += i * i % 7
print(time.perf_counter() - t)
"""


@functools.cache
def slowdown() -> float:
    """This machine's slowness against the reference, measured once per session (at least 1)."""
    given = os.environ.get("TRANSCRIBE_TEST_SLOWDOWN")
    if given:
        return max(1.0, float(given))
    cores = os.cpu_count() or 1
    rounds = []
    for _ in range(3):
        runs = [subprocess.Popen([sys.executable, "-c", WORK], stdout=subprocess.PIPE, text=True) for _ in range(cores)]
        rounds.append(max(float(run.communicate()[0]) for run in runs))
    return max(1.0, statistics.median(rounds) / REFERENCE_S)


def scaled(seconds: float) -> float:
    """A deadline of ``seconds`` on the reference machine, for this one as it runs now."""
    return seconds * slowdown()
