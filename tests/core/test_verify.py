"""Verify findings, the repair plan and stale mounts: pure, from hand-built snapshots."""

from __future__ import annotations

from cogw.core.cachesnap import (
    Blob,
    CacheSnapshot,
    Mount,
    MountFile,
    MountWeight,
    ProjectRoots,
    ProjectState,
    WeightFiles,
)
from cogw.core.lockfile import LockFile
from cogw.core.stalemounts import stale_mounts
from cogw.core.verify import blob_findings, mount_findings, repair_plan, select, to_hash


def d(n: int) -> str:
    return f"sha256:{n:064x}"


FILES = (LockFile("a.bin", 10, d(1), d(9)), LockFile("b.bin", 20, d(2), d(9)))


def project(*mounts: Mount) -> ProjectRoots:
    return ProjectRoots("/p", ProjectState.OK, "L", (WeightFiles("w", FILES),), mounts)


def mount(*files: MountFile, name: str = "w") -> Mount:
    return Mount("m1", "/p/.cog/mounts/m1", (MountWeight(name, files),))


def snap(*blobs: Blob) -> CacheSnapshot:
    return CacheSnapshot(blobs, (), (), 0)


def test_findings_cover_corrupt_size_mode_and_missing() -> None:
    s = snap(Blob(d(1), 10, 1, 0o100644, 0))
    expected = select(s, project(), (), False).unwrap()
    assert [b.digest for b in to_hash(expected, s)] == [d(1)]
    found = blob_findings(expected, s, {d(1): d(1)}, "/c")
    assert [(f.kind, f.problem) for f in found] == [("mode", True), ("missing", False)]
    assert found[0].path == f"/c/files/sha256/00/{d(1)[7:]}"
    corrupt = blob_findings(expected, s, {d(1): d(7)}, "/c")
    assert corrupt[0].kind == "corrupt" and d(7) in corrupt[0].detail
    short = snap(Blob(d(1), 3, 1, 0o100444, 0))
    assert to_hash(expected, short) == ()
    assert blob_findings(expected, short, {}, "/c")[0].kind == "size"


def test_unknown_weight_names_are_a_problem_and_all_adds_every_blob() -> None:
    s = snap(Blob(d(5), 1, 1, 0o100444, 0))
    assert select(s, project(), ("nope",), False).failure().summary.startswith("no weight")
    assert [e.digest for e in select(s, project(), (), True).unwrap()] == [d(1), d(2), d(5)]


def test_mount_findings_and_repair_plan_relink_mounts_of_bad_blobs() -> None:
    m = mount(MountFile("a.bin", 10, d(1)), MountFile("b.bin", 20, d(3)))
    p = project(m)
    found = mount_findings(p, ())
    assert [(f.kind, f.path) for f in found] == [("mount-wrong-link", "/p/.cog/mounts/m1/w/b.bin")]
    s = snap(Blob(d(1), 10, 2, 0o100444, 0), Blob(d(2), 20, 1, 0o100444, 0))
    expected = select(s, p, (), False).unwrap()
    found += blob_findings(expected, s, {d(1): d(8), d(2): d(2)}, "/c")
    plan = repair_plan(found, p)
    assert plan.quarantine == (d(1),) and plan.refetch == ("w",)
    assert {(r.path, r.digest) for r in plan.relink} == {
        ("/p/.cog/mounts/m1/w/a.bin", d(1)),
        ("/p/.cog/mounts/m1/w/b.bin", d(2)),
    }


def test_stale_mounts() -> None:
    good = mount(MountFile("a.bin", 10, d(1)), MountFile("b.bin", 20, ""))
    present = {d(1), d(2)}
    assert stale_mounts(project(good), present) == ()
    assert "gone from the store" in stale_mounts(project(good), {d(1)})[0].reason
    renamed = mount(MountFile("a.bin", 10, d(1)), name="old")
    assert "no longer in weights.lock" in stale_mounts(project(renamed), present)[0].reason
    no_lock = ProjectRoots("/p", ProjectState.NO_LOCK, "", (), (good,))
    assert stale_mounts(no_lock, present)[0].reason == "the project has no weights.lock"
