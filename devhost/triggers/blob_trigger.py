"""The blob trigger with the Event Grid source (the only one Flex Consumption supports), emulated by listing.

Event Grid raises ``BlobCreated`` when a blob is committed (Put Blob, Put Block List), never for staged blocks;
a blob that only has uncommitted blocks is also absent from List Blobs, so listing the trigger's container and
prefix sees exactly the blobs Event Grid would announce. The function fires once per blob version (name +
ETag). Receipts (see ``blob_receipts``) make that hold across restarts; versions without one, e.g. committed
while the host was down, fire at start-up, as Event Grid redelivers events to an endpoint that was away. The
listener never reads a blob's content: the function gets a ``BlobClient`` or the event.

Event Grid delivers at least once, so the same event can arrive twice, even at once on two instances.
``DEVHOST_BLOB_EVENT_COPIES=N`` (default 1; fault-injection tests) plays that: every version is delivered N times
concurrently, and it is settled once all of them succeed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobProperties

from devhost.app_loader import FunctionInfo
from devhost.invoker import Invoker
from devhost.triggers.blob_params import trigger_arg_kind, trigger_value
from devhost.triggers.blob_paths import parse_blob_path
from devhost.triggers.blob_receipts import BlobVersion, ReceiptStore, bare_etag
from devhost.triggers.clients import blob_service
from devhost.triggers.config import BlobOptions, QueueOptions, connection, host_storage_connection
from devhost.triggers.shutdown import drain
from devhost.triggers.signature import check_bindings_served, parameter_names, resolve_settings

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5


class BlobTriggerListener:
    def __init__(
        self,
        function: FunctionInfo,
        invoker: Invoker,
        *,
        host_id: str,
        queue_options: QueueOptions | None = None,
        blob_options: BlobOptions | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        grace_s: float = 2.0,
    ) -> None:
        check_bindings_served(function)
        trigger = function.trigger
        self.function = function
        self.path = parse_blob_path(resolve_settings(str(trigger["path"])))
        self._kind = trigger_arg_kind(function)
        self._arg_name = str(trigger["name"])
        self._bound_names = (set(self.path.names) & parameter_names(function.handler)) - {self._arg_name}
        if str(trigger.get("source") or "").lower() != "eventgrid":
            logger.warning("function %s: Flex Consumption serves only source=EventGrid blob triggers", function.name)
        self._options = queue_options or QueueOptions()
        self._conn = connection(trigger.get("connection"))
        self._container = blob_service(self._conn).get_container_client(self.path.container)
        host_conn = host_storage_connection(trigger.get("connection"))
        self._receipts = ReceiptStore(host_conn, host_id, function.name, self._options.message_encoding)
        self._invoker = invoker
        self._poll_interval_s = poll_interval_s
        self._grace_s = grace_s
        workers = (blob_options or BlobOptions()).max_degree_of_parallelism
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"blob-{function.name}")
        self._lock = threading.Lock()
        self._done: set[BlobVersion] = set()
        self._in_flight: set[BlobVersion] = set()
        self._failures: dict[BlobVersion, int] = {}
        self._retry_at: dict[BlobVersion, float] = {}
        self._futures: set[Future[None]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._container_missing_logged = False
        self._copies = max(1, int(os.environ.get("DEVHOST_BLOB_EVENT_COPIES") or 1))

    def start(self) -> None:
        self._done = self._receipts.load()
        self._thread = threading.Thread(target=self._poll_loop, name=f"blob-poll-{self.function.name}", daemon=True)
        self._thread.start()
        logger.info("blob trigger %s watching %s/%s", self.function.name, self.path.container, self.path.prefix)

    def stop(self) -> None:
        """Stop scanning and give running functions ``grace_s``; versions not finished fire after a restart."""
        drain(self._stop, self._thread, self._lock, self._futures, self._pool, self._grace_s)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            for props in self._list():
                self._consider(props)
            self._stop.wait(self._poll_interval_s)

    def _list(self) -> list[BlobProperties]:
        """Committed blobs only: List Blobs leaves out blobs that have nothing but staged blocks."""
        try:
            blobs = list(self._container.list_blobs(name_starts_with=self.path.prefix or None))
        except ResourceNotFoundError:
            if not self._container_missing_logged:
                logger.info("container %s does not exist yet; waiting for it", self.path.container)
                self._container_missing_logged = True
            return []
        except AzureError as exc:
            logger.warning("listing container %s failed: %s", self.path.container, type(exc).__name__)
            return []
        self._container_missing_logged = False
        return blobs

    def _consider(self, props: BlobProperties) -> None:
        values = self.path.match(str(props.name))
        if values is None:
            return
        version: BlobVersion = (self.path.container, str(props.name), bare_etag(str(props.etag)))
        with self._lock:
            if version in self._done or version in self._in_flight or self._stop.is_set():
                return
            if self._retry_at.get(version, 0.0) > time.monotonic():
                return
            try:
                future = self._pool.submit(self._process, props, values, version)
            except RuntimeError:  # stop() shut the pool down meanwhile; a restart picks the version up
                return
            self._in_flight.add(version)
            self._futures.add(future)
        future.add_done_callback(self._forget_future)

    def _forget_future(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _process(self, props: BlobProperties, values: dict[str, str], version: BlobVersion) -> None:
        try:
            if self._invoke(props, values):
                self._settle(version, poisoned=False)
            else:
                self._failed(props, version)
        except AzureError as exc:  # could not write the receipt or poison message: the next scan retries
            logger.warning("could not settle blob %s/%s: %s", version[0], version[1], exc)
        finally:
            with self._lock:
                self._in_flight.discard(version)

    def _invoke(self, props: BlobProperties, values: dict[str, str]) -> bool:
        if self._copies == 1:
            return self._invoke_once(props, values)
        with ThreadPoolExecutor(max_workers=self._copies, thread_name_prefix="blob-copy") as copies:
            delivered = list(copies.map(lambda _: self._invoke_once(props, values), range(self._copies)))
        return all(delivered)

    def _invoke_once(self, props: BlobProperties, values: dict[str, str]) -> bool:
        try:
            value = trigger_value(self._kind, self._conn, self.path.container, props)
            kwargs = {self._arg_name: value, **{name: values[name] for name in self._bound_names}}
            self._invoker.call(self.function, kwargs)
        except Exception:
            logger.warning(
                "function %s failed on blob %s/%s", self.function.name, self.path.container, props.name, exc_info=True
            )
            return False
        return True

    def _failed(self, props: BlobProperties, version: BlobVersion) -> None:
        with self._lock:
            attempts = self._failures.get(version, 0) + 1
            self._failures[version] = attempts
            self._retry_at[version] = time.monotonic() + self._options.visibility_timeout_s
        if attempts < self._options.max_dequeue_count:
            return
        logger.error(
            "function %s failed %s times on blob %s/%s; moving it to queue webjobs-blobtrigger-poison",
            self.function.name,
            attempts,
            version[0],
            version[1],
        )
        blob_type = str(getattr(props.blob_type, "value", props.blob_type) or "BlockBlob")
        self._receipts.poison(version, blob_type)
        self._settle(version, poisoned=True)

    def _settle(self, version: BlobVersion, poisoned: bool) -> None:
        """A receipt ends the version's life here: Event Grid never redelivers an event that was consumed."""
        self._receipts.write(version, poisoned=poisoned)
        with self._lock:
            self._done.add(version)
            self._failures.pop(version, None)
            self._retry_at.pop(version, None)
