"""``RepushWeight`` steps to and from JSON-ready values (registered in core/plan/codec.py)."""

from __future__ import annotations

from typing import Any

from pyrsistent import pmap, pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.lock.lockfile import LockLayer, layer_json
from cogw.core.plan.repush import Origin, RepushLayer, RepushWeight

Json = dict[str, Any]


def _layer_to_json(layer: RepushLayer) -> Json:
    return {
        "layer": layer_json(layer.layer),
        "gzipLevel": layer.gzip_level,
        "from": layer.origin.value,
        "files": [{"path": f.path, "size": f.size, "digest": f.digest} for f in layer.files],
    }


def repush_to_json(step: RepushWeight) -> Json:
    return {
        "target": step.target,
        "manifest": step.manifest,
        "pushManifest": step.push_manifest,
        "lost": step.lost,
        "forced": step.forced,
        "uri": step.uri,
        "fingerprint": step.fingerprint,
        "moreSources": [[uri, fingerprint] for uri, fingerprint in step.more_sources],
        "owners": dict(sorted(step.owners.items())),
        "layerBytes": step.layer_bytes,
        "layers": [_layer_to_json(layer) for layer in step.layers],
    }


def _layer_from_json(d: Json) -> RepushLayer:
    layer = d["layer"]
    level = d["gzipLevel"]
    return RepushLayer(
        LockLayer(
            str(layer["digest"]),
            str(layer["mediaType"]),
            int(layer["size"]),
            int(layer["sizeUncompressed"]),
        ),
        pvector(
            InventoryFile(str(f["path"]), int(f["size"]), str(f["digest"])) for f in d["files"]
        ),
        None if level is None else int(level),
        Origin(d["from"]),
    )


def repush_from_json(d: Json) -> RepushWeight:
    """Inverse of ``repush_to_json`` (with "action" and "weight"); raises KeyError,
    ValueError or TypeError on malformed input."""
    return RepushWeight(
        weight=str(d["weight"]),
        target=str(d["target"]),
        manifest=str(d["manifest"]),
        push_manifest=bool(d["pushManifest"]),
        layers=pvector(_layer_from_json(layer) for layer in d["layers"]),
        lost=str(d["lost"]),
        forced=bool(d["forced"]),
        uri=str(d["uri"]),
        fingerprint=str(d["fingerprint"]),
        more_sources=pvector((str(u), str(f)) for u, f in d.get("moreSources", [])),
        owners=pmap({str(p): int(i) for p, i in d.get("owners", {}).items()}),
    )
