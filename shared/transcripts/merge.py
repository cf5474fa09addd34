"""The merge: segment results in, ``transcript.{json,txt,srt,vtt}`` and the job's summary out, streaming.

Results are read one at a time in window order and each stitched segment goes straight to the four files
(``shared/transcripts/writer.py``), so memory does not grow with the number of segments; what the workers heard
(languages, models, stretches with no words) and what the file turned out to hold (``shared/transcripts/warnings.py``)
are counted as the results go by. Rewriting the files is idempotent, so the activity that calls this
(``merge_transcript``) can run again. Kept apart from the activity so that it stays a plain function of its
containers and arguments, with no Functions or Durable import.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from azure.storage.blob import ContainerClient

from shared.azure.paths import segment_result_blob
from shared.contracts import AudioInfo, SegmentResult
from shared.transcripts.languages import add_seconds, seconds_by_language, summary
from shared.transcripts.stitching import stitch_stream
from shared.transcripts.untranscribed import Untranscribed
from shared.transcripts.warnings import Findings
from shared.transcripts.writer import TranscriptWriter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MergeJob:
    """What the merge needs to know of the job: which one, its file's name and what the app asked for."""

    job_id: str
    filename: str
    model: str
    language: str | None
    task: str = "transcribe"


def merge(
    job: MergeJob,
    audio: AudioInfo,
    count: int,
    timings: dict[str, float],
    segments: ContainerClient,
    results: ContainerClient,
) -> dict[str, Any]:
    """Stitch ``count`` results from ``segments`` into the transcripts in ``results``; returns the job's summary."""
    heard, unheard, findings = _Heard(), Untranscribed(audio.duration_s), Findings(audio)
    spoken: dict[str, float] = {}  # seconds per language, at most one entry per language Whisper knows
    writer = TranscriptWriter(results, job.job_id)
    results_in_order = heard.track(_in_order(segments, job.job_id, count), unheard, findings)
    for segment in stitch_stream(results_in_order, audio.duration_s):
        writer.add(segment)
        add_seconds(spoken, seconds_by_language([segment]))
        for span in unheard.passed(segment):
            writer.add_untranscribed(span)
    for span in unheard.rest():
        writer.add_untranscribed(span)
    languages = summary(spoken)
    language = languages[0].language if languages else heard.language() or job.language
    model = heard.model(job.model)
    duration, warnings = findings.duration_s(), findings.warnings(writer.words)
    head = {
        "job_id": job.job_id,
        "filename": job.filename,
        "language": language,
        "languages": [entry.model_dump() for entry in languages],
        "task": job.task,
        "duration_s": duration,
        "model": model,
    }
    paths = writer.finish(head, timings, warnings)
    for warning in warnings:
        logger.warning("job warning job_id=%s code=%s: %s", job.job_id, warning.code, warning.message)
    logger.info(
        "merged job_id=%s segments=%d words=%d untranscribed=%d (%.1f s)",
        job.job_id,
        writer.segments,
        writer.words,
        unheard.count,
        unheard.seconds,
    )
    return {
        "duration_s": duration,
        "language": language,
        "languages": [entry.model_dump() for entry in languages],
        "task": job.task,
        "model": model,
        "segments": writer.segments,
        "words": writer.words,
        "untranscribed": unheard.count,
        "untranscribed_s": round(unheard.seconds, 3),
        "transcripts": paths,
        "warnings": [w.model_dump() for w in warnings],
    }


def _in_order(container: ContainerClient, job_id: str, count: int) -> Iterator[SegmentResult]:
    for index in range(count):
        yield SegmentResult.model_validate_json(container.download_blob(segment_result_blob(job_id, index)).readall())


class _Heard:
    """What the workers reported, counted as the results stream by: languages by window, the models used."""

    def __init__(self) -> None:
        self.languages: Counter[str] = Counter()
        self.models: set[str] = set()

    def track(
        self, results: Iterable[SegmentResult], unheard: Untranscribed, findings: Findings
    ) -> Iterator[SegmentResult]:
        for result in results:
            unheard.offer(result)
            findings.offer(result)
            if result.language:
                self.languages[result.language] += 1
            if result.model:
                self.models.add(result.model)
            yield result

    def language(self) -> str | None:
        """The language most windows heard (the first heard wins a tie)."""
        return self.languages.most_common(1)[0][0] if self.languages else None

    def model(self, requested: str) -> str:
        """The model the workers used, from their own reports: the app's setting names only what it asked for,
        and a fleet mid-upgrade can run two (then both are named)."""
        return ", ".join(sorted(self.models)) if self.models else requested
