"""Start-up: each command imports what it uses and nothing else (issue: start-up within 2×
of a bare interpreter). Counted from ``sys.modules`` at exit of a real process, never timed.

The wrapper runs the console script's ``main`` as ``cogw`` does and, when the command ends
(click exits through SystemExit), writes the names of every imported module to a file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

WRAPPER = """
import sys
sys.argv = ["cogw", *sys.argv[1:]]
from cogw.shell.cli import main
try:
    main()
except SystemExit:
    pass
names = sorted(sys.modules)
with open(OUT, "w") as out:
    out.write("\\n".join(names))
"""

# Libraries no start-up path needs: the network stack and rich output.
NEVER = ("requests", "urllib3", "rich", "huggingface_hub", "charset_normalizer", "idna")
# --help and --version print click's text: no parsing, planning or containers, and no
# encoder a secret's spellings need only once there is a secret (json, base64).
NOT_FOR_HELP = (
    *NEVER,
    *("yaml", "returns", "pyrsistent", "orjson", "filelock", "sqlite3", "json", "base64"),
)
# The cogw modules --help and --version may load: the CLI, its group, the option
# declarations and completers its commands are decorated with, the names of its operations,
# and what main() installs before parsing (secret redaction, SIGTERM handling). Each of
# them imports click and the standard library only (NOT_FOR_HELP checks that).
HELP_COGW_MODULES = {
    "cogw",
    "cogw.core",
    "cogw.core.plan",
    "cogw.core.plan.operation",
    "cogw.core.redact",
    "cogw.shell",
    "cogw.shell.cli",
    "cogw.shell.cligroup",
    "cogw.shell.habits",
    "cogw.shell.httptrace",
    "cogw.shell.options",
    "cogw.shell.redaction",
    "cogw.shell.signals",
}
# status reads cog.yaml, weights.lock and the store; it neither plans, renders a plan,
# executes nor talks to a registry, and hashes no source.
NOT_FOR_STATUS = (
    *NEVER,
    "cogw.core.plan.planner",
    "cogw.core.plan.render",
    "cogw.shell.registry",
    "cogw.shell.execute",
    "cogw.shell.importer",
    "cogw.shell.pull",
    "cogw.shell.hashing",
    "cogw.shell.sources",
    "concurrent.futures",
    "sqlite3",
)


def imported_modules(args: list[str], cwd: Path, tmp_path: Path) -> set[str]:
    out = tmp_path / "modules.txt"
    code = f"OUT = {str(out)!r}\n{WRAPPER}"
    env = {**os.environ, "COG_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, check=True
    )
    return set(out.read_text().split())


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The given packages (or any of their submodules) among ``modules``."""
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "weights").mkdir(parents=True)
    (root / "weights" / "a.bin").write_bytes(b"weights")
    (root / "cog.yaml").write_text(
        "image: 127.0.0.1:5000/acme/model\n"
        "weights:\n  - name: model\n    target: /src/weights\n    source:\n      uri: weights\n"
    )
    return root


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_only_the_cli(flag: str, project: Path, tmp_path: Path) -> None:
    modules = imported_modules([flag], project, tmp_path)
    assert "click" in modules  # the wrapper ran the real CLI
    assert loaded(modules, NOT_FOR_HELP) == []
    assert {m for m in modules if m == "cogw" or m.startswith("cogw.")} <= HELP_COGW_MODULES


def test_status_imports_no_registry_client_planner_or_executor(
    project: Path, tmp_path: Path
) -> None:
    modules = imported_modules(["status", "--json"], project, tmp_path)
    assert "cogw.core.plan.status" in modules and "yaml" in modules  # it did read the project
    assert loaded(modules, NOT_FOR_STATUS) == []
