"""The body of POST /api/uploads refuses metadata values that carry control or invisible characters (issue 22)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.models import UploadRequest
from tests.faults.bad_inputs import METADATA_CASES

BODY = {"filename": "a.wav", "size_bytes": 1000}


@pytest.mark.parametrize("metadata", [pytest.param(m, id=i) for i, m in METADATA_CASES])
def test_a_control_or_invisible_character_in_a_metadata_value_is_refused(metadata: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as caught:
        UploadRequest.model_validate({**BODY, "metadata": metadata})
    assert [e["loc"] for e in caught.value.errors()] == [("metadata", next(iter(metadata)))]


@pytest.mark.parametrize(
    "value",
    ["Café résumé", "会議 2026-03-14", "\U0001f468\u200d\U0001f469\u200d\U0001f467 family", "a" * 256, ""],
)
def test_ordinary_values_are_kept(value: str) -> None:
    assert UploadRequest.model_validate({**BODY, "metadata": {"k": value}}).metadata == {"k": value}
