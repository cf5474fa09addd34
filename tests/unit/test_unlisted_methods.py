"""The Allow value functions/api/unlisted_methods.py answers with comes from the API's own paths (issue 22)."""

from __future__ import annotations

import pytest

from functions.api.unlisted_methods import allowed


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("uploads", "POST"),
        ("UPLOADS/", "POST"),  # the host matches literals case-insensitively, a trailing slash too
        ("uploads/abc", "GET"),
        ("jobs", "GET"),
        ("jobs/abc", "DELETE, GET"),
        ("jobs/abc/transcript", "GET"),
        ("health", "GET"),
        ("openapi.json", "GET"),
        ("jobs/abc/transcript/x", None),
        ("uploads/a/b", None),
        ("", None),
        ("nothing", None),
    ],
)
def test_allowed(path: str, allow: str | None) -> None:
    assert allowed(path) == allow
