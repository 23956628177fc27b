"""Layer upload commits name the layer's media type (``OCI-Layer-Media-Type``) when the
project is in current Cog's shape, as current Cog's weight pusher does, and not for a
Cog v0.19.3 project. Watched through a recording proxy in front of the real registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_FILES, Project
from tests.fixtures.faultproxy import FaultProxy
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry

WEIGHTS = (
    "weights:\n  - name: tiny\n    target: /src/weights/tiny\n"
    "    source:\n      uri: weights/tiny\n"
)
HEADER = "oci-layer-media-type"  # the proxy records header names lower-cased


def commits(proxy: FaultProxy) -> dict[str, str | None]:
    """Blob digest -> the header its upload commit carried (None when absent)."""
    found: dict[str, str | None] = {}
    for request in proxy.requests_matching("PUT", "/blobs/uploads/"):
        if "digest=" in request.target:
            digest = request.target.split("digest=")[1].split("&")[0].replace("%3A", ":")
            found[digest] = request.headers.get(HEADER)
    return found


def test_a_current_cog_project_names_each_layers_media_type_on_its_commit(
    project: Project,
    make_weights: Callable[[str, dict[str, bytes]], Path],
    fault_proxy: Callable[[RunningRegistry], FaultProxy],
) -> None:
    proxy = fault_proxy(project.registry)
    make_weights("tiny", SMALL_FILES)
    (project.dir / "cog.yaml").write_text(f"model: {project.repo}\n{WEIGHTS}")
    imported = project.run("import", env={"COG_MODEL_REGISTRY": proxy.host})
    assert imported.exit_code == 0, imported.output
    (entry,) = json.loads(project.lock.read_bytes())["weights"]
    seen = commits(proxy)
    layers = {layer["digest"]: layer["mediaType"] for layer in entry["layers"]}
    assert layers and {d: seen.get(d) for d in layers} == layers
    # The config blob is not a layer: its commit names no layer media type.
    others = {d: h for d, h in seen.items() if d not in layers}
    assert others and all(h is None for h in others.values())


def test_a_cog_v0_19_3_project_sends_no_layer_media_type(
    project: Project,
    make_weights: Callable[[str, dict[str, bytes]], Path],
    fault_proxy: Callable[[RunningRegistry], FaultProxy],
) -> None:
    proxy = fault_proxy(project.registry)
    make_weights("tiny", SMALL_FILES)
    project.write_config(WEIGHTS, image=f"{proxy.host}/{project.repo}")
    imported = project.run("import")
    assert imported.exit_code == 0, imported.output
    seen = commits(proxy)
    assert seen and all(h is None for h in seen.values())
