"""The gc plan, the project index and saved gc plans: pure, from hand-built snapshots."""

from __future__ import annotations

from returns.result import Failure, Success

from cogw.core.cacheindex import add_project, drop_projects, parse_index, render_index
from cogw.core.cachesnap import (
    Blob,
    CacheSnapshot,
    Mount,
    MountFile,
    MountWeight,
    ProjectRoots,
    ProjectState,
    TempFile,
    WeightFiles,
)
from cogw.core.gc import (
    TEMP_SAFE_AGE_NS,
    GcOptions,
    changed_roots,
    parse_duration,
    plan_gc,
    restrict,
    roots_of,
)
from cogw.core.gcfile import (
    SavedGcPlan,
    check_saved_gc_plan,
    decode_saved_gc_plan,
    encode_saved_gc_plan,
    is_gc_plan,
)
from cogw.core.lockfile import LockFile

HOUR = 3600 * 10**9
NOW = 1000 * HOUR


def d(n: int) -> str:
    return f"sha256:{n:064x}"


def blob(n: int, links: int = 1, age: int = 10 * HOUR, size: int = 100) -> Blob:
    return Blob(d(n), size, links, 0o100444, NOW - age)


def weight(name: str, *ns: int) -> WeightFiles:
    return WeightFiles(name, tuple(LockFile(f"f{n}", 100, d(n), "sha256:" + "0" * 64) for n in ns))


def mount(mid: str, *ns: int, project: str = "/a") -> Mount:
    files = tuple(MountFile(f"f{n}", 100, d(n)) for n in ns)
    return Mount(mid, f"{project}/.cog/mounts/{mid}", (MountWeight("w", files),))


def project(
    path: str, *weights: WeightFiles, mounts: tuple[Mount, ...] = (), lock: str = "L"
) -> ProjectRoots:
    return ProjectRoots(path, ProjectState.OK, lock, weights, mounts)


def snap(
    blobs: list[Blob], projects: list[ProjectRoots], temps: tuple[TempFile, ...] = ()
) -> CacheSnapshot:
    return CacheSnapshot(tuple(blobs), temps, tuple(projects), NOW)


def deleted(s: CacheSnapshot, opts: GcOptions | None = None) -> set[str]:
    plan = plan_gc(s, opts or GcOptions())
    assert not plan.problems
    return {x.digest for x in plan.delete}


def test_only_blobs_no_root_needs_are_deleted() -> None:
    s = snap(
        [blob(1), blob(2), blob(3)], [project("/a", weight("w", 1)), project("/b", weight("v", 2))]
    )
    assert deleted(s) == {d(3)}
    assert plan_gc(s, GcOptions()).bytes_freed == 100


def test_a_deleted_project_is_dropped_and_its_blobs_freed() -> None:
    gone = ProjectRoots("/b", ProjectState.MISSING, "")
    s = snap([blob(1), blob(2)], [project("/a", weight("w", 1)), gone])
    plan = plan_gc(s, GcOptions())
    assert {x.digest for x in plan.delete} == {d(2)}
    assert plan.drop_projects == ("/b",)
    assert any("/b no longer exists" in n for n in plan.notes)


def test_a_project_named_only_on_the_command_line_is_never_dropped() -> None:
    extra = ProjectRoots("/x", ProjectState.NO_LOCK, "", indexed=False)
    assert plan_gc(snap([blob(1)], [extra]), GcOptions()).drop_projects == ()


def test_a_blob_shared_by_two_projects_stays_while_either_uses_it() -> None:
    s = snap([blob(1)], [project("/a"), project("/b", weight("w", 1))])
    assert deleted(s) == set()


def test_a_live_mount_roots_a_blob_its_weight_no_longer_names() -> None:
    s = snap([blob(1, links=2)], [project("/a", mounts=(mount("m1", 1),))])
    assert deleted(s) == set()


def test_a_blob_with_an_unknown_extra_link_is_kept() -> None:
    plan = plan_gc(snap([blob(1, links=2)], [project("/a")]), GcOptions())
    assert plan.delete == () and plan.kept_linked == 1


def test_mounts_of_a_gone_project_are_removed_and_their_links_discounted() -> None:
    gone = ProjectRoots("/b", ProjectState.NO_LOCK, "", mounts=(mount("m1", 1, project="/b"),))
    plan = plan_gc(snap([blob(1, links=2), blob(2, links=3)], [gone]), GcOptions())
    assert plan.mounts == ("/b/.cog/mounts/m1",)
    assert {x.digest for x in plan.delete} == {d(1)}  # blob 2 has another unknown link
    assert plan.kept_linked == 1


def test_keep_within_keeps_recently_used_blobs() -> None:
    s = snap([blob(1, age=HOUR), blob(2, age=5 * HOUR)], [])
    assert deleted(s, GcOptions(keep_within_ns=2 * HOUR)) == {d(2)}
    assert plan_gc(s, GcOptions(keep_within_ns=2 * HOUR)).kept_recent == 1


def test_weight_scope_evicts_only_that_weights_unshared_blobs() -> None:
    a = project("/a", weight("big", 1, 2), weight("small", 3))
    b = project("/b", weight("other", 2))
    s = snap([blob(1), blob(2), blob(3), blob(4)], [a, b])
    assert deleted(s, GcOptions(weights=("big",))) == {d(1)}


def test_unknown_weight_and_unreadable_lockfile_are_problems_and_nothing_is_deleted() -> None:
    assert plan_gc(snap([blob(1)], [project("/a")]), GcOptions(weights=("x",))).problems
    bad = ProjectRoots("/a", ProjectState.BAD_LOCK, "sha256:1")
    plan = plan_gc(snap([blob(1)], [bad]), GcOptions())
    assert plan.problems and plan.delete == ()


def test_only_old_temp_files_are_removed() -> None:
    temps = (TempFile("/t/put-old", 5, NOW - TEMP_SAFE_AGE_NS), TempFile("/t/put-new", 5, NOW - 1))
    plan = plan_gc(snap([], [], temps), GcOptions())
    assert [t.path for t in plan.temps] == ["/t/put-old"]


def test_parse_duration() -> None:
    assert parse_duration("90m") == 90 * 60 * 10**9
    assert parse_duration("1d12h") == 36 * 3600 * 10**9
    assert parse_duration("2w") == 14 * 86400 * 10**9
    for bad in ("", "7", "1x", "h", "-1d", "1d 2h"):
        assert parse_duration(bad) is None


def test_changed_roots_names_each_change() -> None:
    before = roots_of((project("/a", lock="L1"), project("/b", mounts=(mount("m1"),))))
    after = roots_of(
        (project("/a", lock="L2"), project("/b", mounts=(mount("m1"), mount("m2"))), project("/c"))
    )
    assert changed_roots(before, after) == [
        "weights.lock of /a changed",
        "new mount in /b",
        "new project /c",
    ]
    assert changed_roots(before, before) == []


def test_restrict_never_removes_what_the_fresh_plan_keeps() -> None:
    saved = plan_gc(snap([blob(1), blob(2)], []), GcOptions())
    fresh = plan_gc(snap([blob(1), blob(2)], [project("/a", weight("w", 2))]), GcOptions())
    assert {x.digest for x in restrict(fresh, saved).delete} == {d(1)}


def test_saved_gc_plan_round_trips_and_is_refused_when_stale() -> None:
    s = snap([blob(1)], [project("/a")])
    plan = plan_gc(s, GcOptions(keep_within_ns=HOUR))
    data = encode_saved_gc_plan(SavedGcPlan("0.1.0", GcOptions(HOUR), ("/x",), plan))
    assert is_gc_plan(data) and not is_gc_plan(b'{"format": "cogw-plan/1"}')
    saved = decode_saved_gc_plan(data, "gc.plan").unwrap()
    assert saved.options == GcOptions(HOUR) and saved.extra_projects == ("/x",)
    assert [x.digest for x in saved.plan.delete] == [d(1)]
    assert isinstance(check_saved_gc_plan(saved, plan.roots, "0.1.0", "gc.plan"), Success)
    newer = roots_of((project("/a", lock="changed"),))
    stale = check_saved_gc_plan(saved, newer, "0.1.0", "gc.plan")
    assert isinstance(stale, Failure)
    assert "weights.lock of /a changed" in stale.failure().detail
    assert isinstance(check_saved_gc_plan(saved, plan.roots, "0.2.0", "gc.plan"), Failure)
    assert isinstance(decode_saved_gc_plan(b"{}", "x"), Failure)


def test_project_index_is_canonical_and_damage_is_a_problem() -> None:
    index = add_project(add_project((), "/b"), "/a")
    assert index == ("/a", "/b") and add_project(index, "/a") == index
    data = render_index(index)
    assert parse_index(data, "p.json").unwrap() == index
    assert parse_index(None, "p.json").unwrap() == ()
    assert drop_projects(index, ["/a"]) == ("/b",)
    for bad in (b"nope", b'{"format": "x"}', b'{"format": "cogw-projects/1", "projects": ["rel"]}'):
        assert isinstance(parse_index(bad, "p.json"), Failure)
