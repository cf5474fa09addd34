"""Queue messages are at most 64 KiB on Azure Storage, and the one-machine stack refuses larger ones as Azure does.

The pipeline's own messages (a segment job, a segment report) carry references, never payloads, so they stay far
below the limit whatever the file: the longest blob name Azure allows and every optional field filled.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy, QueueClient

from devhost.stack import LocalStack
from shared.contracts import AudioInfo, SegmentDone, SegmentJob, Window

LIMIT = 64 * 1024  # bytes of message text, after the base64 the Functions queue trigger expects


def base64_queue(stack: LocalStack, name: str) -> QueueClient:
    client = QueueClient.from_connection_string(
        stack.connection_string,
        name,
        message_encode_policy=BinaryBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    )
    client.create_queue()
    return client


@pytest.mark.parametrize(("raw_bytes", "accepted"), [(48 * 1024, True), (49_152 + 1, False), (100_000, False)])
def test_a_message_over_64_kib_is_refused(stack: LocalStack, raw_bytes: int, accepted: bool) -> None:
    """48 KiB of bytes is exactly 64 KiB of base64: the most a Functions queue message can carry."""
    queue = base64_queue(stack, f"limits-{raw_bytes}")
    if accepted:
        queue.send_message(b"x" * raw_bytes)
        return
    with pytest.raises(HttpResponseError) as refused:
        queue.send_message(b"x" * raw_bytes)
    assert refused.value.status_code == 413


def test_the_pipelines_messages_stay_far_below_the_limit() -> None:
    blob = "j" * 36 + "/" + "n" * 987  # Azure's longest blob name: 1,024 characters
    job = SegmentJob(
        job_id="0" * 36,
        index=11_649,
        attempt=9,
        source_container="uploads",
        source_blob=blob,
        source_etag='"0x8DC0000000000000"',
        source_snapshot="2026-12-02T02:08:56.9240000Z",
        audio=AudioInfo(format="webm", codec="opus", duration_s=360_000.0, sample_rate=48000, channels=8, decoder="av"),
        window=Window(index=11_649, start_s=359_698.0, end_s=360_000.0, keep_start_s=359_700.0, keep_end_s=360_000.0),
        model="/opt/models/" + "m" * 200,
        language="en",
        result_container="segments",
        result_blob=f"{'0' * 36}/11649.json",
    )
    report = SegmentDone(
        job_id="0" * 36, index=11_649, attempt=9, ok=False, error_code="transcription_failed", error_message="e" * 2000
    )
    for message in (job, report):
        size = len(message.model_dump_json().encode())
        assert size * 4 / 3 < LIMIT / 8, f"{type(message).__name__} is {size} bytes"
