"""What ``scripts/transcribe`` checks before it starts a stack or a job: what would make the run fail later anyway.

A job that cannot succeed should not cost a stack's start-up and then end with a resume hint that cannot work
either: a file the API refuses by its name (``invalid_filename``) or extension (``unsupported_format``), an
``--out`` that is a file (the whole job ran, then ``FileExistsError``), a recording deleted before ``--resume``.
The name rules are the API's own (``shared.uploads.filenames``, ``shared.audio_types``), checked here as the API will.

Paths on the command line are the caller's: ``scripts/transcribe`` changes to the repository's folder and says
where it was called from in ``TRANSCRIBE_CALLER_DIR``.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from shared.audio_types import FORMATS, resolve_content_type
from shared.errors import ServiceError
from shared.uploads.filenames import SafeFilename, sanitize_filename

CALLER_DIR = "TRANSCRIBE_CALLER_DIR"


class Refused(Exception):
    """The run cannot succeed; the message says why, for the user."""


def from_caller(path: Path) -> Path:
    """``path`` as the caller meant it: relative to the folder ``scripts/transcribe`` was started in."""
    if path.is_absolute():
        return path
    return Path(os.environ.get(CALLER_DIR) or os.getcwd()) / path


def display_name(path: Path) -> str:
    """The file's name as the API gets it: bytes that are not UTF-8 (a name from another system) become U+FFFD.

    JSON carries text, not bytes, so a name holding such bytes cannot be sent as it is (it raised
    ``UnicodeEncodeError``); with the replacement character it is still recognisable, and still has its extension.
    """
    return os.fsencode(path.name).decode("utf-8", errors="replace")


def check_audio(path: Path) -> SafeFilename:
    """The recording is a readable file with a name and an extension the API accepts; its name as the API has it."""
    if not path.is_file():
        raise Refused(f"{path} is not a file")
    if not os.access(path, os.R_OK):
        raise Refused(f"{path} cannot be read")
    name = display_name(path)
    try:
        safe = sanitize_filename(name)
        if not safe.extension:
            raise Refused(f"{path} has no extension; name it for its format: {', '.join(sorted(FORMATS))}")
        resolve_content_type(safe.extension, mimetypes.guess_type(name)[0])
    except ServiceError as exc:
        raise Refused(f"{exc.code.slug}: {exc.detail} ({path})") from None
    return safe


def check_out(out: Path) -> None:
    """``--out`` is a folder, or can be made one (checked before the job, not after it)."""
    if out.exists() and not out.is_dir():
        raise Refused(f"--out {out} is a file; give a folder for the transcripts")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise Refused(f"--out {out} cannot be made: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise Refused(f"--out {out} cannot be written: {existing} is not writable")
