"""Structured logs that never leak secrets (shared/telemetry/logs.py), through real ``logging`` loggers and handlers.

The catalogue below holds the secret shapes this service handles, each as the realistic string it would be
logged as; every one is logged as a message argument and inside a chained exception, and the formatted output
of a JSON handler, of a plain ``logging.Formatter`` handler and the ``LogRecord`` fields themselves must hold
none of the secret values. The same catalogue run through a deliberately broken redactor shows that the
checker does find leaks.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import pytest
from azure.storage.blob import BlobSasPermissions, UserDelegationKey, generate_blob_sas
from opentelemetry.sdk.trace import TracerProvider

from shared.telemetry import logs

RNG = random.Random(20260101)
JOB = "0f3c2a1b-9d8e-4f7a-b6c5-d4e3f2a1b0c9"


def _b64(size: int) -> str:
    return base64.b64encode(RNG.randbytes(size)).decode()


def _urlsafe(size: int) -> str:
    return base64.urlsafe_b64encode(RNG.randbytes(size)).decode().rstrip("=")


def _guid() -> str:
    raw = RNG.randbytes(16).hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def _sig(token: str) -> str:
    return re.search(r"(?:^|&)sig=([^&]+)", token).group(1)  # type: ignore[union-attr]


def _account_sas() -> str:
    return generate_blob_sas(
        "prodacct",
        "uploads",
        f"jobs/{JOB}/audio.wav",
        account_key=_b64(64),
        permission=BlobSasPermissions(read=True),
        expiry=datetime(2026, 1, 1, tzinfo=UTC),
        start=datetime(2025, 12, 31, tzinfo=UTC),
        protocol="https",
    )


def _delegation_sas() -> str:
    key = UserDelegationKey()
    key.signed_oid, key.signed_tid = _guid(), _guid()
    key.signed_start, key.signed_expiry = "2025-12-31T00:00:00Z", "2026-01-02T00:00:00Z"
    key.signed_service, key.signed_version, key.value = "b", "2025-01-05", _b64(32)
    return generate_blob_sas(
        "prodacct",
        "uploads",
        f"jobs/{JOB}/audio.wav",
        user_delegation_key=key,
        permission=BlobSasPermissions(create=True, write=True),
        expiry=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _jwt() -> str:
    header = base64.urlsafe_b64encode(b'{"typ":"JWT","alg":"RS256","kid":"abc"}').decode().rstrip("=")
    claims = base64.urlsafe_b64encode(json.dumps({"aud": "https://storage.azure.com", "oid": _guid()}).encode())
    return f"{header}.{claims.decode().rstrip('=')}.{_urlsafe(256)}"


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    secrets: tuple[str, ...]
    keep: tuple[str, ...] = ()
    sig_only: bool = False  # a redactor that only knows ``sig=...`` happens to cover it


def _catalogue() -> list[Case]:
    account_sas, delegation_sas, conn_sas = _account_sas(), _delegation_sas(), _account_sas()
    sas_url = f"https://prodacct.blob.core.windows.net/uploads/jobs/{JOB}/audio.wav?{account_sas}"
    nested_sig = _sig(conn_sas)
    function_key, function_key2 = _urlsafe(40) + "==", _urlsafe(40) + "=="
    account_key, account_key2, account_key3 = _b64(64), _b64(64), _b64(64)
    jwt, opaque, shared_key = _jwt(), _urlsafe(48), _b64(32)
    instrumentation_key, webhook_token, password = _guid(), _urlsafe(24), _urlsafe(12)
    secret, client_secret, api_key, key, webhook_password = (_urlsafe(20) for _ in range(5))
    sig_raw = unquote(_sig(_account_sas()))
    basic = base64.b64encode(f"transcriber:{_urlsafe(12)}".encode()).decode()
    bare_key, identity_jwt, signature = _b64(64), _jwt(), _b64(32)
    return [
        Case(
            "blob SAS URL",
            sas_url,
            (_sig(account_sas), unquote(_sig(account_sas))),
            ("se=2026-01-01", "sp=r", f"jobs/{JOB}/audio.wav", "prodacct.blob.core.windows.net"),
            sig_only=True,
        ),
        Case(
            "user delegation SAS URL",
            f"https://prodacct.blob.core.windows.net/uploads/jobs/{JOB}/audio.wav?{delegation_sas}",
            (_sig(delegation_sas), unquote(_sig(delegation_sas))),
            ("sp=cw", "skoid=", "sktid=", "se=2026-01-01"),
            sig_only=True,
        ),
        Case(
            "SAS URL URL-encoded inside another URL",
            f"https://func-transcribe.azurewebsites.net/api/callback?target={quote(sas_url, safe='')}&job_id={JOB}",
            (quote(_sig(account_sas), safe=""), _sig(account_sas), unquote(_sig(account_sas))),
            (f"job_id={JOB}",),
        ),
        Case(
            "sig in free text",
            f"retrying the block upload with sig={_sig(delegation_sas)} after a 403",
            (_sig(delegation_sas), unquote(_sig(delegation_sas))),
            ("after a 403",),
            sig_only=True,
        ),
        Case(
            "storage connection string",
            f"DefaultEndpointsProtocol=https;AccountName=prodacct;AccountKey={account_key};EndpointSuffix=core.windows.net",
            (account_key,),
            ("AccountName=prodacct", "EndpointSuffix=core.windows.net"),
        ),
        Case(
            "Azurite connection string",
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={logs.AZURITE_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
            (logs.AZURITE_ACCOUNT_KEY,),
            ("AccountName=devstoreaccount1", "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1"),
        ),
        Case(
            "Azurite key on its own",
            f"signing with the account key {logs.AZURITE_ACCOUNT_KEY} for devstoreaccount1",
            (logs.AZURITE_ACCOUNT_KEY,),
            ("for devstoreaccount1",),
        ),
        Case(
            "SAS connection string",
            f"BlobEndpoint=https://prodacct.blob.core.windows.net/;SharedAccessSignature={conn_sas};QueueEndpoint=https://prodacct.queue.core.windows.net/",
            (nested_sig, unquote(nested_sig)),
            ("BlobEndpoint=https://prodacct.blob.core.windows.net/", "QueueEndpoint="),
            sig_only=True,
        ),
        Case(
            "function URL with code=",
            f"https://func-transcribe.azurewebsites.net/api/jobs/{JOB}?code={function_key}&clientId=default",
            (function_key,),
            (f"/api/jobs/{JOB}", "clientId=default"),
        ),
        Case(
            "header dict with x-functions-key",
            repr({"x-functions-key": function_key2, "Content-Type": "application/json", "x-ms-date": "Thu, 01 Jan"}),
            (function_key2,),
            ("'Content-Type': 'application/json'",),
        ),
        Case(
            "x-functions-key header line",
            f"POST /api/uploads HTTP/1.1\nX-Functions-Key: {function_key}\nContent-Length: 42",
            (function_key,),
            ("Content-Length: 42",),
        ),
        Case(
            "Authorization Bearer in a header dict",
            repr({"Authorization": f"Bearer {jwt}", "x-ms-version": "2025-01-05"}),
            (jwt, jwt.split(".")[1], jwt.split(".")[2]),
            ("'x-ms-version': '2025-01-05'",),
        ),
        Case(
            "Bearer token in text",
            f"token exchange failed for Bearer {opaque}; retrying in 2 s",
            (opaque,),
            ("retrying in 2 s",),
        ),
        Case(
            "SharedKey Authorization header",
            f"Authorization: SharedKey prodacct:{shared_key}",
            (shared_key,),
            ("Authorization: SharedKey",),
        ),
        Case(
            "Application Insights connection string",
            f"InstrumentationKey={instrumentation_key};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;"
            f"LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;ApplicationId={_guid()}",
            (instrumentation_key,),
            ("IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/",),
        ),
        Case(
            "webhook URL with token=",
            f"https://hooks.example.com/transcribed?token={webhook_token}&job_id={JOB}",
            (webhook_token,),
            (f"job_id={JOB}", "hooks.example.com/transcribed"),
        ),
        Case(
            "webhook URL with secret=, client_secret=, api_key=",
            f"https://hooks.example.com/cb?secret={secret}&client_secret={client_secret}&api_key={api_key}&v=2",
            (secret, client_secret, api_key),
            ("&v=2",),
        ),
        Case(
            "webhook URL with key= and password=",
            f"https://hooks.example.com/cb?key={key}&password={webhook_password}&format=json",
            (key, webhook_password),
            ("format=json",),
        ),
        Case(
            'JSON "sig"',
            json.dumps({"sig": sig_raw, "se": "2026-01-01", "sp": "r"}),
            (sig_raw,),
            ('"se": "2026-01-01"', '"sp": "r"'),
        ),
        Case(
            "repr of a dict with AccountKey",
            repr({"AccountName": "prodacct", "AccountKey": account_key2}),
            (account_key2,),
            ("'AccountName': 'prodacct'",),
        ),
        Case(
            "keyword argument account_key=",
            f"BlobSigner(account_key={account_key3!r}, container='uploads')",
            (account_key3,),
            ("container='uploads'",),
        ),
        Case(
            "Authorization Basic header",
            f"GET /hooks HTTP/1.1\r\nAuthorization: Basic {basic}\r\nAccept: */*",
            (basic,),
            ("Accept: */*",),
        ),
        Case(
            "storage account key on its own",
            f"rotated key2 of prodacct to {bare_key} at 02:00",
            (bare_key,),
            ("rotated key2 of prodacct", "at 02:00"),
        ),
        Case(
            "JWT in free text",
            f"managed identity returned {identity_jwt} for https://storage.azure.com/",
            (identity_jwt, identity_jwt.split(".")[1], identity_jwt.split(".")[2]),
            ("for https://storage.azure.com/",),
        ),
        Case(
            "SharedKey signature in free text",
            f"canonicalized request signed as SharedKey prodacct:{signature}",
            (signature,),
            ("signed as SharedKey prodacct:",),
        ),
        Case(
            "password in URL userinfo",
            f"proxy https://transcriber:{password}@proxy.internal:8443/ refused the connection",
            (password,),
            ("proxy.internal:8443",),
        ),
    ]


CATALOGUE = _catalogue()


def leaks(output: str, secrets: tuple[str, ...] | list[str]) -> list[str]:
    """The secrets (or the first or last 12 characters of one, a partial leak) that ``output`` contains."""
    found = []
    for secret in secrets:
        pieces = {secret} if len(secret) < 24 else {secret, secret[:12], secret[-12:]}
        if any(piece in output for piece in pieces):
            found.append(secret)
    return found


class RecordKeeper(logging.Handler):
    """A real handler that keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Captured:
    json_text: str
    plain_text: str
    records: list[logging.LogRecord]

    def everything(self) -> str:
        """Both handlers' output, the decoded JSON values, and every text field of every record."""
        parts = [self.json_text, self.plain_text]
        for line in self.json_text.splitlines():
            entry = json.loads(line)
            parts += [entry["message"], entry.get("exception") or ""]
        for record in self.records:
            parts += [str(record.msg), repr(record.args), record.exc_text or "", record.stack_info or ""]
        return "\n".join(parts)


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Other tests share this process: put the record factory and the registered secrets back."""
    factory = logging.getLogRecordFactory()
    monkeypatch.setattr(logs, "_registered", logs._registered)
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)


@contextmanager
def _preserved_root() -> Iterator[None]:
    """Root handlers and levels as they were (inside the test body: pytest adds its own handlers per phase)."""
    root, azure = logging.getLogger(), logging.getLogger("azure")
    handlers, level, azure_level = list(root.handlers), root.level, azure.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        azure.setLevel(azure_level)


@contextmanager
def _capture(name: str, level: int = logging.DEBUG) -> Iterator[tuple[logging.Logger, Callable[[], Captured]]]:
    logger = logging.getLogger(f"tests.logs.{name}")
    json_stream, plain_stream, keeper = io.StringIO(), io.StringIO(), RecordKeeper()
    json_handler, plain_handler = logging.StreamHandler(json_stream), logging.StreamHandler(plain_stream)
    json_handler.setFormatter(logs.JsonFormatter("transcription-test"))
    plain_handler.setFormatter(logging.Formatter(logs.TEXT_FORMAT))
    handlers = (json_handler, plain_handler, keeper)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(level)
    logger.propagate = False
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield logger, lambda: Captured(json_stream.getvalue(), plain_stream.getvalue(), keeper.records)
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def _log_everywhere(text: str) -> Captured:
    """``text`` as a message argument, and inside a chained exception logged with ``logger.exception``."""
    with _capture("catalogue") as (logger, captured):
        logger.warning("upload failed job_id=%s target=%s", JOB, text)
        try:
            try:
                raise KeyError(text)
            except KeyError as inner:
                raise RuntimeError({"detail": text, "attempt": 2}) from inner
        except RuntimeError:
            logger.exception("call failed job_id=%s", JOB)
        return captured()


# ------------------------------------------------------------------------------------------- the catalogue


def test_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 15
    assert len({case.name for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda case: case.name)
def test_no_secret_reaches_any_output(case: Case) -> None:
    logs.install_redaction()
    captured = _log_everywhere(case.text)
    assert leaks(case.text, case.secrets)  # the test data really holds a secret (some as one of its encodings)
    assert leaks(captured.everything(), case.secrets) == []
    for record in captured.records:
        assert record.args is None
        assert record.exc_info is None
    assert "***" in captured.plain_text


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda case: case.name)
def test_non_secrets_stay_readable(case: Case) -> None:
    logs.install_redaction()
    captured = _log_everywhere(case.text)
    for kept in case.keep:
        assert kept in captured.plain_text
    assert f"job_id={JOB}" in captured.plain_text


def _sig_only_redactor(text: str) -> str:
    return re.sub(r"sig=[^&\s]+", "sig=***", text)


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda case: case.name)
def test_the_checker_catches_a_broken_redactor(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same pipeline with a redactor that only knows ``sig=``: every other shape must be reported leaked."""
    monkeypatch.setattr(logs, "redact", _sig_only_redactor)
    logs.install_redaction()
    found = leaks(_log_everywhere(case.text).everything(), case.secrets)
    assert bool(found) is not case.sig_only


def test_leaks_helper_both_ways() -> None:
    secret = _urlsafe(32)
    assert leaks(f"url?sig={secret}", [secret, "absent-value-123"]) == [secret]
    assert leaks(f"url?sig={secret[:20]}***", [secret]) == [secret]  # a truncated leak is still a leak
    assert leaks(f"url?sig=***{secret[-14:]}", [secret]) == [secret]
    assert leaks("url?sig=***", [secret]) == []


# ------------------------------------------------------------------------------------------------ redact()


@pytest.mark.parametrize(
    "text",
    [
        f"segment started job_id={JOB} index=12 attempt=1",
        f"reading uploads/jobs/{JOB}/audio.wav?se=2026-01-01T00%3A00%3A00Z&sp=r&sv=2025-01-05&sr=b",
        "worker exited with code=1 after key=abc",
        "skoid=11111111-2222-3333-4444-555555555555&sktid=66666666-7777-8888-9999-000000000000",
        "monkey=bananas-and-more; tokenizer=whisper; keyframes=12",
        "DefaultEndpointsProtocol=https;AccountName=prodacct;EndpointSuffix=core.windows.net",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert logs.redact(text) == text


def test_redact_masks_in_place() -> None:
    assert logs.redact("a?se=2026-01-01&sp=r&sig=AbC%2Bdef%3D&x=1") == "a?se=2026-01-01&sp=r&sig=***&x=1"
    assert logs.redact("Authorization: Bearer abc.def.ghi") == "Authorization: Bearer ***"
    assert logs.redact("{'AccountKey': 'k/ey+=='}") == "{'AccountKey': '***'}"
    assert logs.redact("x-functions-key: abcdefghijklmnop==, next") == "x-functions-key: ***, next"
    assert logs.redact("SharedAccessSignature=sv=2025-01-05&sp=r&sig=AbC%3D;Q=1") == "SharedAccessSignature=***;Q=1"
    assert logs.redact(r"'a\nsig=AbCdEfGh\ntoken: x'") == r"'a\nsig=***\ntoken: x'"


def test_registered_secrets_are_masked_verbatim() -> None:
    webhook_secret = "whsec_" + _urlsafe(18) + "/+="
    logs.register_secret(webhook_secret)
    logs.register_secret("short")  # ignored: masking it would shred ordinary words
    assert logs.redact(f"signing with {webhook_secret} now") == "signing with *** now"
    assert logs.redact(f"encoded {quote(webhook_secret, safe='')}") == "encoded ***"
    assert logs.redact("a short note") == "a short note"


def test_registered_secret_reaches_no_output() -> None:
    master_key = _urlsafe(30)
    logs.register_secret(master_key)
    logs.install_redaction()
    captured = _log_everywhere(f"host.json said the master key is {master_key}")
    assert leaks(captured.everything(), [master_key]) == []


def test_redaction_is_fast_and_never_backtracks_badly() -> None:
    line = (
        f"segment started job_id={JOB} index=12 reading https://prodacct.blob.core.windows.net/u/a.wav?{_account_sas()}"
    )
    start = time.perf_counter()
    for _ in range(1000):
        logs.redact(line)
    assert (time.perf_counter() - start) / 1000 < 0.0005  # measured ~10 µs; this only catches disasters
    hostile = ["sig=" + "%" * 20000, "'key': '" + "\\" * 20000, "Bearer " + "a" * 50000, "=" * 20000 + "'"]
    start = time.perf_counter()
    for text in hostile:
        logs.redact(text)
    assert time.perf_counter() - start < 1.0


# ------------------------------------------------------------------------------------------ record factory


def test_install_redaction_is_idempotent() -> None:
    logs.install_redaction()
    installed = logging.getLogRecordFactory()
    logs.install_redaction()
    assert logging.getLogRecordFactory() is installed


def test_a_factory_layered_on_top_still_redacts_once() -> None:
    logs.install_redaction()
    inner = logging.getLogRecordFactory()
    seen: list[str] = []

    def foreign(*args: object, **kwargs: object) -> logging.LogRecord:
        record = inner(*args, **kwargs)
        seen.append(str(record.msg))
        return record

    logging.setLogRecordFactory(foreign)
    logs.install_redaction()  # wraps the foreign one; the record is recognised as already redacted
    with _capture("layered") as (logger, captured):
        logger.info("count=%d of %s", 3, "sig=AbCdEfGh12345678")
    assert seen == ["count=3 of sig=***"]
    assert captured().records[0].msg == "count=3 of sig=***"


def test_exception_becomes_redacted_text() -> None:
    logs.install_redaction()
    with _capture("exception") as (logger, captured):
        try:
            raise ValueError("bad url https://h/x?code=abcdefghijklmnopqrstuvwxyz012345")
        except ValueError:
            logger.exception("upload failed")
    record = captured().records[0]
    assert record.exc_info is None
    assert record.exc_type_name == "ValueError"  # type: ignore[attr-defined]
    assert "Traceback (most recent call last)" in (record.exc_text or "")
    assert "code=***" in (record.exc_text or "")
    assert "code=***" in captured().plain_text  # the standard Formatter still appends exc_text
    entry = json.loads(captured().json_text)
    assert entry["exception_type"] == "ValueError"
    assert "ValueError: bad url https://h/x?code=***" in entry["exception"]


def test_stack_info_is_redacted() -> None:
    logs.install_redaction()
    with _capture("stack") as (logger, captured):
        logger.info("where am I", stack_info=True)  # token=stack-secret-0123456789abcdef
    record = captured().records[0]
    assert "token=***" in (record.stack_info or "")
    assert "stack-secret-0123456789abcdef" not in captured().everything()


def test_unformattable_message_does_not_raise() -> None:
    logs.install_redaction()

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with _capture("unformattable") as (logger, captured):
        logger.info("%d segments for sig=%s", "three", "AbCdEfGh12345678")
        logger.info(Unprintable())
    first, second = captured().records
    assert first.msg == "<unformattable log message> %d segments for sig=***"  # the template, redacted too
    assert second.msg == "<unformattable log message> Unprintable"
    assert "AbCdEfGh12345678" not in captured().everything()


def test_factory_scrubs_the_record_when_redaction_itself_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("redactor bug")

    monkeypatch.setattr(logs, "redact", broken)
    logs.install_redaction()
    with _capture("scrub") as (logger, captured):
        try:
            raise ValueError("sig=AbCdEfGh12345678")
        except ValueError:
            logger.exception("failed with %s", "sig=AbCdEfGh12345678")
    record = captured().records[0]
    assert (record.msg, record.args, record.exc_info, record.exc_text) == (logs.UNFORMATTABLE, None, None, None)
    assert "AbCdEfGh12345678" not in captured().everything()


def test_json_formatter_redacts_records_that_bypassed_the_factory() -> None:
    record = logging.makeLogRecord({"msg": "connect %s", "args": ("AccountKey=" + _b64(64),), "levelname": "INFO"})
    entry = json.loads(logs.JsonFormatter("svc").format(record))
    assert entry["message"] == "connect AccountKey=***"
    shipped = logging.makeLogRecord({"msg": "failed", "exc_text": "Traceback ...\nValueError: code=" + "k" * 40})
    entry = json.loads(logs.JsonFormatter("svc").format(shipped))
    assert entry["exception"] == "Traceback ...\nValueError: code=***"
    try:
        raise ValueError("token=" + "t" * 30)
    except ValueError as exc:
        raw = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), (type(exc), exc, exc.__traceback__))
    entry = json.loads(logs.JsonFormatter("svc").format(raw))
    assert entry["exception_type"] == "ValueError" and entry["exception"].endswith("ValueError: token=***")


# ----------------------------------------------------------------------------------------------- JSON lines


def test_json_fields() -> None:
    logs.install_redaction()
    with _capture("fields") as (logger, captured):
        logger.info("hello %s", "world", extra={"job_id": "job-1", "segment": 3})
    entry = json.loads(captured().json_text)
    assert set(entry) == {
        "timestamp",
        "level",
        "logger",
        "message",
        "service",
        "job_id",
        "segment",
        "trace_id",
        "span_id",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["timestamp"])
    stamp = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert entry["level"] == "INFO" and entry["logger"] == "tests.logs.fields"
    assert entry["message"] == "hello world" and entry["service"] == "transcription-test"
    assert (entry["job_id"], entry["segment"]) == ("job-1", 3)
    assert (entry["trace_id"], entry["span_id"]) == (None, None)


def test_job_and_segment_from_log_context_nested() -> None:
    logs.install_redaction()
    with _capture("context") as (logger, captured):
        assert logs.current_log_context() == (None, None)
        with logs.log_context(job_id="job-a"):
            logger.info("outer")
            with logs.log_context(segment=7):
                assert logs.current_log_context() == ("job-a", 7)
                logger.info("inner")
                logger.info("extra wins", extra={"job_id": "job-b", "segment": "9"})
            logger.info("outer again")
        logger.info("outside")
        assert logs.current_log_context() == (None, None)
    entries = [json.loads(line) for line in captured().json_text.splitlines()]
    assert [(entry["job_id"], entry["segment"]) for entry in entries] == [
        ("job-a", None),
        ("job-a", 7),
        ("job-b", 9),
        ("job-a", None),
        (None, None),
    ]


def test_log_context_restores_after_an_exception_and_is_per_thread() -> None:
    with pytest.raises(RuntimeError), logs.log_context(job_id="job-x", segment=1):
        raise RuntimeError("boom")
    assert logs.current_log_context() == (None, None)
    seen: list[tuple[str | None, int | None]] = []
    with logs.log_context(job_id="job-main"):
        thread = threading.Thread(target=lambda: seen.append(logs.current_log_context()))
        thread.start()
        thread.join()
    assert seen == [(None, None)]


def test_job_and_segment_parsed_from_the_message() -> None:
    logs.install_redaction()
    with _capture("parsed") as (logger, captured):
        logger.info("segment started job_id=%s index=%d attempt=%d", JOB, 12, 1)
        logger.warning("storage busy during %s (job_id=%s): %s", "read", "job-z", 503)
        logger.info("no ids here")
    entries = [json.loads(line) for line in captured().json_text.splitlines()]
    assert [(entry["job_id"], entry["segment"]) for entry in entries] == [(JOB, 12), ("job-z", None), (None, None)]


def test_trace_and_span_ids_inside_a_span() -> None:
    provider = TracerProvider()
    logs.install_redaction()
    with _capture("trace") as (logger, captured):
        with provider.get_tracer("t").start_as_current_span("segment") as span:
            logger.info("inside")
        logger.info("outside")
    inside, outside = (json.loads(line) for line in captured().json_text.splitlines())
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert re.fullmatch(r"[0-9a-f]{32}", inside["trace_id"]) and re.fullmatch(r"[0-9a-f]{16}", inside["span_id"])
    assert (outside["trace_id"], outside["span_id"]) == (None, None)
    provider.shutdown()


@pytest.mark.parametrize(
    "message",
    ['say "hi" \\ there', "two\nlines\r\n\tand a tab", "bytes \udcff\udcfe that were not UTF-8", "emoji 🎙 ü \x00"],
)
def test_json_is_valid_for_awkward_messages(message: str) -> None:
    logs.install_redaction()
    with _capture("awkward") as (logger, captured):
        logger.info("%s", message)
        logger.info(message)
    lines = captured().json_text.splitlines()
    assert len(lines) == 2
    for line in lines:
        line.encode("ascii")  # any stream encoding can take it
        decoded = json.loads(line)["message"]
        decoded.encode("utf-8")  # no lone surrogates: strict JSON parsers accept it
        assert decoded == message or "\\udcff" in decoded


# ------------------------------------------------------------------------------------------ configure_logging


def test_configure_logging_installs_one_json_handler() -> None:
    stream = io.StringIO()
    with _preserved_root():
        logs.configure_logging("transcription-worker", stream=stream)
        handler = logs.configure_logging("transcription-worker", level=logging.DEBUG, stream=stream)
        root = logging.getLogger()
        assert root.handlers == [handler] and root.level == logging.DEBUG
        assert isinstance(handler.formatter, logs.JsonFormatter)
        assert logging.getLogger("azure").level == logging.WARNING
        logging.getLogger("worker.segment").info("segment done job_id=%s index=%d sig=%s", JOB, 4, "AbC%2Bdef%3D")
        logging.getLogger("azure.core.pipeline").info("Request URL: 'https://x'")  # dropped: below WARNING
    entry = json.loads(stream.getvalue())
    assert entry["service"] == "transcription-worker" and entry["logger"] == "worker.segment"
    assert entry["message"] == f"segment done job_id={JOB} index=4 sig=***"
    assert (entry["job_id"], entry["segment"]) == (JOB, 4)


def test_configure_logging_text_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(logs.FORMAT_ENV, "text")
    stream = io.StringIO()
    with _preserved_root():
        logs.configure_logging("transcription-devhost", stream=stream)
        logging.getLogger("devhost").warning("key is %s", "code=abcdefghijklmnopqrstuvwxyz")
    assert re.fullmatch(r"\S+ \S+ WARNING devhost: key is code=\*\*\*\n", stream.getvalue())


def test_records_rebuilt_by_make_log_record_are_redacted_with_the_factory_installed() -> None:
    """``makeLogRecord`` runs the factory on an empty record, then overwrites its fields: the factory's mark says
    nothing about the text that arrives afterwards (found when another test had installed the factory first)."""
    logs.install_redaction()
    shipped = logging.makeLogRecord({"msg": "failed", "exc_text": "Traceback ...\nValueError: code=" + "k" * 40})
    entry = json.loads(logs.JsonFormatter("svc").format(shipped))
    assert entry["exception"] == "Traceback ...\nValueError: code=***"
    rebuilt = logging.makeLogRecord({"msg": "connect AccountKey=" + _b64(64), "args": None})
    assert json.loads(logs.JsonFormatter("svc").format(rebuilt))["message"] == "connect AccountKey=***"
