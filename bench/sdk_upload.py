"""Baseline for bench/upload_client.py: azure-storage-blob's own ``upload_blob`` into the same kind of SAS URL.

Run as a separate process so its peak RSS and time are measured the same way as the client's.
Prints one JSON line: {"seconds": ...}.
"""

from __future__ import annotations

import json
import sys
import time

from azure.storage.blob import BlobClient


def main() -> None:
    path, sas_url, block_size, concurrency, content_type, validate = sys.argv[1:7]
    blob = BlobClient.from_blob_url(sas_url, max_block_size=int(block_size), max_single_put_size=int(block_size))
    started = time.perf_counter()
    with open(path, "rb") as data:
        blob.upload_blob(
            data,
            overwrite=True,
            max_concurrency=int(concurrency),
            content_type=content_type,
            validate_content=validate == "md5",  # per-block Content-MD5, like our client's default
        )
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
