"""The Durable extension's local RPC listener: the client API on 127.0.0.1 only, with no key.

In Azure the extension serves ``rpcBaseUrl`` (``http://127.0.0.1:17071/durabletask/``) to the language worker on a
loopback listener of its own (EXT ``LocalHttpListener.cs``), so the app's ``DurableOrchestrationClient`` needs no
key while the public ``/runtime/webhooks/durabletask`` API does. Here too: a second server in the host process, on
a free loopback port chosen before the app's bindings are built.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute


class LoopbackListener:
    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def serve(self, routes: Sequence[BaseRoute]) -> None:
        config = uvicorn.Config(Starlette(routes=list(routes)), log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="durable-rpc", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._socket.close()
