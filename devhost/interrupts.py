"""Ctrl-C and SIGTERM for ``scripts/transcribe``: one clean stop, whenever the signal comes.

Python's own SIGINT handling raises ``KeyboardInterrupt`` wherever the main thread happens to be: during the slow
imports (a traceback, exit -2), or inside a finalizer, where Python reports it as "Exception ignored" and the run
goes on (it finished with exit 0 after its SIGINT, or kept running 20 s later). SIGTERM, unhandled, killed the
command with no word about the job it left behind. Here both signals are recorded and raise :class:`Interrupted`
once; :func:`check` raises it again at the command's safe points, so a signal swallowed anywhere still stops the
run; :func:`deferred` holds it back while the stack is being stopped, so the stop is never cut short.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
NAMES = {signal.SIGINT: "Interrupted (Ctrl-C)", signal.SIGTERM: "Stopped (SIGTERM)"}


class Interrupted(BaseException):  # like KeyboardInterrupt: not an error, a request to stop
    """The command was asked to stop; it exits ``128 + signal`` as a shell reports a death by that signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(NAMES.get(signal.Signals(signum), f"Stopped (signal {signum})"))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    received: int | None = None  # the first signal
    raised = False  # Interrupted was raised for it (later signals only record)
    deferring = 0  # inside deferred(): record, raise on the way out


def install() -> None:
    """Handle SIGINT and SIGTERM from now on (call it before anything slow)."""
    for signum in SIGNALS:
        signal.signal(signum, _handler)


def _handler(signum: int, frame: FrameType | None) -> None:
    if _State.received is None:
        _State.received = signum
    if _State.raised or _State.deferring:
        return
    _State.raised = True
    raise Interrupted(signum)


def received() -> int | None:
    """The first signal received, if any."""
    return _State.received


def check() -> None:
    """Raise :class:`Interrupted` if a signal came, even one whose first raise was swallowed somewhere."""
    if _State.received is not None:
        _State.raised = True
        raise Interrupted(_State.received)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal back until the block is done (stopping processes must not be cut short), then raise it."""
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1
        if not _State.deferring and _State.received is not None and not _State.raised:
            _State.raised = True
            raise Interrupted(_State.received)


def leave(code: int) -> None:
    """Exit with ``code``; after a signal at once, without waiting for threads still in an upload (what the command
    started has been stopped by then). Shared by ``devhost.transcribe_command`` and ``devhost.transcribe_local``."""
    if received() is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def reset() -> None:
    """Forget any signal (tests run several commands in one process)."""
    _State.received, _State.raised, _State.deferring = None, False, 0
