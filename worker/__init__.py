"""The transcription worker: a long-lived process (a GPU container job in Azure) that drains ``segment-jobs``."""
