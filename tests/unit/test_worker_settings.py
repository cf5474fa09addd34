"""The worker's settings (worker/settings.py): the environment reaches them, flags override them, bad values fail
with the variable's or the flag's name."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from worker.__main__ import SETTING_FLAGS, parse_args
from worker.settings import (
    WorkerSettingsError,
    env_names,
    get_worker_settings,
    load_worker_settings,
    with_overrides,
)

ENVIRONMENT = {
    "TRANSCRIBE_MODEL": "/opt/models/large-v3-turbo",
    "TRANSCRIBE_MODEL_CACHE": "/var/cache/models",
    "TRANSCRIBE_DEVICE": "cuda",
    "TRANSCRIBE_COMPUTE_TYPE": "float16",
    "TRANSCRIBE_CPU_THREADS": "3",
    "TRANSCRIBE_BATCH_SIZE": "16",
    "TRANSCRIBE_DEADLINE_S": "3480",
    "TRANSCRIBE_SEGMENT_BUDGET_S": "900",
}
READ = {
    "model": "/opt/models/large-v3-turbo",
    "model_cache": "/var/cache/models",
    "device": "cuda",
    "compute_type": "float16",
    "cpu_threads": 3,
    "batch_size": 16,
    "deadline_s": 3480.0,
    "segment_budget_s": 900.0,
}


DEFAULTS = {
    "model": "tiny.en",
    "model_cache": "",
    "device": "auto",
    "compute_type": None,
    "cpu_threads": 0,
    "batch_size": 0,
    "deadline_s": 0.0,
    "segment_budget_s": 600.0,
}


def test_the_defaults_are_the_ones_the_worker_always_had() -> None:
    assert load_worker_settings().model_dump() == DEFAULTS


def test_every_variable_reaches_its_setting_and_the_flags_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    assert env_names() == set(ENVIRONMENT)
    assert load_worker_settings().model_dump() == READ
    args = parse_args([], load_worker_settings())
    assert {field: getattr(args, dest) for field, dest in SETTING_FLAGS.items()} == READ


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A template may leave a value empty: the default applies (``int("")`` used to crash the worker)."""
    for name in ENVIRONMENT:
        monkeypatch.setenv(name, "")
    assert load_worker_settings().model_dump() == DEFAULTS


def test_the_settings_are_read_once_and_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSCRIBE_BATCH_SIZE", "4")
    first = get_worker_settings()
    monkeypatch.setenv("TRANSCRIBE_BATCH_SIZE", "8")
    assert get_worker_settings() is first and first.batch_size == 4
    assert parse_args([]).batch_size == 4  # the process's settings, not a second reading


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    flags = ["--model", "tiny.en", "--device", "cpu", "--compute-type", "int8", "--threads", "1"]
    flags += ["--batch-size", "2", "--deadline", "60", "--segment-budget", "30"]
    args = parse_args(flags, load_worker_settings())
    assert (args.model, args.device, args.compute_type, args.threads) == ("tiny.en", "cpu", "int8", 1)
    assert (args.batch_size, args.deadline, args.segment_budget) == (2, 60.0, 30.0)
    assert parse_args(["--threads", "2"], load_worker_settings()).batch_size == 16  # the rest stay the environment's


def test_the_multilingual_base_is_chosen_by_variable_or_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSCRIBE_MODEL", "base")
    assert load_worker_settings().model == "base"
    assert parse_args([], load_worker_settings()).model == "base"
    monkeypatch.delenv("TRANSCRIBE_MODEL")
    args = parse_args(["--model", "base", "--model-cache", "/tmp/joined"], load_worker_settings())
    assert (args.model, args.model_cache) == ("base", "/tmp/joined")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TRANSCRIBE_DEVICE", "gpu", "TRANSCRIBE_DEVICE='gpu': Input should be 'auto', 'cpu' or 'cuda'"),
        ("TRANSCRIBE_COMPUTE_TYPE", "fp16", "TRANSCRIBE_COMPUTE_TYPE='fp16'"),
        ("TRANSCRIBE_CPU_THREADS", "two", "TRANSCRIBE_CPU_THREADS='two': Input should be a valid integer"),
        ("TRANSCRIBE_BATCH_SIZE", "-1", "TRANSCRIBE_BATCH_SIZE='-1': Input should be greater than or equal to 0"),
        ("TRANSCRIBE_DEADLINE_S", "-5", "TRANSCRIBE_DEADLINE_S='-5'"),
        ("TRANSCRIBE_SEGMENT_BUDGET_S", "0", "TRANSCRIBE_SEGMENT_BUDGET_S='0': Input should be greater than 0"),
    ],
)
def test_a_bad_variable_fails_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(WorkerSettingsError, match="bad worker setting") as raised:
        load_worker_settings()
    assert says in str(raised.value)


def test_a_bad_variable_stops_the_worker_with_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRANSCRIBE_DEVICE", "gpu")
    with pytest.raises(SystemExit) as exited:
        parse_args([])
    assert exited.value.code == 2
    assert "TRANSCRIBE_DEVICE='gpu'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--threads", "-1"], "--threads=-1: Input should be greater than or equal to 0"),
        (["--batch-size", "-2"], "--batch-size=-2"),
        (["--deadline", "-1"], "--deadline=-1.0"),
        (["--segment-budget", "0"], "--segment-budget=0.0: Input should be greater than 0"),
        (["--device", "gpu"], "invalid choice: 'gpu'"),
    ],
)
def test_a_bad_flag_stops_the_worker_naming_it(flags: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(flags, load_worker_settings())
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_an_override_is_checked_by_the_same_rules() -> None:
    base = load_worker_settings()
    assert with_overrides(base, {"batch_size": 8}).batch_size == 8
    with pytest.raises(WorkerSettingsError, match="--x=-8"):
        with_overrides(base, {"batch_size": -8}, lambda field: "--x")


def test_the_image_sets_only_variables_the_worker_reads_with_values_it_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """worker/Dockerfile's ``ENV`` (the defaults under Bicep's job settings, tests/unit/test_infra.py)."""
    text = (ROOT / "worker" / "Dockerfile").read_text()
    image = dict(re.findall(r"^\s+(TRANSCRIBE_\w+)=(\S+?)\s*\\?$", text, re.MULTILINE))
    assert set(image) == {"TRANSCRIBE_MODEL", "TRANSCRIBE_DEVICE"} and set(image) <= env_names()
    for name, value in image.items():
        monkeypatch.setenv(name, value)
    assert load_worker_settings().device == image["TRANSCRIBE_DEVICE"]
