"""Pieces of knowledge with one owner (issue 23): nothing else in the product writes them out again."""

from __future__ import annotations

import ast
import re

from shared.azure import paths as blob_paths
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
    """The formats are ``shared/transcripts/formats.py``'s, the blob name ``shared/azure/paths.py``'s; a list or a
    ``transcript.{ext}`` path written out anywhere else is a second owner (before: six modules)."""
    listed = re.compile(r"""["']json["'],\s*["']txt["']""")
    path = re.compile(r"""f["'][^"']*/transcript\.\{""")
    offenders = [
        f
        for f in _product_files()
        if f not in ("shared/transcripts/formats.py", "shared/azure/paths.py")
        and (listed.search(text := (ROOT / f).read_text()) or path.search(text))
    ]
    assert offenders == []


P = "{}"  # a placeholder, as the scan below writes every interpolated value
FRAGMENT = re.compile(r"[^{}]*/[^{}]*")


def _blob_name_shapes() -> set[str]:
    """What each name ``shared/azure/paths.py`` builds looks like, with ``{}`` for every value put into it."""
    built = {
        blob_paths.upload_blob(P, P),
        blob_paths.job_record_blob(P),
        blob_paths.owner_index_prefix(P),
        blob_paths.idempotency_blob(P),
        blob_paths.segment_result_blob(P, P),  # type: ignore[arg-type]
        blob_paths.inflight_prefix(P),
        blob_paths.inflight_blob(P, P),  # type: ignore[arg-type]
        blob_paths.transcript_blob(P, P),
        blob_paths.blob_path(P, P),
        _template(blob_paths.UPLOADS_TRIGGER_PATH),
    }
    return {shape for shape in built if re.search(r"[a-z]", shape, re.IGNORECASE)}  # "{}/{}" alone: see below


def _fragments(shapes: set[str]) -> set[str]:
    """The fixed parts of the shapes that hold a ``/`` and a word (``/inflight/``, ``records/``), which a name
    glued together with ``+`` would contain too."""
    return {f for s in shapes for f in s.split(P) if "/" in f and re.search(r"[a-z]", f, re.IGNORECASE)}


def _template(text: str) -> str:
    return re.sub(r"\{[^{}]*\}", P, text)


def _strings(source: str) -> list[tuple[int, str, bool]]:
    """Every string a module builds or holds, docstrings left out: (line, text with ``{}`` for each interpolated
    value, whether it starts with a job's value followed by ``/``, as ``f"{job_id}/..."`` does)."""
    tree = ast.parse(source)
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else P for v in node.values]
            first = node.values[0]
            job_first = isinstance(first, ast.FormattedValue) and "job" in ast.unparse(first.value).lower()
            found.append((node.lineno, "".join(str(p) for p in parts), job_first and "".join(parts[1:2]) == "/"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found.append((node.lineno, _template(node.value), False))
    return found


def _builds_blob_names(source: str) -> list[int]:
    """Lines of ``source`` that build a product blob name themselves: a string shaped like one of
    ``shared/azure/paths.py``'s names, holding one of their fixed parts, or a job's value followed by ``/``."""
    shapes = _blob_name_shapes()
    fragments = _fragments(shapes)
    return sorted(
        {
            line
            for line, text, job_first in _strings(source)
            if job_first or any(s in text for s in shapes) or any(f in text for f in fragments)
        }
    )


def test_the_scan_finds_the_names_that_were_written_out_before_blob_paths() -> None:
    """The check below can fail: each way a name was built in a module before (issue 23) is caught."""
    before = {
        "result_blob=f\"{job['job_id']}/{window.index}.json\"": 1,
        'download_blob(f"{job_id}/{index}.json")': 1,
        'f"{inflight_prefix(job.job_id)}{job.index}"; p = f"{job_id}/inflight/"': 1,
        'blob_name=f"{job_id}/{name.blob_name}"': 1,
        'UPLOADS_PATH = "%TRANSCRIBE_UPLOADS_CONTAINER%/{job_id}/{name}"': 1,
        'name = f"records/{job_id}.json"': 1,
        'prefix = f"owners/{owner_key(owner)}/"': 1,
        'name = "idempotency/" + key_hash + ".json"': 1,
        'path = job_id + "/transcript." + ext': 1,
        'result_blob=f"{job.result_container}/{job.result_blob}"': 1,
        'url = f"{base_url}/api/jobs/{record.job_id}"': 0,  # a URL, not a blob name
        'route = f"{self.prefix}/{f.route}"': 0,
    }
    for source, lines in before.items():
        assert len(_builds_blob_names(source)) == lines, source


def test_only_shared_blob_paths_builds_blob_names() -> None:
    """Every blob name and prefix the product uses is built by ``shared/azure/paths.py`` (issue 23): before, the
    segment result name was written out by the dispatch and again by the merge, the in-flight marks' beside
    their readers, the transcript's in the formats registry."""
    offenders = {
        f: lines
        for f in _product_files()
        if f != "shared/azure/paths.py" and (lines := _builds_blob_names((ROOT / f).read_text()))
    }
    assert offenders == {}


def _error_code_literals(source: str) -> list[int]:
    """Lines of ``source`` holding an error code as a bare string (``"segment_failed"``) instead of an
    ``ErrorCode`` member."""
    slugs = {code.slug for code in ErrorCode}
    return sorted({line for line, text, _ in _strings(source) if text in slugs})


def test_the_worker_names_error_codes_by_their_enum_members() -> None:
    """Error codes are ``shared/errors.py``'s ``ErrorCode`` (a public contract: a typo in a literal would send a
    code no customer branches on); the worker wrote three as strings (issue 23)."""
    assert _error_code_literals('self._report(job, ok=False, code="segment_failed", error=error)') == [1]
    worker = [f for f in _product_files() if f.startswith("worker/")]
    offenders = {f: lines for f in worker if (lines := _error_code_literals((ROOT / f).read_text()))}
    assert offenders == {}


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
