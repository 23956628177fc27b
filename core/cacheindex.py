"""The cache's index of projects: which project roots use this cache.

Stored as ``<weights dir>/projects.json`` (Cog ignores it)::

    {"format": "cogw-projects/1", "projects": ["/abs/project", ...]}

Paths are absolute, sorted and unique, so the same set always has the same
bytes. gc roots come from these projects' weights.lock files; a damaged index
is a problem (gc must not guess its roots), never silently an empty one.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic

FILENAME = "projects.json"
FORMAT = "cogw-projects/1"

ProjectIndex = tuple[str, ...]


def parse_index(data: bytes | None, where: str) -> Result[ProjectIndex, Diagnostic]:
    """The project paths in ``data``; None (no index yet) is the empty index."""
    if data is None:
        return Success(())
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return Failure(_damaged(where, f"not JSON: {exc}"))
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        return Failure(_damaged(where, f'expected "format": "{FORMAT}"'))
    projects = value.get("projects")
    if not isinstance(projects, list) or not all(
        isinstance(p, str) and p.startswith("/") for p in projects
    ):
        return Failure(_damaged(where, '"projects" must be a list of absolute paths'))
    return Success(normalise(projects))


def _damaged(where: str, detail: str) -> Diagnostic:
    return Diagnostic(
        "the cache's project index is damaged",
        detail=detail,
        subject=where,
        hint="remove it and run 'cogw status' in each project that uses this cache",
    )


def normalise(projects: Iterable[str]) -> ProjectIndex:
    return tuple(sorted(set(projects)))


def add_project(index: ProjectIndex, project: str) -> ProjectIndex:
    return normalise((*index, project))


def drop_projects(index: ProjectIndex, gone: Iterable[str]) -> ProjectIndex:
    dropped = set(gone)
    return tuple(p for p in index if p not in dropped)


def render_index(index: ProjectIndex) -> bytes:
    value = {"format": FORMAT, "projects": list(normalise(index))}
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"
