"""``scripts/transcribe --cancel DIR``: drop an interrupted run, and cancel its job where the job still runs.

Deleting a run's folder only forgets the job. On the run's own stack that is enough (the stack stopped with the
run, and its storage is in the folder); on the stack ``scripts/up`` keeps, the job went on and held the workers
for minutes. So the hint names this command, which asks that stack to cancel it (``DELETE /api/jobs/{id}``, the
API's cancel), after checking the stack is still the one the job went to and its port still its own devhost's.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from devhost.stack import StackState


class CancelError(Exception):
    """The job may still run and could not be canceled; the message says why, for the user."""


def cancel_job(job_id: str | None, stack_id: str | None, state_path: Path) -> str:
    """Cancel the run's job where it may still run; one line saying what became of it."""
    if job_id is None:
        return "No job had been created."
    if stack_id is None:
        return f"Job {job_id} was on this run's own stack, which stopped with it: nothing of it runs."
    state = StackState.read(state_path)
    if state is None or state.id != stack_id or state.gone() is not None:
        return f"The stack from scripts/up that held job {job_id} is gone, and the job with it."
    problem = state.problem()
    if problem is not None:  # running, but not provably ours: it is not sent the key
        raise CancelError(f"job {job_id} may still run on the stack from scripts/up, which cannot be used: {problem}")
    response = httpx.delete(
        f"{state.base_url}/api/jobs/{job_id}", headers={"x-functions-key": state.function_key}, timeout=30
    )
    if response.status_code == 202:
        return f"Canceled job {job_id} on the stack from scripts/up."
    if response.status_code in (404, 409):
        return f"Job {job_id} had already ended ({_code(response)})."
    raise CancelError(f"the stack from scripts/up did not cancel job {job_id}: HTTP {response.status_code}")


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", response.status_code))
    except (ValueError, AttributeError):
        return str(response.status_code)
