"""The job's webhook, delivered by its orchestration with exponential backoff on durable timers.

The retry schedule lives in the orchestration (not in the activity, not in a side channel) so that it survives
restarts and shows in the history. A receiver that never answers well is recorded on the job (``deliver_webhook``
writes the delivery state) but never fails it.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any, Literal

import azure.durable_functions as df

from functions.pipeline.activities import deliver_webhook
from functions.pipeline.payloads import JobInput, WebhookRequest


def notify(
    context: df.DurableOrchestrationContext, job: JobInput, kind: Literal["completed", "failed"]
) -> Generator[Any, Any, None]:
    """Up to ``webhook_attempts`` deliveries, ``webhook_backoff_s`` doubling between them; nothing without a
    callback."""
    if not job.callback:
        return
    attempts, delay = job.webhook_attempts, job.webhook_backoff_s
    for attempt in range(1, attempts + 1):
        request = WebhookRequest(
            job_id=job.job_id, kind=kind, final=attempt == attempts, traceparent=job.activity_parent
        )
        try:
            yield context.call_activity(deliver_webhook, request.wire())
            return
        except Exception:
            if attempt == attempts:
                return
            yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay * 2 ** (attempt - 1)))
