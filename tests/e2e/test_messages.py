"""Plans that do not lie and messages that fit a screen, through the real CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_FILES, Project

pytestmark = pytest.mark.registry

ONE_WEIGHT = """weights:
  - name: minilm
    target: /src/weights/minilm
    source:
      uri: weights/minilm
"""


@pytest.fixture
def one_weight(project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]) -> Project:
    make_weights("minilm", SMALL_FILES)
    project.write_config(ONE_WEIGHT)
    return project


def test_an_unknown_name_is_a_problem_with_a_suggestion_never_nothing_to_do(one_weight):
    for command in (["plan", "pull", "minlm"], ["plan", "import", "minlm"], ["pull", "minlm"]):
        result = one_weight.run(*command)
        assert result.exit_code == 1, (command, result.stderr)
        assert "Nothing to do." not in result.stdout + result.stderr
        assert 'did you mean "minilm"?' in result.stderr, result.stderr


def test_plan_detailed_exitcode_is_1_for_a_plan_with_problems(one_weight):
    result = one_weight.run("plan", "--detailed-exitcode", "minlm")
    assert result.exit_code == 1
    assert "Plan cannot be applied: 1 problem." in result.stdout


def test_plan_json_with_problems_exits_1_and_carries_the_hint(one_weight):
    result = one_weight.run("plan", "pull", "minlm", "--json")
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["hint"] == 'did you mean "minilm"?'


def test_a_tag_in_image_is_found_while_planning_before_any_ingest(one_weight):
    one_weight.write_config(ONE_WEIGHT, image=f"{one_weight.registry.host}/{one_weight.repo}:v1")
    planned = one_weight.run("plan", "import")
    assert planned.exit_code == 1
    assert "includes a tag or digest" in planned.stderr
    assert "cannot be applied: 1 problem" in planned.stdout
    imported = one_weight.run("import")
    assert imported.exit_code == 1 and "includes a tag or digest" in imported.stderr
    assert one_weight.blobs() == []  # nothing was ingested
    assert not one_weight.lock.exists()
