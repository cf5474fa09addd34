"""Speech engines: the interface the segment worker needs, and the faster-whisper engine that serves it."""
