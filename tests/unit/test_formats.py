import itertools
import json
import re
from collections.abc import Sequence

import pytest

from shared.contracts import Segment, Transcript, Word
from shared.transcripts.render import (
    build_cues,
    srt_time,
    to_ms,
    to_srt,
    to_txt,
    to_vtt,
    transcript_json,
    vtt_escape,
    vtt_time,
    wrap_lines,
)


def words_at(spec: Sequence[tuple[float, float, str]]) -> list[Word]:
    return [Word(start=s, end=e, word=t, probability=0.9) for s, e, t in spec]


def seg(start: float, end: float, text: str, words: Sequence[tuple[float, float, str]] = ()) -> Segment:
    return Segment(start=start, end=end, text=text, words=words_at(words))


FIXTURE = [
    seg(0.0, 2.5, " Hello world.", [(0.0, 0.6, " Hello"), (0.7, 2.5, " world.")]),
    seg(3.0, 5.25, " Tom & Jerry <3", [(3.0, 3.4, " Tom"), (3.5, 3.7, " &"), (3.8, 4.6, " Jerry"), (4.7, 5.25, " <3")]),
    seg(3723.456, 3725.0, " Later."),
]


def test_srt_of_a_small_transcript() -> None:
    assert to_srt(FIXTURE) == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello world.\n\n"
        "2\n00:00:03,000 --> 00:00:05,250\nTom & Jerry <3\n\n"
        "3\n01:02:03,456 --> 01:02:05,000\nLater.\n"
    )


def test_vtt_of_a_small_transcript() -> None:
    assert to_vtt(FIXTURE) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.500\nHello world.\n\n"
        "00:00:03.000 --> 00:00:05.250\nTom &amp; Jerry &lt;3\n\n"
        "01:02:03.456 --> 01:02:05.000\nLater.\n"
    )


def test_txt_is_one_line_per_segment() -> None:
    assert to_txt(FIXTURE) == "Hello world.\nTom & Jerry <3\nLater.\n"
    assert to_txt([seg(0, 1, " two\nlines "), seg(1, 2, "   ")]) == "two lines\n"


def test_empty_transcripts() -> None:
    assert (to_txt([]), to_srt([]), to_vtt([])) == ("", "", "WEBVTT\n")


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [
        (0.0, "00:00:00,000", "00:00:00.000"),
        (59.999, "00:00:59,999", "00:00:59.999"),
        (3600.0, "01:00:00,000", "01:00:00.000"),
        (360_000.0, "100:00:00,000", "100:00:00.000"),  # past 99 hours the hours just grow
        (0.0004, "00:00:00,000", "00:00:00.000"),
        (-0.2, "00:00:00,000", "00:00:00.000"),
    ],
)
def test_time_formatting(seconds: float, srt: str, vtt: str) -> None:
    assert (srt_time(to_ms(seconds)), vtt_time(to_ms(seconds))) == (srt, vtt)


def test_vtt_escaping_and_no_arrow_in_text() -> None:
    assert vtt_escape("a & b <i> --> c") == "a &amp; b &lt;i&gt; --&gt; c"
    out = to_vtt([seg(0, 1, " if x --> y & z")])
    assert [line for line in out.splitlines() if "-->" in line] == ["00:00:00.000 --> 00:00:01.000"]
    assert "if x --&gt; y &amp; z" in out
    assert "x --> y & z" in to_srt([seg(0, 1, " if x --> y & z")])  # SRT escapes nothing


def test_long_segments_split_at_word_boundaries_preferring_punctuation() -> None:
    spec = [(float(i), i + 0.8, f" w{i}" + ("," if i == 4 else "")) for i in range(10)]
    cues = build_cues([seg(0.0, 9.8, "".join(t for _, _, t in spec), spec)])
    assert [(c.start_ms, c.end_ms, c.text) for c in cues] == [
        (0, 4800, "w0 w1 w2 w3 w4,"),
        (5000, 9800, "w5 w6 w7 w8 w9"),
    ]


def test_long_text_splits_by_characters_and_wraps_on_two_lines() -> None:
    spec = [(i * 0.15, i * 0.15 + 0.1, " abcdefgh") for i in range(30)]  # 4.5 s, 269 characters
    srt = to_srt([seg(0.0, 4.5, "".join(t for _, _, t in spec), spec)])
    blocks = srt.strip().split("\n\n")
    assert len(blocks) == 4  # 9 + 9 + 9 + 3 words: 9 words are 80 characters
    first = blocks[0].split("\n")
    assert first[:2] == ["1", "00:00:00,000 --> 00:00:01,300"]
    assert first[2:] == ["abcdefgh abcdefgh abcdefgh abcdefgh", "abcdefgh abcdefgh abcdefgh abcdefgh abcdefgh"]


def test_segments_without_word_times_split_by_interpolation() -> None:
    text = " " + " ".join(f"word{i:02d}" for i in range(30))  # 209 characters over 21 s
    cues = build_cues([seg(100.0, 121.0, text)])
    assert len(cues) >= 3
    assert " ".join(c.text for c in cues) == text.strip()
    assert cues[0].start_ms == 100_000 and cues[-1].end_ms == 121_000
    for c in cues:
        assert c.end_ms - c.start_ms <= 7000 and len(c.text) <= 84


def test_cues_never_overlap_and_always_last() -> None:
    segments = [
        seg(0.0, 2.0, " one"),
        seg(1.5, 3.0, " two"),  # overlaps the previous one: it ends when this starts
        seg(5.0, 5.0, " three"),  # zero length
        seg(5.0, 6.0, " four"),  # same start as the previous
        seg(7.0, 6.5, " five"),  # end before start
    ]
    cues = build_cues(segments)
    assert [(c.start_ms, c.end_ms) for c in cues] == [(0, 1500), (1500, 3000), (5000, 5001), (5001, 6000), (7000, 7001)]


def test_cue_invariants_on_a_long_transcript() -> None:
    segments = long_transcript()
    cues = build_cues(segments)
    for before, after in itertools.pairwise(cues):
        assert before.end_ms <= after.start_ms
    for c in cues:
        assert c.end_ms > c.start_ms
        assert c.end_ms - c.start_ms <= 7000 and len(c.text) <= 84


def long_transcript() -> list[Segment]:
    """Segments up to 25 s long with varied words, some with punctuation, one text-only."""
    segments = []
    t = 0.0
    for n in range(40):
        spec = []
        for i in range(5 + (n * 7) % 60):
            length = 0.2 + ((n + i) % 5) * 0.1
            spec.append((round(t, 3), round(t + length, 3), f" word{i}" + ("," if (i + n) % 11 == 0 else "")))
            t += length + 0.1
        spec[-1] = (spec[-1][0], spec[-1][1], spec[-1][2] + ".")
        segments.append(seg(spec[0][0], spec[-1][1], "".join(w for _, _, w in spec), spec))
        t += 1.0
    segments.append(seg(t, t + 30.0, " text only " * 20))
    return segments


def parse_srt(srt: str) -> list[tuple[int, str, str, str]]:
    blocks = srt.strip("\n").split("\n\n")
    parsed = []
    for block in blocks:
        number, timing, *lines = block.split("\n")
        match = re.fullmatch(r"(\d{2,}:\d{2}:\d{2},\d{3}) --> (\d{2,}:\d{2}:\d{2},\d{3})", timing)
        assert match, timing
        parsed.append((int(number), match.group(1), match.group(2), " ".join(lines)))
    return parsed


def test_srt_parses_back_to_the_same_words() -> None:
    segments = long_transcript()
    parsed = parse_srt(to_srt(segments))
    assert [p[0] for p in parsed] == list(range(1, len(parsed) + 1))
    assert " ".join(p[3] for p in parsed).split() == " ".join(s.text for s in segments).split()


def test_wrap_lines() -> None:
    assert wrap_lines("short") == ["short"]
    assert wrap_lines("x" * 60) == ["x" * 60]  # nowhere to break
    assert wrap_lines("aaaa bbbb cccc dddd", 10) == ["aaaa bbbb", "cccc dddd"]


def test_transcript_json_is_utf8_with_stable_key_order() -> None:
    transcript = Transcript(
        job_id="j1",
        filename="Réunion.wav",
        language="fr",
        duration_s=2.5,
        model="tiny",
        text="Bonjour été.",
        segments=[seg(0.0, 2.5, "Bonjour été.", [(0.0, 1.0, " Bonjour"), (1.2, 2.5, " été.")])],
        timings={"transcribe_s": 2.0, "merge_s": 0.1, "decode_s": 0.5},
    )
    data = transcript_json(transcript)
    assert "été".encode() in data and b"\\u" not in data
    document = json.loads(data)
    assert list(document) == [
        *("job_id", "filename", "language", "languages", "task", "duration_s", "model", "text", "segments"),
        *("untranscribed", "timings", "warnings"),
    ]
    assert list(document["timings"]) == ["decode_s", "merge_s", "transcribe_s"]
    assert list(document["segments"][0]) == [
        *("start", "end", "text", "words", "avg_logprob", "no_speech_prob", "language", "language_probability")
    ]
    assert Transcript.model_validate_json(data) == transcript.model_copy(
        update={"timings": dict(sorted(transcript.timings.items()))}
    )
    assert transcript_json(transcript) == data
