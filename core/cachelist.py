"""``cogw cache ls`` and ``cogw cache projects``: what the cache holds and who uses it.

Sizes count each blob once, however many hardlinks it has (a mount's link adds
no bytes). Rows come from a CacheSnapshot and the default gc plan, so the
"reclaimable" total is exactly what ``cogw gc`` would free.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cogw.core.cachesnap import CacheSnapshot
from cogw.core.gc import GcPlan
from cogw.core.render import format_size, tabulate


@dataclass(frozen=True, slots=True)
class BlobRow:
    digest: str
    size: int
    links: int
    last_used_ns: int
    users: tuple[str, ...]  # "<project>:<weight>"
    mounts: tuple[str, ...]  # mount dirs holding it
    reclaimable: bool


@dataclass(frozen=True, slots=True)
class WeightRow:
    project: str
    weight: str
    files: int
    size: int
    cached: int  # bytes of its files present in the store
    shared: int  # bytes also used by another weight or project
    mounts: int


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def blob_rows(snap: CacheSnapshot, gc: GcPlan) -> tuple[BlobRow, ...]:
    users: dict[str, list[str]] = {}
    mounts: dict[str, list[str]] = {}
    for p in snap.projects:
        for w in p.weights:
            for d in {f.digest for f in w.files}:
                users.setdefault(d, []).append(f"{p.dir}:{w.name}")
        for m in p.mounts:
            for d in set(m.linked_blobs()):
                mounts.setdefault(d, []).append(m.path)
    freed = {d.digest for d in gc.delete}
    return tuple(
        BlobRow(
            b.digest,
            b.size,
            b.links,
            b.used_ns,
            tuple(sorted(users.get(b.digest, []))),
            tuple(sorted(mounts.get(b.digest, []))),
            b.digest in freed,
        )
        for b in snap.blobs
    )


def weight_rows(snap: CacheSnapshot) -> tuple[WeightRow, ...]:
    present = {b.digest for b in snap.blobs}
    owners: dict[str, set[tuple[str, str]]] = {}
    for p in snap.projects:
        for w in p.weights:
            for f in w.files:
                owners.setdefault(f.digest, set()).add((p.dir, w.name))
    rows = []
    for p in snap.projects:
        for w in p.weights:
            unique = {f.digest: f.size for f in w.files}
            mounted = sum(1 for m in p.mounts if any(mw.name == w.name for mw in m.weights))
            rows.append(
                WeightRow(
                    p.dir,
                    w.name,
                    len(w.files),
                    sum(unique.values()),
                    sum(s for d, s in unique.items() if d in present),
                    sum(s for d, s in unique.items() if len(owners[d]) > 1),
                    mounted,
                )
            )
    return tuple(rows)


def totals(snap: CacheSnapshot, gc: GcPlan) -> dict[str, int]:
    return {
        "blobs": len(snap.blobs),
        "bytes": sum(b.size for b in snap.blobs),
        "reclaimableBytes": gc.bytes_freed,
        "tempFiles": len(snap.temps),
        "tempBytes": sum(t.size for t in snap.temps),
    }


def ls_json(snap: CacheSnapshot, gc: GcPlan, by_weight: bool) -> dict[str, Any]:
    if by_weight:
        rows: list[dict[str, Any]] = [
            {
                "project": r.project,
                "weight": r.weight,
                "files": r.files,
                "size": r.size,
                "cachedBytes": r.cached,
                "sharedBytes": r.shared,
                "mounts": r.mounts,
            }
            for r in weight_rows(snap)
        ]
    else:
        rows = [
            {
                "digest": r.digest,
                "size": r.size,
                "links": r.links,
                "lastUsed": _iso(r.last_used_ns),
                "usedBy": list(r.users),
                "mounts": list(r.mounts),
                "reclaimable": r.reclaimable,
            }
            for r in blob_rows(snap, gc)
        ]
    return {"rows": rows, "totals": totals(snap, gc)}


def ls_lines(snap: CacheSnapshot, gc: GcPlan, by_weight: bool) -> list[str]:
    if by_weight:
        table = [["PROJECT", "WEIGHT", "FILES", "SIZE", "CACHED", "SHARED", "MOUNTS"]]
        table += [
            [
                r.project,
                r.weight,
                str(r.files),
                format_size(r.size),
                format_size(r.cached),
                format_size(r.shared),
                str(r.mounts),
            ]
            for r in weight_rows(snap)
        ]
    else:
        table = [["DIGEST", "SIZE", "LINKS", "LAST USED", "USED BY"]]
        for r in blob_rows(snap, gc):
            used = ", ".join(r.users) or ("(mounted only)" if r.mounts else "(unused)")
            table.append(
                [r.digest[:19], format_size(r.size), str(r.links), _iso(r.last_used_ns), used]
            )
    t = totals(snap, gc)
    summary = (
        f"{t['blobs']} blobs, {format_size(t['bytes'])} (hardlinks counted once); "
        f"gc would free {format_size(t['reclaimableBytes'])}"
    )
    return [*tabulate(table), summary]


def project_lines(snap: CacheSnapshot) -> list[str]:
    table = [["PROJECT", "STATE", "WEIGHTS", "MOUNTS"]]
    table += [
        [p.dir, p.state.value, str(len(p.weights)), str(len(p.mounts))] for p in snap.projects
    ]
    return tabulate(table)


def projects_json(snap: CacheSnapshot) -> list[dict[str, Any]]:
    return [
        {
            "project": p.dir,
            "state": p.state.value,
            "weights": [w.name for w in p.weights],
            "mounts": [m.id for m in p.mounts],
        }
        for p in snap.projects
    ]
