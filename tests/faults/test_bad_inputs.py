"""The bad-input catalogue through the real one-machine stack: Azurite, the devhost running function_app.py, and two
``python -m worker`` processes with faster-whisper tiny.en on CPU.

Every file is made by the test (tests/faults/bad_inputs.py) and sent as a customer sends one: ``POST /api/uploads``,
Put Block with the session's SAS, Put Block List; then the job is followed through ``GET /api/jobs/{id}`` as a
script or a Logic App would. Each case must end in a final answer (200 with a transcript, or a 422 problem whose
``job_error_code`` is the case's stable code) within a bounded time, never a 5xx and never a 202 forever; and a
normal job running alongside must come out as it would alone, with nothing left on any queue.

The audio cases run concurrently (one stack, one thread each), so the whole catalogue costs about as long as its
slowest case; each parametrised test then looks at its own case's outcome.
"""

from __future__ import annotations

import concurrent.futures
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, BlobClient

from devhost.stack import LocalStack
from shared.blocks import block_name, block_tag
from shared.contracts import SegmentResult, Transcript
from tests.faults import bad_inputs
from tests.faults.bad_inputs import ACCEPTED, AUDIO_CASES, NAME_CASES, AudioCase
from tests.faults.support import assert_orchestrations_end, assert_queues_drain, blobs, record
from tests.support.wer import wer, words

pytestmark = pytest.mark.slow

PASSAGE = (bad_inputs.DATA / "speech.txt").read_text()
SESSION_TTL_S = 30  # every session of this stack expires this long after it was opened (the expiry case waits it)
ENV = {
    "TRANSCRIBE_SEGMENT_WINDOW_S": "600",  # the CPU layout's window (worker/layout.py): 10 hours are 60 segments
    "TRANSCRIBE_EXPECTED_WORKERS": "2",
    "TRANSCRIBE_SEGMENT_TIMEOUT_S": "120",
    "TRANSCRIBE_UPLOAD_SESSION_TTL_SECONDS": str(SESSION_TTL_S),
}
# Bounds, from runs on this 2-core machine shared with other suites (the slowest case here took ~35 s from commit
# to answer, the ten hours of silence ~25 s): three times that and more, for a slower CI CPU.
CASE_TIMEOUT_S = 150.0
# tiny.en on the passage: 6-11 % WER clean (tests/data/README.md); the damaged renditions measured up to 14 % here
# (an MP3 whose middle 4 KB are noise loses ~0.7 s of words). 30 % still fails a transcript that lost a sentence
# of the 6 or that came back as a repetition loop.
MAX_WER = 0.30
POLL_S = 0.25


@dataclass
class Outcome:
    job_id: str
    status: int  # the final answer of GET /api/jobs/{id}
    body: dict[str, Any]
    seconds: float  # from the commit to that answer
    transcript: Transcript | None = None

    @property
    def text(self) -> str:
        return self.transcript.text if self.transcript else ""

    @property
    def last_word_end(self) -> float:
        return max((w.end for s in self.transcript.segments for w in s.words), default=0.0) if self.transcript else 0.0


@dataclass
class Customer:
    """Talks to the stack as a customer's script does, and remembers every 5xx it was ever answered."""

    stack: LocalStack
    server_errors: list[str] = field(default_factory=list)

    def http(self) -> httpx.Client:
        def note(response: httpx.Response) -> None:
            if response.status_code >= 500:
                self.server_errors.append(
                    f"{response.request.method} {response.request.url.path}: {response.status_code}"
                )

        headers = {"x-functions-key": self.stack.function_key}
        hooks = {"response": [note]}
        return httpx.Client(base_url=self.stack.base_url, headers=headers, timeout=60, event_hooks=hooks)

    def open(self, http: httpx.Client, filename: str, size: int) -> httpx.Response:
        return http.post("/api/uploads", json={"filename": filename, "size_bytes": size})

    def send(self, session: dict[str, Any], path: Path, blocks: int | None = None) -> BlobClient:
        """Put Block for each block of ``path`` (read a block at a time), then Put Block List of ``blocks`` ids
        (all of them unless told otherwise)."""
        blob = BlobClient.from_blob_url(session["upload"]["url"])
        size = session["upload"]["block_size"]
        count = 0
        with path.open("rb") as source:
            while chunk := source.read(size):
                blob.stage_block(block_name(count), chunk)
                count += 1
        blob.commit_block_list([BlobBlock(block_name(i)) for i in range(count if blocks is None else blocks)])
        return blob

    def final(self, http: httpx.Client, job_id: str, timeout_s: float = CASE_TIMEOUT_S) -> httpx.Response:
        """Poll the job (faster than its Retry-After: the test wants the moment it ends) until it is not 202."""
        deadline = time.monotonic() + timeout_s
        while (response := http.get(f"/api/jobs/{job_id}")).status_code == 202:
            assert time.monotonic() < deadline, f"job {job_id} still running after {timeout_s} s: {response.text}"
            time.sleep(POLL_S)
        return response

    def transcribe(self, filename: str, path: Path) -> Outcome:
        with self.http() as http:
            created = self.open(http, filename, path.stat().st_size)
            assert created.status_code == 201, created.text
            session = created.json()
            self.send(session, path)
            committed = time.monotonic()
            response = self.final(http, session["job_id"])
            outcome = Outcome(session["job_id"], response.status_code, response.json(), time.monotonic() - committed)
            if response.status_code == 200:
                got = http.get(f"/api/jobs/{outcome.job_id}/transcript", params={"format": "json"})
                assert got.status_code == 200, got.text
                outcome.transcript = Transcript.model_validate_json(got.content)
            return outcome


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, concurrent.futures.Future[Path]]]:
    """Every case's file, made in the background while the stack starts (ten hours of FLAC take seconds)."""
    folder = tmp_path_factory.mktemp("bad_inputs")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {}
        for case in AUDIO_CASES:
            (folder / case.name).mkdir()
            futures[case.name] = pool.submit(case.make, folder / case.name)
        yield futures


@pytest.fixture(scope="module")
def stack(made: dict[str, concurrent.futures.Future[Path]]) -> Iterator[LocalStack]:
    with LocalStack(env=ENV, workers=2, worker_threads=1) as running:
        yield running


@pytest.fixture(scope="module")
def customer(stack: LocalStack) -> Customer:
    return Customer(stack)


@pytest.fixture(scope="module")
def outcomes(
    customer: Customer, made: dict[str, concurrent.futures.Future[Path]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, concurrent.futures.Future[Any]]]:
    """Every audio case, the accepted names, the abandoned upload and a normal job, all submitted at once: each
    test waits for its own."""
    folder = tmp_path_factory.mktemp("plain")
    normal, silence = folder / "speech.wav", folder / "silence.wav"
    normal.write_bytes(bad_inputs.SPEECH_WAV.read_bytes())
    silence.write_bytes((bad_inputs.DATA / "silence.wav").read_bytes())
    accepted = [(case_id, name) for case_id, name, expected in NAME_CASES if expected == ACCEPTED]
    with concurrent.futures.ThreadPoolExecutor(len(AUDIO_CASES) + len(accepted) + 2) as pool:
        futures: dict[str, concurrent.futures.Future[Any]] = {
            "abandoned": pool.submit(_abandon, customer),
            "normal": pool.submit(customer.transcribe, "speech.wav", normal),
        }
        for case in AUDIO_CASES:
            futures[case.name] = pool.submit(_run_case, customer, case, made[case.name])
        for case_id, name in accepted:
            futures[f"name:{case_id}"] = pool.submit(customer.transcribe, name, silence)
        yield futures


def _run_case(customer: Customer, case: AudioCase, made: concurrent.futures.Future[Path]) -> Outcome:
    return customer.transcribe(case.filename, made.result(timeout=120))


@dataclass
class Abandoned:
    job_id: str
    before: httpx.Response  # GET /api/jobs while the session was open
    upload: dict[str, Any]  # GET /api/uploads after the session's time was up
    late_commit: Exception | None  # what the commit with the session's SAS raised after that
    after: httpx.Response  # GET /api/jobs then
    listed: list[str]  # the failed jobs listed then
    cancel: httpx.Response


def _abandon(customer: Customer) -> Abandoned:
    """Blocks arrive, the commit never does; after the session's time, everything a customer could ask."""
    audio = bad_inputs.SPEECH_WAV.read_bytes()
    with customer.http() as http:
        session = customer.open(http, "abandoned.wav", len(audio)).json()
        job_id = session["job_id"]
        blob = BlobClient.from_blob_url(session["upload"]["url"])
        blob.stage_block(block_name(0), audio)
        before = http.get(f"/api/jobs/{job_id}")
        time.sleep(SESSION_TTL_S + 1)
        upload = http.get(f"/api/uploads/{job_id}").json()
        late: Exception | None = None
        try:
            blob.commit_block_list([BlobBlock(block_name(0))])
        except HttpResponseError as exc:
            late = exc
        after = http.get(f"/api/jobs/{job_id}")
        listed = http.get("/api/jobs", params={"status": "failed", "limit": 100}).json()["jobs"]
        cancel = http.delete(f"/api/jobs/{job_id}")
        return Abandoned(job_id, before, upload, late, after, [j["job_id"] for j in listed], cancel)


def repeated(text: str, n: int = 4) -> set[tuple[str, ...]]:
    """Runs of ``n`` words the transcript holds more often than the passage does (and more than once): audio
    decoded twice, or a repetition loop of the model."""

    def grams(source: str) -> Counter[tuple[str, ...]]:
        heard = words(source)
        return Counter(zip(*(heard[i:] for i in range(n)), strict=False))

    passage = grams(PASSAGE)
    return {gram for gram, count in grams(text).items() if count > max(passage[gram], 1)}


KNOWN = {
    # shared/audio/decode.py (another helper's, issue 14 item 3): FFmpeg's MP3 demuxer times packets by counting
    # the frames it parses, and the damaged 4 KB (0.65 s at 48 kb/s) parse as none, so everything after the damage
    # is placed 0.65 s early (no hole is left for it) and the window ends 0.64 s short of the file's 22.0 s.
    "mp3_corrupt_mid": "MP3 audio after damaged frames is placed early by their duration",
}
# Where the passage's last word ends must not move: every rendition lines up with the WAV to the sample
# (tests/data/README.md), so only a decode that misplaces audio moves it. Measured here: within 0.1 s of the normal
# job's for every case that decodes right; 0.65 s early for the damaged MP3.
LAST_WORD_TOLERANCE_S = 0.35


def _param(case: AudioCase) -> Any:
    marks = [pytest.mark.xfail(reason=KNOWN[case.name], strict=True)] if case.name in KNOWN else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in AUDIO_CASES])
def test_each_file_ends_in_a_clear_final_state(
    case: AudioCase, outcomes: dict[str, concurrent.futures.Future[Any]], stack: LocalStack
) -> None:
    outcome = outcomes[case.name].result(timeout=CASE_TIMEOUT_S + 60)
    assert outcome.seconds < CASE_TIMEOUT_S
    saved = record(stack, outcome.job_id)
    if case.code is not None:
        assert outcome.status == 422, outcome.body
        assert (outcome.body["code"], outcome.body["job_error_code"]) == ("job_failed", case.code), outcome.body
        assert (saved.status.value, saved.error and saved.error.code) == ("failed", case.code)
        return
    assert outcome.status == 200, outcome.body
    assert saved.status.value == "completed"
    assert outcome.transcript is not None
    if case.words:
        assert repeated(outcome.text) == set(), outcome.text
        assert wer(PASSAGE, outcome.text) <= MAX_WER, outcome.text
        normal = outcomes["normal"].result(timeout=CASE_TIMEOUT_S + 60)
        assert abs(outcome.last_word_end - normal.last_word_end) <= LAST_WORD_TOLERANCE_S, outcome.transcript
    else:
        assert words(outcome.text) == [], outcome.text


def test_ten_hours_of_silence_is_fast_and_says_nothing(
    outcomes: dict[str, concurrent.futures.Future[Any]], stack: LocalStack
) -> None:
    """60 windows of 600 s, every one digital silence: the workers skip them before the model (worker/pre/quiet.py).

    Measured on this machine (2 cores, load ~8 from other suites), the job alone (/tmp bench, 2 workers): 113 and
    128 s from commit to answer before the skip, 14 and 16 s with it; in this catalogue, with every other case
    queued beside it, ~50 s. Wall time swings with the load, so the check is the workers' own inference time, which
    the skip takes from ~1 s per window (Silero VAD over 600 s) to ~2 ms: under 3 s for all 60 is 20 times the
    measured skip's cost and a twentieth of the unskipped one."""
    outcome = outcomes["ten_hours_of_silence"].result(timeout=CASE_TIMEOUT_S + 60)
    assert outcome.status == 200, outcome.body
    result = outcome.body["result"]
    assert (result["duration_s"], result["segments"], result["words"]) == (36000.0, 0, 0)
    windows = [SegmentResult.model_validate_json(blob) for blob in _segment_results(stack, outcome.job_id)]
    assert len(windows) == 60
    assert sum(w.transcribe_s for w in windows) < 3.0, sorted(w.transcribe_s for w in windows)


def _segment_results(stack: LocalStack, job_id: str) -> list[bytes]:
    container = blobs(stack).get_container_client("segments")
    names = [b.name for b in container.list_blobs(name_starts_with=f"{job_id}/") if "/inflight/" not in b.name]
    return [container.download_blob(name).readall() for name in names]


# --- the upload protocol ----------------------------------------------------------------------------------------------


def test_a_zero_length_file_is_refused_when_announced(customer: Customer) -> None:
    with customer.http() as http:
        response = http.post("/api/uploads", json={"filename": "zero.wav", "size_bytes": 0})
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert [e["field"] for e in response.json()["errors"]] == ["size_bytes"]


@pytest.mark.parametrize(
    ("announced", "sent"),
    [(1000, 0), (704268 + 1, 704268), (704268 - 1, 704268), (1, 704268)],
    ids=["nothing_committed", "one_byte_short", "one_byte_over", "far_over"],
)
def test_a_size_other_than_announced_is_refused(customer: Customer, tmp_path: Path, announced: int, sent: int) -> None:
    path = tmp_path / "speech.wav"
    path.write_bytes(bad_inputs.SPEECH_WAV.read_bytes()[:sent])
    with customer.http() as http:
        session = customer.open(http, "speech.wav", announced).json()
        blob = BlobClient.from_blob_url(session["upload"]["url"])
        if sent:
            customer.send(session, path)
        else:
            blob.commit_block_list([])  # a commit of no blocks: a 0-byte blob
        response = customer.final(http, session["job_id"], timeout_s=30)
    assert (response.status_code, response.json()["job_error_code"]) == (422, "size_mismatch")


def test_more_blocks_than_announced(customer: Customer, tmp_path: Path) -> None:
    """The plan says 2 blocks of 1 MiB; the client stages 5 (3 past the plan) and commits them all. The status
    counts only the planned blocks of the planned size; the commit is a size mismatch; nothing reaches a worker."""
    mib = 1 << 20
    with customer.http() as http:
        session = http.post(
            "/api/uploads", json={"filename": "long.flac", "size_bytes": 2 * mib, "block_size_bytes": mib}
        ).json()
        assert session["upload"]["block_count"] == 2
        blob = BlobClient.from_blob_url(session["upload"]["url"])
        for i in range(5):
            blob.stage_block(block_name(i), bytes(mib))
        status = http.get(f"/api/uploads/{session['job_id']}")
        assert status.status_code == 200, status.text
        assert status.json()["received"] == {"blocks": 2, "bytes": 2 * mib, "ranges": [[0, 1]]}
        blob.commit_block_list([BlobBlock(block_name(i)) for i in range(5)])
        response = customer.final(http, session["job_id"], timeout_s=30)
    assert (response.status_code, response.json()["job_error_code"]) == (422, "size_mismatch")


def test_a_commit_splicing_two_recordings_is_refused(customer: Customer, stack: LocalStack) -> None:
    """Issue 22: a session opened with a file fingerprint, two blocks of its recording staged, the third from another
    recording of the same length (a resume with the wrong file, block ids tagged from that file's fingerprint). The
    commit is refused with ``file_changed``: final, nothing frozen for a worker, and the answer says why."""
    mib = 1 << 20
    recording = bad_inputs.SPEECH_WAV.read_bytes() * 3
    other = (bad_inputs.DATA / "silence.wav").read_bytes() * 40
    size = len(recording)
    mine, theirs = "v1-" + "1" * 32, "v1-" + "2" * 32
    with customer.http() as http:
        body = {"filename": "speech.wav", "size_bytes": size, "block_size_bytes": mib, "file_fingerprint": mine}
        created = http.post("/api/uploads", json=body)
        assert created.status_code == 201, created.text
        session = created.json()
        assert session["upload"]["block_count"] == 3
        blob = BlobClient.from_blob_url(session["upload"]["url"])
        names = [block_name(0, block_tag(mine)), block_name(1, block_tag(mine)), block_name(2, block_tag(theirs))]
        for i, name in enumerate(names):
            blob.stage_block(name, (recording if i < 2 else other)[i * mib : min((i + 1) * mib, size)])
        blob.commit_block_list([BlobBlock(name) for name in names])
        response = customer.final(http, session["job_id"], timeout_s=30)
    assert (response.status_code, response.json()["job_error_code"]) == (422, "file_changed"), response.text
    assert "not all from the file this upload session was opened for" in response.json()["detail"]
    saved = record(stack, session["job_id"])
    assert (saved.status.value, saved.committed_at, saved.source) == ("failed", None, None)


def test_more_smaller_blocks_with_the_right_total_are_fine(customer: Customer, stack: LocalStack) -> None:
    """Block sizes are the client's business as long as the bytes add up: 7 blocks of ~100 KB where 1 was planned."""
    audio = bad_inputs.SPEECH_WAV.read_bytes()
    with customer.http() as http:
        session = customer.open(http, "speech.wav", len(audio)).json()
        assert session["upload"]["block_count"] == 1
        blob = BlobClient.from_blob_url(session["upload"]["url"])
        step = 100_000
        ids = [block_name(i) for i in range(-(-len(audio) // step))]
        for i, name in enumerate(ids):
            blob.stage_block(name, audio[i * step : (i + 1) * step])
        blob.commit_block_list([BlobBlock(name) for name in ids])
        response = customer.final(http, session["job_id"])
        text = http.get(f"/api/jobs/{session['job_id']}/transcript", params={"format": "txt"}).text
    assert response.status_code == 200, response.text
    assert wer(PASSAGE, text) <= MAX_WER


def test_an_upload_never_committed_expires_cleanly(
    outcomes: dict[str, concurrent.futures.Future[Any]], stack: LocalStack
) -> None:
    """Blocks arrive, the commit never does. Once the session's time is up: the upload says ``expired`` and hands
    out no SAS, the SAS it gave no longer writes, the job is a final ``upload_expired`` failure (not a 202 that a
    poller follows forever), listed as failed, and there is nothing left to cancel."""
    abandoned: Abandoned = outcomes["abandoned"].result(timeout=CASE_TIMEOUT_S)
    assert abandoned.before.status_code == 202
    assert (abandoned.upload["upload_state"], abandoned.upload["upload"]) == ("expired", None)
    assert isinstance(abandoned.late_commit, HttpResponseError) and abandoned.late_commit.status_code == 403
    after = abandoned.after
    assert (after.status_code, after.json().get("job_error_code")) == (422, "upload_expired"), after.text
    assert abandoned.job_id in abandoned.listed
    assert abandoned.cancel.status_code == 409
    saved = record(stack, abandoned.job_id)
    assert (saved.status.value, saved.error and saved.error.code) == ("failed", "upload_expired")
    assert (saved.committed_at, saved.source) == (None, None)


# --- names ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [pytest.param(n, e, id=i) for i, n, e in NAME_CASES])
def test_names(customer: Customer, stack: LocalStack, request: pytest.FixtureRequest, name: str, expected: str) -> None:
    """A refused name gets its stable code and creates no job; an accepted one is shown as sent (NFC) but stored
    under an ASCII slug inside the job's own folder, and its job runs (2 s of silence)."""
    if expected != ACCEPTED:
        with customer.http() as http:
            response = customer.open(http, name, 1000)
        assert response.json().get("code") == expected, response.text
        assert response.status_code in (415, 422)
        return
    outcomes = request.getfixturevalue("outcomes")  # only accepted names wait for the catalogue's jobs
    outcome: Outcome = outcomes[f"name:{request.node.callspec.id}"].result(timeout=CASE_TIMEOUT_S + 60)
    assert outcome.status == 200, outcome.body
    assert outcome.body["filename"] == unicodedata.normalize("NFC", name)
    blob_path = record(stack, outcome.job_id).blob_name
    folder, slug = blob_path.split("/")
    assert folder == outcome.job_id and slug.isascii() and slug.isprintable() and ".." not in slug, blob_path
    assert slug.endswith(".wav") and "%" not in slug


# --- and nothing else is affected -------------------------------------------------------------------------------------


def test_a_normal_job_alongside_is_unaffected_and_nothing_is_left_over(
    outcomes: dict[str, concurrent.futures.Future[Any]], customer: Customer, stack: LocalStack
) -> None:
    """Runs last: the normal job submitted with the catalogue has its transcript; no answer was ever a 5xx; every
    orchestration has ended; every queue (segment jobs, reports, clean-ups, poison queues) is empty."""
    normal = outcomes["normal"].result(timeout=CASE_TIMEOUT_S + 60)
    assert normal.status == 200, normal.body
    assert wer(PASSAGE, normal.text) <= MAX_WER
    for name, future in outcomes.items():
        outcome = future.result(timeout=CASE_TIMEOUT_S + 60)
        if isinstance(outcome, Outcome):  # the table for the record (pytest -s shows it)
            code, end = outcome.body.get("job_error_code", ""), outcome.last_word_end
            print(f"{name:30} {outcome.status} {code:14} {outcome.seconds:6.1f} s, last word ends {end:6.2f} s")
    assert customer.server_errors == []
    assert_orchestrations_end(stack, timeout_s=30)
    assert_queues_drain(stack, timeout_s=30)
