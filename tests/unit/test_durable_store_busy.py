"""The one-machine host under load: status reads never wait for a writer, and a busy store is a JSON 503."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from devhost.durable import store as db
from devhost.durable.client_api import _busy_is_503


def test_status_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    """A big job's episodes hold the write lock for a moment each; a status poll must not queue behind them
    (before: every read took the write lock too, and waited up to the 30 s busy timeout)."""
    store = db.Store(tmp_path / "durable.sqlite3")
    writer = sqlite3.connect(tmp_path / "durable.sqlite3", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another thread's episode, mid-commit
    try:
        started = time.perf_counter()
        with store.snapshot() as tx:
            assert db.get_instance(tx, "nobody") is None
        assert time.perf_counter() - started < 1.0
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_busy_store_answers_503_json_with_retry_after() -> None:
    async def locked(request: Request) -> Response:
        raise sqlite3.OperationalError("database is locked")

    async def fine(request: Request) -> Response:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/locked", _busy_is_503(locked)), Route("/fine", _busy_is_503(fine))])
    with TestClient(app) as client:
        busy = client.get("/locked")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.json()["Message"].startswith("The durable store is busy")
        assert client.get("/fine").json() == {"ok": True}
