"""Local file names as the API and a terminal can take them.

On Linux a file name is bytes, and Python hands undecodable ones over as lone surrogates (``b"\\xff.wav"`` becomes
``"\\udcff.wav"``), which no UTF-8 encoder accepts: sending one in a JSON body raised ``UnicodeEncodeError`` deep
inside the HTTP library. The API only shows the name back and derives an ASCII slug from it, so each byte that is
not UTF-8 becomes U+FFFD (the replacement character) and the rest, extension included, is kept.
"""

from __future__ import annotations

import os
from pathlib import Path


def api_filename(path: Path | str) -> str:
    """The base name of ``path`` as valid Unicode, for ``filename`` in ``POST /api/uploads`` and for display."""
    return readable(Path(path).name)


def readable(text: str) -> str:
    """``text`` (a path or name from the OS) with each undecodable byte replaced by U+FFFD; valid text unchanged."""
    return os.fsencode(text).decode("utf-8", errors="replace")
