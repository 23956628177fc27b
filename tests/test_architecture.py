"""The core stays pure: nothing under core/ may import I/O, clock, randomness or the shell.

Checked on the AST of every module, so an import hidden inside a function is
caught too. Pure helpers that happen to live in impure-looking packages are
not allowed either: the point is that core/ cannot reach the outside world.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"

FORBIDDEN = {
    "os",
    "io",
    "sys",
    "pathlib",
    "shutil",
    "subprocess",
    "socket",
    "tempfile",
    "fcntl",
    "mmap",
    "requests",
    "urllib",
    "http",
    "tarfile",
    "gzip",
    "zlib",
    "zstandard",
    "time",
    "random",
    "secrets",
    "uuid",
    "threading",
    "multiprocessing",
    "concurrent",
    "asyncio",
    "sqlite3",
    "click",
    "rich",
    "huggingface_hub",
    "filelock",
    "yaml",
    "logging",
    "signal",
    "glob",
    "cogw.shell",
    "shell",
    "returns.unsafe",
}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
    return found


def is_forbidden(module: str) -> bool:
    parts = module.split(".")
    return any(".".join(parts[:i]) in FORBIDDEN for i in range(1, len(parts) + 1))


CORE_MODULES = sorted(CORE.glob("*.py"))


@pytest.mark.parametrize("path", CORE_MODULES, ids=[p.name for p in CORE_MODULES])
def test_core_module_imports_nothing_that_does_io(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [
        f"{path.name}:{line} imports {mod}"
        for line, mod in imported_modules(tree)
        if is_forbidden(mod)
    ]
    assert bad == []


@pytest.mark.parametrize("path", CORE_MODULES, ids=[p.name for p in CORE_MODULES])
def test_core_module_calls_no_impure_builtins(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    bad = [
        f"{path.name}:{c.lineno} calls {c.func.id}()"
        for c in calls  # type: ignore[attr-defined]
        if c.func.id in {"open", "print", "input", "exec", "eval", "__import__"}
    ]  # type: ignore[attr-defined]
    impure_attrs = {"now", "today", "utcnow", "environ", "getenv"}
    attrs = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in impure_attrs]
    bad += [f"{path.name}:{a.lineno} uses .{a.attr}" for a in attrs]
    assert bad == []


def test_the_architecture_check_catches_an_impure_import() -> None:
    tree = ast.parse("import os\nfrom cogw.shell.store import FileStore\nimport hashlib\n")
    flagged = [m for _, m in imported_modules(tree) if is_forbidden(m)]
    assert flagged == ["os", "cogw.shell.store"]


def test_core_is_importable_without_the_shell_and_heavy_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cogw.core.plan, cogw.core.render, cogw.core.savedplan, cogw.core.status;"
        "bad=[m for m in ('requests','rich','huggingface_hub','cogw.shell') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_help_does_not_import_heavy_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from cogw.shell.cli import cli;"
        "import contextlib, io\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli(['--help'])\n"
        "print([m for m in ('requests','rich','huggingface_hub') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
