"""Progress moves within a long segment: workers say how far they got, and the status API counts it.

One worker (one thread), one 73 s segment of real speech (tiny.en takes several seconds over it), progress reported
every 0.2 s: the status API must show audio done while no segment is finished yet, never going backwards, and the
in-flight record holds the whole window once the segment's result is written.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from azure.storage.blob import BlobServiceClient

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from shared.jobs.inflight import inflight_prefix
from tests.support.speed import scaled

CLIP = Path(__file__).resolve().parent.parent / "data" / "long.flac"


def test_audio_done_moves_before_the_segment_finishes() -> None:
    args = ["--progress-every", "0.2"]  # several reports within the segment even on a CPU much faster than this one
    with LocalStack(workers=1, worker_threads=1, worker_args=args) as stack:
        api = TranscriptionApi(stack.base_url, stack.function_key)
        job_id = upload_file(api, CLIP).job_id
        api.close()
        seen: list[tuple[int, float]] = []
        headers = {"x-functions-key": stack.function_key}
        with httpx.Client(base_url=stack.base_url, headers=headers, timeout=30) as http:
            deadline = time.monotonic() + scaled(240)
            while True:
                response = http.get(f"/api/jobs/{job_id}")
                if response.status_code == 200:
                    break
                progress = response.json().get("progress") or {}
                if progress:
                    seen.append((progress["segments_done"], progress["audio_seconds_done"]))
                assert time.monotonic() < deadline, "the job did not finish"
                time.sleep(0.2)
        assert response.json()["status"] == "completed"
        within = [audio for done, audio in seen if done == 0 and audio > 0]
        assert within, f"no progress before the only segment finished: {seen[-10:]}"
        audio = [a for _, a in seen]
        assert audio == sorted(audio), "progress went backwards"
        assert max(within) < 73.3
        blobs = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("segments")
        records = list(blobs.list_blobs(name_starts_with=inflight_prefix(job_id), include=["metadata"]))
        # the whole window, once finished, by the attempt that took it
        assert [r.metadata for r in records] == [{"audio_done": "73.24", "attempt": "1"}]
