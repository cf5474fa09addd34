"""Durable state in SQLite: instances (history + bookkeeping), an inbox of undelivered events, an outbox of work.

Why SQLite: one episode must commit history, status, consumed inbox rows and new work atomically, and survive a
``kill -9`` of the host; SQLite's WAL transactions do exactly that with no extra server. (Azurite tables only
offer batch transactions within one partition, and a second network hop per episode.)
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time TEXT NOT NULL,
    last_updated_time TEXT NOT NULL,
    history TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_created ON instances(created_time);
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id, seq);
CREATE TABLE IF NOT EXISTS work (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT,
    input TEXT,
    due TEXT
);
CREATE INDEX IF NOT EXISTS work_instance ON work(instance_id);
"""

TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass
class Instance:
    instance_id: str
    name: str
    status: str
    execution_id: str
    input: str | None
    created_time: str
    last_updated_time: str
    output: str | None = None
    custom_status: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class WorkItem:
    kind: str  # "activity" or "timer"
    instance_id: str
    execution_id: str
    task_id: int
    name: str | None = None  # activity name
    input: str | None = None  # activity input text
    due: str | None = None  # timer fire time (DTFx format)
    seq: int = 0


@dataclass(frozen=True)
class InboxRow:
    seq: int
    execution_id: str | None
    event: dict[str, Any]


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connection().executescript(SCHEMA)  # executescript manages its own transaction

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a commit survives a process crash, which is the threat here
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read-only view: in WAL mode readers never wait for the writer, so status polls stay fast while a big
        job's episodes commit (``transaction`` takes the write lock up front, which readers do not need)."""
        conn = self._connection()
        conn.execute("BEGIN DEFERRED")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; whatever fails in it, the COMMIT included, leaves the connection out of it.

        A COMMIT that fails (SQLITE_FULL when the disk is full) may or may not have rolled the transaction back
        already; SQLite asks for an explicit ROLLBACK either way (https://www.sqlite.org/lang_transaction.html,
        "Response To Errors Within A Transaction"). Where it has not, this thread's connection would stay inside the
        failed transaction, and every later BEGIN on it fail ("cannot start a transaction within a transaction")
        long after space had returned. (The disk-full test passes without this: SQLite rolled back on its own there.)
        """
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise


def disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL: the disk under the store has no room (Python 3.11+ gives the code as ``sqlite_errorcode``)."""
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


_COLUMNS = "instance_id, name, status, execution_id, input, output, custom_status, created_time, last_updated_time"


def get_instance(tx: sqlite3.Connection, instance_id: str, with_history: bool = True) -> Instance | None:
    """One instance; ``with_history=False`` skips parsing the history, which status polling rarely needs."""
    history = "history" if with_history else "'[]'"
    row = tx.execute(
        # built from constants only: the columns and one of two history literals
        f"SELECT {_COLUMNS}, {history}, state FROM instances WHERE instance_id = ?",  # noqa: S608  # nosec B608
        (instance_id,),
    ).fetchone()
    if row is None:
        return None
    return Instance(
        instance_id=row[0],
        name=row[1],
        status=row[2],
        execution_id=row[3],
        input=row[4],
        output=row[5],
        custom_status=row[6],
        created_time=row[7],
        last_updated_time=row[8],
        history=json.loads(row[9]),
        state=json.loads(row[10]),
    )


def save_instance(tx: sqlite3.Connection, inst: Instance) -> None:
    tx.execute(
        f"INSERT OR REPLACE INTO instances ({_COLUMNS}, history, state) VALUES (?,?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
        (
            inst.instance_id,
            inst.name,
            inst.status,
            inst.execution_id,
            inst.input,
            inst.output,
            inst.custom_status,
            inst.created_time,
            inst.last_updated_time,
            json.dumps(inst.history),
            json.dumps(inst.state),
        ),
    )


def delete_instance(tx: sqlite3.Connection, instance_id: str) -> bool:
    deleted = tx.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,)).rowcount
    tx.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
    tx.execute("DELETE FROM work WHERE instance_id = ?", (instance_id,))
    return bool(deleted)


def list_instances(tx: sqlite3.Connection, where: str = "", params: tuple[Any, ...] = ()) -> list[Instance]:
    """Instances without their histories (listings and purges never need them)."""
    # where: fixed clauses with ? placeholders (client_api._filters); the values travel in params
    query = f"SELECT instance_id FROM instances {where} ORDER BY created_time"  # noqa: S608  # nosec B608
    ids = [r[0] for r in tx.execute(query, params)]
    return [i for i in (get_instance(tx, iid, with_history=False) for iid in ids) if i is not None]


def add_inbox(tx: sqlite3.Connection, instance_id: str, execution_id: str | None, event: dict[str, Any]) -> None:
    tx.execute(
        "INSERT INTO inbox (instance_id, execution_id, event) VALUES (?,?,?)",
        (instance_id, execution_id, json.dumps(event)),
    )


def inbox(tx: sqlite3.Connection, instance_id: str) -> list[InboxRow]:
    rows = tx.execute("SELECT seq, execution_id, event FROM inbox WHERE instance_id = ? ORDER BY seq", (instance_id,))
    return [InboxRow(r[0], r[1], json.loads(r[2])) for r in rows]


def delete_inbox(tx: sqlite3.Connection, seqs: list[int]) -> None:
    tx.executemany("DELETE FROM inbox WHERE seq = ?", [(s,) for s in seqs])


def instances_with_inbox(tx: sqlite3.Connection) -> list[str]:
    return [r[0] for r in tx.execute("SELECT DISTINCT instance_id FROM inbox")]


def add_work(tx: sqlite3.Connection, item: WorkItem) -> WorkItem:
    cursor = tx.execute(
        "INSERT INTO work (kind, instance_id, execution_id, task_id, name, input, due) VALUES (?,?,?,?,?,?,?)",
        (item.kind, item.instance_id, item.execution_id, item.task_id, item.name, item.input, item.due),
    )
    return WorkItem(
        item.kind,
        item.instance_id,
        item.execution_id,
        item.task_id,
        item.name,
        item.input,
        item.due,
        int(cursor.lastrowid or 0),
    )


def work_exists(tx: sqlite3.Connection, seq: int) -> bool:
    return tx.execute("SELECT 1 FROM work WHERE seq = ?", (seq,)).fetchone() is not None


def delete_work(tx: sqlite3.Connection, seq: int) -> None:
    tx.execute("DELETE FROM work WHERE seq = ?", (seq,))


def delete_timers(tx: sqlite3.Connection, instance_id: str, execution_id: str, task_ids: list[int] | None) -> None:
    """Drop armed timers: the given ids, or every timer and activity of the execution when ``None``."""
    if task_ids is None:
        tx.execute("DELETE FROM work WHERE instance_id = ? AND execution_id = ?", (instance_id, execution_id))
        return
    tx.executemany(
        "DELETE FROM work WHERE instance_id = ? AND execution_id = ? AND task_id = ? AND kind = 'timer'",
        [(instance_id, execution_id, t) for t in task_ids],
    )


def all_work(tx: sqlite3.Connection) -> list[WorkItem]:
    rows = tx.execute("SELECT kind, instance_id, execution_id, task_id, name, input, due, seq FROM work ORDER BY seq")
    return [WorkItem(*r) for r in rows]
