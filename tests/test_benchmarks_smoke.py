"""The benchmark harness runs end to end on a tiny workload and writes a well-formed report.

Runs ``python -m benchmarks.run`` as a real process (its own registry, real cogw, skopeo
and curl) with a 4 MiB model, two repetitions, small scale scenarios and the many-streams
scenario on a 72 MiB layer (just above the 64 MiB streams threshold, so cogw takes the
byte-range path) through a proxy capping each connection at 100 MB/s. It checks the
report's shape and that every number in it was measured, never what the numbers are:
timings are not asserted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("docker-registry", "skopeo", "curl")
SECTIONS = (
    "## Machine",
    "## Targets",
    "## Pull: cold store, 4 MiB",
    "## Import, 4 MiB",
    "## Pull: many streams through a throttled link, 72 MiB",
    "## Memory on a big weight, 6 MiB",
    "## Prepare and status",
    "## Start-up",
    "## Scale",
    "## Profiles",
    "## What limits us",
)
MEASURED_ROWS = (
    "cogw pull (cold store)",
    "skopeo copy docker:// → oci:",
    "curl -o (each layer blob)",
    "curl -o + fsync (each layer blob)",
    "floor: Python GET + sha256 + write + fsync",
    "cogw pull (default streams)",
    "cogw pull --streams 1",
    "cogw import (cold, 6 MiB)",
    "cogw pull (cold store, 6 MiB)",
    "curl -o (one stream, large layer blob)",
    "cogw import (cold)",
    "floor: hashlib + curl -T upload",
    "floor part: hashlib only",
    "cogw import (unchanged)",
    "cogw prepare (hardlinks)",
    "cogw status",
    "python -c pass (interpreter only)",
    "cogw --help",
    "cogw --version",
    "cogw status (small project)",
    "floor: hashlib + curl -T of a tar",
    "tar -x + sync -f",
    "cp -al",
    "cogw status (60 locked files)",
    "cogw plan (60 locked files)",
    "cogw status (50 weights, config check)",
)
TARGET_COUNT = 6 + 1 + 2 + 6 + 3  # per size, many streams, big weight, scale, start-up
REPS = 2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the benchmark needs {', '.join(missing)} (./scripts/setup.sh)")
    tmp = tmp_path_factory.mktemp("bench")
    out, work = tmp / "report.md", tmp / "work"
    argv = [sys.executable, "-m", "benchmarks.run", "--sizes", "4", "--reps", str(REPS)]
    argv += ["--scale-files", "20", "--locked-files", "50", "--config-weights", "50"]
    argv += ["--streams-mib", "72", "--throttle-mbps", "100", "--big-mib", "6"]
    argv += ["--out", str(out), "--work-dir", str(work)]
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not work.exists(), "the work directory (1 GiB at full size) must be removed"
    return out.read_text()


def _table_row(report: str, label: str) -> list[str]:
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no table row {label!r} in the report")


def test_report_has_every_section_in_order(report: str) -> None:
    positions = [report.find(section) for section in SECTIONS]
    assert -1 not in positions, [s for s, p in zip(SECTIONS, positions, strict=True) if p == -1]
    assert positions == sorted(positions)


@pytest.mark.parametrize("label", MEASURED_ROWS, ids=MEASURED_ROWS)
def test_every_scenario_row_has_min_median_max_and_spread(report: str, label: str) -> None:
    row = _table_row(report, label)
    low, median, high, spread = row[1], row[2], row[3], row[4]
    assert re.fullmatch(r"\d+\.\d{3}", low) and re.fullmatch(r"\d+\.\d{3}", high), row
    assert re.fullmatch(r"\d+\.\d+ s", median), row
    assert float(low) <= float(median.split()[0]) <= float(high), row
    assert re.fullmatch(r"(⚠ )?\d+%", spread), row


def test_every_target_gets_a_measurement_and_a_verdict(report: str) -> None:
    section = report.split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    verdicts = [row.rstrip(" |").rsplit("|", 1)[1].strip() for row in rows[1:]]
    assert len(verdicts) == TARGET_COUNT
    assert set(verdicts) <= {"met", "missed", "undecided"}


def test_the_big_weight_has_its_memory_targets(report: str) -> None:
    for what in ("pull peak RSS < 150 MB (6 MiB)", "import peak RSS < 200 MB (6 MiB)"):
        row = _table_row(report, what)
        assert re.fullmatch(r"\d+ MB \(worst run\)", row[1]), row
        assert row[2] in ("met", "missed", "undecided"), row


def test_many_streams_target_and_its_split(report: str) -> None:
    goal = (
        "many streams ≥ 3× faster than one curl stream through a 100 MB/s-per-connection "
        "proxy (72 MiB)"
    )
    row = _table_row(report, goal)
    assert re.match(r"\d+\.\d+× faster \(medians; min/median/max ", row[1]), row
    assert row[2] in {"met", "missed", "undecided"}, row
    # The default streams split the layer: more connections through the proxy than one stream.
    seen = re.search(r"\(most\): cogw (\d+), `--streams 1` (\d+), curl (\d+)\.", report)
    assert seen is not None
    assert int(seen[1]) > int(seen[2]) >= 1 and int(seen[3]) == 1, seen.groups()


def test_cogw_peak_memory_is_reported_for_pull_and_import(report: str) -> None:
    for label in ("cogw pull (cold store)", "cogw import (cold)"):
        assert re.fullmatch(r"\d+", _table_row(report, label)[7]), label


def test_report_names_the_machine_and_the_peer_versions(report: str) -> None:
    facts = ("CPUs (nproc)", "memory", "python", "docker-registry", "skopeo", "curl")
    for fact in (*facts, "page cache (import, pull)"):
        value = _table_row(report, fact)[1]
        assert value and value != "unknown", fact


def test_profiles_name_hot_spots_for_pull_and_import(report: str) -> None:
    for command in ("cogw pull", "cogw import"):
        assert re.search(rf"### `{command}` \(busy \d+\.\d+ s\)", report), command
    assert "nan" not in report.lower().split()
