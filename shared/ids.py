"""Job ids: time-ordered, unguessable, and safe to embed in blob names and URLs.

A UUIDv7-shaped id (48-bit millisecond timestamp + 74 random bits) sorts by creation time, which keeps job
listings cheap, and its fixed alphabet means a job id can never smuggle a path into a blob name.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid

_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def new_job_id() -> str:
    millis = time.time_ns() // 1_000_000
    rand = secrets.randbits(74)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b (62 bits)
    return str(uuid.UUID(int=value))


def is_job_id(value: str) -> bool:
    return bool(_JOB_ID.match(value))
