"""Bad input gets a short message naming the file, exit 1, no traceback, nothing written.

These run the installed `cogw` console script in a subprocess, exactly as a user would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import COGW

GOOD_CONFIG = """image: 127.0.0.1:5000/acme/model
weights:
  - name: alpha
    target: /src/weights/alpha
    source:
      uri: weights/alpha
"""


def cogw(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), "COG_CACHE_DIR": str(project / "cache")}
    return subprocess.run(
        [COGW, *args], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("lock", "needles"),
    [
        ("not json", ["weights.lock"]),
        ('{"version": 2, "weights": []}', ["unsupported weights.lock version 2"]),
        ('{"version": "v1"}', ["weights.lock"]),
        (
            '{"version": 1, "weights": ['
            '{"name": "a", "target": "/a"}, {"name": "a", "target": "/b"}]}',
            ["duplicate weight name", '"a"'],
        ),
    ],
    ids=["not-json", "wrong-version", "string-version", "duplicate-name"],
)
def test_a_malformed_lockfile_is_named_with_exit_1_and_left_untouched(tmp_path, lock, needles):
    (tmp_path / "cog.yaml").write_text(GOOD_CONFIG)
    (tmp_path / "weights.lock").write_text(lock)
    for command in (["status"], ["plan", "pull"], ["pull"], ["lock", "fmt"]):
        result = cogw(tmp_path, *command)
        assert_clean_failure(result, *needles)
    assert (tmp_path / "weights.lock").read_text() == lock


@pytest.mark.parametrize(
    ("config", "needles"),
    [
        ("weights: [\n", ["cog.yaml", "invalid YAML"]),
        (
            "image: x/y\nweights:\n  - name: Bad_Name\n    target: rel\n    source: {uri: s3://b/k}\n",
            ["cog.yaml", "target must be an absolute path", "s3"],
        ),
        (
            "weights:\n  - name: a\n    target: /a\n    source: {uri: w}\n",
            ["weights require 'model'"],
        ),
        ("image: x/y\nweights: " + "[" * 3000 + "]" * 3000 + "\n", ["nested deeper than 64"]),
        (
            'image: x/y\nweights:\n  - name: a\n    target: /a\n    source: {uri: "w\\0x"}\n',
            ["weights[0].source.uri", "contains a control character"],
        ),
        (
            "image: x/y\nweights:\n  - name: a\n    name: b\n",
            ["invalid YAML (line 4, column 5)", 'mapping key "name" already defined at line 3'],
        ),
        ("image: x/y\nsize: " + "9" * 5000 + "\n", ["cannot read a value"]),
    ],
    ids=[
        "yaml-syntax",
        "several-problems",
        "no-image",
        "deep-nesting",
        "nul-in-uri",
        "duplicate-key",
        "huge-number",
    ],
)
def test_a_malformed_cog_yaml_reports_all_problems_with_exit_1(tmp_path, config, needles):
    (tmp_path / "cog.yaml").write_text(config)
    result = cogw(tmp_path, "status")
    assert_clean_failure(result, *needles)
    assert not (tmp_path / "weights.lock").exists()


def test_a_missing_cog_yaml_says_where_it_looked(tmp_path):
    assert_clean_failure(cogw(tmp_path, "status"), f"no cog.yaml in {tmp_path}")


def test_lock_fmt_check_fails_on_a_non_canonical_lockfile_and_changes_nothing(tmp_path):
    (tmp_path / "cog.yaml").write_text(GOOD_CONFIG)
    lock = '{"version":1,"envelopeFormat":"","weights":[]}'
    (tmp_path / "weights.lock").write_text(lock)
    result = cogw(tmp_path, "lock", "fmt", "--check")
    assert_clean_failure(result, "not canonical")
    assert (tmp_path / "weights.lock").read_text() == lock
    assert cogw(tmp_path, "lock", "fmt").returncode == 0
    canonical = (tmp_path / "weights.lock").read_text()
    assert canonical == '{\n  "version": 1,\n  "envelopeFormat": "",\n  "weights": []\n}'
    assert cogw(tmp_path, "lock", "fmt", "--check").returncode == 0


def test_an_unknown_operation_or_flag_is_a_usage_error(tmp_path):
    (tmp_path / "cog.yaml").write_text(GOOD_CONFIG)
    result = cogw(tmp_path, "pull", "--no-such-flag")
    assert result.returncode == 2 and "No such option" in result.stderr
