"""The import floor cogw is measured against: hashing and a bare curl upload.

Knows how to hash files with hashlib and upload a blob with curl's monolithic POST+PUT
(infra.md §2): the least work any importer must do on this machine. The pull floor is
a script of its own (pullfloor.py), run as a child process. Does not run cogw.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import urllib.request
from collections.abc import Sequence
from pathlib import Path

CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    """``sha256:<hex>`` of a file, read in 1 MiB pieces into one reused buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as reader:
        while n := reader.readinto(buffer):
            digest.update(view[:n])
    return "sha256:" + digest.hexdigest()


def _start_upload(base: str, repo: str) -> str:
    request = urllib.request.Request(f"{base}/v2/{repo}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        location = str(response.headers["Location"])
    return location if location.startswith("http") else base + location


def curl_upload(base: str, repo: str, path: Path, digest: str) -> None:
    """Monolithic upload: POST for a session, then ``curl -T`` streams the file in one PUT."""
    location = _start_upload(base, repo)
    separator = "&" if "?" in location else "?"
    subprocess.run(
        [
            "curl",
            "-fsS",
            "-o",
            os.devnull,
            "-T",
            str(path),
            "-H",
            # curl's default form type makes the registry consume the body (infra.md §2).
            "Content-Type: application/octet-stream",
            f"{location}{separator}digest={digest}",
        ],
        check=True,
    )


def hash_and_upload(base: str, repo: str, sources: Sequence[Path], blobs: Sequence[Path]) -> None:
    """The import floor: one hashlib pass over every source file, then a curl upload of
    each blob (a source file, or the small files' tar whose few bytes are hashed again)."""
    known = {path: hash_file(path) for path in sources}
    for blob in blobs:
        curl_upload(base, repo, blob, known.get(blob) or hash_file(blob))
