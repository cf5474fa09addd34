"""The speech no worker found words for, as the transcript reports it: once, in time order, never silently dropped.

Each worker returns the stretches of its window where the VAD heard speech but no decoding attempt gave words
(``SegmentResult.untranscribed``, :mod:`worker.post.coverage`). Windows overlap, so the merge keeps a stretch from the
window whose keep range holds its midpoint (as words are kept, :mod:`shared.transcripts.stitching`), and drops it if the
stitched transcript has a word there after all (the neighbouring window heard it, and the stitcher's hole filling
kept those words). Stretches and segments both arrive in time order, so a stretch is settled as soon as a segment
starts after it: the merge holds the stretches of about two windows, whatever the job's length.
"""

from __future__ import annotations

from collections.abc import Iterator

from shared.contracts import Segment, SegmentResult, Span

_EDGE_TOLERANCE_S = 1e-3  # a keep range starting at 0 (ending at the duration) is open below (above)


class Untranscribed:
    """Fed each window's result and then each stitched segment, yields the stretches to report."""

    def __init__(self, duration_s: float) -> None:
        self.duration_s = duration_s
        self._pending: list[Span] = []
        self.count = 0
        self.seconds = 0.0

    def offer(self, result: SegmentResult) -> None:
        """Take the stretches of ``result`` that its window owns (by midpoint, like words)."""
        window = result.window
        for span in result.untranscribed:
            mid = (span.start + span.end) / 2
            after_start = mid >= window.keep_start_s or window.keep_start_s <= _EDGE_TOLERANCE_S
            before_end = mid < window.keep_end_s or window.keep_end_s >= self.duration_s - _EDGE_TOLERANCE_S
            if after_start and before_end:
                self._pending.append(span)
        self._pending.sort(key=lambda s: (s.start, s.end))

    def passed(self, segment: Segment) -> Iterator[Span]:
        """The stretches settled by ``segment``: drop those it has words in, then yield those that end before it."""
        mids = [(w.start + w.end) / 2 for w in segment.words]
        self._pending = [s for s in self._pending if not any(s.start <= m < s.end for m in mids)]
        while self._pending and self._pending[0].end <= segment.start:
            yield self._counted(self._pending.pop(0))

    def rest(self) -> Iterator[Span]:
        """What is left once every segment has passed."""
        while self._pending:
            yield self._counted(self._pending.pop(0))

    def _counted(self, span: Span) -> Span:
        self.count += 1
        self.seconds += span.end - span.start
        return span
