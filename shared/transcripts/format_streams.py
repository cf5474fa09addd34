"""Each transcript format as a stream: fed one stitched segment at a time, written as it goes.

One class per entry of ``shared/transcripts/formats.py``, found by its extension in :data:`STREAMS`; the writer
(``writer.py``) knows none of them by name. A new format (RTTM for speakers, say) is an entry there and a class
here. Each stream writes into named sections of one staged blob, committed in the order of its ``sections``, so a
stream can write a field that comes first (the JSON's header) only at the end, and nothing holds a whole document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import TypeAdapter

from shared.contracts import JobWarning, Segment, Span
from shared.transcripts import text as script
from shared.transcripts.render import VTT_HEADER, Cue, CueBuilder, srt_block, txt_line, vtt_block

Write = Callable[[str, bytes], None]  # (section, bytes): append to one section of the staged blob
_JSON = TypeAdapter(Any)  # pydantic's own JSON serializer: the bytes of a whole model_dump_json, in pieces


class FormatStream:
    """A format written as the segments go by. The defaults ignore what a format does not show."""

    sections: ClassVar[tuple[str, ...]] = ("body",)

    def __init__(self, write: Write) -> None:
        self.write = write

    def add(self, seg: Segment) -> None:
        """One stitched segment, in time order."""

    def add_untranscribed(self, span: Span) -> None:
        """Speech that gave no words, in time order."""

    def finish(self, head: dict[str, Any], timings: dict[str, float], warnings: Sequence[JobWarning]) -> None:
        """The last bytes, once every segment has gone by."""


class JsonStream(FormatStream):
    """``transcript.json``: the bytes of ``render.transcript_json``; ``text`` is written beside the segments, joined
    as ``stitching.full_text`` joins them."""

    sections = ("head", "text", "middle", "segments", "between", "untranscribed", "tail")

    def __init__(self, write: Write) -> None:
        super().__init__(write)
        self.segments = self.untranscribed = 0
        self._last_text = ""

    def add(self, seg: Segment) -> None:
        separator = script.separator(self._last_text, seg.text) if self.segments else ""
        self.write("text", _json_string_body(separator + seg.text))
        self._last_text = seg.text
        self.write("segments", (b"," if self.segments else b"") + seg.model_dump_json().encode())
        self.segments += 1

    def add_untranscribed(self, span: Span) -> None:
        self.write("untranscribed", (b"," if self.untranscribed else b"") + span.model_dump_json().encode())
        self.untranscribed += 1

    def finish(self, head: dict[str, Any], timings: dict[str, float], warnings: Sequence[JobWarning]) -> None:
        self.write("head", _JSON.dump_json(head)[:-1] + b',"text":"')
        self.write("middle", b'","segments":[')
        self.write("between", b'],"untranscribed":[')
        tail = b'],"timings":' + _JSON.dump_json(dict(sorted(timings.items())))
        tail += b',"warnings":' + _JSON.dump_json([w.model_dump() for w in warnings]) + b"}"
        self.write("tail", tail)


class TxtStream(FormatStream):
    """``transcript.txt``: a line per segment."""

    def add(self, seg: Segment) -> None:
        if line := txt_line(seg):
            self.write("body", line.encode())


class _CueStream(FormatStream):
    """Subtitles: segments become cues (``render.CueBuilder``) that are written as each one closes."""

    def __init__(self, write: Write) -> None:
        super().__init__(write)
        self._cues, self._number = CueBuilder(), 0

    def add(self, seg: Segment) -> None:
        self._write_cues(self._cues.add(seg))

    def finish(self, head: dict[str, Any], timings: dict[str, float], warnings: Sequence[JobWarning]) -> None:
        self._write_cues(self._cues.finish())

    def _write_cues(self, cues: list[Cue]) -> None:
        for cue in cues:
            self._number += 1
            self.write("body", self.block(self._number, cue).encode())

    def block(self, number: int, cue: Cue) -> str:
        raise NotImplementedError


class SrtStream(_CueStream):
    def block(self, number: int, cue: Cue) -> str:
        return srt_block(number, cue)


class VttStream(_CueStream):
    def __init__(self, write: Write) -> None:
        super().__init__(write)
        self.write("body", VTT_HEADER.encode())

    def block(self, number: int, cue: Cue) -> str:
        return vtt_block(cue)


STREAMS: dict[str, type[FormatStream]] = {"json": JsonStream, "txt": TxtStream, "srt": SrtStream, "vtt": VttStream}


def _json_string_body(text: str) -> bytes:
    """``text`` escaped as inside a JSON string, the way pydantic escapes it (so the bytes match a whole dump)."""
    return _JSON.dump_json(text)[1:-1]
