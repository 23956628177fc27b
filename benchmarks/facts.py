"""Facts about the machine and tools a benchmark ran on, as (name, value) pairs.

Knows where Linux keeps CPU and memory facts and how each tool reports its version.
A fact that cannot be read is reported as "unknown" rather than failing the run.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

UNKNOWN = "unknown"


def _first_line(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return UNKNOWN
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else UNKNOWN


def _proc_field(path: str, field: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == field:
                return value.strip()
    except OSError:
        pass
    return UNKNOWN


def _memory() -> str:
    value = _proc_field("/proc/meminfo", "MemTotal")
    if value.endswith(" kB"):
        return f"{int(value[:-3]) / (1 << 20):.1f} GiB"
    return value


def _sha_ni() -> str:
    flags = _proc_field("/proc/cpuinfo", "flags").split()
    return "yes" if "sha_ni" in flags else "no"


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages: other work on the machine skews wall times."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return UNKNOWN


def revision(repo: Path) -> str:
    """The commit of ``repo``, marked when cogw's code there has uncommitted changes."""
    head = _first_line(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--", "core", "shell", "cogw"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head} + uncommitted changes" if dirty else head


def machine_facts(
    work: Path,
    cogw: Sequence[str],
    env: Mapping[str, str],
    cogw_source: str,
    load_at_start: str,
) -> list[tuple[str, str]]:
    return [
        ("date (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M")),
        ("cogw source", cogw_source),
        ("CPUs (nproc)", str(os.cpu_count() or UNKNOWN)),
        ("CPU", _proc_field("/proc/cpuinfo", "model name")),
        ("SHA extensions (sha_ni)", _sha_ni()),
        ("memory", _memory()),
        ("kernel", platform.release()),
        ("load average at the start (1, 5, 15 min)", load_at_start),
        ("load average at the end (1, 5, 15 min)", load_average()),
        (
            "filesystem of the work dir",
            _first_line(["findmnt", "-n", "-o", "FSTYPE", "-T", str(work)]),
        ),
        ("python", platform.python_version()),
        ("cogw", _first_line([*cogw, "--version"], env)),
        ("docker-registry", _first_line(["docker-registry", "--version"])),
        ("skopeo", _first_line(["skopeo", "--version"])),
        ("curl", " ".join(_first_line(["curl", "--version"]).split()[:2])),
    ]
