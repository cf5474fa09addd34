"""The Function App: registers blueprints and nothing else.

Keep this import-light. If importing it raises, the Functions host indexes zero functions and says little, so
settings are read lazily inside handlers and heavy libraries (PyAV, numpy, faster-whisper) are never imported here.
"""

import azure.functions as func

from functions.api import health, jobs, openapi, unlisted_methods, uploads
from functions.pipeline import activities, batch_cleanup, batches, ingest, orchestrator, segment_results

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
API = (uploads, jobs, health, openapi, unlisted_methods)
PIPELINE = (ingest, orchestrator, batches, activities, segment_results, batch_cleanup)
for module in (*API, *PIPELINE):
    app.register_functions(module.bp)
