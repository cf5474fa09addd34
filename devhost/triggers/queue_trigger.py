"""The queue trigger, as the Storage Queues extension runs it: batches, visibility, dequeue count, poison queue.

One listener per function. A poll thread fetches up to ``batchSize`` messages, hidden for ``fetch_visibility_s``
(the host uses 10 minutes and renews while the function runs), and hands them to a thread pool; it fetches
again once no more than ``newBatchThreshold`` are still running. Success deletes the message; failure makes it
visible again after ``visibilityTimeout``; a failure at ``maxDequeueCount`` attempts (or a message already
dequeued more often, after crashes) moves it to ``<queue>-poison``. An idle queue is polled with exponential
back-off up to ``maxPollingInterval``, reset as soon as a message arrives.

So the messages a crashed host was holding stay hidden for the rest of those 10 minutes, on Azure as here, and are
then handled like any other (Azure/azure-sdk-for-net, Microsoft.Azure.WebJobs.Extensions.Storage.Queues,
QueueListener: ``_visibilityTimeout = TimeSpan.FromMinutes(10)``, renewed by ``UpdateQueueMessageVisibilityAsync``).
``DEVHOST_QUEUE_FETCH_VISIBILITY_S`` shortens that (fault-injection tests: the held messages come back in seconds).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.storage.queue import QueueMessage as StoredMessage

from devhost.app_loader import FunctionInfo
from devhost.invoker import Invoker
from devhost.triggers.clients import queue_client, send_creating_queue
from devhost.triggers.config import QueueOptions, connection
from devhost.triggers.queue_codec import UndecodableMessage, decode_body, trigger_value
from devhost.triggers.shutdown import drain
from devhost.triggers.signature import check_bindings_served, resolve_settings

logger = logging.getLogger(__name__)

MIN_POLLING_INTERVAL_S = 0.05
FETCH_VISIBILITY_S = 600.0


@dataclass
class _Lease:
    """A message this host holds: its pop receipt changes on every renewal, so access goes through ``lock``."""

    message: StoredMessage
    pop_receipt: str
    renew_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: bool = False
    done: bool = False


class QueueTriggerListener:
    def __init__(
        self,
        function: FunctionInfo,
        invoker: Invoker,
        options: QueueOptions | None = None,
        *,
        fetch_visibility_s: float | None = None,
        grace_s: float = 2.0,
    ) -> None:
        check_bindings_served(function)
        trigger = function.trigger
        self.function = function
        self.options = options or QueueOptions()
        self.queue_name = resolve_settings(str(trigger["queueName"])).lower()
        self.poison_name = f"{self.queue_name}-poison"
        self._arg_name = str(trigger["name"])
        conn = connection(trigger.get("connection"))
        self._queue = queue_client(conn, self.queue_name)
        self._poison = queue_client(conn, self.poison_name)
        self._invoker = invoker
        if fetch_visibility_s is None:
            fetch_visibility_s = float(os.environ.get("DEVHOST_QUEUE_FETCH_VISIBILITY_S") or FETCH_VISIBILITY_S)
        self._fetch_visibility_s = max(1, int(fetch_visibility_s))
        self._grace_s = grace_s
        workers = self.options.batch_size + max(0, self.options.new_batch_threshold)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"queue-{function.name}")
        self._leases: dict[str, _Lease] = {}
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue_missing_logged = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll_loop, name=f"queue-poll-{self.function.name}", daemon=True)
        self._thread.start()
        logger.info("queue trigger %s listening on %s", self.function.name, self.queue_name)

    def stop(self) -> None:
        """Stop polling, give running functions ``grace_s`` to finish, release what never started."""
        drain(self._stop, self._thread, self._lock, self._futures, self._pool, self._grace_s)
        with self._lock:
            never_started = [lease for lease in self._leases.values() if not lease.started and not lease.done]
        for lease in never_started:
            self._release_quietly(lease)

    # polling

    def _poll_loop(self) -> None:
        delay = MIN_POLLING_INTERVAL_S
        while not self._stop.is_set():
            self._renew_due()
            if self._running() > self.options.new_batch_threshold:
                self._stop.wait(MIN_POLLING_INTERVAL_S)
                continue
            messages = self._fetch()
            if self._stop.is_set():  # stopping: don't start work the host would abandon, hand it back
                for message in messages:
                    self._release_quietly(_Lease(message, str(message.pop_receipt), 0.0))
                break
            for message in messages:
                try:
                    self._dispatch(message)
                except AzureError as exc:  # poisoning failed: the message reappears and is judged again
                    logger.warning("could not move message %s on %s: %s", message.id, self.queue_name, exc)
                except RuntimeError:  # stop() shut the pool down meanwhile: hand the message back now
                    self._release_quietly(_Lease(message, str(message.pop_receipt), 0.0))
            delay = MIN_POLLING_INTERVAL_S if messages else min(delay * 2, self.options.max_polling_interval_s)
            if not messages:
                self._stop.wait(delay)

    def _fetch(self) -> list[StoredMessage]:
        batch = self.options.batch_size
        try:
            pages = self._queue.receive_messages(
                messages_per_page=batch, max_messages=batch, visibility_timeout=self._fetch_visibility_s
            )
            messages = list(pages)
        except ResourceNotFoundError:
            if not self._queue_missing_logged:
                logger.info("queue %s does not exist yet; waiting for it", self.queue_name)
                self._queue_missing_logged = True
            return []
        except AzureError as exc:
            logger.warning("polling queue %s failed: %s", self.queue_name, type(exc).__name__)
            return []
        self._queue_missing_logged = False
        return messages

    def _running(self) -> int:
        with self._lock:
            return len(self._leases)

    # one message

    def _dispatch(self, message: StoredMessage) -> None:
        if (message.dequeue_count or 0) > self.options.max_dequeue_count:
            self._move_to_poison(message, str(message.pop_receipt), "it was dequeued more than MaxDequeueCount times")
            return
        try:
            body = decode_body(str(message.content or ""), self.options.message_encoding)
        except UndecodableMessage:
            reason = f"it does not decode as {self.options.message_encoding} (check host.json messageEncoding)"
            self._move_to_poison(message, str(message.pop_receipt), reason)
            return
        lease = _Lease(message, str(message.pop_receipt), time.monotonic() + self._fetch_visibility_s / 2)
        with self._lock:  # _process cannot forget the lease before it is recorded: it needs this lock
            future = self._pool.submit(self._process, lease, body)
            self._leases[message.id] = lease
            self._futures.add(future)
        future.add_done_callback(self._forget_future)

    def _forget_future(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _process(self, lease: _Lease, body: bytes) -> None:
        lease.started = True
        try:
            succeeded = self._invoke(lease.message, body)
            if succeeded:
                self._complete_succeeded(lease)
            else:
                self._complete_failed(lease)
        except AzureError as exc:  # storage trouble while settling: the message simply reappears later
            logger.warning("could not settle message %s on %s: %s", lease.message.id, self.queue_name, exc)
        finally:
            with self._lock:
                self._leases.pop(lease.message.id, None)

    def _invoke(self, message: StoredMessage, body: bytes) -> bool:
        try:
            value = trigger_value(self.function.handler, self._arg_name, message, body)
            self._invoker.call(self.function, {self._arg_name: value})
        except Exception:
            logger.warning(
                "function %s failed on message %s (dequeue count %s)",
                self.function.name,
                message.id,
                message.dequeue_count,
                exc_info=True,
            )
            return False
        return True

    def _complete_succeeded(self, lease: _Lease) -> None:
        with lease.lock:
            lease.done = True
            try:
                self._queue.delete_message(lease.message.id, lease.pop_receipt)
            except HttpResponseError as exc:  # the host ignores a lost pop receipt or a vanished message
                logger.warning("could not delete message %s from %s: %s", lease.message.id, self.queue_name, exc.reason)

    def _complete_failed(self, lease: _Lease) -> None:
        if (lease.message.dequeue_count or 0) >= self.options.max_dequeue_count:
            with lease.lock:
                lease.done = True
                reason = f"it has reached MaxDequeueCount of {self.options.max_dequeue_count}"
                self._move_to_poison(lease.message, lease.pop_receipt, reason)
        else:
            self._release(lease, self.options.visibility_timeout_s)

    def _release(self, lease: _Lease, visibility_s: float) -> None:
        """Make the message visible again after ``visibility_s`` so the next fetch retries it."""
        with lease.lock:
            lease.done = True
            try:
                self._queue.update_message(lease.message.id, lease.pop_receipt, visibility_timeout=int(visibility_s))
            except HttpResponseError as exc:
                logger.warning("could not release message %s on %s: %s", lease.message.id, self.queue_name, exc.reason)

    def _release_quietly(self, lease: _Lease) -> None:
        try:
            self._release(lease, 0)
        except AzureError as exc:
            logger.warning("could not release message %s on %s: %s", lease.message.id, self.queue_name, exc)

    def _move_to_poison(self, message: StoredMessage, pop_receipt: str, reason: str) -> None:
        """Copy the stored text unchanged (still encoded), then delete the original, as the host does."""
        logger.warning("moving message %s to queue %s: %s", message.id, self.poison_name, reason)
        send_creating_queue(self._poison, str(message.content))
        try:
            self._queue.delete_message(message.id, pop_receipt)
        except HttpResponseError as exc:
            logger.warning("could not delete poison message %s from %s: %s", message.id, self.queue_name, exc.reason)

    def _renew_due(self) -> None:
        """Keep long-running messages hidden: renew at half the fetch visibility, like the host's renewal timer."""
        now = time.monotonic()
        with self._lock:
            due = [lease for lease in self._leases.values() if lease.renew_at <= now and not lease.done]
        for lease in due:
            with lease.lock:
                if lease.done:
                    continue
                try:
                    updated = self._queue.update_message(
                        lease.message.id, lease.pop_receipt, visibility_timeout=self._fetch_visibility_s
                    )
                except AzureError as exc:
                    logger.warning("could not renew message %s on %s: %s", lease.message.id, self.queue_name, exc)
                    continue
                lease.pop_receipt = str(updated.pop_receipt)
                lease.renew_at = now + self._fetch_visibility_s / 2
