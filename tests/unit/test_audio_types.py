import pytest

from shared.audio_types import FORMATS, resolve_content_type
from shared.errors import ErrorCode, PermanentError


@pytest.mark.parametrize(
    ("extension", "declared", "stored"),
    [
        ("wav", None, "audio/wav"),
        ("WAV", "audio/x-wav", "audio/wav"),
        ("mp3", "audio/mpeg; charset=binary", "audio/mpeg"),
        ("m4a", "audio/x-m4a", "audio/mp4"),
        ("opus", "audio/opus", "audio/ogg"),
        ("webm", "video/webm", "audio/webm"),
        ("flac", "application/octet-stream", "audio/flac"),
    ],
)
def test_accepted_types_are_stored_canonically(extension: str, declared: str | None, stored: str) -> None:
    assert resolve_content_type(extension, declared) == stored


@pytest.mark.parametrize(
    ("extension", "declared", "code"),
    [
        ("txt", None, ErrorCode.UNSUPPORTED_FORMAT),
        ("", None, ErrorCode.UNSUPPORTED_FORMAT),
        ("exe", "audio/wav", ErrorCode.UNSUPPORTED_FORMAT),
        ("wav", "text/plain", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ("wav", "audio/mpeg", ErrorCode.CONTENT_TYPE_MISMATCH),
    ],
)
def test_refusals_carry_a_code(extension: str, declared: str | None, code: ErrorCode) -> None:
    with pytest.raises(PermanentError) as caught:
        resolve_content_type(extension, declared)
    assert caught.value.code is code


def test_every_required_format_is_allowed() -> None:
    assert {"wav", "flac", "mp3", "m4a", "mp4", "aac", "ogg", "opus", "webm"} <= set(FORMATS)
