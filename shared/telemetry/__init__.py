"""Telemetry for every process: set-up, the names of spans, metrics and attributes, traces, metrics, redacting logs.
The bottom of the house beside config and errors: any stage may record, nothing here knows a stage."""
