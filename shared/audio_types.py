"""Which audio uploads are accepted, by extension and declared content type.

The allow-list is about what the pipeline can decode (soundfile for WAV/FLAC/OGG, PyAV for compressed
containers). A declared content type must belong to the extension's family, so ``talk.wav`` sent as
``audio/mpeg`` is refused before gigabytes are uploaded; the probe still checks the real bytes later.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import ErrorCode, PermanentError

GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})


@dataclass(frozen=True)
class AudioFormat:
    extension: str
    content_type: str
    aliases: frozenset[str]

    def accepts(self, content_type: str) -> bool:
        return content_type == self.content_type or content_type in self.aliases


_MP4_ALIASES = frozenset({"audio/m4a", "audio/x-m4a", "video/mp4", "audio/aac", "audio/x-aac"})
_OGG_ALIASES = frozenset({"audio/ogg", "audio/opus", "application/ogg", "audio/x-opus+ogg"})

FORMATS: dict[str, AudioFormat] = {
    f.extension: f
    for f in (
        AudioFormat("wav", "audio/wav", frozenset({"audio/x-wav", "audio/wave", "audio/vnd.wave"})),
        AudioFormat("flac", "audio/flac", frozenset({"audio/x-flac"})),
        AudioFormat("mp3", "audio/mpeg", frozenset({"audio/mp3", "audio/x-mp3", "audio/mpeg3"})),
        AudioFormat("m4a", "audio/mp4", _MP4_ALIASES),
        AudioFormat("mp4", "audio/mp4", _MP4_ALIASES),
        AudioFormat("aac", "audio/aac", frozenset({"audio/x-aac", "audio/aacp"})),
        AudioFormat("ogg", "audio/ogg", _OGG_ALIASES),
        AudioFormat("oga", "audio/ogg", _OGG_ALIASES),
        AudioFormat("opus", "audio/ogg", _OGG_ALIASES),
        AudioFormat("webm", "audio/webm", frozenset({"video/webm"})),
    )
}


def resolve_content_type(extension: str, declared: str | None) -> str:
    """Return the canonical content type to store for an upload, or raise with a code the client can act on."""
    fmt = FORMATS.get(extension.lower())
    if fmt is None:
        raise PermanentError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"'.{extension}' is not supported; expected one of: {', '.join(sorted(FORMATS))}",
        )
    if declared is None:
        return fmt.content_type
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type in GENERIC_TYPES:
        return fmt.content_type
    if not any(f.accepts(media_type) for f in FORMATS.values()):
        raise PermanentError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"content type '{media_type}' is not a supported audio type",
        )
    if not fmt.accepts(media_type):
        raise PermanentError(
            ErrorCode.CONTENT_TYPE_MISMATCH,
            f"content type '{media_type}' does not match a '.{fmt.extension}' file; "
            f"use '{fmt.content_type}' or omit content_type",
        )
    return fmt.content_type  # one canonical type per format, whatever alias the client sent
