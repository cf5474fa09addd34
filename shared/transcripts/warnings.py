"""What a completed job must not hide, said on the job (``result.warnings``) and in ``transcript.json``.

A job can complete and still be wrong in a way its numbers alone do not show (issue 22):

- ``duration_mismatch``: the file holds less audio than its headers declare. The probe measures a duration that
  cannot be true (shared/audio/duration.py); the workers report where the audio ran out of a window that should have
  held more (worker/pre/shortfall.py). The job reports the audio it found, never the declared length.
- ``no_words_heard``: no words at all, although the audio was not silent (a window's peak over the silence floor
  of shared/audio/level.py): speech in a language or stream the model did not get, music, noise. Zero words from
  digital silence or a recorder's dither is the right answer and is not warned about.

Codes are :class:`shared.errors.ErrorCode` members, stable for a caller to branch on.
"""

from __future__ import annotations

from shared.audio.level import sounds
from shared.contracts import AudioInfo, JobWarning, SegmentResult
from shared.errors import ErrorCode


class Findings:
    """Fed each window's result as the merge streams them: where the audio ran out, and whether it had sound."""

    def __init__(self, audio: AudioInfo) -> None:
        self.audio = audio
        self.audio_end_s: float | None = None
        self.loudest_dbfs: float | None = None

    def offer(self, result: SegmentResult) -> None:
        if result.audio_end_s is not None and (self.audio_end_s is None or result.audio_end_s < self.audio_end_s):
            self.audio_end_s = result.audio_end_s
        if result.peak_dbfs is not None and (self.loudest_dbfs is None or result.peak_dbfs > self.loudest_dbfs):
            self.loudest_dbfs = result.peak_dbfs

    def duration_s(self) -> float:
        """The job's duration: where the audio ran out, when it ran out before the probe's duration."""
        if self.audio_end_s is not None and self.audio_end_s < self.audio.duration_s:
            return self.audio_end_s
        return self.audio.duration_s

    def warnings(self, words: int) -> list[JobWarning]:
        """The warnings for a transcript of ``words`` words, in a fixed order (duration first)."""
        return [w for w in (self._duration(), self._no_words(words)) if w is not None]

    def _duration(self) -> JobWarning | None:
        declared = self.audio.declared_duration_s
        if declared is None and self.duration_s() == self.audio.duration_s:
            return None
        declared = max(declared or 0.0, self.audio.duration_s)
        return JobWarning(
            code=ErrorCode.DURATION_MISMATCH.slug,
            message=f"the file's headers declare {declared:.1f} s of audio, but it holds {self.duration_s():.1f} s: "
            "the transcript covers the audio the file holds",
        )

    def _no_words(self, words: int) -> JobWarning | None:
        if words or not sounds(self.loudest_dbfs):
            return None
        return JobWarning(
            code=ErrorCode.NO_WORDS_HEARD.slug,
            message=f"no words were heard, though the audio is not silent (its loudest sample is at "
            f"{self.loudest_dbfs:.1f} dBFS): it may hold speech the model could not make out, or only music or noise",
        )
