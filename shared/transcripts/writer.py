"""The four transcript files written as the stitched segments go by: memory flat in the number of segments.

Each file is a block blob built from staged blocks (Put Block as a 4 MiB buffer fills, Put Block List at the end),
so nothing holds a whole transcript: a 48-hour recording's JSON is tens of megabytes, and the merge runs on a
Flex Consumption instance of 2-4 GB next to other work. The JSON's header (language, model) is only known at the
end, and its ``text`` comes before its ``segments``; both are written as separate sections of staged blocks and
put in order when the block list is committed, so the bytes are exactly those of ``formats.transcript_json``.
Rewriting is idempotent: a retried merge stages new blocks and commits a new list over the old content.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from typing import Any

from azure.storage.blob import BlobBlock, BlobClient, ContainerClient, ContentSettings
from pydantic import TypeAdapter

from shared.contracts import JobWarning, Segment, Span
from shared.transcripts.render import VTT_HEADER, CueBuilder, srt_block, txt_line, vtt_block
from shared.transcripts.formats import FORMATS, transcript_blob

BLOCK_BYTES = 4 << 20
_JSON = TypeAdapter(Any)  # pydantic's own JSON serializer: the bytes of a whole model_dump_json, in pieces
CONTENT_TYPES = {f.ext: f.content_type for f in FORMATS}


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
    """``transcript.{json,txt,srt,vtt}`` for one job, fed one stitched segment at a time."""

    def __init__(self, results: ContainerClient, job_id: str) -> None:
        blob = results.get_blob_client
        self.paths = {ext: transcript_blob(job_id, ext) for ext in CONTENT_TYPES}
        self.json = StagedBlob(
            blob(self.paths["json"]), ["head", "text", "middle", "segments", "between", "untranscribed", "tail"]
        )
        self.txt = StagedBlob(blob(self.paths["txt"]), ["body"])
        self.srt = StagedBlob(blob(self.paths["srt"]), ["body"])
        self.vtt = StagedBlob(blob(self.paths["vtt"]), ["body"])
        self.vtt.write("body", VTT_HEADER.encode())
        self._cues, self._cue_number = CueBuilder(), 0
        self.segments = self.words = self.untranscribed = 0

    def add(self, seg: Segment) -> None:
        text_piece = _json_string_body(seg.text if self.segments == 0 else f" {seg.text}")
        self.json.write("text", text_piece)
        self.json.write("segments", (b"," if self.segments else b"") + seg.model_dump_json().encode())
        if line := txt_line(seg):
            self.txt.write("body", line.encode())
        self._write_cues(self._cues.add(seg))
        self.segments += 1
        self.words += len(seg.words)

    def add_untranscribed(self, span: Span) -> None:
        """A stretch of speech that gave no words (``Transcript.untranscribed``), in time order."""
        self.json.write("untranscribed", (b"," if self.untranscribed else b"") + span.model_dump_json().encode())
        self.untranscribed += 1

    def _write_cues(self, cues: list[Any]) -> None:
        for cue in cues:
            self._cue_number += 1
            self.srt.write("body", srt_block(self._cue_number, cue).encode())
            self.vtt.write("body", vtt_block(cue).encode())

    def finish(
        self, head: dict[str, Any], timings: dict[str, float], warnings: Sequence[JobWarning] = ()
    ) -> dict[str, str]:
        """``head``: the transcript's fields before ``text`` (job_id, filename, language, duration_s, model);
        ``warnings``: what the job must not hide (shared/transcripts/warnings.py), the document's last field."""
        self._write_cues(self._cues.finish())
        self.json.write("head", _JSON.dump_json(head)[:-1] + b',"text":"')
        self.json.write("middle", b'","segments":[')
        self.json.write("between", b'],"untranscribed":[')
        tail = b'],"timings":' + _JSON.dump_json(dict(sorted(timings.items())))
        tail += b',"warnings":' + _JSON.dump_json([w.model_dump() for w in warnings]) + b"}"
        self.json.write("tail", tail)
        for ext, staged in (("json", self.json), ("txt", self.txt), ("srt", self.srt), ("vtt", self.vtt)):
            staged.commit(CONTENT_TYPES[ext])
        return dict(self.paths)


def _json_string_body(text: str) -> bytes:
    """``text`` escaped as inside a JSON string, the way pydantic escapes it (so the bytes match a whole dump)."""
    return _JSON.dump_json(text)[1:-1]
