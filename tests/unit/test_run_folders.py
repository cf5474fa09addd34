"""A run's folder is its own (issue 22, item 4) and a damaged ``run.json`` is refused in one line (item 8).

Two runs of files with the same name started in the same second used to share ``<second>-<name>``: the first to
finish deleted the other's running stack. The clock is pinned here so that "the same second" is certain, not luck.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from devhost import transcribe_local
from tests.support.machine import pretend_machine


@pytest.fixture(autouse=True)
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pretend_machine(monkeypatch, tmp_path)


def test_two_runs_of_same_named_files_in_the_same_second_get_their_own_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "strftime", lambda *_: "20261207-120000")  # the same second, whatever the machine
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    (first_dir / "talk.wav").write_bytes(b"RIFF")
    (second_dir / "talk.wav").write_bytes(b"RIFF")
    first = transcribe_local.Run.new(transcribe_local.parse_args([str(first_dir / "talk.wav")]))
    second = transcribe_local.Run.new(transcribe_local.parse_args([str(second_dir / "talk.wav")]))
    assert first.folder != second.folder
    assert first.folder.name.startswith("20261207-120000-talk-")
    # each keeps its own run: the first's state is not overwritten by the second's
    assert transcribe_local.Run.load(first.folder).audio == (first_dir / "talk.wav").resolve()
    assert transcribe_local.Run.load(second.folder).audio == (second_dir / "talk.wav").resolve()
    assert first.folder.stat().st_mode & 0o777 == 0o700


def test_a_folder_in_use_is_refused_until_its_run_lets_it_go(tmp_path: Path) -> None:
    from devhost.run_folders import RunFolderError, RunLock

    folder = tmp_path / "run"
    folder.mkdir()
    held = RunLock(folder).acquire()
    with pytest.raises(RunFolderError, match=rf"in use by another scripts/transcribe \(pid {os.getpid()}\)"):
        RunLock(folder).acquire()
    held.release()
    RunLock(folder).acquire().release()


GOOD = {"audio": "/a.wav", "out": "/out", "language": None, "workers": 1, "model": "tiny.en", "window": 600.0}
GOOD |= {"timings": False}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "Expecting property name"),
        ("", "Expecting value"),
        ("[]", "not a JSON object"),
        (json.dumps({**GOOD, "workers": "2"}), "workers is str"),
        (json.dumps({**GOOD, "timings": 1}), "timings is int"),
        (json.dumps({**GOOD, "workers": True}), "workers is bool"),
        (json.dumps({**GOOD, "audio": None}), "audio is NoneType"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "model"}), "missing model"),
        (json.dumps({**GOOD, "window": -1}), "out of range"),
        (json.dumps({**GOOD, "job_id": 7}), "job_id is int"),
    ],
)
def test_a_damaged_run_file_is_refused_with_its_reason(tmp_path: Path, text: str, why: str) -> None:
    from devhost.run_folders import RunFolderError

    (tmp_path / "run.json").write_text(text)
    with pytest.raises(RunFolderError, match="is damaged") as refused:
        transcribe_local.Run.load(tmp_path)
    assert why in str(refused.value)


def test_a_run_file_with_a_field_from_a_later_version_still_loads(tmp_path: Path) -> None:
    from devhost.run_folders import read_run_file

    (tmp_path / "run.json").write_text(json.dumps({**GOOD, "job_id": "j1", "added_later": 1}))
    assert read_run_file(tmp_path)["job_id"] == "j1"
    assert transcribe_local.Run.load(tmp_path).job_id == "j1"
