"""Word error rate on normalised words (the alignment for timestamp comparisons is in tests/support/fidelity.py)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9']+")
_NUMBERS = {
    "0": "zero",
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
    "10": "ten",
}


def words(text: str) -> list[str]:
    return [_NUMBERS.get(w, w) for w in _WORD.findall(text.lower().replace("-", " "))]


def wer(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words, divided by the reference length."""
    return errors(reference, hypothesis) / max(len(words(reference)), 1)


def errors(reference: str, hypothesis: str) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1]
