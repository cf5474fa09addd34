"""The transcript's formats, each one entry: its extension, media type and what it holds.

Everything that names the formats reads them from here: the writer (the blobs' content types), the job view (its
links), the transcript route (its ``format`` values and the type it serves), the OpenAPI document, the client and
``scripts/transcribe`` (what they download). Before, the list was written in six places and two tables of media
types disagreed (``text/plain`` served, ``text/plain; charset=utf-8`` stored). The renderers stay in
``shared/transcripts/render.py`` and ``shared/transcripts/writer.py``; a new format is an entry here and its renderer there.
Dependency-free: the client imports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputFormat:
    ext: str
    media_type: str
    text: bool  # served and stored as UTF-8 text, saying so (JSON is UTF-8 by definition: RFC 8259 section 8.1)
    holds: str

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8" if self.text else self.media_type


FORMATS = (
    OutputFormat("json", "application/json", False, "segments and words"),
    OutputFormat("txt", "text/plain", True, "the text, a line per segment"),
    OutputFormat("srt", "application/x-subrip", True, "SubRip subtitles"),
    OutputFormat("vtt", "text/vtt", True, "WebVTT captions"),
)
EXTENSIONS = tuple(f.ext for f in FORMATS)
BY_EXTENSION = {f.ext: f for f in FORMATS}


def transcript_blob(job_id: str, ext: str) -> str:
    """Where a job's transcript in one format lives in the results container."""
    return f"{job_id}/transcript.{ext}"
