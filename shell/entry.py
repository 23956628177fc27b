"""The ``cogw`` console script: ``cogw --version`` answers before the CLI is imported.

Importing the CLI means importing click and the command declarations (about 150 modules);
a version check, which scripts and CI run often, needs none of them. Everything else goes
to :func:`cogw.shell.cli.main`. The line is click's ``version_option`` text, so both paths
print the same bytes (tests/test_cli_entry.py compares them).
"""

from __future__ import annotations

import sys

VERSION_FLAGS = ("--version",)


def version_line() -> str:
    from cogw import __version__

    return f"cogw, version {__version__}"


def main() -> None:
    if tuple(sys.argv[1:]) == VERSION_FLAGS:
        sys.stdout.write(version_line() + "\n")
        return
    from cogw.shell.cli import main as cli_main

    cli_main()
