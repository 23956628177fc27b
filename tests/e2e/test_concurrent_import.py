"""Concurrent `cogw import <weight>` processes on one project and the real registry.

Each process imports a different weight of one cog.yaml at the same moment; all record
into the one weights.lock. The race window hook pauses every import between its re-read
of weights.lock and its write, so without the project lock they would all merge into
the same old file and all but one entry would be lost.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cogw.shell.fs import RACE_WINDOW_ENV
from tests.e2e.conftest import COGW, Project, tree, write_tree

pytestmark = pytest.mark.registry

N = 5


def _config(n: int) -> str:
    return "weights:\n" + "".join(
        f"  - name: w{i}\n    target: /src/w{i}\n    source:\n      uri: weights/w{i}\n"
        for i in range(n)
    )


def _cogw(project: Project, *args: str) -> subprocess.Popen[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(project.dir),
        "COG_CACHE_DIR": str(project.cache),
        RACE_WINDOW_ENV: "0.3",
    }
    return subprocess.Popen(
        [COGW, *args, "--project", str(project.dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_concurrent_imports_of_different_weights_lose_no_entry(project: Project) -> None:
    files = {
        f"w{i}": {"config.json": f'{{"w": {i}}}'.encode(), "model.bin": os.urandom(64 << 10)}
        for i in range(N)
    }
    for name, content in files.items():
        write_tree(project.dir / "weights" / name, content)
    project.write_config(_config(N))
    procs = [_cogw(project, "import", "-q", name) for name in files]
    failures = []
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            failures.append((proc.args, proc.returncode, err))
    assert failures == []
    recorded = [w["name"] for w in json.loads(project.lock.read_text())["weights"]]
    assert sorted(recorded) == sorted(files)
    assert project.run("lock", "fmt", "--check").exit_code == 0
    shutil.rmtree(project.cache)
    pulled = project.run("pull", "-q")
    assert pulled.exit_code == 0, pulled.stderr
    mounted = project.run("prepare", "--json")
    assert mounted.exit_code == 0, mounted.stderr
    for m in json.loads(mounted.stdout)["mounts"]:
        assert tree(Path(m["source"])) == files[m["target"].rsplit("/", 1)[1]]
