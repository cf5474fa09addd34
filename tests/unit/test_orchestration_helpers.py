import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost.durable import events as ev
from devhost.durable.replay import ReplayResult, context_json, run_orchestrator
from functions.pipeline.failures import JobFailed, checked, failure_of, returns_failures
from functions.pipeline.payloads import Failure, JobInput, StatusUpdate
from shared.errors import ErrorCode, PermanentError
from shared.jobs.progress import progress
from shared.jobs.records import JobError, JobRecord, JobStatus
from tests.support.records import ORCHESTRATION_INPUT, job_record


def test_failures_are_read_from_data_not_from_the_failure_text() -> None:
    """A ``JobFailed`` keeps its code; anything else (an activity that failed every attempt, a bug) is
    ``transcription_failed`` with its first line, even when the text names a code: codes travel as data."""
    text = (
        "Activity function 'probe_audio' failed:  PermanentError: corrupt_audio: the bytes are not audio \n "
        '{"Message": "..."}'
    )
    assert failure_of(Exception(text)) == Failure(
        code=ErrorCode.TRANSCRIPTION_FAILED, message=text.split("\n")[0].strip()
    )
    assert failure_of(JobFailed(ErrorCode.SEGMENT_TIMEOUT, "segments [3] made no progress")) == Failure(
        code=ErrorCode.SEGMENT_TIMEOUT, message="segments [3] made no progress"
    )
    assert (
        failure_of(Exception("Activity function 'x' failed:  KeyError: 'y'\n{}")).code is ErrorCode.TRANSCRIPTION_FAILED
    )


def test_an_activity_returns_a_permanent_failure_as_an_outcome_and_the_orchestrator_raises_its_code() -> None:
    @returns_failures
    def probe(job: dict[str, Any]) -> dict[str, Any]:
        raise PermanentError(ErrorCode.CORRUPT_AUDIO, "the bytes are not audio")

    outcome = probe(job={})
    assert outcome == {"failure": {"code": "corrupt_audio", "message": "the bytes are not audio"}}
    with pytest.raises(JobFailed) as caught:
        checked(json.loads(json.dumps(outcome)))  # as Durable stores it
    assert (caught.value.code, caught.value.message) == (ErrorCode.CORRUPT_AUDIO, "the bytes are not audio")
    assert checked({"duration_s": 1.0}) == {"duration_s": 1.0} and checked("transcribing") == "transcribing"


def test_progress_counts_done_audio_and_estimates_time_left() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    status = progress("transcribing", 2, 4, 20.0, 40.0, start, start + timedelta(seconds=20), batches=1)
    assert status == {
        "stage": "transcribing",
        "segments_done": 2,
        "segments_total": 4,
        "audio_seconds_done": 20.0,
        "audio_seconds_total": 40.0,
        "percent": 50.0,
        "eta_s": 20.0,
        "batches": 1,
    }
    assert progress("transcribing", 0, 4, 0.0, 40.0, start, start)["eta_s"] is None


def _replay(history_after_start: list[dict], job: dict) -> ReplayResult:
    """The transcription orchestrator through the SDK's real entry point, as the host calls it."""
    from functions.pipeline.orchestrator import transcription

    at = datetime(2026, 1, 1, tzinfo=UTC)
    text = json.dumps(job)
    history = [ev.orchestrator_started(at), ev.execution_started(at, "job-1", "e1", "transcription", text)]
    handler = transcription._function.get_user_function()
    return run_orchestrator(handler, context_json([*history, *history_after_start], "job-1", text, None))


JOB = ORCHESTRATION_INPUT


def test_the_job_record_is_updated_with_retries() -> None:
    """A transient storage error in set_job_status must not fail the job or strand its record."""
    first = _replay([], JOB).actions[0]
    assert first["functionName"] == "set_job_status" and first["input"]
    assert first["retryOptions"]["maxNumberOfAttempts"] >= 3


def test_a_cancel_that_came_first_stops_the_orchestration_before_any_work() -> None:
    """The start marks the job and probes it at once (one queue wait, not two); a canceled record stops the job
    there, the probe's answer dropped, nothing dispatched."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    scheduled = [ev.task_scheduled(at, 0, "set_job_status", None), ev.task_scheduled(at, 1, "probe_audio", None)]
    assert [a.get("functionName") for a in _replay([], JOB).actions] == ["set_job_status", "probe_audio"]
    answered = [*scheduled, ev.task_completed(at, 0, json.dumps("canceled")), ev.task_completed(at, 1, "{}")]
    result = _replay(answered, JOB)
    assert result.done and result.output == {"stopped": "canceled"}
    assert [a.get("functionName") for a in result.actions] == ["set_job_status", "probe_audio"]


def test_a_probe_failure_of_a_job_canceled_before_its_start_is_not_reported_as_a_failure() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    corrupt = "PermanentError: corrupt_audio: the bytes are not audio"
    history = [
        ev.task_scheduled(at, 0, "set_job_status", None),
        ev.task_scheduled(at, 1, "probe_audio", None),
        ev.task_completed(at, 0, json.dumps("canceled")),
    ]
    for attempt in range(4):  # the host's retries (devhost/durable/episode.py): a timer after each failed attempt
        probe = 1 + 2 * attempt
        history += [ev.task_failed(at, probe, corrupt, None), ev.timer_created(at, probe + 1, at)]
        history += [ev.timer_fired(at, probe + 1, ev.fmt_time(at))]
        history += [ev.task_scheduled(at, probe + 2, "probe_audio", None)] if attempt < 3 else []
    # the failure is recorded ("failed"), but a canceled record does not move: it answers "canceled"
    history += [ev.task_scheduled(at, 9, "set_job_status", None), ev.task_completed(at, 9, json.dumps("canceled"))]
    job = {**JOB, "callback": True, "webhook_attempts": 3, "webhook_backoff_s": 1}
    result = _replay(history, job)
    assert result.done and result.output == {"stopped": "canceled"}
    assert "deliver_webhook" not in json.dumps(result.actions)


def test_a_permanent_failure_of_the_probe_reaches_the_job_record_as_data() -> None:
    """The probe's ``Failed`` outcome (not a TaskFailed text) is what the orchestration records: the update it
    schedules carries the code, and so does its custom status (which the status API settles a lost job from)."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    failed = {"failure": {"code": "audio_stream_not_found", "message": "no stream 5"}}
    history = [
        ev.task_scheduled(at, 0, "set_job_status", None),
        ev.task_scheduled(at, 1, "probe_audio", None),
        ev.task_completed(at, 0, json.dumps("transcribing")),
        ev.task_completed(at, 1, json.dumps(failed)),
    ]
    result = _replay(history, JOB)
    update = result.actions[-1]
    assert update["functionName"] == "set_job_status"
    sent = json.loads(update["input"]) if isinstance(update["input"], str) else update["input"]
    assert (sent["status"], sent["error"]) == ("failed", failed["failure"])
    assert result.custom_status == {"stage": "failed", "error": failed["failure"]}


def test_an_older_input_without_the_later_keys_still_runs() -> None:
    """In-flight orchestrations replay with the input their version wrote: unknown keys are ignored, keys added
    since take the app's defaults."""
    older = {**JOB, "plan": "v1", "trace": None}
    assert [a.get("functionName") for a in _replay([], older).actions] == ["set_job_status", "probe_audio"]
    job = JobInput.model_validate(older)
    assert (job.segment_queue_timeout_s, job.batch_size, job.callback) == (14400.0, 50, False)


def test_set_job_status_writes_the_failures_code_to_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last hop: the update the orchestration schedules lands on the record with its code."""
    import functions.pipeline.activities as activities

    stored = {"job": job_record("job-1", JobStatus.TRANSCRIBING)}

    class Store:
        def update(self, job_id: str, change: Callable[[JobRecord], JobRecord]) -> JobRecord:
            stored["job"] = change(stored["job"])
            return stored["job"]

    monkeypatch.setattr(activities, "jobs", lambda: Store())
    monkeypatch.setattr(activities.job_metrics, "job_finished", lambda *args, **kwargs: None)
    failure = Failure(code=ErrorCode.AUDIO_STREAM_NOT_FOUND, message="no stream 5")
    update = StatusUpdate(job_id="job-1", status=JobStatus.FAILED, error=failure)
    assert activities.set_job_status._function.get_user_function()(update=update.wire()) == "failed"
    assert stored["job"].error == JobError(code="audio_stream_not_found", message="no stream 5")
