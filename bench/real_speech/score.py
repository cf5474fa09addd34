"""Per-utterance recall on the long file: which clips the transcript lost, not only how many words overall.

Whole-file WER hides where errors sit; a dropped prompt or a window edge that swallows a clip shows here as one
utterance with low recall. A hypothesis word belongs to an utterance when its midpoint falls within the utterance's
span widened by ``SLACK_S`` (word times drift a little); its normalised words are matched against the reference's
with difflib. ``tests.support.wer.words`` normalises both sides and spells numbers out, because Whisper writes "80"
where a reference says "eighty".
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.fidelity import TimedWord
from tests.support.wer import found

SLACK_S = 0.3


@dataclass(frozen=True)
class Recall:
    id: str
    found: int
    total: int

    @property
    def recall(self) -> float:
        return self.found / self.total if self.total else 1.0


def utterance_recall(utterances: Sequence[Mapping[str, Any]], hypothesis: Sequence[TimedWord]) -> list[Recall]:
    """For each utterance (``id``, ``start``, ``end``, ``reference``), its reference words found near it.

    Words are sorted by midpoint once and each utterance bisects, so a ten-hour file scores in seconds.
    """
    ordered = sorted(((w.start + w.end) / 2, w.word) for w in hypothesis)
    midpoints = [m for m, _ in ordered]
    return [_recall(u, ordered, midpoints) for u in utterances]


def _recall(utterance: Mapping[str, Any], ordered: list[tuple[float, str]], midpoints: list[float]) -> Recall:
    first = bisect.bisect_left(midpoints, utterance["start"] - SLACK_S)
    last = bisect.bisect_right(midpoints, utterance["end"] + SLACK_S)
    near = " ".join(word for _, word in ordered[first:last])
    matched, total = found(utterance["reference"], near)
    return Recall(id=utterance["id"], found=matched, total=total)
