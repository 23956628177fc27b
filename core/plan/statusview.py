"""``cogw status`` as text lines and JSON-ready values, and the size format every view shares.

Apart from :mod:`cogw.core.plan.render` (plans and outcomes) so that ``cogw status`` does not
import the planner to print its table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cogw.core.config.multisource import sources_label
from cogw.core.digest import format_digest_short
from cogw.core.plan.status import StatusRow


def format_size(n: int) -> str:
    """Cog's formatSize: binary units, one decimal, no space (1536 → "1.5KB")."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n}B"


def _status_cells(row: StatusRow) -> list[str]:
    e = row.entry
    size = format_size(e.size) if e and e.size else "-"
    files = str(len(e.files)) if e and e.files else "-"
    digest = format_digest_short(e.digest) if e and e.digest else "-"
    return [row.name, row.target, row.status.value, size, files, digest, row.next_command]


def tabulate(rows: Sequence[Sequence[str]]) -> list[str]:
    """Go tabwriter layout (padding 2, left-aligned, last cell unpadded)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["".join(c.ljust(w + 2) for c, w in zip(r, widths, strict=False)) + r[-1] for r in rows]


def status_lines(rows: Sequence[StatusRow]) -> list[str]:
    if not rows:
        return ["No weights configured."]
    table = [["NAME", "TARGET", "STATUS", "SIZE", "FILES", "DIGEST", "NEXT"]]
    table += [_status_cells(r) for r in rows]
    lines = [line.rstrip() for line in tabulate(table)]
    details = [f"  {r.name}: {r.details}" for r in rows if r.details]
    missing = [
        f"  {r.name}: {r.missing_files} file(s) missing from the local store "
        f"({format_size(r.missing_bytes)})"
        for r in rows
        if r.missing_files
    ]
    return lines + details + missing


def status_json(rows: Sequence[StatusRow]) -> dict[str, Any]:
    out = []
    for r in rows:
        item: dict[str, Any] = {"name": r.name, "target": r.target, "status": r.status.value}
        e = r.entry
        if e is not None:
            item.update(
                size=e.size,
                sizeCompressed=e.size_compressed,
                layerCount=len(e.layers),
                fileCount=len(e.files),
                digest=e.digest,
                setDigest=e.set_digest,
                source={
                    "uri": sources_label([s.uri for s in e.sources]),
                    "fingerprint": e.source.fingerprint,
                },
            )
            if e.more_sources:
                item["sources"] = [{"uri": s.uri, "fingerprint": s.fingerprint} for s in e.sources]
        if r.missing_files:
            item.update(missingFiles=r.missing_files, missingBytes=r.missing_bytes)
        if r.details:
            item["details"] = r.details
        if r.next_command:
            item["next"] = r.next_command
        out.append(item)
    return {"weights": out, "ready": all(r.status.value == "ready" for r in rows)}
