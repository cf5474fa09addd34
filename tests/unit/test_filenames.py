import pytest

from shared.errors import ErrorCode, PermanentError
from shared.uploads.filenames import sanitize_filename


@pytest.mark.parametrize(
    ("raw", "blob_name", "extension"),
    [
        ("talk.wav", "talk.wav", "wav"),
        ("  Board Meeting 2024-05.MP3 ", "Board_Meeting_2024-05.mp3", "mp3"),
        ("Réunion été.flac", "Reunion_ete.flac", "flac"),
        ("会議.m4a", "audio.m4a", "m4a"),
        ("ｍｅｅｔｉｎｇ．ｗａｖ", "meeting.wav", "wav"),  # full-width letters fold to ASCII
        ("a$b%c&d.ogg", "a_b_c_d.ogg", "ogg"),
        ("...hidden.wav", "hidden.wav", "wav"),
        ("noextension", "noextension", ""),
    ],
)
def test_ordinary_names_become_plain_slugs(raw: str, blob_name: str, extension: str) -> None:
    safe = sanitize_filename(raw)
    assert (safe.blob_name, safe.extension) == (blob_name, extension)
    assert safe.display == raw.strip()


def test_long_stems_are_cut_but_keep_the_extension() -> None:
    safe = sanitize_filename("x" * 200 + ".wav")
    assert safe.blob_name == "x" * 100 + ".wav"


@pytest.mark.parametrize(
    "raw",
    [
        "../etc/passwd.wav",
        "dir/talk.wav",
        "C:\\Users\\me\\talk.wav",
        "..",
        ".",
        "．．",  # full-width dots that NFKC folds into ".."
        "a／b.wav",  # full-width solidus: NFKC folds it into "/"
        "talk\x00.wav",
        "talk\n.wav",
        "evil\u202egnp.wav",  # right-to-left override hides the real extension
        "zero\u200bwidth.wav",
        "x" * 256 + ".wav",
        "é" * 130 + ".wav",  # under 255 characters but over 255 UTF-8 bytes
        "   ",
    ],
)
def test_names_that_try_something_are_refused(raw: str) -> None:
    with pytest.raises(PermanentError) as caught:
        sanitize_filename(raw)
    assert caught.value.code is ErrorCode.INVALID_FILENAME
