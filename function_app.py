"""The Function App: registers blueprints and nothing else.

Keep this import-light. If importing it raises, the Functions host indexes zero functions and says little, so
settings are read lazily inside handlers and heavy libraries (PyAV, numpy, faster-whisper) are never imported here.
"""

import azure.functions as func

from functions import (
    batch_cleanup,
    health,
    ingest,
    jobs,
    openapi,
    pipeline_activities,
    segment_batches,
    segments,
    transcription,
    unlisted_methods,
    uploads,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
BLUEPRINTS = (
    uploads,
    jobs,
    health,
    openapi,
    ingest,
    transcription,
    segment_batches,
    pipeline_activities,
    segments,
    batch_cleanup,
    unlisted_methods,
)
for module in BLUEPRINTS:
    app.register_functions(module.bp)
