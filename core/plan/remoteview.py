"""The registry's answers in words: ``cogw status --remote`` (text, ``-v``, JSON) and the
lines of a ``repush`` step in ``cogw plan``.

Apart from render.py and statusview.py so that either needs one line to use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cogw.core.digest import format_digest_short
from cogw.core.plan.remote import remote_state
from cogw.core.plan.remotecheck import BlobPresence, RemoteCheck
from cogw.core.plan.repush import Origin, RepushWeight
from cogw.core.plan.status import StatusRow
from cogw.core.plan.statusview import format_size, status_json, status_lines

# Cog's per-layer words (pkg/model/weights_status.go: LayerStatusReady / Missing).
_PRESENT = {True: "ready", False: "missing"}


def _blob_json(blob: BlobPresence, sized: bool = True) -> dict[str, Any]:
    item: dict[str, Any] = {"digest": blob.digest}
    if sized:
        item["size"] = blob.size
    item.update(status=_PRESENT[blob.present], present=blob.present)
    return item


def check_json(check: RemoteCheck) -> dict[str, Any]:
    """One weight's registry answer; ``layers`` as Cog's status --json has them, plus
    ``present`` and the manifest Cog does not ask about."""
    value: dict[str, Any] = {
        "registry": remote_state(check).value,
        "manifest": _blob_json(check.manifest, sized=False),
        "layers": [_blob_json(layer) for layer in check.layers],
    }
    if check.error:
        value["registryError"] = check.error
    return value


def remote_status_json(
    rows: Sequence[StatusRow], checks: Mapping[str, RemoteCheck]
) -> dict[str, Any]:
    value = status_json(rows)
    for item in value["weights"]:
        check = checks.get(item["name"])
        if check is not None:
            item.update(check_json(check))
    return value


def _tree(blobs: Sequence[tuple[str, BlobPresence, bool]]) -> list[str]:
    lines = []
    for i, (kind, blob, sized) in enumerate(blobs):
        branch = "└─" if i == len(blobs) - 1 else "├─"
        size = format_size(blob.size) if sized else "-"
        lines.append(
            f"    {branch} {kind:<8}  {_PRESENT[blob.present]:<7}  {size:>8}  "
            f"{format_digest_short(blob.digest)}"
        )
    return lines


def check_lines(check: RemoteCheck) -> list[str]:
    """``-v``: the weight's registry state, then one line per blob it needs."""
    head = f"  {check.weight}: {remote_state(check).value}"
    if check.error:
        return [f"{head} (registry not checked: {check.error})"]
    blobs = [("manifest", check.manifest, False)]
    blobs += [("layer", layer, True) for layer in check.layers]
    return [head, *_tree(blobs)]


def remote_status_lines(
    rows: Sequence[StatusRow],
    checks: Mapping[str, RemoteCheck],
    repository: str,
    verbose: bool = False,
) -> list[str]:
    lines = status_lines(rows)
    if verbose and checks:
        lines.append(f"registry {repository}:")
        for row in rows:
            if row.name in checks:
                lines.extend(check_lines(checks[row.name]))
    return lines


def repush_line(step: RepushWeight) -> str:
    """What follows the verb: "minilm → /src/weights/minilm (registry lost manifest, 1 layer)"."""
    why = [f"registry lost {step.lost}"] if step.lost else []
    if step.forced:
        why.insert(0, "--force")
    return f"{step.weight} → {step.target} ({'; '.join(why) or 'as recorded'})"


def repush_details(step: RepushWeight) -> list[str]:
    """The layers to pack again and where from, then the manifest."""
    lines = []
    for layer in step.layers:
        where = "the local store" if layer.origin is Origin.STORE else f"the source {step.uri}"
        n = len(layer.files)
        lines.append(
            f"    layer {format_digest_short(layer.layer.digest)} "
            f"({n} file{'' if n == 1 else 's'}, {format_size(layer.layer.size)}) from {where}"
        )
    if step.push_manifest:
        lines.append(f"    manifest {format_digest_short(step.manifest)} and its config blob")
    lines.append("    weights.lock: unchanged")
    return lines
