"""The client's view of a local file: its fingerprint (which version of which file) and its name for the API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from client.fingerprint import SAMPLE_BYTES, SAMPLES, file_fingerprint, sample_offsets
from client.local_names import api_filename, readable
from shared.jobs.records import UploadRequest
from tests.conftest import make_file

MIB = 1 << 20


def _keep_mtime(path: Path, change: bytes, at: int) -> None:
    """Overwrite bytes at ``at`` in place and put the modified time back, as a tool preserving timestamps would."""
    before = path.stat()
    with path.open("r+b") as f:
        f.seek(at)
        f.write(change)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_the_fingerprint_is_stable_and_accepted_by_the_api(tmp_path: Path) -> None:
    path = make_file(tmp_path / "a.wav", 5 * MIB + 3)
    assert file_fingerprint(path) == file_fingerprint(path)
    UploadRequest(filename="a.wav", size_bytes=1, file_fingerprint=file_fingerprint(path))  # matches the pattern


def test_another_file_of_the_same_size_and_time_differs(tmp_path: Path) -> None:
    a, b = make_file(tmp_path / "a.wav", 5 * MIB, seed=1), make_file(tmp_path / "b.wav", 5 * MIB, seed=2)
    stat = a.stat()
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_fingerprint(a) != file_fingerprint(b)


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_change_in_a_sampled_slice_shows_even_with_the_time_kept(tmp_path: Path, where: str) -> None:
    path = make_file(tmp_path / "a.wav", 5 * MIB)
    before = file_fingerprint(path)
    at = {"start": 0, "middle": sample_offsets(5 * MIB)[SAMPLES // 2], "end": 5 * MIB - 1}[where]
    _keep_mtime(path, b"\xff" if path.read_bytes()[at] != 0xFF else b"\x00", at)
    assert file_fingerprint(path) != before


def test_any_rewrite_shows_through_the_modified_time(tmp_path: Path) -> None:
    """Bytes outside every slice are not read; a rewrite there still moves the modified time."""
    path = make_file(tmp_path / "a.wav", 5 * MIB)
    before = file_fingerprint(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert file_fingerprint(path) != before


def test_it_reads_at_most_a_mebibyte_whatever_the_size() -> None:
    for size in (0, 10, SAMPLE_BYTES, 5 * MIB, 200 * 1024**3):
        offsets = sample_offsets(size)
        assert len(offsets) <= SAMPLES and offsets[0] == 0
        assert offsets[-1] == max(size - SAMPLE_BYTES, 0)  # the first and last slices are always in
    assert SAMPLES * SAMPLE_BYTES <= MIB


def test_a_name_that_is_not_utf8_becomes_valid_text() -> None:
    raw = os.fsdecode(b"/tmp/caf\xe9 \xff.wav")
    assert api_filename(raw) == "caf\ufffd \ufffd.wav"
    api_filename(raw).encode("utf-8")  # what failed: the JSON body could not be encoded
    assert readable(raw) == "/tmp/caf\ufffd \ufffd.wav"


def test_a_valid_name_is_unchanged() -> None:
    assert api_filename(Path("/x/Réunion été.flac")) == "Réunion été.flac"


def test_the_summary_says_each_warning_a_job_carries() -> None:
    """A completed job with no words from sound, or less audio than declared, says so where a person reads it."""
    from client.cli import summary

    job = {
        "job_id": "j1",
        "status": "completed",
        "result": {
            "duration_s": 20.0,
            "words": 0,
            "warnings": [{"code": "no_words_heard", "message": "the audio is not silent, but no words were heard"}],
        },
    }
    text = summary(job, [])
    assert "warning no_words_heard: the audio is not silent" in text
    assert "warning" not in summary({**job, "result": {"duration_s": 1.0, "words": 3}}, [])
