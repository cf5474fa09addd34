"""Which language each stretch of a window's speech is in, so a recording that switches language is decoded in
each language where it is spoken, never in the first one heard.

Whisper's own detection looks at one 30 s input and answers with one language. Given a clip that turns from one
language to another it often answers confidently for one of them (measured on pairs of the real clips of
``tests/data/real/lang`` joined with a 0.5 s pause, Whisper base: English 4.9 s + Russian 9.3 s came back English
at 0.98, French 7.4 s + Japanese 6.5 s French at 0.99), and the clip is then decoded in that language: the rest is
garbled or translated. So the probability of a whole clip cannot tell that it is mixed; only detection on shorter
stretches can. How short (``bench/languages.py``, docs/benchmarks.md), on 48 real clips in 11 languages:

* Whisper detects a stretch of 5 s or more right (21 of 21 at 5 s, 11 of 11 at 8 s, with or without the 30 s
  padding Whisper was trained on), shorter ones often wrong (34 of 48 at 1 s padded, 18 of 48 unpadded).
* Unpadded, the encoder costs in proportion to the stretch (a 10 s input about a tenth of the padded 30 s), so
  detecting every 5-10 s of speech costs about one encoder pass per 30 s of speech, not one per stretch.

Hence, per window:

1. **Units**: the VAD's speech spans, taken in order and grouped until a group lasts :data:`UNIT_MIN_S`; a short
   remainder joins the group before it. Each unit is detected unpadded, among the allowed languages (the caller's
   candidates, else every language the model knows), probabilities renormalised over them.
2. **Unsure units** (top probability under :data:`CONFIDENT`) take, of their neighbours' confident languages and
   the window's dominant one (seconds x probability), the one they themselves find most likely: a short or
   unclear unit follows its context instead of becoming a language of its own.
3. **Switches**: where two units disagree, the spans on either side of the boundary are detected one by one,
   padded to 30 s (short stretches need it) and between the two languages only, and move to the other side while
   they say so: the switch falls between the right spans, not at the unit's edge. This costs a full encoder pass per
   span examined, paid only where the language changes.

The result is one language per span, with the probability its unit (or, at a switch, the span itself) gave it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from shared.contracts import Span

UNIT_MIN_S = 5.0
"""A detection unit lasts at least this long where the window has that much speech (module docstring, point 1)."""
CONFIDENT = 0.5
"""A unit whose top language has less probability than this follows its context (point 2). Measured on the first
1-3 s of the real clips, unpadded (docs/benchmarks.md, the sweep): 36 of the 47 wrong detections had a top probability
under 0.5; of 5 s and more, none was wrong. So a unit under 0.5 is more likely wrong than right, and its context
(its neighbours, or the window's dominant language, which it must still find likely) decides."""

Detect = Callable[[Span, bool], dict[str, float]]
"""``detect(stretch, padded)``: language probabilities for a stretch of the window's audio (times relative to it);
``padded``: as one 30 s input (for short stretches), else as long as the stretch (cheaper)."""


@dataclass(frozen=True)
class Stretch:
    """A speech span and the language it is decoded in; ``probability`` None: forced, or the only one known."""

    span: Span
    language: str
    probability: float | None

    @property
    def seconds(self) -> float:
        return self.span.end - self.span.start


def forced(spans: Sequence[Span], language: str) -> list[Stretch]:
    """Every span in the one language the job forced (or the only one an English-only model knows)."""
    return [Stretch(span, language, None) for span in spans]


def detected(spans: Sequence[Span], detect: Detect, allowed: Sequence[str]) -> list[Stretch]:
    """Each span's language, detected by units and settled as the module docstring says."""
    if not spans:
        return []
    groups = units(spans)
    found = [_among(detect(Span(start=g[0].start, end=g[-1].end), False), allowed) for g in groups]
    chosen = _settle(found, [g[-1].end - g[0].start for g in groups])
    stretches = [
        Stretch(span, language, round(p, 4)) for g, (language, p) in zip(groups, chosen, strict=True) for span in g
    ]
    return _refine_switches(stretches, [len(g) for g in groups], detect)


def units(spans: Sequence[Span], min_s: float = UNIT_MIN_S) -> list[list[Span]]:
    """Spans grouped in order until a group lasts ``min_s`` (first start to last end); a short last group joins
    the one before it."""
    groups: list[list[Span]] = []
    for span in spans:
        if groups and groups[-1][-1].end - groups[-1][0].start < min_s:
            groups[-1].append(span)
        else:
            groups.append([span])
    if len(groups) > 1 and groups[-1][-1].end - groups[-1][0].start < min_s:
        groups[-2].extend(groups.pop())
    return groups


def runs(stretches: Sequence[Stretch]) -> list[list[Stretch]]:
    """Consecutive stretches in one language: what may share a decoded clip."""
    out: list[list[Stretch]] = []
    for stretch in stretches:
        if out and out[-1][-1].language == stretch.language:
            out[-1].append(stretch)
        else:
            out.append([stretch])
    return out


def dominant(stretches: Sequence[Stretch]) -> tuple[str | None, float | None]:
    """The language most seconds were in, with its seconds-weighted probability (None when none was detected)."""
    seconds: dict[str, float] = {}
    for s in stretches:
        seconds[s.language] = seconds.get(s.language, 0.0) + s.seconds
    if not seconds:
        return None, None
    language = max(seconds, key=lambda code: (seconds[code], code))
    mine = [s for s in stretches if s.language == language and s.probability is not None]
    weight = sum(s.seconds for s in mine)
    if not mine or weight <= 0:
        return language, None
    return language, round(sum(s.seconds * (s.probability or 0.0) for s in mine) / weight, 4)


def _among(probabilities: dict[str, float], allowed: Sequence[str]) -> dict[str, float]:
    """The probabilities of the allowed languages only, summing to 1 (Whisper's softmax is over all it knows)."""
    kept = {code: probabilities.get(code, 0.0) for code in allowed}
    total = sum(kept.values())
    if total <= 0:
        return {code: 1.0 / len(kept) for code in kept}
    return {code: p / total for code, p in kept.items()}


def _top(probabilities: dict[str, float]) -> tuple[str, float]:
    code = max(probabilities, key=lambda c: (probabilities[c], c))
    return code, probabilities[code]


def _settle(found: list[dict[str, float]], seconds: list[float]) -> list[tuple[str, float]]:
    """Each unit's language: its own when sure, else the likeliest (by its own probabilities) of its neighbours'
    sure languages and the window's dominant one."""
    tops = [_top(p) for p in found]
    sure = [p >= CONFIDENT for _, p in tops]
    weight: dict[str, float] = {}
    for probabilities, s in zip(found, seconds, strict=True):
        for code, p in probabilities.items():
            weight[code] = weight.get(code, 0.0) + s * p
    window = _top(weight)[0]
    chosen: list[tuple[str, float]] = []
    for i, (probabilities, (code, p)) in enumerate(zip(found, tops, strict=True)):
        if sure[i]:
            chosen.append((code, p))
            continue
        before = next((tops[j][0] for j in range(i - 1, -1, -1) if sure[j]), None)
        after = next((tops[j][0] for j in range(i + 1, len(tops)) if sure[j]), None)
        options = {c for c in (before, after, window) if c is not None}
        pick = max(options, key=lambda c: (probabilities.get(c, 0.0), c))
        chosen.append((pick, probabilities.get(pick, 0.0)))
    return chosen


def _refine_switches(stretches: list[Stretch], sizes: list[int], detect: Detect) -> list[Stretch]:
    """Where two units disagree, move the spans next to their boundary to the side they are in (point 3)."""
    out = list(stretches)
    edge = 0
    for size, following in pairwise(sizes):
        edge += size  # out[edge - 1] ends one unit, out[edge] starts the next
        left, right = out[edge - 1].language, out[edge].language
        if left == right:
            continue
        moved = _move(out, range(edge - 1, edge - 1 - size, -1), to=right, other=left, detect=detect)
        if not moved:
            _move(out, range(edge, edge + following), to=left, other=right, detect=detect)
    return out


def _move(out: list[Stretch], indices: range, to: str, other: str, detect: Detect) -> bool:
    """Relabel the spans at ``indices``, in that order, while each is likelier ``to`` than ``other``; whether any
    moved. Stops at the first span that stays (a switch is one place), or at a span already in ``to``."""
    moved = False
    for i in indices:
        if out[i].language != other:
            break
        two = _among(detect(out[i].span, True), [to, other])
        if two[to] <= two[other]:
            break
        out[i] = Stretch(out[i].span, to, round(two[to], 4))
        moved = True
    return moved


def language_clips(
    stretches: Sequence[Stretch], pack: Callable[[Sequence[Span]], list[Span]]
) -> list[tuple[str, Span]]:
    """The clips to decode, each in one language: ``pack`` (:func:`worker.pre.speech.pack`) applied to each run of
    one language, so no clip crosses a switch."""
    return [(run[0].language, clip) for run in runs(stretches) for clip in pack([s.span for s in run])]


def language_at(span: Span, stretches: Sequence[Stretch], default: str | None) -> tuple[str | None, float | None]:
    """The language (and probability) of the stretch that overlaps ``span`` most, else of the nearest one: what a
    redo clip or a decoded segment is in."""
    if not stretches:
        return default, None

    def closeness(s: Stretch) -> tuple[float, float]:
        overlap = min(span.end, s.span.end) - max(span.start, s.span.start)
        middle = abs((span.start + span.end) - (s.span.start + s.span.end)) / 2
        return overlap, -middle

    best = max(stretches, key=closeness)
    return best.language, best.probability
