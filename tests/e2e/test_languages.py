"""A recording that switches language, through the whole stack with the multilingual Whisper base.

Azurite, the devhost running function_app.py and two `python -m worker --model base` processes: the switching
recording (German, English, Spanish, Chinese, French; tests/support/languages.py) uploaded with the client, cut
into windows that each hold a switch, stitched, and written. Each section comes back in its own language, the
transcript and the job list the languages with their seconds, and the status showed them while the job ran. The
engine's own checks (error rates against a single pass, the old one-language-per-window behaviour failing them)
are tests/integration/test_languages_real.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile
from azure.storage.blob import BlobServiceClient

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from shared.contracts import Transcript
from tests.support import languages as lang
from tests.support.speed import scaled

LABELLED = 0.9  # as tests/integration/test_languages_real.py (measured there: every section 1.0 in one window)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    env = {"TRANSCRIBE_MODEL": "base", "TRANSCRIBE_EXPECTED_WORKERS": "2"}
    with LocalStack(env=env, workers=2, worker_threads=1, worker_args=["--model", "base"]) as running:
        yield running


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[lang.Section]]:
    samples, sections = lang.switching(clips_per_section=1)
    path = tmp_path_factory.mktemp("languages") / "switching.flac"
    soundfile.write(str(path), samples, lang.RATE, "PCM_16", format="FLAC")
    return path, sections


def run(stack: LocalStack, path: Path, **options: Any) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """Upload, then poll the status until the job ends: the job id, the progress seen, the final job."""
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        job_id = upload_file(api, path, **options).job_id
    finally:
        api.close()
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + scaled(300)
    with httpx.Client(base_url=stack.base_url, headers={"x-functions-key": stack.function_key}, timeout=30) as http:
        while time.monotonic() < deadline:
            body = http.get(f"/api/jobs/{job_id}").json()
            job = body.get("job") or body
            if job.get("progress"):
                seen.append(job["progress"])
            if job.get("status") in ("completed", "failed", "canceled"):
                return job_id, seen, job
            time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end")


def transcript(stack: LocalStack, job_id: str) -> Transcript:
    blobs = BlobServiceClient.from_connection_string(stack.connection_string)
    data = blobs.get_blob_client("results", f"{job_id}/transcript.json").download_blob().readall()
    return Transcript.model_validate_json(data)


def test_each_section_comes_back_in_its_own_language(
    stack: LocalStack, recording: tuple[Path, list[lang.Section]]
) -> None:
    path, sections = recording
    job_id, seen, job = run(stack, path)
    assert job["status"] == "completed", job
    result = transcript(stack, job_id)
    for section in sections:
        words = [
            w for s in result.segments for w in s.words if section.start - 0.3 <= (w.start + w.end) / 2 <= section.end
        ]
        right = sum(w.language == section.language for w in words) / max(len(words), 1)
        assert words and right >= LABELLED, (section.language, right)
    found = {entry.language: entry.seconds for entry in result.languages}
    assert set(found) == {s.language for s in sections}, found
    # The seconds in each language are its segments' (pauses between them excluded), so below the section's length:
    # measured 59-98 % of it (the Chinese clip has the longest silences); a section's speech counted as another
    # language, or twice, would leave these bounds.
    shares = {s.language: found[s.language] / (s.end - s.start) for s in sections}
    assert all(0.45 <= share <= 1.05 for share in shares.values()), shares
    assert [e["language"] for e in job["result"]["languages"]] == [e.language for e in result.languages]
    assert any(p.get("languages") for p in seen), "the status never showed a language while the job ran"


@pytest.fixture(scope="module")
def two_sections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """German then English (21 s): enough for the options, at a third of the full recording's time."""
    samples, sections = lang.switching(clips_per_section=1)
    path = tmp_path_factory.mktemp("languages") / "de-en.flac"
    soundfile.write(
        str(path), samples[: round((sections[1].end + 0.5) * lang.RATE)], lang.RATE, "PCM_16", format="FLAC"
    )
    return path


def test_candidates_and_a_forced_language_reach_the_workers(stack: LocalStack, two_sections: Path) -> None:
    path = two_sections
    job_id, _, job = run(stack, path, language_candidates=["de", "en"])
    assert job["status"] == "completed", job
    assert {s.language for s in transcript(stack, job_id).segments} <= {"de", "en"}
    job_id, _, job = run(stack, path, language="fr")
    assert job["status"] == "completed", job
    result = transcript(stack, job_id)
    assert {s.language for s in result.segments} == {"fr"}
    assert all(s.language_probability is None for s in result.segments)
