"""The worker's transcriber on a real GPU: CUDA float16, same words as on the CPU. Skipped without a GPU."""

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"


def _gpus() -> int:
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:
        return 0


@pytest.mark.gpu
@pytest.mark.skipif(_gpus() == 0, reason="needs an NVIDIA GPU that CTranslate2 can use")
def test_cuda_float16_transcribes_like_cpu_int8() -> None:
    import soundfile

    from shared.contracts import Window
    from tests.support.wer import wer
    from worker.engines.whisper import ModelSpec, Transcriber

    samples, rate = soundfile.read(DATA / "speech_16k_mono.wav", dtype="float32")
    window = Window(index=0, start_s=0.0, end_s=len(samples) / rate, keep_start_s=0.0, keep_end_s=len(samples) / rate)
    gpu = Transcriber(ModelSpec("tiny.en", "auto"))
    assert (gpu.device, gpu.compute_type) == ("cuda", "float16")
    segments = gpu.transcribe(samples, window).segments
    text = " ".join(s.text for s in segments)
    assert wer((DATA / "speech.txt").read_text(), text) < 0.2
