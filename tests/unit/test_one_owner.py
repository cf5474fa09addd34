"""Pieces of knowledge with one owner (issue 23): nothing else in the product writes them out again."""

from __future__ import annotations

import re

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
