"""Structured logs that never leak secrets.

Three pieces, each small:

``redact``
    Replaces secret values in free text with ``***`` and leaves the rest readable: a SAS URL keeps its
    account, container, blob, ``se``/``sp``/``skoid`` and loses its ``sig``; a connection string keeps
    ``AccountName`` and its endpoints and loses ``AccountKey``. The patterns are precompiled, and each runs
    only when a cheap substring test says the line could match. Measured with ``timeit`` (best of 7, CPython
    3.11.7 on the 2-core development container): 4.7 µs for a 197-character line with no secret (``segment
    done job_id=... index=12 ...``), 9.5 µs for a 209-character line with a SAS URL, 23 µs for a 229-character
    exception-style dict repr with a SAS URL and a Bearer header. Exact values the process knows to be secret
    (the function key, a webhook secret read from settings) are added with ``register_secret`` and replaced
    verbatim.

``install_redaction``
    Wraps the log record *factory*, so every ``LogRecord`` is redacted the moment it is created, before any
    handler sees it. A filter would not do: a filter on a logger does not see records propagated from its
    child loggers, a filter on a handler only protects that handler, and the handlers that matter most are not
    ours (the Azure Functions worker forwards records to the host; an OpenTelemetry ``LoggingHandler`` exports
    them to Application Insights). After the factory, ``record.msg`` is the redacted, fully formatted message,
    ``record.args`` is ``None``, a traceback lives only as redacted ``record.exc_text`` (``exc_info`` is
    cleared so nothing can re-render the raw one; the standard ``Formatter`` still appends ``exc_text``) and
    ``record.exc_type_name`` keeps the exception's type for structured output.

``JsonFormatter`` / ``configure_logging``
    One JSON object per line, with the job and segment a line is about (from ``extra=``, from
    ``log_context``, or parsed from the ``job_id=... index=...`` text the code base already logs) and the
    current trace and span ids, so a line can be joined to its trace in Application Insights.

Limits: records built with ``logging.makeLogRecord`` (a ``SocketHandler``'s receiving end) bypass the factory;
``JsonFormatter`` redacts such records itself, other formatters do not. Attributes given with ``extra=`` are
set after the factory runs and are not redacted. Redaction is pattern based: a secret in a shape nobody
described (a bare random string in prose) is only caught if it was registered. Because ``exc_info`` is
cleared, OpenTelemetry's ``LoggingHandler`` exports no ``exception.*`` attributes of its own (it treats
``exc_text`` as reserved); give that handler a ``Formatter`` and the redacted traceback goes into the body,
and ``exc_type_name`` is exported as an attribute either way.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Final, NamedTuple
from urllib.parse import quote

MASK: Final = "***"
UNFORMATTABLE: Final = "<unformattable log message>"
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMAT_ENV: Final = "TRANSCRIBE_LOG_FORMAT"

# Azurite's well-known development account key: public, but a leak detector that tolerates it would also let a
# production connection string through once someone copies the dev settings.
AZURITE_ACCOUNT_KEY: Final = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_MIN_SECRET_LEN: Final = 8

# Names whose value is a secret when they appear as ``name=value`` in a query string, a connection string or
# free text, or as a quoted field in JSON or a repr(). ``key`` is matched only as a whole word, so ``monkey=``
# is not, and ``sp``/``se``/``skoid`` (SAS fields that are not secret) never match.
_SECRET_NAMES: Final = (
    "sig", "signature", "code", "token", "access_token", "refresh_token", "id_token", "secret", "client_secret",
    "key", "api_key", "apikey", "api-key", "password", "passwd", "pwd", "accountkey", "account_key",
    "sharedaccesskey", "instrumentationkey", "sas_token", "sastoken", "x-functions-key", "subscription-key",
)  # fmt: skip


def _name_pattern(names: tuple[str, ...]) -> str:
    """A case-insensitive regex for ``names``, built as a trie of ``[xX]`` classes.

    Python's ``re`` tries every branch of an alternation at every position and ``(?i)`` switches off its
    fast scanning: on a 200-character line the plain ``(?i)a|b|c`` form costs 5 to 10 times more.
    """
    trie: dict[str, Any] = {}
    for name in names:
        node = trie
        for char in name:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_regex(trie)


def _first_char_lookahead(names: tuple[str, ...], extra: str = "") -> str:
    """``(?=[sScC...])``: one character-class test that rejects most positions before the costlier checks."""
    firsts = sorted({name[0].lower() for name in names} | {name[0].upper() for name in names})
    return "(?=[" + re.escape("".join(firsts) + extra) + "])"


def _trie_regex(node: dict[str, Any]) -> str:
    branches = [
        (f"[{char}{char.upper()}]" if char.isalpha() else re.escape(char)) + _trie_regex(child)
        for char, child in sorted(node.items())
        if char
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


_NAME = _name_pattern(_SECRET_NAMES)
_QUOTABLE_NAMES: Final = (*_SECRET_NAMES, "authorization", "sharedaccesssignature")
_QUOTABLE_NAME = _name_pattern(_QUOTABLE_NAMES)
# A value ends at a separator: ``&`` (or its URL encoding ``%26``), ``;`` (connection strings), whitespace,
# quotes, a backslash (``\n`` inside a repr), ``#``, ``,`` and angle brackets.
_VALUE = r"(?:[^&;\s\"'\\#,<>%]|%(?!26)[0-9A-Fa-f]{2}|%(?![0-9A-Fa-f]{2}))+"

# Where a name may start: not inside a longer word, but right after an escaped newline or tab is fine (a repr()
# of a multi-line string shows ``\nX-Functions-Key: ...``).
_PARAM_START = r"(?:(?<![A-Za-z0-9_])|(?<=\\[nrt]))"
_WORD_START = r"(?:(?<![A-Za-z0-9_-])|(?<=\\[nrt]))"

_PARAM = re.compile(
    rf"{_first_char_lookahead(_SECRET_NAMES)}{_PARAM_START}(?P<name>{_NAME})(?P<eq>=)(?P<value>{_VALUE})"
)
# The same inside a URL-encoded URL (one passed as a query parameter of another): ``%26sig%3D...``.
_ENCODED_PARAM = re.compile(rf"(?:%26|%3[Ff]|%20)(?P<name>{_NAME})(?P<eq>%3[Dd])(?P<value>{_VALUE})")
# ``SharedAccessSignature=sv=...&sig=...`` inside a connection string: the value runs to the next ``;``.
_SAS_IN_CONNECTION = re.compile(
    rf"{_PARAM_START}(?P<name>{_name_pattern(('sharedaccesssignature',))})=(?P<value>[^;\s\"'\\]+)"
)
# ``'AccountKey': '...'``, ``"sig": "..."``, ``account_key='...'``: the forms repr() and JSON give.
_QUOTED_FIELD = re.compile(
    _first_char_lookahead(_QUOTABLE_NAMES, extra="'\"")
    + rf"{_WORD_START}(?P<q1>[\"']?)(?P<name>{_QUOTABLE_NAME})(?P=q1)\s*[:=]\s*"
    + r"""(?:"(?P<value>[^"\\]*(?:\\.[^"\\]*)*)"|'(?P<value2>[^'\\]*(?:\\.[^'\\]*)*)')"""
)
# Header lines: ``x-functions-key: abc``, ``Authorization: Bearer abc`` (the scheme is kept).
_HEADER_KEY_NAMES: Final = (
    "x-functions-key",
    "x-api-key",
    "api-key",
    "ocp-apim-subscription-key",
    "x-ms-client-secret",
)
_KEY_HEADER = re.compile(rf"{_WORD_START}(?P<name>{_name_pattern(_HEADER_KEY_NAMES)})\s*:\s*(?P<value>[^\s\"',;\\]+)")
_AUTH_SCHEMES: Final = ("bearer", "sharedkey", "sharedkeylite", "basic", "digest", "sharedaccesssignature", "token")
_AUTH_HEADER = re.compile(
    rf"{_WORD_START}(?P<name>{_name_pattern(('authorization', 'proxy-authorization'))})\s*:\s*"
    rf"(?P<scheme>{_name_pattern(_AUTH_SCHEMES)}\s+)?(?P<value>[^\s\"',\\]+)"
)
_BEARER = re.compile(rf"{_PARAM_START}{_name_pattern(('bearer',))}\s+(?P<value>[A-Za-z0-9\-._~+/]+=*)")
_SHARED_KEY = re.compile(rf"{_PARAM_START}SharedKey(?:Lite)?\s+[A-Za-z0-9._-]+:(?P<value>[A-Za-z0-9+/]+=*)")
# A JSON web token anywhere (the header of every JWT is base64 of ``{"``, hence ``eyJ``).
_JWT = re.compile(r"eyJ(?:(?<![A-Za-z0-9_-]eyJ)|(?<=\\[nrt]eyJ))[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
# A storage account key out of context: 64 random bytes are 88 base64 characters ending in ``==``.
_ACCOUNT_KEY_SHAPE = re.compile(r"(?:(?<![A-Za-z0-9+/])|(?<=\\[nrt]))[A-Za-z0-9+/]{86}==")
# A Standard Webhooks signing secret (shared/jobs/webhooks.py) out of context: its prefix says what it is.
_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/]+=*")
# ``https://user:password@host``.
_URL_PASSWORD = re.compile(r"://[^/\s:@\"']+:(?P<value>[^/\s@\"']+)(?=@)")


def _keep_all_but_value(match: re.Match[str]) -> str:
    """The match with its ``value`` (or ``value2``) group replaced by the mask; the rest stays."""
    group = "value" if match.group("value") is not None else "value2"
    start, end = match.span(group)
    offset = match.start(0)
    whole = match.group(0)
    return whole[: start - offset] + MASK + whole[end - offset :]


# ``code`` and ``key`` are also ordinary words (``exit code=1``); their secret values are long random strings.
_AMBIGUOUS_NAMES: Final = frozenset({"code", "key"})


def _mask_param(match: re.Match[str]) -> str:
    if match.group("name").lower() in _AMBIGUOUS_NAMES and len(match.group("value")) < _MIN_SECRET_LEN:
        return match.group(0)
    return _keep_all_but_value(match)


def _mask_all(match: re.Match[str]) -> str:
    return MASK


# Every name in _SECRET_NAMES (and ``authorization``) contains one of these; a line with none of them skips the
# name-based rules entirely.
_NAME_MARKERS: Final = ("sig", "code", "token", "secret", "key", "passw", "pwd", "authorization", "signature")


class _Rule(NamedTuple):
    """A pattern, its replacement, and what a line must contain for the rule to run at all.

    ``gate``: lowercase substrings, one of which must be in the lowercased line; ``needs``: characters, one of
    which must be in the line (empty: no condition). Both are plain ``in`` tests, tens of nanoseconds each,
    where a regex scan of a 200-character line costs microseconds, so the rules a line cannot match are
    almost free.
    """

    pattern: re.Pattern[str]
    replace: Callable[[re.Match[str]], str]
    gate: tuple[str, ...]
    needs: str = ""

    def applies(self, text: str, lower: str) -> bool:
        if self.needs and not any(char in text for char in self.needs):
            return False
        return any(marker in lower for marker in self.gate)


_RULES: Final = (
    _Rule(_SAS_IN_CONNECTION, _keep_all_but_value, ("sharedaccesssignature=",)),
    _Rule(_QUOTED_FIELD, _keep_all_but_value, _NAME_MARKERS, needs="'\""),
    _Rule(_AUTH_HEADER, _keep_all_but_value, ("authorization",)),
    _Rule(_KEY_HEADER, _keep_all_but_value, ("-key", "-secret")),
    _Rule(_PARAM, _mask_param, tuple(f"{marker}=" for marker in _NAME_MARKERS)),
    _Rule(_ENCODED_PARAM, _mask_param, ("%26", "%3f", "%20")),
    _Rule(_SHARED_KEY, _keep_all_but_value, ("sharedkey",)),
    _Rule(_BEARER, _keep_all_but_value, ("bearer",)),
    _Rule(_JWT, _mask_all, ("eyj",)),
    _Rule(_ACCOUNT_KEY_SHAPE, _mask_all, ("==",)),
    _Rule(_WEBHOOK_SECRET, _mask_all, ("whsec_",)),
    _Rule(_URL_PASSWORD, _keep_all_but_value, ("@",)),
)


# Exact secret values, longest first (so a secret that contains another is masked whole). Replaced as a whole
# tuple under a lock and read without one: readers see either the old or the new tuple, never half of one.
_registered: tuple[str, ...] = ()
_registered_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask ``value`` verbatim (and its URL-encoded form) in every later ``redact``; short values are ignored.

    For secrets whose shape no pattern knows: the function and master keys, a webhook signing secret read from
    settings. Values under 8 characters are ignored because masking them would shred ordinary words.
    """
    global _registered
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    forms = {value, quote(value, safe="")}
    with _registered_lock:
        merged = set(_registered) | forms
        _registered = tuple(sorted(merged, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every secret value it recognises replaced by ``***``; everything else is kept."""
    for secret in _registered:
        if secret in text:
            text = text.replace(secret, MASK)
    lower = text.lower()
    for rule in _RULES:
        if rule.applies(text, lower):
            text = rule.pattern.sub(rule.replace, text)
    return text


register_secret(AZURITE_ACCOUNT_KEY)


# --------------------------------------------------------------------------------------------- record factory

_FactoryType = Callable[..., logging.LogRecord]
_install_lock = threading.Lock()
_MARK: Final = "_transcribe_redacting_factory"


def _safe_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        # A bad format string or an argument whose __str__ raises: say so rather than lose the record.
        try:
            template = str(record.msg)
        except Exception:
            template = type(record.msg).__name__
        return f"{UNFORMATTABLE} {template}"


def _redact_exception(record: logging.LogRecord) -> None:
    exc_info = record.exc_info
    if not exc_info:
        return
    exc_type = exc_info[0]
    type_name = exc_type.__name__ if exc_type is not None else None
    record.exc_type_name = type_name
    try:
        text = logging.Formatter().formatException(exc_info)
    except Exception:
        text = f"{type_name}: <unformattable exception>"
    record.exc_text = redact(text)
    record.exc_info = None


def redact_record(record: logging.LogRecord) -> None:
    """Redact one record in place (what the factory does); a record already redacted is left alone.

    ``record.args is None`` marks a redacted record: ``LogRecord`` itself always stores a tuple or a mapping,
    and a marker attribute of our own would be exported as a log attribute by OpenTelemetry.
    """
    if record.args is None:
        return
    record.msg = redact(_safe_message(record))
    record.args = None
    _redact_exception(record)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _scrub_fallback(record: logging.LogRecord) -> None:
    """Last resort when redaction itself failed: keep nothing that could hold a secret."""
    record.msg = UNFORMATTABLE
    record.args = None
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None


def _redacting_factory(base: _FactoryType) -> _FactoryType:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            redact_record(record)
        except Exception:  # never raise from the factory: every library's logging goes through it
            _scrub_fallback(record)
        return record

    setattr(factory, _MARK, True)
    return factory


def install_redaction() -> None:
    """Make every ``LogRecord`` created from now on carry redacted text; calling it again changes nothing.

    A factory installed on top of ours by someone else (OpenTelemetry's logging instrumentation does that)
    keeps ours underneath; a second install then wraps theirs, which costs nothing because a redacted record
    is recognised and skipped.
    """
    with _install_lock:
        current = logging.getLogRecordFactory()
        if getattr(current, _MARK, False):
            return
        logging.setLogRecordFactory(_redacting_factory(current))


# ------------------------------------------------------------------------------------------------- log context

_context: contextvars.ContextVar[tuple[str | None, int | None]] = contextvars.ContextVar(
    "transcribe_log_context", default=(None, None)
)


def current_log_context() -> tuple[str | None, int | None]:
    """The ``(job_id, segment)`` that ``log_context`` set for this task or thread."""
    return _context.get()


@contextmanager
def log_context(job_id: str | None = None, segment: int | None = None) -> Iterator[None]:
    """Tag every log line inside the block with a job and segment; ``None`` keeps the enclosing value.

    A context variable rather than a thread-local, so concurrent asyncio tasks each see their own; the
    previous values come back on exit even when blocks nest or raise.
    """
    outer_job, outer_segment = _context.get()
    token = _context.set(
        (job_id if job_id is not None else outer_job, segment if segment is not None else outer_segment)
    )
    try:
        yield
    finally:
        _context.reset(token)


# ------------------------------------------------------------------------------------------------ JSON lines

_JOB_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_])job_id=([^\s,;()\[\]{}'\"]+)")
_SEGMENT_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_])(?:index|segment)=(\d+)")


def _as_segment(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _job_and_segment(record: logging.LogRecord, message: str) -> tuple[str | None, int | None]:
    """``extra=`` first, then ``log_context``, then the ``job_id=... index=...`` the message itself carries."""
    raw_job = getattr(record, "job_id", None)
    job_id = str(raw_job) if raw_job is not None else None
    segment = _as_segment(getattr(record, "segment", None))
    context_job, context_segment = _context.get()
    job_id = job_id if job_id is not None else context_job
    segment = segment if segment is not None else context_segment
    if job_id is None and (found := _JOB_IN_TEXT.search(message)):
        job_id = found.group(1)
    if segment is None and (found := _SEGMENT_IN_TEXT.search(message)):
        segment = int(found.group(1))
    return job_id, segment


def _trace_ids() -> tuple[str | None, str | None]:
    """The current span's ids as lowercase hex, or ``(None, None)`` outside a valid span or without OTel."""
    try:
        from opentelemetry import trace  # lazy: importing this module must stay cheap
    except ImportError:
        return None, None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _iso_utc(created: float) -> str:
    whole = int(created)
    millis = int((created - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def _clean(text: str) -> str:
    """Lone surrogates (bytes that were not UTF-8, decoded with surrogateescape) as visible escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, service, job_id, segment, trace ids.

    A record that did not come through the redacting factory (``makeLogRecord``, or ``install_redaction``
    never called) is redacted here, so this formatter never writes a secret it could recognise.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        # Always redact (it is idempotent, ~5 us): ``args is None`` cannot prove the factory saw this text, since
        # ``logging.makeLogRecord`` runs the factory on an empty record and then overwrites its fields.
        message = redact(_safe_message(record))
        job_id, segment = _job_and_segment(record, message)
        trace_id, span_id = _trace_ids()
        payload: dict[str, object] = {
            "timestamp": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": _clean(message),
            "service": self.service,
            "job_id": job_id,
            "segment": segment,
            "trace_id": trace_id,
            "span_id": span_id,
        }
        self._add_exception(record, payload)
        return json.dumps(payload, ensure_ascii=True, default=str)

    def _add_exception(self, record: logging.LogRecord, payload: dict[str, object]) -> None:
        """``exception``: the traceback (and any stack), redacted here unless the factory already did."""
        text = record.exc_text or ""
        type_name = getattr(record, "exc_type_name", None)
        if record.exc_info:
            text = self.formatException(record.exc_info)
            exc_type = record.exc_info[0]
            type_name = exc_type.__name__ if exc_type is not None else None
        if record.stack_info:
            text = f"{text}\n{record.stack_info}" if text else record.stack_info
        if not text:
            return
        payload["exception"] = _clean(redact(text))
        payload["exception_type"] = type_name


# -------------------------------------------------------------------------------------------------- configure


def configure_logging(service: str, level: int = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Send the root logger's records, redacted, to one stream handler (stderr): JSON lines, or text.

    ``TRANSCRIBE_LOG_FORMAT=text`` gives the classic one-line text format for a developer's terminal. The
    ``azure`` logger is set to WARNING because the SDK logs every HTTP request and response at INFO. Calling
    this again replaces the handler rather than adding a second one. Handlers removed from the root are not
    closed: they may belong to the platform.
    """
    install_redaction()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if os.environ.get(FORMAT_ENV, "").strip().lower() == "text":
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("azure").setLevel(logging.WARNING)
    return handler
