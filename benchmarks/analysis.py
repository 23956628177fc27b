"""The "what limits us" section: conclusions drawn from one run's numbers and profiles.

Knows how to turn measurements into sentences: which targets were missed and by how
much, how loaded the machine was, where each profiled command spent its busy time and
how many sha256 passes over the data it made. Every figure comes from the
results; hand-written notes on causes and fixes live in notes.md, pinned to a revision.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from benchmarks.measure import Measurement
from benchmarks.profiling import Profile
from benchmarks.targets import Results, Target, format_seconds

NOTES = Path(__file__).with_name("notes.md")
SHOWN_SHARE = 0.03  # categories below 3% of busy time are not worth a clause


def _load_lines(r: Results) -> list[str]:
    load = dict(r.facts).get("load average at the end (1, 5, 15 min)", "")
    cpus = os.cpu_count() or 1
    try:
        busiest = max(float(x) for x in load.split())
    except ValueError:
        return []
    if busiest <= cpus:
        return []
    return [
        f"- **The machine was busy**: load average up to {busiest:.1f} on {cpus} CPUs during "
        "the run (other work shared the CPUs and the disk). Wall times are inflated and noisy; "
        "the CPU seconds columns are less affected. Ratios compare runs interleaved under the "
        "same conditions, so they are fairer than absolute MB/s.",
    ]


def _floor_lines(r: Results) -> list[str]:
    p = r.pulls
    if p.floor.seconds <= p.floor_fsync.seconds:
        return []
    return [
        f"- Writing without fsync ({format_seconds(p.floor.seconds)}) was not faster than "
        f"writing with it ({format_seconds(p.floor_fsync.seconds)}) in this run: the page "
        "cache did not absorb a GiB of writes, so disk writes bound every tool that stores "
        "the blobs here, curl and skopeo included, and the fsync floor is the fair one.",
    ]


def _missed_lines(verdicts: Sequence[Target]) -> list[str]:
    missed = [t for t in verdicts if not t.met]
    if not missed:
        return ["- Every target was met in this run."]
    return [f"- Missed: {t.goal}; measured {t.measured}." for t in missed]


def _passes(prof: Profile, nbytes: int) -> str:
    if prof.hashed_bytes is None or not nbytes:
        return ""
    return (
        f" It fed {prof.hashed_bytes / 1e6:.0f} MB to sha256: "
        f"{prof.hashed_bytes / nbytes:.1f} passes over the {nbytes / 1e6:.0f} MB it moved."
    )


def _profile_line(prof: Profile, nbytes: int) -> str:
    shown = [
        f"{name} {seconds:.2f} s ({100 * seconds / prof.busy_seconds:.0f}%)"
        for name, seconds in prof.categories
        if prof.busy_seconds and seconds / prof.busy_seconds >= SHOWN_SHARE
    ]
    return (
        f"- `{prof.command}` was busy {prof.busy_seconds:.2f} s (all threads): "
        + "; ".join(shown)
        + "."
        + _passes(prof, nbytes)
    )


def _profile_lines(r: Results) -> list[str]:
    sizes = {"cogw pull": r.pulls.cogw.nbytes, "cogw import": r.imports.cold.nbytes}
    return [_profile_line(p, sizes.get(p.command, 0)) for p in r.profiles]


def _cpu(m: Measurement) -> str:
    return "?" if m.cpu_seconds is None else f"{m.cpu_seconds:.2f} s"


def _cpu_line(r: Results) -> str:
    p, i = r.pulls, r.imports
    return (
        f"- Client CPU seconds (medians; less sensitive to load than wall time): "
        f"pull: cogw {_cpu(p.cogw)}, skopeo {_cpu(p.skopeo)}, curl {_cpu(p.curl)}, fsync floor "
        f"{_cpu(p.floor_fsync)}; cold import: cogw {_cpu(i.cold)}, floor {_cpu(i.floor)}. "
        "On 2 shared CPUs, CPU spent per byte is what a busy machine turns into wall time."
    )


def _startup_line(r: Results) -> str:
    # CPU seconds, not wall time: on a loaded machine sub-second wall times mostly
    # measure waiting for a CPU.
    local = r.local
    return (
        f"- Fixed cost per command: `cogw --help` alone uses {_cpu(local.startup)} of CPU "
        f"(interpreter and the CLI's imports); `cogw status` uses {_cpu(local.status)} and an "
        f"unchanged `cogw import` {_cpu(r.imports.unchanged)}, start-up included."
    )


def _notes() -> list[str]:
    if not NOTES.exists():
        return []
    return ["", NOTES.read_text().rstrip(), ""]


def analysis_lines(r: Results, verdicts: Sequence[Target]) -> list[str]:
    return [
        "## What limits us",
        "",
        *_load_lines(r),
        *_missed_lines(verdicts),
        *_floor_lines(r),
        _cpu_line(r),
        _startup_line(r),
        *_profile_lines(r),
        "",
        *_notes(),
    ]
