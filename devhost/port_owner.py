"""Which process listens on a local TCP port: proof that the warm stack's address is still its own devhost.

``scripts/transcribe`` sends the function key to the address in ``.transcribe/stack.json``. That file outlives
nothing but can go stale (a ``scripts/up`` killed, its port taken since by something else), and a 200 on
``/admin/host/ping`` proves nothing: any web server gives one. Before a key is sent, the listening socket on the
port must belong to the devhost process the state names (Linux: ``/proc/net/tcp*`` for the socket's inode,
``/proc/<pid>/fd`` for its holder). Where that cannot be checked, the stack is not trusted.
"""

from __future__ import annotations

from pathlib import Path

LISTEN = "0A"  # the TCP state in /proc/net/tcp


def listening_inodes(port: int, proc: Path = Path("/proc")) -> set[str]:
    """The inodes of the sockets listening on ``port`` (IPv4 and IPv6, any address)."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def holds_port(pid: int, port: int, proc: Path = Path("/proc")) -> bool | None:
    """Whether process ``pid`` holds the socket listening on ``port``; None where this machine cannot say."""
    if not (proc / "net" / "tcp").exists():
        return None
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port, proc)}
    if not wanted:
        return False
    try:
        fds = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if str(fd.readlink()) in wanted:
                return True
        except OSError:
            continue
    return False
