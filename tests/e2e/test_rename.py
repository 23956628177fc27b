"""Never stuck after a rename: the old entry goes in the import's own write (as Cog's
import prunes), and a weights.lock already holding two entries for one target still lets
prune, import and lock fmt run and repair it, while the other commands say how."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SMALL_FILES, Project

pytestmark = pytest.mark.registry

WeightsMaker = Callable[[str, dict[str, bytes]], Path]


def weight_yaml(name: str) -> str:
    return (
        f"weights:\n  - name: {name}\n    target: /src/weights/m\n"
        "    source:\n      uri: weights/m\n"
    )


def lock_json(project: Project) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(project.lock.read_bytes())
    return value


def names(project: Project) -> list[str]:
    return [e["name"] for e in lock_json(project)["weights"]]


def test_importing_a_renamed_weight_drops_the_old_entry_in_the_same_write(
    project: Project, make_weights: WeightsMaker
) -> None:
    make_weights("m", SMALL_FILES)
    project.write_config(weight_yaml("old-name"))
    assert project.run("import").exit_code == 0
    project.write_config(weight_yaml("new-name"))
    result = project.run("import")
    assert result.exit_code == 0, result.output
    assert names(project) == ["new-name"]
    assert project.run("status").exit_code == 0


def two_entries_for_one_target(project: Project, make_weights: WeightsMaker) -> None:
    """What a rename leaves when the new entry is recorded beside the old one."""
    make_weights("m", SMALL_FILES)
    project.write_config(weight_yaml("old-name"))
    assert project.run("import").exit_code == 0
    lock = lock_json(project)
    renamed = {**lock["weights"][0], "name": "new-name"}
    lock["weights"].append(renamed)
    project.lock.write_text(json.dumps(lock, indent=2))
    project.write_config(weight_yaml("new-name"))


def test_a_stuck_lockfile_is_explained_by_the_commands_that_cannot_repair_it(
    project: Project, make_weights: WeightsMaker
) -> None:
    two_entries_for_one_target(project, make_weights)
    for command in (["status"], ["pull"], ["prepare"]):
        result = project.run(*command)
        assert result.exit_code == 1, command
        assert 'duplicate weight target "/src/weights/m"' in result.output
        assert "'cogw apply prune --yes'" in result.output
        assert "Traceback" not in result.output


def repaired_by(project: Project, make_weights: WeightsMaker, *repair: str) -> None:
    two_entries_for_one_target(project, make_weights)
    result = project.run(*repair)
    assert result.exit_code == 0, result.output
    assert names(project) == ["new-name"]
    shutil.rmtree(project.cache)
    assert project.run("pull").exit_code == 0
    assert project.run("status").exit_code == 0


def test_prune_repairs_two_entries_for_one_target(
    project: Project, make_weights: WeightsMaker
) -> None:
    repaired_by(project, make_weights, "apply", "prune", "--yes")


def test_import_repairs_two_entries_for_one_target(
    project: Project, make_weights: WeightsMaker
) -> None:
    repaired_by(project, make_weights, "import")


def test_sync_repairs_two_entries_for_one_target(
    project: Project, make_weights: WeightsMaker
) -> None:
    repaired_by(project, make_weights, "apply", "--yes")


def test_lock_fmt_formats_a_stuck_lockfile_and_warns(
    project: Project, make_weights: WeightsMaker
) -> None:
    two_entries_for_one_target(project, make_weights)
    result = project.run("lock", "fmt")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "duplicate weight target" in result.output
    assert project.run("lock", "fmt", "--check").exit_code == 0
    assert names(project) == ["old-name", "new-name"]  # formatting removes nothing


def test_a_current_cog_lockfile_is_pruned_and_re_imported_without_changing_its_shape(
    project: Project, make_weights: WeightsMaker
) -> None:
    # An image: project (Cog v0.19.3's config) whose weights.lock a current Cog wrote.
    make_weights("m", SMALL_FILES)
    make_weights("other", {"o.json": b"{}"})
    other = "  - name: other\n    target: /src/weights/o\n    source:\n      uri: weights/other\n"
    project.write_config(weight_yaml("m") + other)
    assert project.run("import").exit_code == 0
    where = ("--project", str(project.dir))
    assert project.run("lock", "convert", "--to", "current", "--yes", *where).exit_code == 0
    project.write_config(weight_yaml("m"))
    assert project.run("apply", "prune", "--yes").exit_code == 0
    assert "sources" in lock_json(project)["weights"][0]
    (project.dir / "weights" / "m" / "config.json").write_bytes(b"{}")
    result = project.run("import")
    assert result.exit_code == 0, result.output
    (entry,) = lock_json(project)["weights"]
    assert "sources" in entry and "source" not in entry
    assert "cog-weight.m." + entry["setDigest"][7:19] in result.output
