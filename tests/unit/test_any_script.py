"""Transcripts in any script (issue 24): subtitle cues and lines never cut inside a grapheme cluster, text without
spaces still splits and wraps, right-to-left lines keep their direction, and seams join and match in any language."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import pytest

from shared.contracts import Segment, SegmentResult, Word
from shared.transcripts import text as script
from shared.transcripts.render import RLM, build_cues, to_srt, to_vtt, wrap_lines
from shared.transcripts.stitching import stitch
from tests.unit.test_stitching import W0, W1, result, segment, word


def _regex_clusters(text: str) -> list[str]:
    """An independent UAX #29 implementation to check ours against: the ``regex`` module's ``\\X`` (installed with
    the dev tools through faster-whisper's dependencies, not declared: skipped where it is missing)."""
    regex = pytest.importorskip("regex")
    return list(regex.findall(r"\X", text))


HINDI = "क्षत्रिय राजकुमारी ने कहा कि हिन्दी में स्वागत है और प्रश्न पूछना अच्छा है। " * 3
CHINESE = "我在这一个地方等了很久，你们终于来了。今天天气很好，我们一起去公园散步吧！" * 3
JAPANESE = "今日はいい天気ですね。「一緒に散歩しませんか」と彼女は言いました。ｶﾞｷﾞｸﾞ" * 3
EMOJI = "Wir 👨\u200d👩\u200d👧\u200d👦 feiern 🏳️\u200d🌈👍🏽 mit 🇩🇪🇫🇷 und 🧑🏿\u200d🚀❤️1️⃣ heute " * 6
ARABIC = "مرحبا بكم في الاجتماع، هل أنتم مستعدون؟ نعم، لنبدأ الآن. " * 3
THAI = "สวัสดีครับวันนี้อากาศดีมากน้ำใสไปเที่ยวทะเลกันไหม" * 3
VIETNAMESE_NFD = unicodedata.normalize("NFD", "Người Việt Nam được nói tiếng Việt rất hay và đẹp " * 3)
KOREAN = "안녕하세요 오늘 날씨가 정말 좋네요 같이 산책하러 갈까요 " * 3 + "\u1100\u1161\u11a8"
SCRIPTS = {
    "hindi": HINDI,
    "chinese": CHINESE,
    "japanese": JAPANESE,
    "emoji": EMOJI,
    "arabic": ARABIC,
    "thai": THAI,
    "vietnamese_nfd": VIETNAMESE_NFD,
    "korean": KOREAN,
}
_MARKS = ("Mn", "Mc", "Me")


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_graphemes_agree_with_the_regex_module(name: str) -> None:
    text = SCRIPTS[name]
    assert script.graphemes(text) == _regex_clusters(text)


@pytest.mark.parametrize(
    ("text", "clusters"),
    [
        ("a\r\nb", ["a", "\r\n", "b"]),  # GB3
        ("\u1100\u1161\u11a8각", ["\u1100\u1161\u11a8", "각"]),  # GB6-GB8
        ("e\u0301\u0323x", ["e\u0301\u0323", "x"]),  # GB9
        ("क्ष", ["क्ष"]),  # GB9c
        ("🇩🇪🇫🇷🇺", ["🇩🇪", "🇫🇷", "🇺"]),  # GB12, GB13
        ("👩\u200d💻!", ["👩\u200d💻", "!"]),  # GB11
        ("\u0600\u0661", ["\u0600\u0661"]),  # GB9b
    ],
)
def test_grapheme_rules(text: str, clusters: list[str]) -> None:
    assert script.graphemes(text) == clusters


def test_width_counts_what_a_reader_sees() -> None:
    assert script.width("abc") == 3
    assert script.width("我在") == 4
    assert script.width("e\u0301") == 1
    assert script.width("नमस्ते") == 3
    assert script.width("👨\u200d👩\u200d👧") == 2


def _segment(text: str, start: float = 0.0, end: float = 20.0, words: Sequence[Word] = ()) -> Segment:
    return Segment(start=start, end=end, text=text, words=list(words))


def _tokens(text: str) -> list[Word]:
    """Words as Whisper gives them for a language without spaces: one token each, three code points at a time
    (so a token can end inside a grapheme cluster), no leading space."""
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    return [Word(start=i * 0.1, end=i * 0.1 + 0.08, word=p, probability=0.9) for i, p in enumerate(pieces)]


def _assert_whole(pieces: Sequence[str], text: str) -> None:
    """``pieces`` are ``text`` in order, cut at spaces (dropped) or between characters, and each is whole grapheme
    clusters: valid UTF-8, no piece starts with a mark or ZWJ (checked without our boundary function), and every
    cut is one of the regex module's cluster boundaries."""
    clusters = _regex_clusters(text)
    edges = {sum(len(c) for c in clusters[:i]) for i in range(len(clusters))}
    offset = 0
    for piece in pieces:
        offset += text[offset] == " "
        assert text[offset : offset + len(piece)] == piece, (piece, text[offset:])
        assert offset in edges, (offset, piece)
        assert piece.encode("utf-8").decode("utf-8") == piece
        assert unicodedata.category(piece[0]) not in _MARKS and piece[0] != script.ZWJ, piece
        offset += len(piece)
    assert offset == len(text)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("timed", [True, False])
def test_cues_and_lines_keep_every_cluster_whole_and_give_back_the_text(name: str, timed: bool) -> None:
    text = " ".join(SCRIPTS[name].split())
    words = _tokens(text) if timed else []
    cues = build_cues([_segment(text, words=words)], max_cue_s=1000.0)
    assert len(cues) > 1
    _assert_whole([c.text for c in cues], text)
    for cue in cues:
        assert script.width(cue.text) <= 84
        lines = wrap_lines(cue.text)
        _assert_whole(lines, cue.text)
        # Text without spaces breaks anywhere between clusters, so its lines always fit.
        assert name not in ("chinese", "japanese", "thai") or all(script.width(line) <= 42 for line in lines)


def test_long_chinese_without_spaces_wraps_after_punctuation() -> None:
    assert wrap_lines("今天天气很好我们一起，去公园散步吧你们终于来了") == [
        "今天天气很好我们一起，",  # after the comma rather than one character later, in the balanced middle
        "去公园散步吧你们终于来了",
    ]
    # Never a line that starts with a closing bracket or ends with an opening one (kinsoku).
    assert wrap_lines("「一緒に散歩しませんか」と彼女は笑顔で言いました") == [
        "「一緒に散歩しませんか」",
        "と彼女は笑顔で言いました",
    ]


def test_a_mostly_arabic_line_that_starts_in_latin_gets_a_right_to_left_mark() -> None:
    mixed = "iPhone الجديد رائع جدا."
    assert RLM + mixed in to_srt([_segment(mixed, end=2.0)])
    assert RLM + mixed in to_vtt([_segment(mixed, end=2.0)])
    assert RLM not in to_srt([_segment("مرحبا iPhone", end=2.0), _segment("Hello مرحبا", 3.0, 4.0)])


# Seams (built like tests/unit/test_stitching.py's): a sentence cut at 10 s is joined again, the seam word both
# windows heard is kept once, and no space is put between characters of a script that uses none.
@pytest.mark.parametrize(
    ("language", "left", "seam", "right", "expected"),
    [
        ("zh", ["我", "在"], "这一", ["个", "地方。"], "我在这一个地方。"),
        ("ja", ["今日", "は"], "いい", ["天気", "です。"], "今日はいい天気です。"),
        (
            "ar",
            [" مرحبا", " بكم"],
            " في",
            [" الاجتماع،", " هل", " أنتم", " مستعدون؟"],
            "مرحبا بكم في الاجتماع، هل أنتم مستعدون؟",
        ),
        ("hi", [" मैं", " हिन्दी"], " में", [" बात", " करता", " हूँ।"], "मैं हिन्दी में बात करता हूँ।"),
        ("es", [" ¿Qué", " hora"], " es", [" ahora?", " ¡Vamos!"], "¿Qué hora es ahora? ¡Vamos!"),
        ("de", [" Die", " große"], " Straße", [" ist", " schön."], "Die große Straße ist schön."),
    ],
)
def test_a_seam_in_any_language_keeps_the_seam_word_once_and_joins_the_sentence(
    language: str, left: list[str], seam: str, right: list[str], expected: str
) -> None:
    before = [word(8.0 + 0.4 * i, 8.3 + 0.4 * i, t) for i, t in enumerate(left)]
    after = [word(10.2 + 0.4 * i, 10.5 + 0.4 * i, t) for i, t in enumerate(right)]
    # Each window times the seam word onto its own side of 10.0: the midpoint rule alone keeps it twice.
    left_result = _lang(result(W0, [segment([*before, word(9.9, 10.08, seam)])]), language)
    right_result = _lang(result(W1, [segment([word(9.95, 10.1, seam), *after])]), language)
    segments, text = stitch([left_result, right_result], 20.0)
    assert text == expected
    assert [s.language for s in segments] == [language] * len(segments)


def _lang(res: SegmentResult, language: str) -> SegmentResult:
    segments = [s.model_copy(update={"language": language}) for s in res.segments]
    return res.model_copy(update={"language": language, "segments": segments})


@pytest.mark.parametrize(
    ("left_word", "right_word"),
    [
        (" Grüße", unicodedata.normalize("NFD", " Grüße")),  # composed / decomposed umlaut
        (" Straße,", " STRASSE."),  # ß case-folds to ss
        (" ＡＢＣ", " abc"),  # full-width forms
    ],
)
def test_the_same_seam_word_in_another_unicode_form_is_kept_once(left_word: str, right_word: str) -> None:
    left = result(W0, [segment([word(9.4, 9.8, " Die"), word(9.9, 10.08, left_word)])])
    right = result(W1, [segment([word(9.95, 10.1, right_word), word(10.2, 10.6, " sind.")])])
    segments, _ = stitch([left, right], 20.0)
    assert [w.word for s in segments for w in s.words] == [" Die", left_word, " sind."]


def test_hindi_words_that_differ_only_in_a_vowel_sign_are_two_words() -> None:
    left = result(W0, [segment([word(9.4, 9.8, " और"), word(9.9, 10.08, " कम")])])
    right = result(W1, [segment([word(9.95, 10.1, " कमी"), word(10.2, 10.6, " है।")])])
    _, text = stitch([left, right], 20.0)
    assert text == "और कम कमी है।"


@pytest.mark.parametrize(
    ("language", "earlier", "later", "joined"),
    [
        ("zh", "我们走吧", "好的。", "我们走吧好的。"),
        ("zh", "我们走吧。", "好的。", None),
        ("ja", "「行こう。」", "はい。", None),
        ("ar", "هل أنتم مستعدون؟", "نعم.", None),
        ("hi", "मैं ठीक हूँ।", "धन्यवाद।", None),
        ("el", "Τι κάνεις;", "Καλά.", None),
        ("el", "Τι κάνεις\u037e", "Καλά.", None),
        ("en", "and then; more", "words.", "and then; more words."),
        ("es", "y luego", "¿Vienes?", None),
        ("th", "สวัสดีครับ", "วันนี้อากาศดี", "สวัสดีครับวันนี้อากาศดี"),
    ],
)
def test_sentence_ends_in_any_script_decide_a_seam_join(
    language: str, earlier: str, later: str, joined: str | None
) -> None:
    left = _lang(result(W0, [_segment(earlier, 8.0, 9.9)]), language)
    right = _lang(result(W1, [_segment(later, 10.1, 11.0)]), language)
    segments, text = stitch([left, right], 20.0)
    if joined is None:
        assert len(segments) == 2
        assert text == (f"{earlier}{later}" if language in ("zh", "ja") else f"{earlier} {later}")
    else:
        assert [s.text for s in segments] == [joined]
