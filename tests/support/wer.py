"""Word error rate on normalised words (the alignment for timestamp comparisons is in tests/support/fidelity.py).

Numbers are spelled out before words are compared: real references write "eighty" or "thirty-two" where Whisper
writes "80" or "32" (the telephone prompts of the real-speech corpus do both), and counting that as an error would
measure the spelling, not the hearing.
"""

from __future__ import annotations

import difflib
import re

_WORD = re.compile(r"[a-z0-9']+")
_DIGITS = re.compile(r"\b\d+\b")  # a number on its own: "w0" (a test label) is a word
_GROUPED = re.compile(r"(?<=\d),(?=\d{3})")  # "1,000" is one number
_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spelled(n: int) -> str:
    """``n`` in words ("forty two", "one thousand two hundred"); digits as they are from a million up."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spelled(n % 100))
    if n < 1_000_000:
        return spelled(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + spelled(n % 1000))
    return str(n)


def words(text: str) -> list[str]:
    spelt = _DIGITS.sub(lambda m: f" {spelled(int(m.group()))} ", _GROUPED.sub("", text))
    return _WORD.findall(spelt.lower().replace("-", " "))


def found(reference: str, heard: str) -> tuple[int, int]:
    """(reference words found in ``heard`` in order, reference words): how much of an utterance came back."""
    spoken = words(reference)
    matcher = difflib.SequenceMatcher(a=spoken, b=words(heard), autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()), len(spoken)


def wer(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words, divided by the reference length."""
    return errors(reference, hypothesis) / max(len(words(reference)), 1)


def errors(reference: str, hypothesis: str) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    return edit_counts(reference, hypothesis)[0]


def edit_counts(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word errors, deletions among them): the deletions are reference words the hypothesis lacks altogether."""
    ref, hyp = words(reference), words(hypothesis)
    # Each cell holds (errors, deletions); ties between paths go to the one with fewer deletions.
    previous = [(j, 0) for j in range(len(hyp) + 1)]
    for i, r in enumerate(ref, 1):
        current = [(i, i)] + [(0, 0)] * len(hyp)
        for j, h in enumerate(hyp, 1):
            delete = (previous[j][0] + 1, previous[j][1] + 1)
            insert = (current[j - 1][0] + 1, current[j - 1][1])
            keep = (previous[j - 1][0] + (r != h), previous[j - 1][1])
            current[j] = min(delete, insert, keep)
        previous = current
    return previous[-1]
