"""The block plan of an upload: block size, count and ids, shared by the API and the client.

Azure commits at most 50,000 blocks of at most 4000 MiB each; block ids must all have the same length. Ids are
derived from the block index so that a client that crashed can find out, from Get Block List, exactly which
blocks already arrived and send only the rest.

A session opened with a file fingerprint adds a tag derived from it to every id (``blk-000042-<tag>``): blocks
staged from one file can then never count as received for another, and the service can tell, from the committed
block list alone, that every block came from the file the session was opened for (no splice of two files).
Pure Python with no dependencies: the customer client imports it too.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MIB = 1024 * 1024
# Azure block blob limits (service version >= 2019-12-12).
MAX_BLOCK_SIZE = 4000 * MIB
MAX_COMMITTED_BLOCKS = 50_000
MAX_BLOB_SIZE = MAX_BLOCK_SIZE * MAX_COMMITTED_BLOCKS

BLOCK_ID_PREFIX = "blk-"
_INDEX_DIGITS = 6
_TAG_CHARS = 16


def block_tag(file_fingerprint: str) -> str:
    """The id tag of a session opened with ``file_fingerprint``: 16 hex digits, so ids stay short and equal-length
    whatever the fingerprint's form (a hash, not the fingerprint itself, which stays the client's business)."""
    return hashlib.sha256(file_fingerprint.encode()).hexdigest()[:_TAG_CHARS]


def block_name(index: int, tag: str | None = None) -> str:
    """The plain id, ``blk-000042`` (or ``blk-000042-<tag>``): what the storage SDKs take (they base64-encode it)."""
    name = f"{BLOCK_ID_PREFIX}{index:0{_INDEX_DIGITS}d}"
    return f"{name}-{tag}" if tag else name


def block_id(index: int, tag: str | None = None) -> str:
    """The wire id for REST calls: base64 of :func:`block_name`, fixed length as Put Block requires."""
    return base64.b64encode(block_name(index, tag).encode()).decode("ascii")


def block_index(name: str, tag: str | None = None) -> int | None:
    """Inverse of :func:`block_name`; ``None`` for ids that this scheme did not produce with this ``tag``."""
    if tag:
        untagged = name.removesuffix(f"-{tag}")
        if untagged == name:
            return None
        name = untagged
    digits = name.removeprefix(BLOCK_ID_PREFIX)
    if digits == name or len(digits) != _INDEX_DIGITS or not digits.isdigit():
        return None
    return int(digits)


@dataclass(frozen=True)
class BlockPlan:
    size_bytes: int
    block_size: int
    tag: str | None = None  # the session's block id tag (:func:`block_tag`), when it was opened with a fingerprint

    @classmethod
    def for_size(cls, size_bytes: int, preferred_block_size: int) -> BlockPlan:
        """Use the preferred size unless the file needs bigger blocks to fit in 50,000 of them."""
        needed = math.ceil(size_bytes / MAX_COMMITTED_BLOCKS)
        needed = math.ceil(needed / MIB) * MIB
        block_size = min(max(preferred_block_size, needed), MAX_BLOCK_SIZE)
        if math.ceil(size_bytes / block_size) > MAX_COMMITTED_BLOCKS:
            raise ValueError(f"{size_bytes} bytes cannot be uploaded as at most {MAX_COMMITTED_BLOCKS} blocks")
        return cls(size_bytes=size_bytes, block_size=block_size)

    @property
    def block_count(self) -> int:
        return math.ceil(self.size_bytes / self.block_size)

    def offset(self, index: int) -> int:
        return index * self.block_size

    def length(self, index: int) -> int:
        return min(self.block_size, self.size_bytes - self.offset(index))

    def ids(self) -> Iterator[str]:
        return (block_id(i, self.tag) for i in range(self.block_count))

    def names(self) -> list[str]:
        return [block_name(i, self.tag) for i in range(self.block_count)]


def received_indices(plan: BlockPlan, blocks: Iterable[tuple[str, int]]) -> set[int]:
    """Indices whose block (plain name, size) arrived with the planned length and the plan's tag; others (a
    truncated block, or one staged from another file) must be sent again."""
    got: set[int] = set()
    for name, size in blocks:
        index = block_index(name, plan.tag)
        if index is not None and index < plan.block_count and size == plan.length(index):
            got.add(index)
    return got


def commit_is_whole_plan(plan: BlockPlan, committed: Iterable[str]) -> bool:
    """Whether the committed block list (plain names, in order) is exactly the plan's ids: with a tagged plan, every
    block then came from the file the session was opened for, and none was left out or repeated."""
    return list(committed) == plan.names()


def to_ranges(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Compress block indices into inclusive ``(first, last)`` runs: 50,000 ids fit in a few bytes of JSON."""
    ranges: list[tuple[int, int]] = []
    for i in sorted(indices):
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1] = (ranges[-1][0], i)
        else:
            ranges.append((i, i))
    return ranges


def from_ranges(ranges: Iterable[tuple[int, int] | list[int]]) -> set[int]:
    out: set[int] = set()
    for first, last in ranges:
        out.update(range(first, last + 1))
    return out
