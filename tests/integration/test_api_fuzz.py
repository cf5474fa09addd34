"""schemathesis against the served OpenAPI document: no 5xx, and every answer matches the documented schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devhost.stack import LocalStack

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def test_every_operation_survives_generated_requests(stack: LocalStack, tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(
        [
            str(cli),
            "run",
            f"{stack.base_url}/api/openapi.json",
            "--header",
            f"x-functions-key: {stack.function_key}",
            "--checks",
            CHECKS,
            "--max-examples",
            "10",
            "--phases",
            "examples,fuzzing",
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert "generated" in run.stdout and " 0 generated" not in run.stdout, run.stdout[-2000:]
    print(run.stdout[-1500:])
