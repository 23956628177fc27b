"""The habits users bring from Terraform and Cog, through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import COGW, ONE_WEIGHT, Project
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry


def test_apply_file_applies_a_saved_plan_as_terraform_does(one_weight, tmp_path):
    plan_file = tmp_path / "p.plan"
    assert one_weight.run("plan", "import", "--out", str(plan_file)).exit_code == 0
    applied = one_weight.run("apply", str(plan_file))
    assert applied.exit_code == 0, applied.stderr
    assert "Applied: 1 weight imported." in applied.stderr
    assert one_weight.lock.exists()


def test_apply_of_a_file_that_is_no_plan_is_an_error_not_a_weight_name(one_weight, tmp_path):
    stray = tmp_path / "minilm"
    stray.write_text("not a plan\n")
    refused = one_weight.run("apply", "--yes", str(stray))
    assert refused.exit_code == 1
    assert "not a saved plan" in refused.stderr and "cogw apply sync" in refused.stderr
    assert not one_weight.lock.exists()


def test_apply_file_routes_a_saved_gc_plan_too(one_weight, tmp_path):
    assert one_weight.run("import", "-q").exit_code == 0
    plan_file = tmp_path / "gc.plan"
    planned = one_weight.run("plan", "gc", "--out", str(plan_file))
    assert planned.exit_code == 0, planned.stderr
    applied = one_weight.run("apply", str(plan_file))
    assert applied.exit_code == 0, applied.stderr


def test_cog_spellings_weights_import_pull_status_and_dash_f(one_weight):
    imported = one_weight.run("weights", "import", "--project", str(one_weight.dir))
    assert imported.exit_code == 0, imported.stderr
    assert one_weight.lock.exists()
    shutil.rmtree(one_weight.cache)
    pulled = one_weight.run("weights", "pull", "--project", str(one_weight.dir))
    assert pulled.exit_code == 0, pulled.stderr
    status = one_weight.run("weights", "status", "--project", str(one_weight.dir))
    assert status.exit_code == 0 and "ready" in status.stdout
    (one_weight.dir / "cog.yaml").rename(one_weight.dir / "other.yaml")
    by_file = one_weight.run("status", "-f", "other.yaml")
    assert by_file.exit_code == 0, by_file.stderr
    assert "minilm" in by_file.stdout


def test_import_dry_run_is_plan_import(one_weight):
    planned = one_weight.run("plan", "import")
    dry = one_weight.run("import", "--dry-run")
    assert dry.exit_code == planned.exit_code == 0
    assert dry.stdout == planned.stdout and "1 weight to import" in dry.stdout
    assert not one_weight.lock.exists() and one_weight.blobs() == []


def test_q_prints_results_only_and_qq_nothing_but_errors(one_weight):
    quiet = one_weight.run("import", "-q")
    assert quiet.exit_code == 0
    assert "Applied: 1 weight imported." in quiet.stderr
    assert "would perform" not in quiet.stderr and "·" not in quiet.stderr
    shutil.rmtree(one_weight.cache)
    silent = one_weight.run("pull", "-qq")
    assert silent.exit_code == 0 and silent.stderr == ""
    prepared = one_weight.run("prepare", "-qq")
    assert prepared.exit_code == 0 and prepared.stderr == ""
    assert "/src/weights/minilm" in prepared.stdout  # the mounts are the result
    failed = one_weight.run("pull", "-qq", "minlm")
    assert failed.exit_code == 1 and failed.stderr.startswith("error: ")


def complete(project: Path, words: str) -> list[str]:
    env = {
        "PATH": os.environ["PATH"],
        "_COGW_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    done = subprocess.run(
        [COGW], cwd=project, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_shell_completion_offers_weight_names_from_cog_yaml(one_weight):
    assert complete(one_weight.dir, "cogw pull mi") == ["minilm"]
    assert complete(one_weight.dir, "cogw weights import ") == ["minilm"]
    offered = complete(one_weight.dir, "cogw plan ")
    assert "import" in offered and "minilm" in offered
    assert "import" not in complete(one_weight.dir, "cogw plan import ")
    assert complete(one_weight.dir / "weights", "cogw prepare m") == ["minilm"]  # upwards


def test_debug_traces_http_without_credentials(
    basic_registry: RunningRegistry, tmp_path: Path, make_weights
):
    directory = tmp_path / "auth-project"
    directory.mkdir()
    project = Project(directory, tmp_path / "auth-cache", basic_registry, "habits/debug")
    (directory / "weights" / "minilm").mkdir(parents=True)
    (directory / "weights" / "minilm" / "a.txt").write_text("a\n")
    project.write_config(ONE_WEIGHT)
    assert basic_registry.username and basic_registry.password
    env = {
        "DOCKER_CONFIG": str(tmp_path / "no-docker"),
        "COGW_REGISTRY_HOST": basic_registry.host,
        "COGW_REGISTRY_USERNAME": basic_registry.username,
        "COGW_REGISTRY_PASSWORD": basic_registry.password,
    }
    traced = project.run("import", "--debug", env=env)
    assert traced.exit_code == 0, traced.stderr
    lines = [line for line in traced.stderr.splitlines() if line.startswith("http: ")]
    assert any(f"PUT http://{basic_registry.host}/v2/habits/debug/" in x for x in lines), lines
    assert any(line.split()[3] == "201" for line in lines)
    assert all(line.endswith("ms") for line in lines)
    for secret in (basic_registry.password, "Authorization", "Basic "):
        assert secret not in traced.stderr
    log = tmp_path / "trace.log"
    shutil.rmtree(project.cache)
    pulled = project.run("pull", "--debug-file", str(log), env=env)
    assert pulled.exit_code == 0, pulled.stderr
    assert "http: " not in pulled.stderr
    assert f"GET http://{basic_registry.host}/v2/habits/debug/" in log.read_text()
    quiet = project.run("status", env=env)  # no trace without the flag
    assert "http: " not in quiet.stderr


def test_plan_json_on_stdout_is_parseable_with_debug(one_weight):
    result = one_weight.run("plan", "pull", "--json", "--debug")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["operation"] == "pull"
