"""Language options (issue 24) from the request to the worker's message, and the languages heard back to the job's
status: the pure parts, and the orchestrations replayed through the Durable SDK's real entry point."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from devhost.durable import events as ev
from devhost.durable.replay import ReplayResult, context_json, run_orchestrator
from functions.pipeline.batches import _Done, _status, transcribe_batch
from functions.pipeline.ingest import orchestration_input
from functions.pipeline.payloads import BatchOutcome, BatchRequest, JobInput, MergeRequest
from functions.pipeline.schedule import _Tally
from shared.config import Settings
from shared.contracts import AudioInfo, SegmentDone, Window
from shared.jobs.progress import add_heard, languages_field, seconds_of
from shared.jobs.records import JobRecord, JobStatus, UploadRequest
from shared.jobs.views import job_view
from shared.languages import WHISPER_LANGUAGES
from shared.uploads.sessions import request_fingerprint
from tests.support.records import ORCHESTRATION_INPUT, job_record

AT = datetime(2026, 1, 1, tzinfo=UTC)
AUDIO = AudioInfo(format="wav", codec="pcm_s16le", duration_s=4.0, sample_rate=16000, channels=1, decoder="soundfile")
JOB = ORCHESTRATION_INPUT


# --- the request ------------------------------------------------------------------------------------------------------


def test_candidates_keep_their_order_and_count_each_language_once() -> None:
    request = UploadRequest(filename="a.wav", size_bytes=1, language_candidates=["fr", "de", "fr", "en"])
    assert request.language_candidates == ["fr", "de", "en"] and request.task == "transcribe"


@pytest.mark.parametrize(
    "fields",
    [{"language_candidates": "de,fr"}, {"language_candidates": ["DE", "fr"]}, {"task": "summarise"}],
)
def test_a_bad_shape_is_a_schema_error(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        UploadRequest.model_validate({"filename": "a.wav", "size_bytes": 1, **fields})


def test_a_body_without_the_new_fields_hashes_as_before_so_earlier_idempotency_keys_replay() -> None:
    body = {"filename": "a.wav", "size_bytes": 1, "content_type": None, "language": "en", "block_size_bytes": None}
    body |= {"metadata": None, "callback_url": None}
    before = hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()
    request = UploadRequest(filename="a.wav", size_bytes=1, language="en")
    assert request_fingerprint(request) == before
    asked = [request_fingerprint(UploadRequest(filename="a.wav", size_bytes=1, language="en", **f)) for f in (
        {"task": "translate"},
        {"language_candidates": ["de", "fr"]},
    )]  # fmt: skip
    assert len({before, *asked}) == 3


def _settings(**fields: Any) -> Settings:
    return Settings.model_validate({"Storage": "UseDevelopmentStorage=true", **fields})


# --- the record and the orchestration's input -------------------------------------------------------------------------


def test_a_record_written_before_languages_still_loads() -> None:
    old = job_record("job-1").model_dump(mode="json")
    del old["language_candidates"], old["task"]
    record = JobRecord.model_validate_json(json.dumps(old))
    assert (record.language_candidates, record.task) == (None, "transcribe")


def test_the_orchestration_input_carries_what_the_job_asked_for() -> None:
    record = job_record(
        "job-1", JobStatus.QUEUED, language="auto", language_candidates=["de", "fr"], task="translate", source={}
    )
    job = JobInput.model_validate(orchestration_input(record, AT.isoformat(), _settings()))
    assert (job.language, job.language_candidates, job.task) == (None, ["de", "fr"], "translate")
    merge = MergeRequest.model_validate(MergeRequest(job=job, audio=AUDIO, segments=1).wire())
    assert merge.job.task == "translate"  # the merge records it on the transcript


def test_an_orchestration_input_written_before_languages_still_replays() -> None:
    job = JobInput.model_validate({**JOB, "language": "en"})
    assert (job.language, job.language_candidates, job.task) == ("en", None, "transcribe")
    handler = _handler("transcription")
    text = json.dumps(JOB)
    history = [ev.orchestrator_started(AT), ev.execution_started(AT, "job-1", "e1", "transcription", text)]
    result = run_orchestrator(handler, context_json(history, "job-1", text, None))
    assert [a.get("functionName") for a in result.actions] == ["set_job_status", "probe_audio"]
    assert BatchOutcome.model_validate({"segments": 2, "audio_s": 4.0}).languages == {}  # an older batch's result


# --- the segment message: the dispatcher writes it, the worker reads it -----------------------------------------------


class _Queue:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send_message(self, content: bytes) -> None:
        self.sent.append(content)

    def get_queue_properties(self) -> Any:
        return type("Properties", (), {"approximate_message_count": len(self.sent)})()


def test_the_segment_message_carries_the_languages_and_the_task_to_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.pipeline.activities as activities
    from functions.pipeline.payloads import DispatchRequest
    from worker.engines.base import Languages
    from worker.segment_worker import _languages, _segment_job

    jobs_queue = _Queue()
    monkeypatch.setattr(activities, "queue", lambda name: jobs_queue)
    monkeypatch.setattr(activities, "get_settings", _settings)
    record = job_record("job-1", JobStatus.QUEUED, language_candidates=["de", "fr"], task="translate", source={})
    job = JobInput.model_validate(orchestration_input(record, AT.isoformat(), _settings(model="base")))
    window = Window(index=0, start_s=0.0, end_s=4.0, keep_start_s=0.0, keep_end_s=4.0)
    request = DispatchRequest(job=job, audio=AUDIO, windows=[window], attempts={"0": 1}, reply_to="job-1:batch-0")
    assert activities.dispatch_segments._function.get_user_function()(payload=request.wire()) == 1
    (content,) = jobs_queue.sent
    message = type("QueueMessage", (), {"content": content})()
    taken = _segment_job(message)  # type: ignore[arg-type]
    assert taken is not None and taken.model == "base"
    assert (taken.language, taken.language_candidates, taken.task) == (None, ["de", "fr"], "translate")
    assert _languages(taken) == Languages(forced=None, candidates=("de", "fr"), task="translate")
    forced = JobInput.model_validate(
        {**job.wire(), "language": "de", "language_candidates": None, "task": "transcribe"}
    )
    jobs_queue.sent.clear()
    activities.dispatch_segments._function.get_user_function()(
        payload=request.model_copy(update={"job": forced}).wire()
    )
    taken = _segment_job(type("QueueMessage", (), {"content": jobs_queue.sent[0]})())  # type: ignore[arg-type]
    assert taken is not None and _languages(taken) == Languages(forced="de", candidates=None, task="transcribe")


# --- seconds per language: the batch's sum, the job's sum, the status API's -----------------------------------------


def _report(index: int, languages: dict[str, Any]) -> SegmentDone:
    return SegmentDone.model_validate(
        {"job_id": "job-1", "index": index, "attempt": 1, "ok": True, "languages": languages}
    )


def _window(index: int) -> Window:
    return Window(index=index, start_s=index, end_s=index + 1.0, keep_start_s=index, keep_end_s=index + 1.0)


def test_a_batch_sums_its_reports_and_counts_only_whisper_codes() -> None:
    done = _Done(segments=3)
    done.add(_window(0), _report(0, {"de": 0.5, "en": 0.25}))
    done.add(_window(1), _report(1, {"de": 1.25, "xx-junk": 9.0, "fr": float("nan")}))
    assert done.outcome().languages == {"de": 1.75, "en": 0.25}
    status = _status(done, [_window(0), _window(1), _window(2)], {2})
    assert status["languages"] == [{"language": "de", "seconds": 1.75}, {"language": "en", "seconds": 0.25}]


def test_the_job_sums_its_finished_batches_with_at_most_one_entry_per_language() -> None:
    tally = _Tally()
    every = dict.fromkeys(WHISPER_LANGUAGES, 1.0) | {f"z{i}": 1.0 for i in range(500)}
    for _ in range(3):
        tally.add(BatchOutcome(segments=1, languages=every))
    tally.add(BatchOutcome(segments=1, languages={"de": 2.0}))
    assert len(tally.languages) == len(WHISPER_LANGUAGES) == 100
    assert tally.languages["de"] == 5.0 and tally.languages["en"] == 3.0
    field = languages_field(tally.languages)
    assert field[0] == {"language": "de", "seconds": 5.0} and [e["language"] for e in field[1:3]] == ["af", "am"]


def test_a_languages_field_reads_back_as_it_was_written_and_junk_counts_as_nothing() -> None:
    seconds = {"fr": 2.5, "de": 7.0}
    assert seconds_of(languages_field(seconds)) == seconds
    assert (
        seconds_of(None)
        == seconds_of("de")
        == seconds_of([{"language": "de"}, 3, {"language": "xx", "seconds": 1}])
        == {}
    )
    total: dict[str, float] = {}
    add_heard(total, {"de": True, "en": -1.0, "fr": "2"})
    assert total == {}


def _handler(name: str) -> Any:
    from functions.pipeline.orchestrator import transcription

    return {"transcription": transcription, "transcribe_batch": transcribe_batch}[name]._function.get_user_function()


def _batch(history: list[dict[str, Any]]) -> ReplayResult:
    job = JobInput.model_validate({**JOB, "language_candidates": ["de", "fr"]})
    request = BatchRequest(job=job, audio=AUDIO, count=2, first=0, stop=2)
    text = json.dumps(request.wire())
    start = [ev.orchestrator_started(AT), ev.execution_started(AT, "job-1:batch-0", "e1", "transcribe_batch", text)]
    return run_orchestrator(
        _handler("transcribe_batch"), context_json([*start, *history], "job-1:batch-0", text, "job-1")
    )


def test_a_batch_replayed_from_its_history_counts_the_same_languages() -> None:
    """The batch's custom status and outcome come from the reports in its history: every replay, the same."""
    first = _batch([])
    assert [a.get("functionName") for a in first.actions] == ["dispatch_segments"]
    sent = (
        json.loads(first.actions[0]["input"])
        if isinstance(first.actions[0]["input"], str)
        else first.actions[0]["input"]
    )
    assert sent["job"]["language_candidates"] == ["de", "fr"]
    later = AT + timedelta(seconds=5)
    history = [
        ev.task_scheduled(AT, 0, "dispatch_segments", None),
        ev.orchestrator_completed(AT),
        ev.orchestrator_started(later),
        ev.task_completed(later, 0, "2"),
        ev.timer_created(later, 1, later + timedelta(seconds=1800)),
        ev.orchestrator_completed(later),
        ev.orchestrator_started(later),
        ev.event_raised(later, "segment-1", _report(1, {"fr": 0.75, "de": 0.5}).model_dump_json()),
    ]
    running = _batch(history)
    assert not running.done
    assert running.custom_status["languages"] == [
        {"language": "fr", "seconds": 0.75},
        {"language": "de", "seconds": 0.5},
    ]
    assert running.custom_status["pending"] == [0]
    history += [
        ev.timer_created(later, 2, later + timedelta(seconds=1800)),
        ev.orchestrator_completed(later),
        ev.orchestrator_started(later),
        ev.event_raised(later, "segment-0", _report(0, {"de": 1.0}).model_dump_json()),
    ]
    finished = _batch(history)
    assert finished.done, finished.error
    assert BatchOutcome.model_validate(finished.output).languages == {"de": 1.5, "fr": 0.75}
    assert _batch(history).output == finished.output


# --- what the caller sees ---------------------------------------------------------------------------------------------


class _Signer:
    def blob_url(self, *args: Any) -> str:
        return "https://example/blob"


def test_the_job_view_shows_the_request_the_progress_and_the_result_languages() -> None:
    running = job_record("job-1", JobStatus.TRANSCRIBING, language_candidates=["de", "fr"], task="translate")
    heard = [{"language": "de", "seconds": 3.0}, {"language": "fr", "seconds": 1.0}]
    custom = {"stage": "transcribing", "segments_done": 1, "segments_total": 2, "languages": heard}
    view = job_view(running, custom, "https://x", _Signer(), "results")  # type: ignore[arg-type]
    assert (view.language_candidates, view.task) == (["de", "fr"], "translate")
    assert view.progress is not None and [e.model_dump() for e in view.progress.languages] == heard
    older = job_view(running, {"stage": "transcribing"}, "https://x", _Signer(), "results")  # type: ignore[arg-type]
    assert older.progress is not None and older.progress.languages == []
    summary = {"duration_s": 4.0, "language": "de", "languages": heard, "task": "translate", "model": "base"}
    done = running.model_copy(update={"status": JobStatus.COMPLETED, "result": summary, "committed_at": AT})
    result = job_view(done, None, "https://x", _Signer(), "results").result  # type: ignore[arg-type]
    assert result is not None and [e.model_dump() for e in result.languages] == heard and result.task == "translate"
    old_summary = {"duration_s": 4.0, "language": "en", "model": "tiny.en"}
    old = job_record("job-2", JobStatus.COMPLETED, result=old_summary, committed_at=AT)
    result = job_view(old, None, "https://x", _Signer(), "results").result  # type: ignore[arg-type]
    assert result is not None and (result.languages, result.task) == ([], "transcribe")


# --- the client and scripts/transcribe --------------------------------------------------------------------------------


def test_the_client_sends_the_language_options_and_prints_the_languages_found(tmp_path: Any) -> None:
    from client.cli import build_parser, summary
    from client.follow import progress_line
    from client.uploads import open_session
    from devhost.transcribe_local import parse_args

    args = build_parser().parse_args(["upload", "a.wav", "--language-candidates", "de, en,fr", "--translate"])
    assert (args.language, args.language_candidates, args.translate) == (None, ["de", "en", "fr"], True)
    local = parse_args(["a.wav", "--language-candidates", "de,en", "--translate", "--language", "auto"])
    assert (local.language, local.language_candidates, local.translate) == ("auto", ["de", "en"], True)
    sent: list[dict[str, Any]] = []

    class Api:
        def create_upload(self, body: dict[str, Any]) -> dict[str, Any]:
            sent.append(body)
            return {}

    path = tmp_path / "a.wav"
    path.write_bytes(b"x")
    open_session(Api(), path, None, None, None, language_candidates=["de", "fr"], task="translate")  # type: ignore[arg-type]
    open_session(Api(), path, None, "en", None)  # type: ignore[arg-type]
    assert (sent[0]["language_candidates"], sent[0]["task"]) == (["de", "fr"], "translate")
    assert "task" not in sent[1] and "language_candidates" not in sent[1] and sent[1]["language"] == "en"
    heard = [{"language": "de", "seconds": 41.25}, {"language": "fr", "seconds": 3.0}]
    job = {"job_id": "j", "status": "completed", "result": {"language": "de", "languages": heard, "task": "translate"}}
    assert "language de (de 41.2 s, fr 3.0 s) (translated to English)" in summary(job, [])
    running = {"status": "transcribing", "progress": {"segments_done": 1, "segments_total": 4, "languages": heard}}
    assert "heard de 41.2 s, fr 3.0 s" in progress_line(running)
