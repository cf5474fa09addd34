"""Audio access without a copy of the audio: probe a source blob's headers, decode windows of it.

Usage (an activity or the worker)::

    reader = BlobRangeReader(blob_client)           # range reads through a small chunk cache
    info = probe(reader, "meeting.mp3")             # AudioInfo from the headers
    samples = read_window(reader, info, 600.0, 900.0)  # float32, 16 kHz, mono, [-1, 1]

This package imports PyAV, libsndfile and numpy only inside the functions that need them, but it is still not
for ``function_app.py`` or anything it imports at start-up: activities import it lazily, inside the function.
"""

from shared.audio.blob_reader import AudioSource, BlobRangeReader, GuardedFile
from shared.audio.decode import read_window
from shared.audio.pcm import SAMPLE_RATE
from shared.audio.probe import probe

__all__ = ["SAMPLE_RATE", "AudioSource", "BlobRangeReader", "GuardedFile", "probe", "read_window"]
