"""How much audio a WAV file's header says it holds, to tell a truncated upload from a short recording.

libsndfile reads a WAV whose ``data`` chunk claims more bytes than the file has up to the end of the file, and
reports only what is there (its log says "data : 704224 (should be 352090)"), so a half-uploaded recording would
be transcribed as if it were whole. The declared size is in the ``data`` chunk header (or, for RF64, in ``ds64``),
a few bytes into the file: this walks the chunk list from the start, reading headers only.
"""

from __future__ import annotations

import io
import struct

from shared.audio.blob_reader import AudioSource

_MAX_CHUNKS = 64  # a WAV has a handful; a file that lists more before "data" is not one we trust
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # streaming recorders write these when they cannot seek back to fix the size


def declared_data_bytes(fileobj: AudioSource) -> tuple[int, int] | None:
    """``(declared bytes, offset of the first byte)`` of the ``data`` chunk of a RIFF/RF64 WAVE file; ``None`` when
    the file is not one, or its header leaves the size open (streamed recordings)."""
    fileobj.seek(0)
    head = fileobj.read(12)
    if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX", b"RF64"):
        return None
    endian = ">" if head[:4] == b"RIFX" else "<"
    ds64_data: int | None = None
    offset = 12
    for _ in range(_MAX_CHUNKS):
        fileobj.seek(offset)
        header = fileobj.read(8)
        if len(header) < 8:
            return None
        chunk_id, (size,) = header[:4], struct.unpack(f"{endian}I", header[4:])
        if chunk_id == b"ds64":
            body = fileobj.read(min(size, 28))
            if len(body) >= 16:
                ds64_data = struct.unpack("<Q", body[8:16])[0]  # RIFF size, then data size (EBU Tech 3306)
        elif chunk_id == b"data":
            declared = ds64_data if head[:4] == b"RF64" and ds64_data is not None else size
            return None if declared in _UNKNOWN_SIZES and ds64_data is None else (declared, offset + 8)
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def missing_bytes(fileobj: AudioSource) -> int:
    """Bytes of audio the header declares beyond the end of the file (0 when complete or undeclared)."""
    declared = declared_data_bytes(fileobj)
    if declared is None:
        return 0
    size, start = declared
    end = fileobj.seek(0, io.SEEK_END)
    return max(0, start + size - end)
