"""The machine ``scripts/transcribe``'s tests pretend to run on, whatever runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost import transcribe_local
from worker import layout

GIB = 1024**3


def pretend_machine(monkeypatch: pytest.MonkeyPatch, runs_parent: Path) -> None:
    """2 cores, 24 GiB, no GPU (so the layout and the run's settings do not follow the test machine); runs (and the
    warm stack's state file) in ``runs_parent/runs``."""
    monkeypatch.setattr(layout, "detect_cores", lambda: 2)
    monkeypatch.setattr(layout, "detect_memory_bytes", lambda: 24 * GIB)
    monkeypatch.setattr(layout, "detect_gpu_memory_bytes", lambda: [])
    monkeypatch.setattr(transcribe_local, "RUNS", runs_parent / "runs")
