"""Call the app's functions the way the Python worker does.

Synchronous functions run on the caller's (pool) thread; ``async def`` functions all run on **one** persistent
event loop in its own thread, because the Durable SDK's client keeps a module-global aiohttp session bound to
the first loop it saw (a second loop fails with "Event loop is closed"). ``extra_inputs`` supplies non-trigger
input bindings, such as the ``durableClient`` binding JSON, by parameter name.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

from devhost.app_loader import FunctionInfo

ExtraInputs = Callable[[FunctionInfo], dict[str, Any]]


class Invoker:
    def __init__(self, extra_inputs: ExtraInputs | None = None) -> None:
        self._extra_inputs = extra_inputs or (lambda function: {})
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="functions-loop", daemon=True)
        self._thread.start()

    def set_extra_inputs(self, extra_inputs: ExtraInputs) -> None:
        self._extra_inputs = extra_inputs

    def _kwargs(self, function: FunctionInfo, trigger_kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**self._extra_inputs(function), **trigger_kwargs}

    def call(self, function: FunctionInfo, trigger_kwargs: dict[str, Any]) -> Any:
        """Blocking call from any thread except the functions loop."""
        kwargs = self._kwargs(function, trigger_kwargs)
        if inspect.iscoroutinefunction(function.handler):
            return asyncio.run_coroutine_threadsafe(function.handler(**kwargs), self.loop).result()
        return function.handler(**kwargs)

    async def call_async(
        self, function: FunctionInfo, trigger_kwargs: dict[str, Any], run_sync: Callable[[Callable[[], Any]], Any]
    ) -> Any:
        """From another event loop (the HTTP server's); ``run_sync`` puts sync functions on a thread pool."""
        kwargs = self._kwargs(function, trigger_kwargs)
        if inspect.iscoroutinefunction(function.handler):
            future = asyncio.run_coroutine_threadsafe(function.handler(**kwargs), self.loop)
            return await asyncio.wrap_future(future)
        return await run_sync(lambda: function.handler(**kwargs))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
