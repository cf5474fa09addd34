"""function_app.py is what the Functions host indexes: it must register every function and stay import-light."""

import json
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, sys
import function_app
functions = {f.get_function_name(): f.get_trigger().get_binding_name() for f in function_app.app.get_functions()}
# The telemetry SDK and exporters load on first use (shared/telemetry/setup.py), not when the host indexes the app.
heavy = [
    m
    for m in ("numpy", "av", "soundfile", "faster_whisper", "ctranslate2", "opentelemetry.sdk", "azure.monitor")
    if m in sys.modules
]
print(json.dumps({"functions": functions, "heavy": heavy}))
"""


def test_function_app_registers_the_pipeline_and_imports_nothing_heavy() -> None:
    env = {"PATH": "/usr/bin:/bin"}  # no Storage setting: importing must not read settings
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    assert found["heavy"] == []
    assert found["functions"] == {
        "create_upload": "httpTrigger",
        "get_upload": "httpTrigger",
        "get_job": "httpTrigger",
        "cancel_job": "httpTrigger",
        "get_transcript": "httpTrigger",
        "list_jobs": "httpTrigger",
        "health": "httpTrigger",
        "openapi_document": "httpTrigger",
        "method_not_allowed": "httpTrigger",
        "ingest": "blobTrigger",
        "transcription": "orchestrationTrigger",
        "transcribe_batch": "orchestrationTrigger",
        "set_job_status": "activityTrigger",
        "probe_audio": "activityTrigger",
        "dispatch_segments": "activityTrigger",
        "segment_sightings": "activityTrigger",
        "merge_transcript": "activityTrigger",
        "deliver_webhook": "activityTrigger",
        "clean_up_batches": "activityTrigger",
        "segment_results": "queueTrigger",
        "batch_cleanup": "queueTrigger",
    }
