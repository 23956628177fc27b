"""Pulls through a real pull-through cache: distribution's proxy mode in front of the origin.

The mirror is a second docker-registry with ``proxy: remoteurl:`` pointing at the origin.
Covered: a pull through it; a pull after the origin went down once the mirror is warm; a
dead mirror (fallback to the origin, one quick attempt); a mirror serving wrong bytes under
the right digest (refused, fallback, nothing wrong stored); registries.conf instead of
``--mirror``; and `cogw plan pull` naming the mirror.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_FILES, Project, write_tree
from tests.fixtures.registry import RegistryFleet, RunningRegistry

pytestmark = pytest.mark.registry

WARM_TIMEOUT = 30.0  # generous: the proxy stores a cold blob in the background


def imported_project(tmp_path: Path, origin: RunningRegistry) -> Project:
    project = Project(tmp_path / "project", tmp_path / "cache-import", origin, "fleet/model")
    project.dir.mkdir()
    write_tree(project.dir / "weights" / "m", SMALL_FILES)
    project.write_config(
        "weights:\n  - name: m\n    target: /src/weights/m\n    source:\n      uri: weights/m\n"
    )
    result = project.run("import")
    assert result.exit_code == 0, result.output
    return project


def fresh_cache(project: Project, name: str) -> Project:
    return Project(project.dir, project.dir.parent / name, project.registry, project.repo)


def pull_json(project: Project, *args: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    result = project.run(
        "pull", "--json", *args, env={"CONTAINERS_REGISTRIES_CONF": "/nonexistent", **(env or {})}
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def sources(outcome: dict) -> set[str]:  # type: ignore[type-arg]
    return {r["detail"].rpartition(" from ")[2] for r in outcome["results"]}


def assert_store_holds_exactly_the_weight(project: Project) -> None:
    blobs = project.blobs()
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    wanted = {hashlib.sha256(data).hexdigest() for data in SMALL_FILES.values()}
    assert {b.name for b in blobs} == wanted


def layer_digests(project: Project) -> list[str]:
    lock = json.loads(project.lock.read_text())
    return [layer["digest"] for w in lock["weights"] for layer in w["layers"]]


def copy_artifact(project: Project, source: RunningRegistry, dest: RunningRegistry) -> None:
    lock = json.loads(project.lock.read_text())
    digest = lock["weights"][0]["digest"]
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{source.host}/{project.repo}@{digest}",
            f"docker://{dest.host}/{project.repo}:copied",
        ],
        check=True,
    )


def wait_until_warm(mirror: RunningRegistry, digests: list[str]) -> None:
    deadline = time.monotonic() + WARM_TIMEOUT
    while not all(mirror.blob_path(d).exists() for d in digests):
        if time.monotonic() > deadline:
            pytest.fail("the proxy never stored the blobs it served")
        time.sleep(0.1)


def test_pull_through_a_warm_mirror_survives_the_origin_going_down(
    tmp_path: Path, registry_fleet: RegistryFleet
) -> None:
    origin = registry_fleet.plain()
    project = imported_project(tmp_path, origin)
    mirror = registry_fleet.proxy(origin)

    first = fresh_cache(project, "cache-1")
    outcome = pull_json(first, "--mirror", mirror.host)
    assert sources(outcome) == {f"mirror {mirror.host}"}
    assert_store_holds_exactly_the_weight(first)

    # distribution's proxy stores a cold blob only after a second fetch from the origin.
    pull_json(fresh_cache(project, "cache-2"), "--mirror", mirror.host)
    wait_until_warm(mirror, layer_digests(project))
    registry_fleet.stop(origin)

    offline = fresh_cache(project, "cache-3")
    outcome = pull_json(offline, env={"COGW_REGISTRY_MIRRORS": mirror.host})
    assert sources(outcome) == {f"mirror {mirror.host}"}
    assert_store_holds_exactly_the_weight(offline)


def test_a_dead_mirror_falls_back_to_the_origin(
    tmp_path: Path, registry_fleet: RegistryFleet
) -> None:
    origin = registry_fleet.plain()
    project = imported_project(tmp_path, origin)
    mirror = registry_fleet.proxy(origin)
    registry_fleet.stop(mirror)

    pulled = fresh_cache(project, "cache-dead")
    outcome = pull_json(pulled, "--mirror", mirror.host)
    assert sources(outcome) == {f"origin {origin.host}"}
    assert_store_holds_exactly_the_weight(pulled)


def test_a_mirror_serving_wrong_bytes_is_refused_and_nothing_wrong_is_stored(
    tmp_path: Path, registry_fleet: RegistryFleet
) -> None:
    origin = registry_fleet.plain()
    project = imported_project(tmp_path, origin)
    liar = registry_fleet.plain()
    # The liar holds the same artifact (copied by skopeo), then its layer bytes are spoiled
    # on disk: the registry serves stored blobs without re-verifying them.
    copy_artifact(project, origin, liar)
    for digest in layer_digests(project):
        path = liar.blob_path(digest)
        spoiled = bytearray(path.read_bytes())
        spoiled[len(spoiled) // 2] ^= 0xFF
        path.write_bytes(bytes(spoiled))

    pulled = fresh_cache(project, "cache-pulled")
    outcome = pull_json(pulled, "--mirror", liar.host)
    assert sources(outcome) == {f"origin {origin.host}"}
    assert_store_holds_exactly_the_weight(pulled)


def test_registries_conf_mirror_and_plan_note(
    tmp_path: Path, registry_fleet: RegistryFleet
) -> None:
    origin = registry_fleet.plain()
    project = imported_project(tmp_path, origin)
    mirror = registry_fleet.proxy(origin)
    conf = tmp_path / "registries.conf"
    conf.write_text(
        f'[[registry]]\nprefix = "{origin.host}"\nlocation = "{origin.host}"\n'
        f'[[registry.mirror]]\nlocation = "{mirror.host}"\npull-from-mirror = "digest-only"\n'
    )
    env = {"CONTAINERS_REGISTRIES_CONF": str(conf)}
    pulled = fresh_cache(project, "cache-conf")
    plan = pulled.run("plan", "pull", env=env)
    assert plan.exit_code == 0, plan.output
    assert f"tried from mirror {mirror.host}, then origin {origin.host}" in plan.output

    result = pulled.run("pull", "-v", env=env)
    assert result.exit_code == 0, result.output
    assert f"from mirror {mirror.host}" in result.output
    assert_store_holds_exactly_the_weight(pulled)


def test_an_invalid_registries_conf_is_reported(
    tmp_path: Path, registry_fleet: RegistryFleet
) -> None:
    origin = registry_fleet.plain()
    project = imported_project(tmp_path, origin)
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nprefix = "x.io"\ninsecure = "yes"\n')
    result = fresh_cache(project, "c").run(
        "plan", "pull", env={"CONTAINERS_REGISTRIES_CONF": str(conf)}
    )
    assert result.exit_code == 1
    assert '"insecure" must be true or false' in result.output
