"""Queue and blob triggers of the one-machine host: listeners that poll storage and call the app's functions.

``start_trigger_listeners`` builds one listener per queue- or blob-triggered function, checks every one of them
(connection settings, bindings, annotations) before starting any, then starts them; ``stop_all`` stops them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from devhost.app_loader import AppIndex
from devhost.invoker import Invoker
from devhost.triggers.blob_receipts import receipt_name
from devhost.triggers.blob_trigger import POLL_INTERVAL_S, BlobTriggerListener
from devhost.triggers.config import TriggerConfigError, blob_options, host_id, queue_options
from devhost.triggers.queue_trigger import QueueTriggerListener

logger = logging.getLogger(__name__)

__all__ = [
    "BlobTriggerListener",
    "QueueTriggerListener",
    "TriggerConfigError",
    "TriggerListener",
    "build_trigger_listeners",
    "receipt_name",
    "start_trigger_listeners",
    "stop_all",
]


class TriggerListener(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def build_trigger_listeners(
    index: AppIndex, invoker: Invoker, app_dir: Path, *, blob_poll_interval_s: float = POLL_INTERVAL_S
) -> list[TriggerListener]:
    """Every listener, built but not started; raises ``TriggerConfigError`` for a function it cannot serve."""
    queues = queue_options(app_dir)
    listeners: list[TriggerListener] = [
        QueueTriggerListener(f, invoker, queues) for f in index.by_trigger("queueTrigger")
    ]
    blob_functions = index.by_trigger("blobTrigger")
    if blob_functions:
        blobs, hid = blob_options(app_dir), host_id(app_dir)
        listeners += [
            BlobTriggerListener(
                f, invoker, host_id=hid, queue_options=queues, blob_options=blobs, poll_interval_s=blob_poll_interval_s
            )
            for f in blob_functions
        ]
    return listeners


def start_trigger_listeners(
    index: AppIndex, invoker: Invoker, app_dir: Path, *, blob_poll_interval_s: float = POLL_INTERVAL_S
) -> list[TriggerListener]:
    """Build and check all, then start all; if one fails to start, the ones already started are stopped."""
    listeners = build_trigger_listeners(index, invoker, app_dir, blob_poll_interval_s=blob_poll_interval_s)
    started: list[TriggerListener] = []
    try:
        for listener in listeners:
            listener.start()
            started.append(listener)
    except BaseException:
        stop_all(started)
        raise
    return listeners


def stop_all(listeners: list[TriggerListener]) -> None:
    """Stop in reverse order; one listener failing to stop does not keep the others running."""
    for listener in reversed(listeners):
        try:
            listener.stop()
        except Exception:
            logger.exception("stopping %s failed", type(listener).__name__)
