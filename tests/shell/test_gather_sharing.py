"""Gathering reads a source shared by several weights once, and nothing else changes.

A project listing one directory under several names walks and stat-checks it once per
snapshot; each weight still gets the inventory, a failed read is reported by every weight
under its own name, and only an http(s) read is handed what weights.lock recorded.
"""

from __future__ import annotations

from pathlib import Path

from pyrsistent import pvector
from returns.result import Failure, Result, Success

from cogw.core.artifact.inventory import Inventory
from cogw.core.diagnostics import Diagnostic
from cogw.core.lock.lockfile import (
    MEDIA_TYPE_TAR,
    LockFile,
    Lockfile,
    LockLayer,
    WeightEntry,
    make_entry,
    make_source,
    render_lockfile,
)
from cogw.shell.gather import gather_snapshot, locate_project
from cogw.shell.sources import SourceError, source_for

Call = tuple[str, str, Inventory | None]


def _project(tmp_path: Path, uris: dict[str, str]) -> Path:
    lines = ["image: registry.example/x/y", "weights:"]
    for name, uri in uris.items():
        lines += [
            f"  - name: {name}",
            f"    target: /src/{name}",
            "    source:",
            f"      uri: {uri}",
        ]
    (tmp_path / "cog.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path


def _reading(project: Path, calls: list[Call]):
    def read(name: str, uri: str, recorded: Inventory | None) -> Result[Inventory, Diagnostic]:
        calls.append((name, uri, recorded))
        try:
            return Success(source_for(uri, project).inventory())
        except SourceError as exc:
            return Failure(Diagnostic(str(exc), subject=f'weight "{name}"'))

    return read


def _gather(project: Path, calls: list[Call]):
    found = locate_project(None, None, project)
    return gather_snapshot(found, lambda _: False, "gzip", [], _reading(project, calls)).unwrap()


def test_a_directory_shared_by_three_weights_is_read_once_for_all(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "a.bin").write_bytes(b"aa")
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "b.bin").write_bytes(b"b")
    uris = {"one": "w", "two": "w", "three": "w", "other": "v"}
    calls: list[Call] = []
    snap = _gather(_project(tmp_path, uris), calls)
    assert [name for name, _, _ in calls] == ["one", "other"]
    assert [f.path for f in snap.inventories["three"].files] == ["a.bin"]
    assert snap.inventories["one"] == snap.inventories["two"] == snap.inventories["three"]
    assert [f.path for f in snap.inventories["other"].files] == ["b.bin"]
    alone: list[Call] = []
    assert (
        _gather(_project(tmp_path, {"two": "w"}), alone).inventories["two"]
        == (snap.inventories["two"])
    )


def test_a_failed_read_is_tried_and_reported_by_every_weight(tmp_path: Path) -> None:
    calls: list[Call] = []
    snap = _gather(_project(tmp_path, {"one": "missing", "two": "missing"}), calls)
    assert [name for name, _, _ in calls] == ["one", "two"]
    assert [snap.source_errors[n].subject for n in ("one", "two")] == [
        'weight "one"',
        'weight "two"',
    ]


def _locked(name: str, uri: str) -> WeightEntry:
    layer = "sha256:" + "d" * 64
    return make_entry(
        name=name,
        target=f"/src/{name}",
        source=make_source(uri, 'etag:"v1"'),
        digest="sha256:" + "e" * 64,
        files=[LockFile("m.bin", 1, "sha256:" + "a" * 64, layer)],
        layers=[LockLayer(layer, MEDIA_TYPE_TAR, 2, 1)],
    )


def test_only_an_http_read_is_handed_the_lock_record_and_each_weight_reads_its_own(
    tmp_path: Path,
) -> None:
    web = "https://h.example/m.bin"
    (tmp_path / "w").mkdir()
    project = _project(tmp_path, {"one": web, "two": web, "dir": "file://./w"})
    entries = [_locked("one", web), _locked("two", web), _locked("dir", "file://./w")]
    (project / "weights.lock").write_bytes(render_lockfile(Lockfile(weights=pvector(entries))))
    calls: list[Call] = []

    def read(name: str, uri: str, recorded: Inventory | None) -> Result[Inventory, Diagnostic]:
        calls.append((name, uri, recorded))
        return Success(Inventory())

    found = locate_project(None, None, project)
    gather_snapshot(found, lambda _: False, "gzip", [], read).unwrap()
    assert [name for name, _, _ in calls] == ["one", "two", "dir"]
    (one, two, directory) = (recorded for _, _, recorded in calls)
    assert one is not None and two is not None and directory is None
    assert [f.path for f in one.files] == ["m.bin"] and one.fingerprint == 'etag:"v1"'
