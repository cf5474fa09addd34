"""From segment results to transcript files: the windows a recording is cut into, the stitching of their words,
the formats and their renderings, and the writer that streams them to storage. Knows nothing of jobs."""
