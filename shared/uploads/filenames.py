"""Turn a customer-supplied file name into something safe to show and safe to use in a blob path.

A file name arrives from anywhere: it may try path traversal (``../``), hide a separator behind a Unicode
look-alike that NFKC folds into ``/`` (U+FF0F), reverse its visible extension with a bidi override (U+202E),
or carry control characters into logs. Names that are trying something are refused with ``invalid_filename``;
ordinary names are kept for display and reduced to a plain ASCII slug for the blob path, so the raw name never
reaches storage.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from shared.errors import ErrorCode, PermanentError

MAX_NAME_CHARS = 255
MAX_NAME_BYTES = 255
MAX_STEM_CHARS = 100
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SEPARATORS = ("/", "\\")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_REPEATS = re.compile(r"([._-])[._-]+")


@dataclass(frozen=True)
class SafeFilename:
    display: str  # NFC, validated: fit for transcripts, logs and the job record
    blob_name: str  # ASCII slug with a lower-case extension: the only form used in storage paths
    extension: str  # lower case, without the dot; empty if the name has none


def _reject(detail: str) -> PermanentError:
    return PermanentError(ErrorCode.INVALID_FILENAME, detail)


def sanitize_filename(raw: str) -> SafeFilename:
    display = unicodedata.normalize("NFC", raw).strip()
    if not display:
        raise _reject("the file name is empty")
    if len(display) > MAX_NAME_CHARS or len(display.encode("utf-8")) > MAX_NAME_BYTES:
        raise _reject(f"the file name is longer than {MAX_NAME_BYTES} bytes")
    bad = next((c for c in display if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        raise _reject(f"the file name contains a control or invisible character (U+{ord(bad):04X})")
    folded = unicodedata.normalize("NFKC", display)
    if any(sep in display or sep in folded for sep in _SEPARATORS):
        raise _reject("the file name contains a path separator; send the base name only")
    if folded.strip(" .") == "" or folded in (".", ".."):
        raise _reject("the file name is only dots")
    stem, dot, ext = folded.rpartition(".")
    if not dot:
        stem, ext = folded, ""
    extension = ext.strip().lower()
    return SafeFilename(display=display, blob_name=_slug(stem, extension), extension=extension)


def _slug(stem: str, extension: str) -> str:
    ascii_stem = "".join(c for c in unicodedata.normalize("NFKD", stem) if not unicodedata.combining(c))
    slug = _UNSAFE_RUN.sub("_", ascii_stem)
    slug = _REPEATS.sub(r"\1", slug).strip("._-")[:MAX_STEM_CHARS].rstrip("._-") or "audio"
    safe_ext = _UNSAFE_RUN.sub("", extension)
    return f"{slug}.{safe_ext}" if safe_ext else slug
