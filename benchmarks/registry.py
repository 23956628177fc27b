"""A throwaway docker-registry (CNCF distribution) on 127.0.0.1 for one benchmark run.

Knows how to configure, start, wait for and stop Debian's ``docker-registry`` with its
storage in a given directory. Does not know about cogw or about what is pushed to it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REGISTRY_BIN = "docker-registry"
START_TIMEOUT = 10.0

CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:0
  secret: cogw-bench-secret
"""


class RegistryError(Exception):
    """The registry binary is missing or did not come up."""


@dataclass(frozen=True, slots=True)
class LocalRegistry:
    host: str  # "127.0.0.1:PORT"
    root: Path  # the storage root directory

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def blob_path(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes on disk."""
        hexpart = digest.partition(":")[2]
        return self.root / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def _wait_for_address(proc: subprocess.Popen[str]) -> str | None:
    # Port 0 lets the kernel choose; the registry logs the real address, so no race.
    assert proc.stderr is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            return None
        if match := re.search(r"listening on (127\.0\.0\.1:\d+)", line):
            return match.group(1)
    return None


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def local_registry(directory: Path) -> Iterator[LocalRegistry]:
    """Start a registry storing under ``directory``; stop it when the block ends."""
    binary = shutil.which(REGISTRY_BIN)
    if binary is None:
        raise RegistryError("docker-registry not found: apt-get install docker-registry")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.yml"
    config.write_text(CONFIG.format(data=directory / "data"))
    proc = subprocess.Popen([binary, "serve", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        address = _wait_for_address(proc)
        if address is None:
            raise RegistryError(f"docker-registry did not start (config {config})")
        assert proc.stderr is not None
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
        urllib.request.urlopen(f"http://{address}/v2/", timeout=5).read()
        yield LocalRegistry(address, directory / "data")
    finally:
        _stop(proc)
