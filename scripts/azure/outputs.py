"""Print a deployment's outputs as ``NAME=value`` lines for ``$GITHUB_ENV`` (the deploy workflow's provision step).

ARM does not keep the case of output names: ``az deployment sub create --query properties.outputs`` can return
``azurE_RESOURCE_GROUP`` for ``AZURE_RESOURCE_GROUP`` (Azure/bicep#9360; azure-dev upper-cases them for the same
reason, pkg/infra/provisioning). Every name is upper-cased, as the templates declare them, so the steps after can
read ``$AZURE_RESOURCE_GROUP``. A value with a line break would let one output set further variables: refused.

    python3 scripts/azure/outputs.py outputs.json >> "$GITHUB_ENV"
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_lines(outputs: dict[str, Any]) -> list[str]:
    """``NAME=value`` for each output, the name upper-cased; strings as they are, anything else as JSON."""
    lines = []
    for name, output in sorted(outputs.items(), key=lambda item: item[0].upper()):
        if not NAME.match(name):
            raise ValueError(f"output {name!r} is not a valid environment variable name")
        value = output["value"] if isinstance(output, dict) and "value" in output else output
        text = value if isinstance(value, str) else json.dumps(value)
        if "\n" in text or "\r" in text:
            raise ValueError(f"output {name!r} spans lines")
        lines.append(f"{name.upper()}={text}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: outputs.py OUTPUTS.json", file=sys.stderr)
        return 2
    print("\n".join(env_lines(json.loads(Path(argv[1]).read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
