"""The pull floor: a verified, durable download of registry blobs, and nothing more.

Usage: ``python pullfloor.py OUT_DIR URL DIGEST [URL DIGEST ...]``. For each blob it
streams the HTTP body with ``readinto`` into one reused buffer, feeds sha256 and the
file from that buffer, fsyncs the file once and checks the digest (exit 1 on a
mismatch). This is the least work any verifying, crash-safe puller does; the harness
runs it as a child process, like cogw, so both pay an interpreter start-up. Standalone
(standard library only), so it runs by path from any tree.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

BUFFER = 1 << 20


def fetch_blob(url: str, digest: str, out: Path, buffer: bytearray) -> bool:
    """Download ``url`` into ``out``; True when its bytes match ``digest``."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=60)
    connection.request("GET", parts.path)
    response = connection.getresponse()
    if response.status != 200:
        raise OSError(f"GET {url}: HTTP {response.status}")
    hasher = hashlib.sha256()
    view = memoryview(buffer)
    with out.open("wb", buffering=0) as file:
        while n := response.readinto(buffer):
            piece = view[:n]
            hasher.update(piece)
            file.write(piece)
        os.fsync(file.fileno())
    connection.close()
    return "sha256:" + hasher.hexdigest() == digest


def main(argv: Sequence[str]) -> int:
    out_dir, pairs = Path(argv[0]), argv[1:]
    buffer = bytearray(BUFFER)
    ok = True
    for index in range(0, len(pairs), 2):
        url, digest = pairs[index], pairs[index + 1]
        ok = fetch_blob(url, digest, out_dir / f"blob-{index // 2}", buffer) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
