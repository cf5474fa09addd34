"""How a benchmark hands its figures over: the JSON document (to ``--out`` too, when given), then a markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit(report: dict[str, Any], out: Path | None, table: str) -> None:
    text = json.dumps(report, indent=2)
    if out:
        out.write_text(text + "\n")
    print(text)
    print(table)
