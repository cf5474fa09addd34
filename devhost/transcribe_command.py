"""``scripts/transcribe``'s entry point: Ctrl-C and SIGTERM are handled from its first line.

The command's imports (httpx, the client, the API's models, the workers' layout) take about a second. A Ctrl-C
then, as a terminal sends it to the whole process group, ended in a ``KeyboardInterrupt`` traceback and exit -2.
Here the handlers (``devhost.interrupts``) are installed before anything slow is imported, and a signal at any
point ends the command with 128 + its number and one line. ``scripts/transcribe`` starts it with both signals ignored
and passes them on until it has stopped, so even one sent while Python itself starts up is neither lost nor a
traceback. Once it is handled, the process leaves at once: it does
not wait for upload threads still finishing a block (what it started has been stopped by then).
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys

from devhost import interrupts


def run(argv: list[str] | None = None) -> int:
    try:  # from the first handler installed, a signal raises: everything after it is in here
        interrupts.install()
        _stop_with_parent()
        from devhost.transcribe_local import main

        return main(argv)
    except interrupts.Interrupted as exc:  # during the imports, or before main took over
        print(f"\n{exc}.", file=sys.stderr)
        return exc.exit_code


def _stop_with_parent() -> None:
    """Linux PR_SET_PDEATHSIG: if ``scripts/transcribe`` (the parent that passes signals on) is killed outright, this
    command gets SIGTERM, and stops as for any SIGTERM: the stack it started is stopped, the hint is printed."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


if __name__ == "__main__":
    interrupts.leave(run())
