"""Blob trigger paths (``container/prefix{name}.ext``) as the blob extension reads them.

The container is literal; the rest is a pattern whose ``{x}`` parts bind values (``{{``/``}}`` are literal
braces). Only the literal text before the first ``{`` narrows the listing; the full pattern then filters names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devhost.triggers.config import TriggerConfigError

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_-]*)\}|[{}]|[^{}]+")


@dataclass(frozen=True)
class BlobPath:
    container: str
    prefix: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]

    def match(self, blob_name: str) -> dict[str, str] | None:
        """The bound values for a blob under this path, or None when the blob is not one it watches."""
        found = self.pattern.fullmatch(blob_name)
        if found is None:
            return None
        return {name: found.group(_group(name)) for name in self.names}


def _group(name: str) -> str:
    return "p_" + name.replace("-", "_")


def parse_blob_path(path: str) -> BlobPath:
    container, _, rest = path.strip("/").partition("/")
    if not container or "{" in container or "%" in container:
        raise TriggerConfigError(f"blob trigger path {path!r}: the container name must be literal")
    regex, names, prefix, literal = [], [], [], True
    for token in _TOKEN.finditer(rest):
        text, name = token.group(0), token.group(1)
        if name is not None:
            if name in names:
                raise TriggerConfigError(f"blob trigger path {path!r}: {{{name}}} appears twice")
            names.append(name)
            regex.append(f"(?P<{_group(name)}>.+?)")
            literal = False
        elif text in ("{", "}"):
            raise TriggerConfigError(f"blob trigger path {path!r}: unbalanced brace")
        else:
            text = {"{{": "{", "}}": "}"}.get(text, text)
            regex.append(re.escape(text))
            if literal:
                prefix.append(text)
    pattern = "".join(regex) if regex else ".+"  # a bare container watches every blob in it
    return BlobPath(container, "".join(prefix), re.compile(pattern, re.DOTALL), tuple(names))
