"""Plans that do not lie and messages that fit a screen, through the real CLI."""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import time
from pathlib import Path

import click
import pytest

from tests.e2e.conftest import COGW, ONE_WEIGHT, Project

pytestmark = pytest.mark.registry


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


def _cogw_env(project: Project) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(project.dir),
        "COG_CACHE_DIR": str(project.cache),
    }


def wait_until_blocked(pid: int, deadline: float) -> None:
    """Until the process sleeps in its read of the answer: a signal that lands between
    the prompt and the read() call is handled only when the read returns (CPython)."""
    while Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "S":
        assert time.monotonic() < deadline, "the prompt never waited for an answer"
        time.sleep(0.01)


def test_ctrl_c_at_the_confirmation_prompt_prints_one_line_and_exits_130(one_weight):
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [COGW, "apply", "import"],
        cwd=one_weight.dir,
        env=_cogw_env(one_weight),
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(follower)
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "Apply these changes?" not in seen:
            assert proc.poll() is None and time.monotonic() < deadline, seen
            seen += os.read(proc.stderr.fileno(), 4096).decode()  # type: ignore[union-attr]
        wait_until_blocked(proc.pid, deadline)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
    finally:
        os.close(leader)
    lines = (seen + rest).splitlines()
    assert proc.returncode == 130, lines
    assert lines[-1].endswith("interrupted: nothing was changed"), lines
    assert not [x for x in lines if "Aborted" in x or "Traceback" in x]
    assert not one_weight.lock.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["plan"],
        ["import"],
        ["pull"],
        ["prepare"],
        ["release", "--all"],
        ["release", "--stale"],
        ["lock", "fmt"],
    ],
    ids=lambda c: " ".join(c),
)
def test_outside_a_project_commands_that_need_one_say_so_and_exit_1(tmp_path, command):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "COG_CACHE_DIR": str(tmp_path / "c")}
    done = subprocess.run(
        [COGW, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: not in a project: no cog.yaml in "), done.stderr
    assert "--project DIR" in done.stderr
    assert not (tmp_path / "c").exists()  # not recorded as a project in the cache


def test_prepare_adds_cog_to_gitignore_once_in_a_git_repository(one_weight):
    assert one_weight.run("import", "-q").exit_code == 0
    plain = one_weight.run("prepare")
    assert plain.exit_code == 0 and not (one_weight.dir / ".gitignore").exists()
    (one_weight.dir / ".git").mkdir()
    (one_weight.dir / ".gitignore").write_text("*.pyc")
    first = one_weight.run("prepare")
    assert first.exit_code == 0, first.stderr
    assert "Added .cog/ to .gitignore" in first.stderr
    assert (one_weight.dir / ".gitignore").read_text() == "*.pyc\n.cog/\n"
    second = one_weight.run("prepare")
    assert "gitignore" not in second.stderr
    assert (one_weight.dir / ".gitignore").read_text() == "*.pyc\n.cog/\n"


def test_prepare_leaves_a_gitignore_that_already_ignores_cog(one_weight):
    assert one_weight.run("import", "-q").exit_code == 0
    (one_weight.dir / ".git").mkdir()
    (one_weight.dir / ".gitignore").write_text("/.cog\n")
    assert "gitignore" not in one_weight.run("prepare").stderr
    assert (one_weight.dir / ".gitignore").read_text() == "/.cog\n"


def _groups() -> list[list[str]]:
    from cogw.shell.cli import cli

    found: list[list[str]] = [[]]
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):  # the commands other modules register, too
        if isinstance(cli.get_command(ctx, name), click.Group):
            found.append([name])
    return found


@pytest.mark.parametrize("group", _groups(), ids=lambda g: " ".join(["cogw", *g]))
def test_help_never_cuts_a_command_summary_mid_sentence(group):
    from click.testing import CliRunner

    from cogw.shell.cli import cli

    result = CliRunner().invoke(cli, [*group, "--help"], terminal_width=80)
    assert result.exit_code == 0
    listed = result.output.split("Commands:\n", 1)[1].splitlines()
    assert listed
    for line in listed:
        assert not line.rstrip().endswith("..."), line
        assert line.rstrip().endswith("."), line


def test_status_lists_only_the_flags_it_uses():
    from click.testing import CliRunner

    from cogw.shell.cli import cli

    text = CliRunner().invoke(cli, ["status", "--help"]).output
    assert "--project" in text and "--cache-dir" in text and "--file" in text
    for unused in ("--jobs", "--insecure-registry", "--ca-bundle", "--mirror", "--debug"):
        assert unused not in text


def test_import_json_with_problems_prints_them_as_json_with_the_hint(one_weight):
    result = one_weight.run("import", "--json", "minlm")
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["summary"] == 'not declared in cog.yaml: "minlm"'
    assert problem["hint"] == 'did you mean "minilm"?'
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("uri: weights/nothere", "weight source not found"),
        ("uri: weights/minilm\n      include: ['*.nomatch']", "match"),
    ],
    ids=["missing-source", "filters-match-nothing"],
)
def test_a_source_problem_is_reported_never_nothing_to_do(one_weight, source, needle):
    config = ONE_WEIGHT.replace("uri: weights/minilm", source)
    one_weight.write_config(config)
    result = one_weight.run("plan", "import")
    assert result.exit_code == 1, result.stdout
    assert "Nothing to do." not in result.stdout
    assert result.stdout.rstrip().endswith("Plan cannot be applied: 1 problem.")
    assert needle in result.stderr, result.stderr


THREE_WEIGHTS = "weights:\n" + "".join(
    f"  - name: w{i}\n    target: /src/w{i}\n    source:\n      uri: weights/w{i}\n"
    for i in range(3)
)


def test_a_verbose_plain_log_keeps_each_layers_lines_together_and_the_summary_last(
    project: Project, make_weights
):
    for i in range(3):  # three bundle layers, fetched side by side
        make_weights(f"w{i}", {f"w{i}-{n}.bin": os.urandom(200_000) for n in range(6)})
    project.write_config(THREE_WEIGHTS)
    assert project.run("import").exit_code == 0
    shutil.rmtree(project.cache)
    done = subprocess.run(
        [COGW, "pull", "-v"],
        cwd=project.dir,
        env=_cogw_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe, as a log collector sees it
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith("  layer ")]
    assert len(starts) == 3
    for n in starts:  # a layer's line, then its six files, nothing of another layer between
        files = lines[n + 1 : n + 7]
        weight = files[0].split()[0].split("-")[0]
        assert all(f.startswith(f"    {weight}-") for f in files), lines
    for i in range(3):
        done_at = next(
            n for n, line in enumerate(lines) if line.startswith(f"Pulling w{i}... done")
        )
        assert all(n < done_at for n in starts if lines[n + 1].startswith(f"    w{i}-"))
    assert lines[-1].startswith("Applied: 3 layers fetched")
