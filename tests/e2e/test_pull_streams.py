"""Many streams for one large layer, through the CLI against the real registry: byte ranges
fetched at once and written at their offsets, a broken range resumed on its own, a server
that ignores Range falling back to one stream, and a corrupted blob storing nothing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cogw.core.artifact.ranges import PROBE_BYTES
from tests.e2e.conftest import Project, mount_sources, tree
from tests.e2e.test_pull import BLOB_GET, assert_store_consistent, temp_files
from tests.e2e.test_pull import project as project  # names valid for parametrized ids
from tests.fixtures.faultproxy import FaultProxy, FaultRule
from tests.fixtures.registry import RunningRegistry

pytestmark = [pytest.mark.registry, pytest.mark.slow]

StartProxy = Callable[[RunningRegistry], FaultProxy]
BIG = 72 << 20  # above the 64 MiB streams threshold: a standalone raw layer of one file
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


def _range_starts(proxy: FaultProxy) -> list[int]:
    gets = proxy.requests_matching("GET", BLOB_GET)
    return [int(r.headers["range"][6:].split("-")[0]) for r in gets if "range" in r.headers]


def _through(project: Project, proxy: FaultProxy) -> None:
    project.write_config(WEIGHT, image=f"{proxy.host}/{project.repo}")


def _pulled_file(project: Project) -> bytes:
    prepared = project.run("prepare", "--json")
    assert prepared.exit_code == 0, prepared.stderr
    return tree(Path(mount_sources(prepared.stdout)["/src/weights/big"]))["model.safetensors"]


@pytest.mark.parametrize("streams", ["4", "1"])
def test_a_large_layer_is_fetched_in_ranges_and_stored_exactly(
    streams: str, big_project: tuple[Project, bytes], fault_proxy: StartProxy
) -> None:
    project, data = big_project
    proxy = fault_proxy(project.registry)
    _through(project, proxy)
    result = project.run("pull", "--streams", streams)
    assert result.exit_code == 0, result.stderr
    starts = _range_starts(proxy)
    # The head (tar header), the file's ranges and the trailer, each asked for once.
    assert starts[0] == 0 and len(starts) == len(set(starts)) == int(streams) + 2
    assert _pulled_file(project) == data
    assert_store_consistent(project)


def test_unset_streams_time_a_first_range_then_split_the_rest_by_its_speed(
    big_project: tuple[Project, bytes], fault_proxy: StartProxy
) -> None:
    project, data = big_project
    proxy = fault_proxy(project.registry)
    _through(project, proxy)
    result = project.run("pull")
    assert result.exit_code == 0, result.stderr
    asked = [
        tuple(int(n) for n in r.headers["range"][6:].split("-"))
        for r in proxy.requests_matching("GET", BLOB_GET)
        if "range" in r.headers
    ]
    head, probe, *rest = asked
    rest.sort()  # asked for at once, so logged in any order
    assert head[0] == 0 and probe[0] > head[0]
    assert probe[1] - probe[0] + 1 == PROBE_BYTES  # the timed first range of the file
    # However fast the proxy was, the rest is asked for once, in 1..4 ranges, then the trailer.
    assert 2 <= len(rest) <= 5 and rest[0][0] == probe[1] + 1
    assert all(a[1] + 1 == b[0] for a, b in zip([probe, *rest[:-1]], rest[:-1], strict=False))
    assert _pulled_file(project) == data
    assert_store_consistent(project)


def test_the_streams_setting_comes_from_the_environment(
    big_project: tuple[Project, bytes], fault_proxy: StartProxy
) -> None:
    project, data = big_project
    proxy = fault_proxy(project.registry)
    _through(project, proxy)
    assert project.run("pull", env={"COGW_STREAMS": "2"}).exit_code == 0
    assert len(_range_starts(proxy)) == 2 + 2
    assert _pulled_file(project) == data
    shutil.rmtree(project.cache)  # a pull with nothing to fetch never reads the setting
    refused = project.run("pull", env={"COGW_STREAMS": "zero"})
    assert refused.exit_code == 1 and "COGW_STREAMS" in refused.output


def test_a_range_broken_mid_way_resumes_where_it_stopped(
    big_project: tuple[Project, bytes], fault_proxy: StartProxy
) -> None:
    project, data = big_project
    proxy = fault_proxy(project.registry)
    # The head request passes; the next range to be answered is cut after 1 MiB.
    proxy.add(FaultRule("truncate", path=BLOB_GET, skip=1, after_bytes=1 << 20))
    _through(project, proxy)
    result = project.run("pull", "--streams", "4")
    assert result.exit_code == 0, result.stderr
    gets = proxy.requests_matching("GET", BLOB_GET)
    cut = next(r for r in gets if r.fault == "truncate")
    cut_start = int(cut.headers["range"][6:].split("-")[0])
    assert cut_start + (1 << 20) in _range_starts(proxy)  # asked again from the first missing byte
    assert _pulled_file(project) == data
    assert_store_consistent(project)


def test_a_registry_that_ignores_range_is_read_in_one_stream(
    big_project: tuple[Project, bytes], fault_proxy: StartProxy
) -> None:
    project, data = big_project
    proxy = fault_proxy(project.registry)
    proxy.add(FaultRule("ignore-range", path=BLOB_GET, times=100))
    _through(project, proxy)
    result = project.run("pull")
    assert result.exit_code == 0, result.stderr
    statuses = [r.status for r in proxy.requests_matching("GET", BLOB_GET)]
    assert statuses == [200, 200]  # the refused head request, then the whole blob once
    assert _pulled_file(project) == data
    assert_store_consistent(project)


@pytest.mark.parametrize("where", [100, BIG // 2, BIG + 600], ids=["header", "data", "trailer"])
def test_a_corrupted_large_layer_stores_nothing(
    where: int, big_project: tuple[Project, bytes]
) -> None:
    project, _ = big_project
    lock = project.lock.read_text()
    layer = next(
        d
        for d in set(__import__("re").findall(r'"(sha256:[0-9a-f]{64})"', lock))
        if project.registry.blob_path(d).exists()
        and project.registry.blob_path(d).stat().st_size > BIG
    )
    blob = project.registry.blob_path(layer)
    with blob.open("r+b") as f:
        f.seek(where)
        byte = f.read(1)
        f.seek(where)
        f.write(bytes([byte[0] ^ 0xFF]))
    result = project.run("pull")
    assert result.exit_code == 1
    assert project.blobs() == [] and temp_files(project) == []
