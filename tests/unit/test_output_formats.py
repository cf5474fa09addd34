"""One owner for the transcript formats (shared/transcripts/formats.py): every place that names them reads the registry.

Before, the list was written out in six modules and the media types in two tables that disagreed (the route served
``text/plain``, the blob said ``text/plain; charset=utf-8``); adding a format meant finding them all.
"""

from __future__ import annotations

from typing import Any

import pytest

from devhost import transcribe_local
from functions.api.openapi_document import openapi31
from shared.azure.paths import transcript_blob
from shared.contracts import Segment, Word
from shared.jobs import views as job_views
from shared.transcripts import format_streams
from shared.transcripts import writer as transcript_writer
from shared.transcripts.formats import BY_EXTENSION, EXTENSIONS, FORMATS, OutputFormat


def test_every_user_of_the_formats_reads_the_registry() -> None:
    assert job_views.FORMATS == EXTENSIONS == transcribe_local.FORMATS
    assert set(format_streams.STREAMS) == set(EXTENSIONS)
    route = openapi31()["paths"]["/jobs/{job_id}/transcript"]["get"]
    (fmt,) = [p for p in route["parameters"] if p.get("name") == "format"]
    assert fmt["schema"]["enum"] == list(EXTENSIONS)
    assert set(route["responses"]["200"]["content"]) == {f.media_type for f in FORMATS}


def test_text_formats_say_their_charset_and_json_needs_none() -> None:
    assert BY_EXTENSION["txt"].content_type == "text/plain; charset=utf-8"
    assert BY_EXTENSION["json"].content_type == "application/json"
    assert transcript_blob("j1", "srt") == "j1/transcript.srt"


class _Blob:
    """Just what ``StagedBlob`` calls, in memory: the writer's dispatch is under test here, not Azure's blocks
    (tests/integration/test_merge_streaming.py writes through Azurite)."""

    def __init__(self, store: dict[str, tuple[bytes, str]], name: str) -> None:
        self.store, self.name, self.blocks = store, name, dict[str, bytes]()

    def stage_block(self, block_id: str, data: bytes) -> None:
        self.blocks[block_id] = data

    def commit_block_list(self, blocks: list[Any], content_settings: Any) -> None:
        body = b"".join(self.blocks[b.id] for b in blocks)
        self.store[self.name] = (body, content_settings.content_type)


class _Container:
    def __init__(self) -> None:
        self.store: dict[str, tuple[bytes, str]] = {}

    def get_blob_client(self, name: str) -> _Blob:
        return _Blob(self.store, name)


class _WordCount(format_streams.FormatStream):
    def add(self, seg: Segment) -> None:
        self.write("body", f"{len(seg.words)}\n".encode())


def test_a_new_format_is_one_registry_entry_and_one_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the writer writes is what the registry lists: an entry and its stream, nothing else to edit."""
    extra = OutputFormat("wc", "text/x-word-count", True, "words per segment")
    monkeypatch.setattr(transcript_writer, "FORMATS", (*FORMATS, extra))
    monkeypatch.setattr(transcript_writer, "STREAMS", {**format_streams.STREAMS, "wc": _WordCount})
    results = _Container()
    writer = transcript_writer.TranscriptWriter(results, "j1")  # type: ignore[arg-type]
    words = [
        Word(start=0.0, end=0.4, word=" hello", probability=0.9),
        Word(start=0.5, end=0.9, word=" there", probability=0.8),
    ]
    writer.add(Segment(start=0.0, end=0.9, text="hello there", words=words))
    writer.finish({"job_id": "j1"}, {})
    assert set(results.store) == {f"j1/transcript.{f.ext}" for f in (*FORMATS, extra)}
    assert results.store["j1/transcript.wc"] == (b"2\n", "text/x-word-count; charset=utf-8")
    assert results.store["j1/transcript.txt"][0].decode().strip() == "hello there"
