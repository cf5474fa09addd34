"""A cheap fingerprint of one version of a local file, so an upload session knows which file it is for.

Hashing a 5 GB file just to name it would cost a full extra read (a minute on a laptop disk) before the first
byte is sent, and again on every resume. The fingerprint is instead the file's size and modification time (a
rewrite changes it, even one that keeps the size) plus a hash of 16 slices of 64 KiB spread evenly over the file
(another recording of the same length differs in them, even with its timestamp preserved by a copy): at most
1 MiB read, whatever the size. It is checked when a session is resumed and again just before the commit, so a
file replaced before a resume, or rewritten while it was being uploaded, is never spliced with its first version.

A file copied elsewhere gets a new modification time, so a resume from the copy is refused as "changed": the
safe side, since the only cost is a fresh upload.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SAMPLES = 16
SAMPLE_BYTES = 64 * 1024
VERSION = "v1"


def file_fingerprint(path: Path) -> str:
    """``v1-`` and 32 hex digits: what ``POST /api/uploads`` records as ``file_fingerprint``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        info = os.fstat(fd)
        digest = hashlib.sha256(f"{info.st_size}:{info.st_mtime_ns}:".encode())
        for offset in sample_offsets(info.st_size):
            digest.update(os.pread(fd, SAMPLE_BYTES, offset))
    finally:
        os.close(fd)
    return f"{VERSION}-{digest.hexdigest()[:32]}"


def sample_offsets(size: int) -> list[int]:
    """Where the slices start: the first and last 64 KiB and 14 evenly between (fewer for a small file)."""
    last = max(size - SAMPLE_BYTES, 0)
    return sorted({last * k // (SAMPLES - 1) for k in range(SAMPLES)})
