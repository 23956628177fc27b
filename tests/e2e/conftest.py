"""A real project on disk, a real store and the real registry, driven through the CLI."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cogw.shell.cli import cli
from tests.fixtures.registry import RunningRegistry


@dataclass
class Project:
    dir: Path
    cache: Path
    registry: RunningRegistry
    repo: str

    @property
    def lock(self) -> Path:
        return self.dir / "weights.lock"

    def write_config(self, weights_yaml: str, image: str | None = None) -> None:
        image = image or f"{self.registry.host}/{self.repo}"
        (self.dir / "cog.yaml").write_text(
            f"build:\n  python_version: '3.11'\nimage: {image}\n{weights_yaml}"
        )

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        full_env = {"COG_CACHE_DIR": str(self.cache), **(env or {})}
        return runner.invoke(
            cli,
            [*args, "--project", str(self.dir)] if _takes_project(args) else list(args),
            env=full_env,
            catch_exceptions=False,
        )

    def blobs(self) -> list[Path]:
        root = self.cache / "weights" / "files" / "sha256"
        return sorted(p for p in root.glob("*/*") if p.is_file()) if root.exists() else []


def _takes_project(args: tuple[str, ...]) -> bool:
    return (
        bool(args)
        and args[0] in {"plan", "apply", "import", "pull", "prepare", "status", "release", "check"}
    ) or (len(args) > 1 and args[:2] == ("lock", "fmt"))


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture
def project(tmp_path: Path, registry: RunningRegistry, request: pytest.FixtureRequest) -> Project:
    d = tmp_path / "project"
    d.mkdir()
    repo = "e2e/" + request.node.name.lower().replace("_", "-")[:60].strip("-")
    return Project(d, tmp_path / "cache", registry, repo)


SMALL_FILES = {
    "config.json": b'{"hidden_size": 384}',
    "tokenizer/vocab.txt": b"hello\nworld\n" * 100,
    ".gitattributes": b"*.safetensors filter=lfs\n",
    "nested/deeper/notes.md": "ünïcode ✓\n".encode() * 10,
}


@pytest.fixture
def make_weights(project: Project) -> Callable[[str, dict[str, bytes]], Path]:
    def make(name: str, files: dict[str, bytes]) -> Path:
        root = project.dir / "weights" / name
        write_tree(root, files)
        return root

    return make


# The installed console script, for tests that run cogw as a user's shell would.
COGW = shutil.which("cogw", path=str(Path(sys.executable).parent)) or "cogw"
ONE_WEIGHT = """weights:
  - name: minilm
    target: /src/weights/minilm
    source:
      uri: weights/minilm
"""


@pytest.fixture
def one_weight(project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]) -> Project:
    """A project declaring one weight of small files, not imported yet."""
    make_weights("minilm", SMALL_FILES)
    project.write_config(ONE_WEIGHT)
    return project


def mount_sources(stdout: str) -> dict[str, str]:
    import json

    return {m["target"]: m["source"] for m in json.loads(stdout)["mounts"]}


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


__all__ = ["Project", "mount_sources", "os", "tree", "write_tree"]
