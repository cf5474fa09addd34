"""Decoded audio as what Whisper eats: mono float32 at 16 kHz, from any frame PyAV decodes.

Its own module because both the window decoder (``decode.py``) and the stream chooser (``streams.py``, which
measures each stream's level) turn frames into samples, and the probe that chooses a stream sits below the decoder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Samples = npt.NDArray[np.float32]

SAMPLE_RATE = 16000
"""Rate of every decoded window (Whisper's)."""


def frame_to_mono(frame: Any) -> Samples:
    """A decoded ``av.AudioFrame`` (any sample format, planar or packed) as mono float32, channels averaged."""
    import numpy as np

    data = frame.to_ndarray()
    channels = frame.layout.nb_channels
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    if data.dtype == np.uint8:
        data = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype.kind == "i":
        data = data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    mono = data.mean(axis=0, dtype=np.float32) if channels > 1 else data[0]
    return np.ascontiguousarray(mono, dtype=np.float32)


class MonoResampler:
    """Streaming mono float32 resampling to 16 kHz with libswresample, through PyAV.

    libswresample compensates its filter delay: output sample 0 is input sample 0, and the output of a stream fed
    in blocks equals that of the whole stream fed at once, so windows line up to the sample.
    """

    def __init__(self, rate: int) -> None:
        import av

        self.rate = rate
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def feed(self, samples: Samples) -> Samples:
        import av

        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.rate
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> Samples:
        return self._collect(self._resampler.resample(None))

    @staticmethod
    def _collect(frames: list[Any]) -> Samples:
        import numpy as np

        if not frames:
            return np.zeros(0, np.float32)
        return np.concatenate([f.to_ndarray()[0] for f in frames])
