"""The transcript files written as the stitched segments go by: memory flat in the number of segments.

Each file is a block blob built from staged blocks (Put Block as a 4 MiB buffer fills, Put Block List at the end),
so nothing holds a whole transcript: a 48-hour recording's JSON is tens of megabytes, and the merge runs on a
Flex Consumption instance of 2-4 GB next to other work. The JSON's header (language, model) is only known at the
end, and its ``text`` comes before its ``segments``; both are written as separate sections of staged blocks and
put in order when the block list is committed, so the bytes are exactly those of ``render.transcript_json``. Which
files, and how each is written, is ``formats.FORMATS`` and ``format_streams.STREAMS``: this module names none.
Rewriting is idempotent: a retried merge stages new blocks and commits a new list over the old content.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from typing import Any

from azure.storage.blob import BlobBlock, BlobClient, ContainerClient, ContentSettings

from shared.azure.paths import transcript_blob
from shared.contracts import JobWarning, Segment, Span
from shared.transcripts.format_streams import STREAMS, FormatStream
from shared.transcripts.formats import FORMATS

BLOCK_BYTES = 4 << 20


class StagedBlob:
    """A block blob written in named sections, each a sequence of staged blocks, committed in section order."""

    def __init__(self, blob: BlobClient, sections: list[str], block_bytes: int | None = None) -> None:
        self.blob, self.block_bytes = blob, block_bytes or BLOCK_BYTES
        self._order = sections
        self._buffers: dict[str, bytearray] = {name: bytearray() for name in sections}
        self._blocks: dict[str, list[str]] = {name: [] for name in sections}
        self._ids = itertools.count()

    def write(self, section: str, data: bytes) -> None:
        buffer = self._buffers[section]
        buffer += data
        if len(buffer) >= self.block_bytes:
            self._stage(section)

    def _stage(self, section: str) -> None:
        buffer = self._buffers[section]
        if not buffer:
            return
        block_id = base64.b64encode(f"blk-{next(self._ids):08d}".encode()).decode()
        self.blob.stage_block(block_id, bytes(buffer))
        self._blocks[section].append(block_id)
        buffer.clear()

    def commit(self, content_type: str) -> None:
        for section in self._order:
            self._stage(section)
        blocks = [BlobBlock(block_id=b) for section in self._order for b in self._blocks[section]]
        self.blob.commit_block_list(blocks, content_settings=ContentSettings(content_type=content_type))


class TranscriptWriter:
    """``transcript.{ext}`` for one job and every format, fed one stitched segment at a time."""

    def __init__(self, results: ContainerClient, job_id: str) -> None:
        self.paths = {f.ext: transcript_blob(job_id, f.ext) for f in FORMATS}
        self._staged: dict[str, StagedBlob] = {}
        self._streams: dict[str, FormatStream] = {}
        for f in FORMATS:
            stream = STREAMS[f.ext]
            staged = StagedBlob(results.get_blob_client(self.paths[f.ext]), list(stream.sections))
            self._staged[f.ext], self._streams[f.ext] = staged, stream(staged.write)
        self.segments = self.words = self.untranscribed = 0

    def add(self, seg: Segment) -> None:
        for stream in self._streams.values():
            stream.add(seg)
        self.segments += 1
        self.words += len(seg.words)

    def add_untranscribed(self, span: Span) -> None:
        """A stretch of speech that gave no words (``Transcript.untranscribed``), in time order."""
        for stream in self._streams.values():
            stream.add_untranscribed(span)
        self.untranscribed += 1

    def finish(
        self, head: dict[str, Any], timings: dict[str, float], warnings: Sequence[JobWarning] = ()
    ) -> dict[str, str]:
        """``head``: the transcript's fields before ``text`` (job_id, filename, language, duration_s, model);
        ``warnings``: what the job must not hide (shared/transcripts/warnings.py), the document's last field."""
        for f in FORMATS:
            self._streams[f.ext].finish(head, timings, warnings)
            self._staged[f.ext].commit(f.content_type)
        return dict(self.paths)
