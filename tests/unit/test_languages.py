"""shared/languages.py: Whisper's codes, what each model can do, and the request checks with their stable codes."""

from __future__ import annotations

import pytest

from shared.errors import ErrorCode, PermanentError
from shared.languages import WHISPER_LANGUAGES, check_languages, english_only, model_languages, translates


def test_the_codes_are_whispers_own_in_its_order() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert tuple(_LANGUAGE_CODES) == WHISPER_LANGUAGES


@pytest.mark.parametrize(
    ("model", "english", "count", "translating"),
    [
        ("tiny.en", True, 1, False),
        ("/opt/models/medium.en/", True, 1, False),
        ("distil-large-v3", True, 1, False),
        ("base", False, 99, True),
        ("large-v2", False, 99, True),
        ("large-v3", False, 100, True),
        ("/opt/models/large-v3-turbo", False, 100, False),
    ],
)
def test_what_each_model_can_do(model: str, english: bool, count: int, translating: bool) -> None:
    assert english_only(model) is english
    assert len(model_languages(model)) == count
    assert translates(model) is translating


@pytest.mark.parametrize(
    ("model", "language", "candidates", "task", "code"),
    [
        ("base", "xx", None, "transcribe", ErrorCode.UNKNOWN_LANGUAGE),
        ("base", None, ["de", "qq"], "transcribe", ErrorCode.UNKNOWN_LANGUAGE),
        ("base", "de", ["de", "fr"], "transcribe", ErrorCode.LANGUAGE_CONFLICT),
        ("base", None, ["de"], "transcribe", ErrorCode.INVALID_LANGUAGE_CANDIDATES),
        ("base", None, ["de", "de"], "transcribe", ErrorCode.INVALID_LANGUAGE_CANDIDATES),
        ("base", None, [*WHISPER_LANGUAGES[:11]], "transcribe", ErrorCode.INVALID_LANGUAGE_CANDIDATES),
        ("tiny.en", "de", None, "transcribe", ErrorCode.LANGUAGE_NOT_SUPPORTED),
        ("tiny.en", None, ["en", "de"], "transcribe", ErrorCode.LANGUAGE_NOT_SUPPORTED),
        ("tiny.en", None, None, "translate", ErrorCode.LANGUAGE_NOT_SUPPORTED),
        ("base", "yue", None, "transcribe", ErrorCode.LANGUAGE_NOT_SUPPORTED),
        ("large-v3-turbo", "de", None, "translate", ErrorCode.LANGUAGE_NOT_SUPPORTED),
    ],
)
def test_refusals_have_their_codes(
    model: str, language: str | None, candidates: list[str] | None, task: str, code: ErrorCode
) -> None:
    with pytest.raises(PermanentError) as caught:
        check_languages(model, language, candidates, task)  # type: ignore[arg-type]
    assert caught.value.code is code and caught.value.code.status == 422


@pytest.mark.parametrize(
    ("model", "language", "candidates", "task"),
    [
        ("tiny.en", None, None, "transcribe"),
        ("tiny.en", "en", None, "transcribe"),
        ("tiny.en", "auto", None, "transcribe"),
        ("base", None, ["de", "fr"], "translate"),
        ("large-v3", "yue", None, "translate"),
        ("large-v3-turbo", None, [*WHISPER_LANGUAGES[:10]], "transcribe"),
    ],
)
def test_what_a_model_can_do_passes(model: str, language: str | None, candidates: list[str] | None, task: str) -> None:
    check_languages(model, language, candidates, task)  # type: ignore[arg-type]
