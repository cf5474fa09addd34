"""Pieces of knowledge with one owner (issue 23): nothing else in the product writes them out again."""

from __future__ import annotations

import ast
import re

from shared.config import setting_default
from shared.errors import ErrorCode
from tests.conftest import ROOT

PRODUCT = ("function_app.py", "functions", "shared", "worker", "client", "devhost")


def _product_files() -> list[str]:
    files = []
    for part in PRODUCT:
        paths = [ROOT / part] if part.endswith(".py") else sorted((ROOT / part).rglob("*.py"))
        files += [str(p.relative_to(ROOT)) for p in paths]
    return files


def test_only_shared_jobs_builds_the_job_store() -> None:
    """Where job records live is said once (``shared.jobs.store.job_store``); it was built in four places."""
    builders = [f for f in _product_files() if "JobStore(storage" in (ROOT / f).read_text()]
    assert builders == ["shared/jobs/store.py"]


def test_no_product_module_spells_the_format_list_or_a_transcript_blob_name_itself() -> None:
    """The formats are ``shared/transcripts/formats.py``'s; a list or a ``transcript.{ext}`` path written out anywhere
    else is a second owner (before: six modules)."""
    listed = re.compile(r"""["']json["'],\s*["']txt["']""")
    path = re.compile(r"""f["'][^"']*/transcript\.\{""")
    offenders = [
        f
        for f in _product_files()
        if not f.endswith("output_formats.py") and (listed.search(text := (ROOT / f).read_text()) or path.search(text))
    ]
    assert offenders == []


def _trees(parts: tuple[str, ...] = PRODUCT) -> list[tuple[str, ast.Module]]:
    return [(f, ast.parse((ROOT / f).read_text())) for f in _product_files() if f.split("/")[0] in parts]


def _called(node: ast.Call) -> str | None:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)


def _sets_status(node: ast.AST, holds_jobs: bool) -> bool:
    """A write of a job's status: ``JobRecord(status=...)``, ``model_copy(update={"status": ...})`` or, in a module
    that deals in jobs, ``x.status = ...``."""
    if isinstance(node, ast.Call) and _called(node) == "JobRecord":
        return any(k.arg == "status" for k in node.keywords)
    if isinstance(node, ast.Call) and _called(node) == "model_copy":
        updates = [k.value for k in node.keywords if k.arg == "update" and isinstance(k.value, ast.Dict)]
        return any(isinstance(key, ast.Constant) and key.value == "status" for d in updates for key in d.keys)
    if holds_jobs and isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets)
    return False


def test_only_the_lifecycle_module_changes_a_jobs_status() -> None:
    """Every transition is ``shared/jobs/lifecycle.py``'s (issue 23): five modules used to write the status, and
    they disagreed on ``updated_at``."""
    writers = []
    for name, tree in _trees():
        holds_jobs = "JobRecord" in (text := ast.unparse(tree)) or "JobStatus" in text
        writers += [f"{name}:{n.lineno}" for n in ast.walk(tree) if _sets_status(n, holds_jobs)]
    assert writers, "the check finds the lifecycle module's own writes"
    offenders = [w for w in writers if not w.startswith("shared/jobs/lifecycle.py:")]
    assert offenders == [], "change a job's status through shared/jobs/lifecycle.py"


def test_no_error_code_is_spelled_as_a_string() -> None:
    """Codes are ``ErrorCode`` members in functions/ and shared/, never their slug written out: a typo in a string
    is a code no customer can branch on."""
    slugs = {code.slug for code in ErrorCode}
    offenders = [
        f"{name}:{node.lineno} {node.value!r}"
        for name, tree in _trees(("functions", "shared"))
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in slugs
    ]
    assert offenders == []


DURABLE_CALLS = {
    "call_activity",
    "call_activity_with_retry",
    "call_sub_orchestrator",
    "call_sub_orchestrator_with_retry",
}


def test_orchestrators_call_activities_and_batches_by_reference() -> None:
    """A function reference is checked when the module is imported; a name string fails only when it runs."""
    offenders = [
        f"{name}:{node.lineno}"
        for name, tree in _trees(("functions",))
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _called(node) in DURABLE_CALLS
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]
    assert offenders == []


def test_one_retry_policy_and_no_copied_defaults() -> None:
    """The retry policy is ``functions/pipeline/failures.py``'s ``RETRY``; the pipeline's defaults are ``Settings``'."""
    policies = [f for f in _product_files() if "RetryOptions(" in (ROOT / f).read_text()]
    assert policies == ["functions/pipeline/failures.py"]
    copies = [f for f in _product_files() if f.startswith("functions/") and "14400" in (ROOT / f).read_text()]
    assert copies == []


def test_the_cost_estimates_window_is_the_apps_default() -> None:
    """scripts/azure/cost_estimate.py is standard library only, so it keeps a copy: held equal here."""
    text = (ROOT / "scripts" / "azure" / "cost_estimate.py").read_text()
    copy = re.search(r"^SEGMENT_WINDOW_S = ([0-9.]+)", text, re.MULTILINE)
    assert copy is not None and float(copy[1]) == setting_default("segment_window_s")
