"""One owner for the transcript formats (shared/transcripts/formats.py): every place that names them reads the registry.

Before, the list was written out in six modules and the media types in two tables that disagreed (the route served
``text/plain``, the blob said ``text/plain; charset=utf-8``); adding a format meant finding them all.
"""

from __future__ import annotations

from devhost import transcribe_local
from functions.api.openapi_document import openapi31
from shared.jobs import views as job_views
from shared.transcripts import writer as transcript_writer
from shared.transcripts.formats import BY_EXTENSION, EXTENSIONS, FORMATS, transcript_blob


def test_every_user_of_the_formats_reads_the_registry() -> None:
    assert job_views.FORMATS == EXTENSIONS == transcribe_local.FORMATS
    assert {f.ext: f.content_type for f in FORMATS} == transcript_writer.CONTENT_TYPES
    route = openapi31()["paths"]["/jobs/{job_id}/transcript"]["get"]
    (fmt,) = [p for p in route["parameters"] if p.get("name") == "format"]
    assert fmt["schema"]["enum"] == list(EXTENSIONS)
    assert set(route["responses"]["200"]["content"]) == {f.media_type for f in FORMATS}


def test_text_formats_say_their_charset_and_json_needs_none() -> None:
    assert BY_EXTENSION["txt"].content_type == "text/plain; charset=utf-8"
    assert BY_EXTENSION["json"].content_type == "application/json"
    assert transcript_blob("j1", "srt") == "j1/transcript.srt"
