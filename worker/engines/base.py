"""What the segment worker needs from a speech-to-text engine, and nothing more.

:mod:`worker.segment_worker` handles the queue, the audio, the deadline and the reports; the engine only turns a
window's samples into segments. Written down as a :class:`typing.Protocol` so that the worker depends on this
contract rather than on faster-whisper's :class:`worker.engines.whisper.Transcriber` (mypy checks that it satisfies
it: ``worker/__main__.py`` hands one to :class:`~worker.segment_worker.SegmentWorker`), and a second engine (or a
test double) can be dropped in without the worker changing. A diarization engine, which labels speakers rather
than words, will be a contract of its own beside this one.

The contract:

* **Loaded once**: an :data:`EngineLoader` builds the engine from a :class:`ModelSpec` when the process starts (in
  a thread, while storage is set up); the worker then uses it for every segment.
* **Absolute times**: ``transcribe`` gets 16 kHz mono float32 samples that start exactly at ``window.start_s`` and
  returns segments and words timed from the start of the file, so nothing drifts across seams.
* **What was heard**: each segment's language with its probability (detected per stretch of speech unless the job
  forced one), the window's dominant language, and the speech that gave no words (``untranscribed``), never
  dropped silently.
* **Stoppable**: ``keep_going`` is asked as decoding advances; ``False`` ends the call with :class:`Stopped` (the
  job was canceled). ``on_progress`` is told the absolute time reached, for the job's progress.
* **Labelled**: ``model_name``, ``device`` and ``compute_type`` go into every result, span and metric.

Nothing here imports an engine's libraries (nor numpy): ``import worker.__main__`` must stay light (its native
thread limits are set before numpy loads, ``worker/__main__.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from shared.contracts import Segment, Span, Window

if TYPE_CHECKING:
    from shared.audio.decode import Samples


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how; an engine takes what applies to it."""

    model: str = "tiny.en"
    device: str = "auto"
    compute_type: str | None = None
    cpu_threads: int = 0  # 0: the engine's default (all cores)
    batch_size: int = 1  # clips of up to 30 s decoded at once (worker/layout.py picks it for the machine)
    model_cache: str = ""  # where a bundled model split across packages is joined ("": worker/engines/models.py's)


@dataclass(frozen=True)
class Languages:
    """What the job asked for (``shared/languages.py``): one language to force, or detection among ``candidates``
    (None: every language the model knows), and whether to transcribe or translate to English."""

    forced: str | None = None
    candidates: tuple[str, ...] | None = None
    task: str = "transcribe"


ENGLISH = Languages()


@dataclass(frozen=True)
class Heard:
    """A window's transcription: its segments, the language heard, and the speech that gave no words."""

    segments: list[Segment]
    language: str | None
    language_probability: float | None
    untranscribed: list[Span] = field(default_factory=list)


class Stopped(Exception):
    """The caller asked to stop mid-window (its job was canceled); nothing of the window is kept."""


class TranscriptionEngine(Protocol):
    """A loaded speech-to-text model, as :class:`~worker.segment_worker.SegmentWorker` uses it."""

    @property
    def model_name(self) -> str:
        """The name transcripts and metrics carry (a model folder by its own name)."""
        ...

    @property
    def device(self) -> str:
        """Where it runs, resolved (``cpu`` or ``cuda``, never ``auto``)."""
        ...

    @property
    def compute_type(self) -> str:
        """The numeric type it decodes in, resolved (``int8``, ``float16``, ...)."""
        ...

    def transcribe(
        self,
        samples: Samples,
        window: Window,
        languages: Languages = ENGLISH,
        beam_size: int = 5,
        vad_filter: bool = True,
        *,
        keep_going: Callable[[], bool] | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Heard:
        """``samples`` start at ``window.start_s``; the segments come back in absolute time (module docstring).

        Raises :class:`Stopped` once ``keep_going`` says no; other exceptions are failures the worker retries.
        """
        ...


EngineLoader = Callable[[ModelSpec], TranscriptionEngine]
"""Loads an engine, once per process (faster-whisper's: the :class:`worker.engines.whisper.Transcriber` class)."""
