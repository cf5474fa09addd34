"""A web server that is not the devhost: answers 200 to everything and notes each request, key included.

Stands on the port a stale ``.transcribe/stack.json`` names (issue 22, item 5): whatever it logs with a key is a
function key handed to a stranger.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER = """
import http.server, pathlib, sys
log = pathlib.Path(sys.argv[1])
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        with log.open("a") as out:
            out.write(f"{self.command} {self.path} key={self.headers.get('x-functions-key')}\\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    do_GET = do_POST = do_PUT = do_DELETE = answer
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@dataclass
class Impostor:
    pid: int
    port: int
    log: Path

    @property
    def requests(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@contextmanager
def impostor(folder: Path) -> Iterator[Impostor]:
    """The server running on a free loopback port until the block ends (then stopped and reaped)."""
    log = folder / "impostor.log"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(log)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield Impostor(process.pid, port, log)
    finally:
        process.kill()
        process.wait()
