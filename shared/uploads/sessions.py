"""Upload sessions: validate a request, persist the job, hand out SAS URLs, report what has arrived.

No byte of audio passes through here. The client puts blocks straight into Blob Storage; this module only asks
storage which blocks it holds (Get Block List, with the app's own credential, since the customer's SAS cannot
read) so that an interrupted upload can resume where it stopped.

A session opened with a ``file_fingerprint`` knows which file it is for: its block ids carry a tag derived from
it (:func:`shared.blocks.block_tag`), so blocks of another file never count as received, and a resume that
presents another fingerprint is refused with ``file_changed`` before a byte is sent.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from azure.core.exceptions import ResourceNotFoundError

from shared.audio_types import resolve_content_type
from shared.azure import paths as blob_paths
from shared.azure import storage
from shared.azure.sas import BlobSigner, upload_permission
from shared.blocks import BlockPlan, block_tag, received_indices, to_ranges
from shared.config import Settings, get_settings
from shared.errors import ErrorCode, PermanentError
from shared.ids import new_job_id
from shared.jobs import lifecycle as job_lifecycle
from shared.jobs.principals import KEY_OWNER
from shared.jobs.records import (
    PLAIN_BLOCK_IDS,
    TAGGED_BLOCK_IDS,
    JobRecord,
    JobStatus,
    JobTrace,
    ReceivedBlocks,
    UploadRequest,
    UploadSession,
    UploadState,
    UploadTarget,
    WebhookState,
)
from shared.jobs.store import JobStore, job_store
from shared.jobs.webhooks import CallbackPolicy, check_callback_url, new_secret
from shared.languages import check_languages
from shared.uploads.filenames import SafeFilename, sanitize_filename

logger = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY = 255


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# Fields added after the first release, with the value that means "not asked for": a body that leaves them so hashes
# as it did before they existed, so keys claimed then still replay.
_LATER_FIELDS = {"file_fingerprint": None, "audio_stream": None, "language_candidates": None, "task": "transcribe"}


def request_fingerprint(request: UploadRequest) -> str:
    """Identity of a request for idempotency: the validated body, so formatting differences don't count."""
    unset = {name for name, unasked in _LATER_FIELDS.items() if getattr(request, name) == unasked} or None
    return _sha256(request.model_dump_json(exclude=unset))


def idempotency_key_hash(key: str, owner: str = KEY_OWNER) -> str:
    """Keys are scoped per caller: two customers may pick the same key without meeting."""
    return _sha256(f"{owner}\n{key}")


def _check_replay(earlier: tuple[str, str], fingerprint: str) -> str:
    job_id, earlier_fingerprint = earlier
    if earlier_fingerprint != fingerprint:
        raise PermanentError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was used for a different request; use a new key per upload",
            job_id=job_id,
        )
    return job_id


def validate_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise PermanentError(
            ErrorCode.INVALID_IDEMPOTENCY_KEY,
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters (a UUID is ideal)",
        )
    return key


@dataclass
class _Arrived:
    committed_bytes: int
    received: ReceivedBlocks


class UploadSessions:
    def __init__(self, settings: Settings, jobs: JobStore, signer: BlobSigner) -> None:
        self._settings = settings
        self._jobs = jobs
        self._signer = signer
        self._uploads = storage.container(settings.uploads_container)

    def create(
        self,
        request: UploadRequest,
        idempotency_key: str | None,
        base_url: str,
        owner: str = KEY_OWNER,
        trace: JobTrace | None = None,
    ) -> tuple[UploadSession, bool]:
        """Start a session; with an idempotency key, a repeat returns the first session and ``True``."""
        limit = self._settings.max_upload_bytes
        if request.size_bytes > limit:
            raise PermanentError(
                ErrorCode.FILE_TOO_LARGE,
                f"the file is {request.size_bytes} bytes; this service accepts at most {limit} bytes",
                max_size_bytes=limit,
            )
        name = sanitize_filename(request.filename)
        content_type = resolve_content_type(name.extension, request.content_type)
        if request.callback_url:
            policy = CallbackPolicy(self._settings.webhook_allow_http, self._settings.webhook_allow_private)
            check_callback_url(request.callback_url, policy)
        # What the model cannot do is refused now, before any upload (and before an idempotency key is claimed).
        check_languages(self._settings.model, request.language, request.language_candidates, request.task)
        key = validate_idempotency_key(idempotency_key)
        fingerprint = request_fingerprint(request)
        job_id = new_job_id()
        if key is not None:
            earlier = self._jobs.claim_idempotency_key(idempotency_key_hash(key, owner), job_id, fingerprint)
            if earlier is not None:
                job_id = _check_replay(earlier, fingerprint)
                # None: the first request claimed the key but died before writing its job; finish its work.
                record = self._jobs.wait_for(job_id) or self._jobs.create(
                    self._new_record(job_id, request, name, content_type, fingerprint, owner, trace)
                )
                session = self._session(record, self._arrived(record), base_url)
                # The same caller (keys are per caller) lost the first answer: it needs the secret to verify webhooks.
                return session.model_copy(update={"webhook_secret": record.callback_secret}), True
        record = self._jobs.create(self._new_record(job_id, request, name, content_type, fingerprint, owner, trace))
        logger.info("upload session created job_id=%s size_bytes=%d", job_id, record.size_bytes)
        session = self._session(record, _Arrived(0, ReceivedBlocks()), base_url)
        return session.model_copy(update={"webhook_secret": record.callback_secret}), False

    def _new_record(
        self,
        job_id: str,
        request: UploadRequest,
        name: SafeFilename,
        content_type: str,
        fingerprint: str,
        owner: str,
        trace: JobTrace | None,
    ) -> JobRecord:
        plan = BlockPlan.for_size(request.size_bytes, request.block_size_bytes or self._settings.upload_block_size)
        now = datetime.now(UTC)
        return job_lifecycle.opened(
            now,
            job_id=job_id,
            filename=name.display,
            blob_name=blob_paths.upload_blob(job_id, name.blob_name),
            size_bytes=request.size_bytes,
            content_type=content_type,
            language=request.language,
            language_candidates=request.language_candidates,
            task=request.task,
            audio_stream=request.audio_stream,
            metadata=request.metadata,
            block_size=plan.block_size,
            session_expires_at=now + timedelta(seconds=self._settings.upload_session_ttl_seconds),
            request_fingerprint=fingerprint,
            file_fingerprint=request.file_fingerprint,
            owner=owner,
            callback_url=request.callback_url,
            callback_secret=new_secret() if request.callback_url else None,
            webhook=WebhookState() if request.callback_url else None,
            trace=trace,
        )

    def describe(
        self, job_id: str, base_url: str, owner: str = KEY_OWNER, file_fingerprint: str | None = None
    ) -> UploadSession:
        """The session; with ``file_fingerprint`` (a resuming client's file), refused unless it is the session's."""
        record = self._jobs.get_owned(job_id, owner)
        check_same_file(record, file_fingerprint)
        return self._session(record, self._arrived(record), base_url)

    def _arrived(self, record: JobRecord) -> _Arrived:
        plan = session_plan(record)
        blob = self._uploads.get_blob_client(record.blob_name)
        with storage.storage_errors("get block list", record.job_id):
            try:
                committed, uncommitted = blob.get_block_list("all")
            except ResourceNotFoundError:
                return _Arrived(0, ReceivedBlocks())
        committed_bytes = sum(b.size for b in committed)
        got = received_indices(plan, ((b.id, b.size) for b in uncommitted))
        received = ReceivedBlocks(blocks=len(got), bytes=sum(plan.length(i) for i in got), ranges=to_ranges(got))
        return _Arrived(committed_bytes, received)

    def _session(self, record: JobRecord, arrived: _Arrived, base_url: str) -> UploadSession:
        now = datetime.now(UTC)
        awaiting = record.status == JobStatus.AWAITING_UPLOAD
        state: UploadState
        if record.committed_at is not None or (awaiting and arrived.committed_bytes > 0):
            state = "committed"  # accepted by the service, or committed and on its way to being accepted
        elif not awaiting:
            state = "closed"  # canceled or refused before any upload was accepted: nothing more is taken
        else:
            state = "expired" if now >= record.session_expires_at else "open"
        return UploadSession(
            job_id=record.job_id,
            status=record.status,
            upload_state=state,
            filename=record.filename,
            size_bytes=record.size_bytes,
            content_type=record.content_type,
            language=record.language,
            language_candidates=record.language_candidates,
            task=record.task,
            audio_stream=record.audio_stream,
            metadata=record.metadata,
            file_fingerprint=record.file_fingerprint,
            created_at=record.created_at,
            session_expires_at=record.session_expires_at,
            upload=self._target(record, now) if state == "open" else None,
            received=arrived.received,
            committed_bytes=arrived.committed_bytes,
            status_url=f"{base_url}/api/jobs/{record.job_id}",
            upload_status_url=f"{base_url}/api/uploads/{record.job_id}",
        )

    def _target(self, record: JobRecord, now: datetime) -> UploadTarget:
        plan = session_plan(record)
        expiry = min(now + timedelta(seconds=self._settings.upload_sas_ttl_seconds), record.session_expires_at)
        url = self._signer.blob_url(self._settings.uploads_container, record.blob_name, upload_permission(), expiry)
        return UploadTarget(
            url=url,
            expires_at=expiry,
            block_size=plan.block_size,
            block_count=plan.block_count,
            block_id_format=TAGGED_BLOCK_IDS if plan.tag else PLAIN_BLOCK_IDS,
            block_id_tag=plan.tag,
            commit_content_type=record.content_type,
        )


def session_plan(record: JobRecord) -> BlockPlan:
    """The block plan the session's ids follow: tagged when it was opened with a file fingerprint."""
    tag = block_tag(record.file_fingerprint) if record.file_fingerprint else None
    return BlockPlan(record.size_bytes, record.block_size, tag)


def check_same_file(record: JobRecord, file_fingerprint: str | None) -> None:
    """Refuse a resume with another file (or this one rewritten): its blocks would be spliced with the first's.

    Nothing to compare when either side has no fingerprint (a session of a client that sends none)."""
    if file_fingerprint is None or record.file_fingerprint is None or file_fingerprint == record.file_fingerprint:
        return
    logger.warning("resume with another file refused job_id=%s", record.job_id)
    raise PermanentError(
        ErrorCode.FILE_CHANGED,
        "the file changed: it is not the one this upload session was opened for (another file, or this one "
        "rewritten since); start a new upload",
        job_id=record.job_id,
    )


@lru_cache(maxsize=1)
def upload_sessions() -> UploadSessions:
    settings = get_settings()
    signer = storage.blob_signer()
    return UploadSessions(settings, job_store(), signer)
