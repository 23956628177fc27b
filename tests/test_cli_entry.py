"""The console script's fast path for ``--version`` prints what click's option prints."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from cogw.shell.cli import cli
from cogw.shell.entry import version_line

ENTRY = "from cogw.shell.entry import main; main()"
PROBE = "import sys; from cogw.shell.entry import main; main(); print(sorted(sys.modules))"


def test_the_fast_version_line_is_clicks() -> None:
    result = CliRunner().invoke(cli, ["--version"], prog_name="cogw")
    assert result.exit_code == 0
    assert result.output == version_line() + "\n"


def test_version_through_the_entry_point_imports_no_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--version"], capture_output=True, text=True, check=True
    )
    first, modules = done.stdout.split("\n", 1)
    assert first == version_line()
    assert "click" not in modules and "cogw.shell.cli" not in modules


def test_every_other_command_line_goes_to_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, "--version", "--help"], capture_output=True, text=True
    )
    # Not the fast path: click parses it (and --version, being eager, wins).
    assert done.returncode == 0 and done.stdout == version_line() + "\n"
    helped = subprocess.run([sys.executable, "-c", ENTRY, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "Usage: cogw" in helped.stdout
