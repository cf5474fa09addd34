"""Load on the one-machine stack: many upload sessions and many small jobs at once, nothing lost or doubled.

``python -m bench.load`` (see ``__main__``): 100 concurrent upload sessions with their uploads, then 200
concurrent speech jobs through the whole pipeline with real ``tiny.en`` workers laid out as ``scripts/transcribe``
lays them out; the API's p50 / p99 per operation and the error rate (which must be 0); CPU and memory per process.
Modules, one job each: ``clips`` (the audio), ``sessions`` (one upload), ``follow`` (polling, transcripts,
listing), ``timed`` (every request timed and judged), ``audit`` (every job counted everywhere it leaves a
trace), ``usage`` (CPU and RSS), ``run`` (the phases and the report). ``tests/faults/test_load_smoke.py`` runs it
small with no-op workers.
"""
