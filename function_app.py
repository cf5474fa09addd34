"""The Function App: registers blueprints and nothing else.

Keep this import-light. If importing it raises, the Functions host indexes zero functions and says little, so
settings are read lazily inside handlers and heavy libraries are never imported here.
"""

import azure.functions as func

from functions import uploads

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(uploads.bp)
