"""``segment-results`` queue trigger: a worker's report becomes the orchestration event ``segment-{i}``.

Completion flows back through a queue rather than through the durable HTTP API so that workers need no function
or system keys; this function holds the durable client.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from shared.contracts import SEGMENT_RESULTS_QUEUE, SegmentDone
from shared.telemetry import tracing
from shared.telemetry.names import Attr, Span

bp = df.Blueprint()
logger = logging.getLogger(__name__)
RUNNING = {df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending}


@bp.queue_trigger(arg_name="msg", queue_name=SEGMENT_RESULTS_QUEUE, connection="Storage")
@bp.durable_client_input(client_name="client")
async def segment_results(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    report = SegmentDone.model_validate_json(msg.get_body())
    attributes = {Attr.JOB_ID: report.job_id, Attr.SEGMENT_INDEX: report.index, Attr.ATTEMPT: report.attempt}
    with tracing.span(Span.SEGMENT_REPORT, report.traceparent, attributes, tracing.CONSUMER):
        waiting = report.reply_to or report.job_id  # the segment's batch (older messages: the job itself)
        status = await client.get_status(waiting)
        if not status or status.runtime_status not in RUNNING:
            logger.info("report for a batch not running job_id=%s index=%d", report.job_id, report.index)
            return
        await client.raise_event(waiting, f"segment-{report.index}", report.model_dump())
