"""The wheel ships cogw.core and cogw.shell under cogw/, and nothing named plain core or shell;
it holds the compiled Go-compatible compressor and is then a platform wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_holds_only_the_cogw_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("cogw-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert all(t == "cogw" or t.endswith(".dist-info") for t in top), top
    assert "cogw/core/plan/planner.py" in names and "cogw/shell/cli.py" in names
    assert not any(n.startswith(("core/", "shell/", "tests/", "benchmarks/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "cogw = cogw.shell.entry:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    if shutil.which(str(sysconfig.get_config_var("CC") or "cc").split()[0]) is not None:
        assert "cogw/_goflate" + str(sysconfig.get_config_var("EXT_SUFFIX")) in names
        assert not wheel.name.endswith("-none-any.whl"), wheel.name
