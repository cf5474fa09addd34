"""``batch-cleanup`` queue trigger: end a finished job's batch sub-orchestrations and purge their histories.

An orchestrator cannot terminate or purge other instances, and terminating a job's orchestration does not reach
its sub-orchestrations (learn:/azure/azure-functions/durable/durable-functions-instance-management: termination
is not propagated). So when a job ends, or is canceled, a message here names it and how many batches it had
(their ids are deterministic: ``functions/pipeline/batches.py``). Batches still waiting (a failure elsewhere, a
cancel) are terminated, then every batch's history is purged, keeping the task hub's size proportional to the
jobs in flight rather than to every segment ever transcribed. Repeating it is harmless.
"""

from __future__ import annotations

import asyncio
import json
import logging

import azure.durable_functions as df
import azure.functions as func

from functions.pipeline.batches import batch_instance_id
from shared.contracts import BATCH_CLEANUP_QUEUE

bp = df.Blueprint()
logger = logging.getLogger(__name__)
LIVE = {df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending}
SETTLE_S = 30.0  # how long a terminated batch may take to stop before the message is retried


@bp.queue_trigger(arg_name="msg", queue_name=BATCH_CLEANUP_QUEUE, connection="Storage")
@bp.durable_client_input(client_name="client")
async def batch_cleanup(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    body = json.loads(msg.get_body())
    job_id, batches = str(body["job_id"]), int(body["batches"])
    ids = [batch_instance_id(job_id, k) for k in range(batches)]
    live = [i for i in ids if await _is_live(client, i)]
    for instance_id in live:
        await client.terminate(instance_id, "the job has ended")
    await _wait_until_stopped(client, live)
    purged = 0
    for instance_id in ids:
        result = await client.purge_instance_history(instance_id)
        purged += result.instances_deleted
    logger.info("batches cleaned up job_id=%s terminated=%d purged=%d", job_id, len(live), purged)


async def _is_live(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    return bool(status and status.runtime_status in LIVE)


async def _wait_until_stopped(client: df.DurableOrchestrationClient, instance_ids: list[str]) -> None:
    """Termination is asynchronous; a running instance cannot be purged. Raising lets the queue retry us."""
    deadline = asyncio.get_running_loop().time() + SETTLE_S
    for instance_id in instance_ids:
        while await _is_live(client, instance_id):
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"batch {instance_id} did not stop within {SETTLE_S:.0f} s; retrying later")
            await asyncio.sleep(0.5)
