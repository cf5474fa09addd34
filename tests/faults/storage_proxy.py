"""A fault-injecting TCP proxy between the stack and Azurite: pass, answer 503, hang, or refuse, for a while.

One listener per Azurite service (blob, queue, table), each forwarding to Azurite's port. The stack's processes
get :attr:`StorageProxy.connection_string` (``LocalStack.storage_connection_string``), so every storage call of the
devhost, the app, the workers and the upload client (whose SAS URLs the app builds from that endpoint) goes
through it; a test that wants to look behind the fault talks to Azurite directly.

Faults, each switched on with :meth:`StorageProxy.fault` for a number of seconds:

- ``busy``: every request is read and answered ``503 ServerBusy`` with the XML error body Azure Storage sends
  ("The server is currently unable to receive requests. Please retry your request.";
  https://learn.microsoft.com/rest/api/storageservices/common-rest-api-error-codes);
- ``hang``: connections are accepted and requests read, and nothing is ever answered (a stalled front end);
- ``refuse``: the listening sockets are closed, so connecting fails at once (storage down, as during a restart).

On every switch the proxy drops the connections it holds, as a failing front end would: pooled keep-alive
connections then meet the fault too instead of slipping past it on an old socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email.utils import formatdate

from devhost.azurite import Azurite
from shared.azure.storage import azurite_connection_string

MODES = ("pass", "busy", "hang", "refuse")
_BUSY_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is currently unable '
    "to receive requests. Please retry your request.\nRequestId:{rid}\nTime:{time}</Message></Error>"
)


class _Listener:
    """One service's port: accepts, then serves each connection as the proxy's mode says at that moment."""

    def __init__(self, proxy: StorageProxy, upstream_port: int) -> None:
        self.proxy = proxy
        self.upstream_port = upstream_port
        self.port = 0
        self.sock: socket.socket | None = None
        self.thread: threading.Thread | None = None

    def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        sock.settimeout(0.2)
        self.port = sock.getsockname()[1]
        self.sock = sock
        self.thread = threading.Thread(target=self._accept_loop, args=(sock,), daemon=True, name="proxy-accept")
        self.thread.start()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()
        if self.thread is not None:
            self.thread.join(timeout=2)

    def _accept_loop(self, sock: socket.socket) -> None:
        while self.sock is sock:
            try:
                client, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            threading.Thread(target=self._serve, args=(client,), daemon=True, name="proxy-conn").start()

    def _serve(self, client: socket.socket) -> None:
        mode = self.proxy.mode
        self.proxy.track(client)
        try:
            if mode == "busy":
                _answer_busy(client, self.proxy.answered_busy)
            elif mode == "hang":
                _swallow(client)
            else:
                self._forward(client)
        except OSError:
            pass
        finally:
            self.proxy.untrack(client)
            client.close()

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            return  # Azurite down (restarting): the client sees its connection closed
        upstream.settimeout(None)
        self.proxy.track(upstream)
        try:
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True, name="proxy-back")
            back.start()
            _pump(client, upstream)
            back.join()
        finally:
            self.proxy.untrack(upstream)
            upstream.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until ``source`` ends, then end ``sink``'s sending side (half-close, as a TCP proxy must)."""
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _read_request(client: socket.socket) -> tuple[str, str]:
    """Read one request's head and its Content-Length body (so closing after the answer sends no RST); its method
    and target."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(65536)
        if not chunk:
            return "", ""
        head += chunk
    header, _, body = head.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
    left = length - len(body)
    while left > 0:
        chunk = client.recv(min(left, 65536))
        if not chunk:
            break
        left -= len(chunk)
    method, target, *_ = [*lines[0].split(" "), "", ""]
    return method, target


def _answer_busy(client: socket.socket, answered: list[str]) -> None:
    method, target = _read_request(client)
    if not method:
        return
    answered.append(f"{method} {target}")
    rid = str(uuid.uuid4())
    body = _BUSY_BODY.format(rid=rid, time=time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())).encode()
    head = (
        "HTTP/1.1 503 The server is currently unable to receive requests. Please retry your request.\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: application/xml\r\nx-ms-error-code: ServerBusy\r\n"
        f"x-ms-request-id: {rid}\r\nx-ms-version: 2025-01-05\r\nDate: {formatdate(usegmt=True)}\r\n"
        "Connection: close\r\n\r\n"
    )
    client.sendall(head.encode() + (b"" if method == "HEAD" else body))
    client.shutdown(socket.SHUT_WR)


def _swallow(client: socket.socket) -> None:
    """Read whatever comes and never answer, until the client gives up or the proxy drops the connection."""
    while client.recv(65536):
        pass


class StorageProxy:
    """Listeners in front of Azurite's three services; ``mode`` is one of :data:`MODES`."""

    def __init__(self, azurite: Azurite) -> None:
        self.mode = "pass"
        self._listeners = {
            "blob": _Listener(self, azurite.blob_port),
            "queue": _Listener(self, azurite.queue_port),
            "table": _Listener(self, azurite.table_port),
        }
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.switches: list[tuple[float, str]] = []  # (time.monotonic(), mode): when each fault began and ended
        self.answered_busy: list[str] = []  # "METHOD target" of every request answered 503

    @property
    def connection_string(self) -> str:
        ports = self._listeners
        return azurite_connection_string(ports["blob"].port, ports["queue"].port, ports["table"].port)

    def start(self) -> StorageProxy:
        for listener in self._listeners.values():
            listener.open()
        return self

    def stop(self) -> None:
        for listener in self._listeners.values():
            listener.close()
        self._drop_all()

    def set_mode(self, mode: str) -> None:
        """Switch now; live connections are dropped so that the next request meets the new mode."""
        assert mode in MODES, mode
        previous, self.mode = self.mode, mode
        if mode == "refuse":
            for listener in self._listeners.values():
                listener.close()
        elif previous == "refuse":
            for listener in self._listeners.values():
                listener.open()  # the same ports again (SO_REUSEADDR)
        self._drop_all()
        self.switches.append((time.monotonic(), mode))

    @contextlib.contextmanager
    def fault(self, mode: str) -> Iterator[None]:
        """``mode`` for the duration of the ``with`` block, then ``pass`` again."""
        self.set_mode(mode)
        try:
            yield
        finally:
            self.set_mode("pass")

    def fault_for(self, mode: str, seconds: float) -> threading.Thread:
        """``mode`` now, ``pass`` again after ``seconds`` (in the background; join the thread to wait for it)."""
        self.set_mode(mode)
        thread = threading.Thread(target=self._restore_after, args=(seconds,), daemon=True, name="proxy-restore")
        thread.start()
        return thread

    def _restore_after(self, seconds: float) -> None:
        time.sleep(seconds)
        self.set_mode("pass")

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.discard(sock)

    def _drop_all(self) -> None:
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> StorageProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
