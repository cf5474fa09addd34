"""Every blob name the product builds, each written out once, with the container it lives in.

Names are a contract between processes that never share code paths at run time: the API writes an upload's name
into its job record and the blob trigger reads it back, the orchestrator names a segment's result in the message
and the worker writes it there, the merge reads it back, the status API lists the workers' in-flight marks. Spelt
out at each use (``f"{job_id}/{index}.json"`` in two modules, ``"{job_id}/inflight/"`` beside its readers), a
change in one place would silently miss the others; here each has one owner, and ``tests/unit/test_one_owner.py``
fails when a product module builds one of these shapes itself.

The containers are the settings' (``shared/config.py``: ``*_container``, names set by Bicep); a job id is a UUIDv7
(``shared/ids.py``), so it can never smuggle a separator into a name.

uploads container
    ``{job}/{slug}``               the customer's audio, written by the client through its SAS (:func:`upload_blob`)
jobs container
    ``records/{job}.json``         the job record (:func:`job_record_blob`)
    ``owners/{key}/{t}_{job}``     one owner's jobs, newest first; empty blobs (:func:`owner_index_blob`)
    ``idempotency/{hash}.json``    an Idempotency-Key's claim (:func:`idempotency_blob`)
segments container
    ``{job}/{index}.json``         one window's result, written by a worker (:func:`segment_result_blob`)
    ``{job}/inflight/{index}``     a worker's taken/progress mark, metadata only (:func:`inflight_blob`)
results container
    ``{job}/transcript.{ext}``     the transcript in one format (:func:`transcript_blob`)
"""

from __future__ import annotations

from datetime import datetime

# --- uploads ----------------------------------------------------------------------------------------------------

UPLOADS_TRIGGER_PATH = "%TRANSCRIBE_UPLOADS_CONTAINER%/{job_id}/{name}"
"""The blob trigger's path over :func:`upload_blob` names (the Functions host resolves the ``%setting%``)."""


def upload_blob(job_id: str, slug: str) -> str:
    """An upload's blob, in the uploads container: one folder per job, the file name reduced to an ASCII slug
    (``shared/uploads/filenames.py``). The job record keeps it; everything later reads it from there."""
    return f"{job_id}/{slug}"


def upload_job_id(name: str) -> str:
    """The job an upload's blob name belongs to (its first part; not yet checked to be a job id)."""
    return name.split("/", 1)[0]


# --- jobs ---------------------------------------------------------------------------------------------------------

JOB_RECORDS_PREFIX = "records/"


def job_record_blob(job_id: str) -> str:
    """A job's record, in the jobs container."""
    return f"{JOB_RECORDS_PREFIX}{job_id}.json"


def owner_index_prefix(owner_key: str) -> str:
    """Where one owner's index entries start (``owner_key``: ``shared.jobs.principals.owner_key``, a hash)."""
    return f"owners/{owner_key}/"


def owner_index_blob(owner_key: str, created_at: datetime, job_id: str) -> str:
    """An owner's index entry for one job, in the jobs container: names sort by an inverted creation time (ms), so
    one prefix listing pages through the owner's jobs newest first."""
    inverted = 10**13 - int(created_at.timestamp() * 1000)
    return f"{owner_index_prefix(owner_key)}{inverted:013d}_{job_id}"


def owner_index_job_id(name: str) -> str:
    """The job an :func:`owner_index_blob` name points at."""
    return name.rsplit("_", 1)[1]


def idempotency_blob(key_hash: str) -> str:
    """An Idempotency-Key's claim, in the jobs container (``key_hash``: the key hashed with its caller)."""
    return f"idempotency/{key_hash}.json"


# --- segments -----------------------------------------------------------------------------------------------------


def segment_result_blob(job_id: str, index: int) -> str:
    """Where a worker writes window ``index``'s result, in the segments container (the orchestrator names it in
    the segment's message; the merge reads it back)."""
    return f"{job_id}/{index}.json"


def inflight_prefix(job_id: str) -> str:
    """Where a job's in-flight marks start, in the segments container (``shared/jobs/inflight.py``)."""
    return f"{job_id}/inflight/"


def inflight_blob(job_id: str, index: int) -> str:
    """A worker's mark that it took window ``index`` and how far it got, in the segments container."""
    return f"{inflight_prefix(job_id)}{index}"


def inflight_index(job_id: str, name: str) -> int | None:
    """The window an :func:`inflight_blob` name is about; ``None`` for anything else under the prefix."""
    index = name.removeprefix(inflight_prefix(job_id))
    return int(index) if name.startswith(inflight_prefix(job_id)) and index.isdigit() else None


# --- results ------------------------------------------------------------------------------------------------------


def transcript_blob(job_id: str, ext: str) -> str:
    """A job's transcript in one format (``ext``: ``shared/transcripts/formats.py``'s), in the results container."""
    return f"{job_id}/transcript.{ext}"


# --- references ---------------------------------------------------------------------------------------------------


def blob_path(container: str, name: str) -> str:
    """``container/name``: how a report names a blob it wrote (``SegmentDone.result_blob``)."""
    return f"{container}/{name}"
