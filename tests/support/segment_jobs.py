"""A segment-jobs message for tests that drive a worker or the in-flight marks without a real dispatch."""

from __future__ import annotations

from shared.contracts import AudioInfo, SegmentJob, Window


def segment_job(
    job_id: str,
    index: int,
    *,
    audio_s: float = 10.0,
    attempt: int = 1,
    model: str = "tiny.en",
    results: str = "segments",
) -> SegmentJob:
    """Segment ``index`` of an ``audio_s``-second WAV upload ``uploads/x.wav``, its result under ``results``."""
    window = Window(index=index, start_s=0.0, end_s=audio_s, keep_start_s=0.0, keep_end_s=audio_s)
    audio = AudioInfo(
        format="wav", codec="pcm_s16le", duration_s=audio_s, sample_rate=16000, channels=1, decoder="soundfile"
    )
    return SegmentJob(
        job_id=job_id,
        index=index,
        attempt=attempt,
        source_container="uploads",
        source_blob="x.wav",
        audio=audio,
        window=window,
        model=model,
        result_container=results,
        result_blob=f"{job_id}/{index}.json",
    )
