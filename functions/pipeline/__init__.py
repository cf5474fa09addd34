"""The pipeline the API starts: the blob trigger, the orchestrator and its batches, the activities, the
segment-results and batch-cleanup queue triggers. Never imports the API."""
