"""The Function App: registers blueprints and nothing else.

Keep this import-light. If importing it raises, the Functions host indexes zero functions and says little, so
settings are read lazily inside handlers and heavy libraries (PyAV, numpy, faster-whisper) are never imported here.
"""

import azure.functions as func

from functions.api import health, jobs, openapi, unlisted_methods, uploads
from functions.pipeline import activities as pipeline_activities
from functions.pipeline import batch_cleanup, ingest
from functions.pipeline import batches as segment_batches
from functions.pipeline import orchestrator as transcription
from functions.pipeline import segment_results as segments

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
