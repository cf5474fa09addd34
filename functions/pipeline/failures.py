"""How a failure travels from an activity to the job's record, as data: no code is read out of a message.

Two kinds of failure, two routes:

- **Transient** (storage or network trouble, ``TransientError``, or anything unexpected): the activity raises, and
  Durable retries it under :data:`RETRY`. If every attempt fails, the orchestration sees only Durable's TaskFailed
  text, and the job fails with ``transcription_failed`` and that text's first line as its message.
- **Permanent** (``PermanentError``: bad audio, a replaced upload; retrying cannot help): an activity wrapped in
  :func:`returns_failures` returns a :class:`~functions.pipeline.payloads.Failed` outcome at once instead of raising,
  and the orchestrator's :func:`checked` turns it into :class:`JobFailed`, whose ``ErrorCode`` reaches the record.

Before, permanent errors raised too, were retried for nothing, and their code was parsed back out of the TaskFailed
text with a regular expression.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import azure.durable_functions as df

from functions.pipeline.payloads import Failed, Failure
from shared.errors import ErrorCode, PermanentError

RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=4)
"""Every activity and batch call that touches storage: 2 s between attempts, four attempts."""

Result = TypeVar("Result")


class JobFailed(Exception):
    """The job fails with this code: raised inside an orchestrator, and as its own failure at the end."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.slug}: {message}")
        self.code, self.message = code, message

    @property
    def failure(self) -> Failure:
        return Failure(code=self.code, message=self.message)


def failure_of(exc: Exception) -> Failure:
    """The failure to record: a :class:`JobFailed`'s own, else (an activity that failed every attempt, a bug)
    ``transcription_failed`` with the first line of the text."""
    if isinstance(exc, JobFailed):
        return exc.failure
    first_line = str(exc).split("\n", 1)[0].strip()
    return Failure(code=ErrorCode.TRANSCRIPTION_FAILED, message=first_line)


def returns_failures(activity: Callable[..., Result]) -> Callable[..., Result | dict[str, Any]]:
    """Wrap an activity so that a ``PermanentError`` is returned as a ``Failed`` outcome (JSON) rather than raised:
    Durable would retry it for nothing, and its code would reach the orchestration only as text."""

    @functools.wraps(activity)
    def wrapper(*args: Any, **kwargs: Any) -> Result | dict[str, Any]:
        try:
            return activity(*args, **kwargs)
        except PermanentError as exc:
            return Failed(failure=Failure(code=exc.code, message=exc.detail)).wire()

    return wrapper


def checked(result: Any) -> Any:
    """An activity's result as it is, or :class:`JobFailed` when it is a ``Failed`` outcome. Results written
    before outcomes existed are never of that shape (no activity returned a lone ``failure`` key)."""
    if isinstance(result, dict) and set(result) == {"failure"}:
        failure = Failed.model_validate(result).failure
        raise JobFailed(failure.code, failure.message)
    return result
