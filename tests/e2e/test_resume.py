"""Interrupted large downloads resume: kill -9 a `cogw pull` of a large standalone layer
part-way, through a throttled proxy, and the next pull asks only for the bytes that were
missing (after re-hashing the kept prefix); a prefix tampered with in between is caught and
the download starts over; a byte flipped on the way is fetched again, once, from scratch.

The chain is cogw → throttle (benchmarks/throttleproxy.py, a slow single stream) → fault proxy
(records every request and its Range) → the real registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.throttleproxy import ThrottleProxy
from cogw.core.artifact.resume import CHECKPOINT_BYTES, PartialRecord, decode_record
from tests.e2e.conftest import Project, mount_sources, tree
from tests.e2e.test_pull import BLOB_GET, assert_store_consistent, start_pull
from tests.e2e.test_pull import project as project  # the project fixture, as test_pull has it
from tests.fixtures.faultproxy import FaultProxy, FaultRule
from tests.fixtures.registry import RunningRegistry

pytestmark = [pytest.mark.registry, pytest.mark.slow]

StartProxy = Callable[[RunningRegistry], FaultProxy]
BIG = 96 << 20  # a standalone raw layer of one file, above the 64 MiB streams threshold
RATE = 8e6  # bytes per second per connection through the throttle
WEIGHT = """weights:
  - name: big
    target: /src/weights/big
    source:
      uri: weights/big
"""


@pytest.fixture
def big_project(project: Project) -> tuple[Project, bytes]:
    data = os.urandom(BIG)
    root = project.dir / "weights" / "big"
    root.mkdir(parents=True)
    (root / "model.safetensors").write_bytes(data)
    project.write_config(WEIGHT)
    result = project.run("import")
    assert result.exit_code == 0, result.stderr
    shutil.rmtree(project.cache)
    return project, data


@pytest.fixture
def proxies(
    big_project: tuple[Project, bytes], fault_proxy: StartProxy
) -> Iterator[tuple[FaultProxy, str]]:
    """The fault proxy in front of the registry, and a throttle in front of it."""
    recorder = fault_proxy(big_project[0].registry)
    throttle = ThrottleProxy(recorder.host, RATE).start()
    yield recorder, throttle.host
    throttle.stop()


def _partials(project: Project) -> list[Path]:
    return sorted(project.cache.rglob("part-*")) if project.cache.exists() else []


def _record(project: Project) -> PartialRecord | None:
    records = [p for p in _partials(project) if p.name.endswith(".resume")]
    return decode_record(records[0].read_bytes()) if records else None


def _kill_once_recorded(project: Project, proc: subprocess.Popen[str], at_least: int) -> None:
    """SIGKILL the pull once its partial's record says ``at_least`` bytes were verified."""
    deadline = time.monotonic() + 120
    while (record := _record(project)) is None or record.verified < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the pull never recorded its progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _file_range_starts(proxy: FaultProxy, since: int) -> list[int]:
    gets = proxy.requests_matching("GET", BLOB_GET)[since:]
    return [int(r.headers["range"][6:].split("-")[0]) for r in gets if "range" in r.headers]


def _served(proxy: FaultProxy, since: int) -> int:
    return sum(r.body_bytes_sent for r in proxy.requests_matching("GET", BLOB_GET)[since:])


def _pulled_file(project: Project) -> bytes:
    prepared = project.run("prepare", "--json")
    assert prepared.exit_code == 0, prepared.stderr
    return tree(Path(mount_sources(prepared.stdout)["/src/weights/big"]))["model.safetensors"]


def _killed_pull(
    big_project: tuple[Project, bytes],
    proxies: tuple[FaultProxy, str],
    streams: str,
    at_least: int = CHECKPOINT_BYTES // 2,
) -> tuple[PartialRecord, int]:
    """A pull killed once its first progress record is written; the record it left and
    the number of blob requests the recorder saw until then."""
    project, _ = big_project
    recorder, slow = proxies
    project.write_config(WEIGHT, image=f"{slow}/{project.repo}")
    _kill_once_recorded(project, start_pull(project, "--streams", streams), at_least)
    record = _record(project)
    assert record is not None and record.verified < BIG  # killed part-way, progress kept
    partial = next(p for p in _partials(project) if not p.name.endswith(".resume"))
    assert partial.stat().st_size >= record.verified
    project.write_config(WEIGHT, image=f"{recorder.host}/{project.repo}")  # unthrottled now
    return record, len(recorder.requests_matching("GET", BLOB_GET))


@pytest.mark.timeout(600)
def test_a_killed_pull_resumes_from_the_kept_prefix(
    big_project: tuple[Project, bytes], proxies: tuple[FaultProxy, str]
) -> None:
    project, data = big_project
    record, before = _killed_pull(big_project, proxies, "1")
    result = project.run("pull", "--streams", "1")
    assert result.exit_code == 0, result.stderr
    head, resumed, trailer = sorted(_file_range_starts(proxies[0], before))
    # The head again (the tar header), one range from the first byte not kept, the trailer.
    assert (head, trailer) == (0, record.key.data_start + BIG)
    offset = resumed - record.key.data_start
    assert record.verified <= offset <= record.verified + (4 << 20), (record, offset)
    assert _served(proxies[0], before) <= BIG - record.verified + (1 << 20)
    assert _pulled_file(project) == data
    assert _partials(project) == []
    assert_store_consistent(project)


@pytest.mark.timeout(600)
def test_a_killed_many_streams_pull_keeps_every_range_it_wrote(
    big_project: tuple[Project, bytes], proxies: tuple[FaultProxy, str]
) -> None:
    project, data = big_project
    record, before = _killed_pull(big_project, proxies, "4", at_least=1)
    kept = sum(s.size for s in record.spans if s.start >= record.verified)
    assert kept > 0, record  # the other streams had written beyond the hashed prefix
    result = project.run("pull", "--streams", "4")
    assert result.exit_code == 0, result.stderr
    assert _served(proxies[0], before) <= BIG - record.verified - kept + (1 << 20)
    assert _pulled_file(project) == data
    assert _partials(project) == []
    assert_store_consistent(project)


@pytest.mark.timeout(600)
def test_a_tampered_partial_is_caught_and_the_download_starts_over(
    big_project: tuple[Project, bytes], proxies: tuple[FaultProxy, str]
) -> None:
    project, data = big_project
    record, before = _killed_pull(big_project, proxies, "1")
    partial = next(p for p in _partials(project) if not p.name.endswith(".resume"))
    with partial.open("r+b") as f:
        f.seek(1 << 20)
        byte = f.read(1)
        f.seek(1 << 20)
        f.write(bytes([byte[0] ^ 0x01]))
    result = project.run("pull", "--streams", "1")
    assert result.exit_code == 0, result.stderr
    starts = sorted(_file_range_starts(proxies[0], before))
    assert starts == [0, 64 << 10, record.key.data_start + BIG], starts  # from the head on
    assert _served(proxies[0], before) >= BIG
    assert _pulled_file(project) == data
    assert _partials(project) == []
    assert_store_consistent(project)


@pytest.mark.timeout(600)
def test_a_byte_flipped_on_the_way_is_fetched_again_once(
    big_project: tuple[Project, bytes], fault_proxy: StartProxy
) -> None:
    project, data = big_project
    proxy = fault_proxy(project.registry)
    # The head passes; the next range (the file's or the trailer) has one byte inverted.
    proxy.add(FaultRule("flip", path=BLOB_GET, skip=1, after_bytes=100))
    project.write_config(WEIGHT, image=f"{proxy.host}/{project.repo}")
    result = project.run("pull", "--streams", "1")
    assert result.exit_code == 0, result.stderr
    assert [r.fault for r in proxy.requests_matching("GET", BLOB_GET)].count("flip") == 1
    starts = _file_range_starts(proxy, 0)
    assert starts.count(64 << 10) == 2, starts  # the file's range, once more from scratch
    assert _pulled_file(project) == data
    assert _partials(project) == []
    assert_store_consistent(project)


def test_a_layer_corrupt_at_the_registry_fails_after_one_more_try(
    big_project: tuple[Project, bytes], fault_proxy: StartProxy
) -> None:
    project, _ = big_project
    proxy = fault_proxy(project.registry)
    # Every answer longer than 1 MiB (the file's range, both times) has a byte inverted.
    proxy.add(FaultRule("flip", path=BLOB_GET, skip=1, after_bytes=1 << 20, times=100))
    project.write_config(WEIGHT, image=f"{proxy.host}/{project.repo}")
    result = project.run("pull", "--streams", "1")
    assert result.exit_code == 1
    assert "digest" in result.stderr
    assert project.blobs() == [] and _partials(project) == []
