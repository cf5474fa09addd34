import json
from datetime import UTC, datetime, timedelta

from devhost.durable import events as ev
from devhost.durable.replay import ReplayResult, context_json, run_orchestrator
from functions.pipeline.orchestrator import JobFailed, failure_of
from shared.jobs.progress import progress


def test_failure_codes_come_through_the_activity_failure_text() -> None:
    text = (
        "Activity function 'probe_audio' failed:  PermanentError: corrupt_audio: the bytes are not audio \n "
        '{"Message": "..."}'
    )
    assert failure_of(Exception(text)) == ("corrupt_audio", "the bytes are not audio")
    assert failure_of(JobFailed("segment_timeout", "segments [3] made no progress")) == (
        "segment_timeout",
        "segments [3] made no progress",
    )
    assert failure_of(Exception("Activity function 'x' failed:  KeyError: 'y'\n{}"))[0] == "transcription_failed"


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


JOB = {"job_id": "job-1", "committed_at": "2026-01-01T00:00:00+00:00"}


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
    job = {**JOB, "callback": "https://example.test/hook", "webhook_attempts": 3, "webhook_backoff_s": 1}
    result = _replay(history, job)
    assert result.done and result.output == {"stopped": "canceled"}
    assert "deliver_webhook" not in json.dumps(result.actions)
