"""Parse every Bicep file under a folder with pycep (the parser checkov uses); print each one that fails.

There is no Bicep compiler on this machine (it downloads a binary); this catches syntax errors here, and the
GitHub workflow ci.yml also runs ``az bicep build`` on every file, which type-checks them.
Usage (in the tools venv): python scripts/check_bicep.py infra/bicep
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(folder: str) -> int:
    from pycep import BicepParser

    parser, failures = BicepParser(), 0
    files = sorted(Path(folder).rglob("*.bicep"))
    for path in files:
        try:
            parsed = parser.parse(file_path=path)
        except Exception as exc:  # pycep raises lark errors with the position
            print(f"{path}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            failures += 1
            continue
        if not parsed:
            print(f"{path}: nothing parsed")
            failures += 1
    print(f"{len(files) - failures} of {len(files)} Bicep files parse")
    return 1 if failures or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "infra/bicep"))
