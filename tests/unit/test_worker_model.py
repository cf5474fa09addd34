import pytest

from worker.engines import whisper as transcriber
from worker.engines.whisper import pick_device, resolve_model


def test_bundled_model_resolves_to_a_ctranslate2_folder() -> None:
    path = resolve_model("tiny.en")
    assert path.endswith("model")
    assert resolve_model(path) == path


def test_unknown_models_are_refused_rather_than_downloaded() -> None:
    with pytest.raises(ValueError, match="neither a folder nor a bundled model"):
        resolve_model("large-v3")


@pytest.mark.parametrize(
    ("gpus", "requested", "compute", "expected"),
    [
        (0, "auto", None, ("cpu", "int8")),
        (1, "auto", None, ("cuda", "float16")),
        (1, "cpu", None, ("cpu", "int8")),
        (0, "cuda", "int8_float16", ("cuda", "int8_float16")),
    ],
)
def test_device_auto_prefers_cuda_float16_then_cpu_int8(
    monkeypatch: pytest.MonkeyPatch, gpus: int, requested: str, compute: str | None, expected: tuple[str, str]
) -> None:
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: gpus)  # no GPU on this machine: simulate one
    assert pick_device(requested, compute) == expected


def test_the_transcriber_loads_on_the_device_it_picked_and_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)
    loaded = transcriber.Transcriber(transcriber.ModelSpec("tiny.en", "auto", None, 1))
    assert (loaded.device, loaded.compute_type, loaded.model_name) == ("cpu", "int8", "tiny.en")
    assert loaded._model.model.device == "cpu" and loaded._model.model.compute_type.startswith("int8")
