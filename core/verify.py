"""Verify findings and the repair plan, decided from a snapshot and the hashes the shell made.

Checks, for every blob the project's weights use (or every blob with ``--all``):
present (a missing blob is a note: 'cogw pull' fetches it, nothing is damaged),
the size the lockfile records, content hashing to its name, mode 0444; and for
every prepared mount of the project, that each file still links to the blob its
weight's lockfile entry names. Repair never deletes: bad blobs are moved to a
quarantine, fetched again through the normal verified pull, and the mounts that
linked to them are re-linked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from returns.result import Failure, Result, Success

from cogw.core.cachesnap import BLOB_MODE, Blob, CacheSnapshot, ProjectRoots
from cogw.core.diagnostics import Diagnostic
from cogw.core.paths import safe_join


@dataclass(frozen=True, slots=True)
class Expected:
    """A blob verify checks; ``size`` is -1 when no lockfile names it (``--all``)."""

    digest: str
    size: int
    users: tuple[str, ...]  # "<weight>/<path>"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # corrupt, size, mode, missing, mount-missing, mount-wrong-link, mount-copy
    digest: str
    path: str
    detail: str
    problem: bool = True
    weight: str = ""


@dataclass(frozen=True, slots=True)
class Relink:
    path: str  # the mount file to replace
    digest: str  # the blob it must link to


@dataclass(frozen=True, slots=True)
class RepairPlan:
    quarantine: tuple[str, ...] = ()
    chmod: tuple[str, ...] = ()
    refetch: tuple[str, ...] = ()  # weights of this project to pull again
    relink: tuple[Relink, ...] = ()
    notes: tuple[str, ...] = ()


def blob_path(store_root: str, digest: str) -> str:
    hexpart = digest.removeprefix("sha256:")
    return f"{store_root}/files/sha256/{hexpart[:2]}/{hexpart}"


def select(
    snap: CacheSnapshot, project: ProjectRoots | None, names: tuple[str, ...], all_blobs: bool
) -> Result[tuple[Expected, ...], Diagnostic]:
    """The blobs to check, in digest order; unknown weight names are a problem."""
    weights = project.weights if project is not None else ()
    unknown = [n for n in names if n not in {w.name for w in weights}]
    if unknown:
        return Failure(
            Diagnostic(
                f'no weight "{unknown[0]}" in weights.lock',
                hint="name weights from weights.lock, or use --all for the whole store",
            )
        )
    users: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    for w in weights:
        if names and w.name not in names:
            continue
        for f in w.files:
            users.setdefault(f.digest, []).append(f"{w.name}/{f.path}")
            sizes[f.digest] = f.size
    if all_blobs:
        for b in snap.blobs:
            users.setdefault(b.digest, [])
    return Success(tuple(Expected(d, sizes.get(d, -1), tuple(users[d])) for d in sorted(users)))


def to_hash(expected: tuple[Expected, ...], snap: CacheSnapshot) -> tuple[Blob, ...]:
    """Present blobs of the right size: the only ones worth reading."""
    blobs = {b.digest: b for b in snap.blobs}
    return tuple(
        blobs[e.digest]
        for e in expected
        if e.digest in blobs and (e.size < 0 or blobs[e.digest].size == e.size)
    )


def blob_findings(
    expected: tuple[Expected, ...],
    snap: CacheSnapshot,
    hashes: Mapping[str, str],
    store_root: str,
) -> list[Finding]:
    blobs = {b.digest: b for b in snap.blobs}
    out: list[Finding] = []
    for e in expected:
        path = blob_path(store_root, e.digest)
        blob = blobs.get(e.digest)
        if blob is None:
            out.append(Finding("missing", e.digest, path, "not in the store", problem=False))
        elif e.size >= 0 and blob.size != e.size:
            detail = f"size {blob.size} bytes, weights.lock says {e.size}"
            out.append(Finding("size", e.digest, path, detail))
        elif hashes.get(e.digest, e.digest) != e.digest:
            out.append(Finding("corrupt", e.digest, path, f"content hashes to {hashes[e.digest]}"))
        elif blob.mode & 0o7777 != BLOB_MODE:
            detail = f"mode {blob.mode & 0o7777:04o}, expected {BLOB_MODE:04o} (read-only)"
            out.append(Finding("mode", e.digest, path, detail))
    return out


def mount_findings(project: ProjectRoots | None, names: tuple[str, ...]) -> list[Finding]:
    """Each prepared mount file against its weight's lockfile entry."""
    if project is None:
        return []
    out: list[Finding] = []
    for mount in project.mounts:
        for mw in mount.weights:
            entry = project.weight(mw.name)
            if entry is None or (names and mw.name not in names):
                continue
            present = {f.path: f for f in mw.files}
            for lf in entry.files:
                path = safe_join(f"{mount.path}/{mw.name}", lf.path) or lf.path
                mf = present.get(lf.path)
                if mf is None:
                    out.append(
                        Finding(
                            "mount-missing",
                            lf.digest,
                            path,
                            "file missing from the mount",
                            weight=mw.name,
                        )
                    )
                elif mf.blob and mf.blob != lf.digest:
                    detail = f"links to blob {mf.blob}"
                    out.append(Finding("mount-wrong-link", lf.digest, path, detail, weight=mw.name))
                elif not mf.blob and mf.size != lf.size:
                    detail = f"size {mf.size} bytes, weights.lock says {lf.size}"
                    out.append(Finding("mount-wrong-link", lf.digest, path, detail, weight=mw.name))
                elif not mf.blob:
                    detail = "not linked to the store (a copy or reflink, or its blob was replaced)"
                    out.append(Finding("mount-copy", lf.digest, path, detail, False, mw.name))
    return out


BAD_CONTENT = frozenset({"corrupt", "size"})


def repair_plan(findings: list[Finding], project: ProjectRoots | None) -> RepairPlan:
    """Quarantine bad blobs, pull the weights that use them, re-link their mounts."""
    bad = sorted({f.digest for f in findings if f.kind in BAD_CONTENT})
    weights = project.weights if project is not None else ()
    refetch = tuple(w.name for w in weights if any(f.digest in bad for f in w.files))
    needed = {f.digest for w in weights if w.name in refetch for f in w.files}
    relink = [
        Relink(f.path, f.digest) for f in findings if f.kind.startswith("mount-") and f.problem
    ]
    relink += _mount_links_to(bad, project)
    notes = tuple(
        f"{d} is not used by this project: quarantined, not fetched again"
        for d in bad
        if d not in needed
    )
    return RepairPlan(
        quarantine=tuple(bad),
        chmod=tuple(sorted({f.digest for f in findings if f.kind == "mode"})),
        refetch=refetch,
        relink=tuple(sorted(set(relink), key=lambda r: r.path)),
        notes=notes,
    )


def _mount_links_to(bad: list[str], project: ProjectRoots | None) -> list[Relink]:
    if project is None or not bad:
        return []
    return [
        Relink(safe_join(f"{m.path}/{mw.name}", f.path) or f.path, f.blob)
        for m in project.mounts
        for mw in m.weights
        for f in mw.files
        if f.blob in bad
    ]


def has_problems(findings: list[Finding]) -> bool:
    return any(f.problem for f in findings)
