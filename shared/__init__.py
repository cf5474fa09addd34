"""What the app, the worker and the one-machine host share, by stage, each stage importing only those below it:
config, errors, ids, blocks and contracts (the messages between stages) at the bottom; then telemetry/, azure/,
audio/, transcripts/, jobs/ and uploads/. The import contracts in pyproject.toml ([tool.importlinter]) hold the order.
"""
