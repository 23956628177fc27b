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

from benchmarks.measure import SPREAD_LIMIT, Measurement
from benchmarks.profiling import Profile
from benchmarks.targets import Results, SizeResults, Target
from benchmarks.verdict import Verdict

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


def _verdict_lines(verdicts: Sequence[Target]) -> list[str]:
    open_ = [t for t in verdicts if t.verdict is not Verdict.MET]
    if not open_:
        return ["- Every target was met in this run, with every repetition inside its bound."]
    return [f"- {t.verdict.value.capitalize()}: {t.goal}; measured {t.measured}." for t in open_]


def _measurements(r: Results) -> list[Measurement]:
    ms: list[Measurement] = []
    for s in r.sizes:
        p, i = s.pulls, s.imports
        ms += [p.cogw, p.skopeo, p.curl, p.curl_fsync, p.floor, i.cold, i.floor, i.unchanged]
    if r.streams is not None:
        ms += [r.streams.cogw, r.streams.one_stream, r.streams.curl]
    if r.big is not None:
        ms += [r.big.imports, r.big.pulls]
    ms += [r.local.prepare, r.local.status, r.startup.python, *r.startup.commands]
    if r.scale is not None:
        sc = r.scale
        ms += [*sc.imports, *sc.pulls, *sc.prepares, sc.status, sc.plan, sc.config]
    return ms


def _noisy_lines(r: Results) -> list[str]:
    noisy = [m for m in _measurements(r) if m.noisy]
    if not noisy:
        return []
    names = ", ".join(f"{m.label} ({100 * m.spread:.0f}%)" for m in noisy)
    return [f"- Spread above {100 * SPREAD_LIMIT:.0f}% (⚠ in the tables): {names}."]


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
    last = r.sizes[-1]
    sizes = {"cogw pull": last.pulls.cogw.nbytes, "cogw import": last.imports.cold.nbytes}
    return [_profile_line(p, sizes.get(p.command, 0)) for p in r.profiles]


def _cpu(m: Measurement) -> str:
    return "?" if m.cpu_seconds is None else f"{m.cpu_seconds:.2f} s"


def _cpu_line(s: SizeResults) -> str:
    p, i = s.pulls, s.imports
    return (
        f"- Client CPU seconds at {s.size_mib} MiB (medians; less sensitive to load than wall "
        f"time): pull: cogw {_cpu(p.cogw)}, skopeo {_cpu(p.skopeo)}, curl {_cpu(p.curl)}, "
        f"pull floor {_cpu(p.floor)}; cold import: cogw {_cpu(i.cold)}, floor {_cpu(i.floor)}."
    )


def _streams_cpu_lines(r: Results) -> list[str]:
    s = r.streams
    if s is None:
        return []
    return [
        f"- Client CPU seconds through the {s.rate / 1e6:g} MB/s-per-connection proxy "
        f"({s.size_mib} MiB, medians): cogw {_cpu(s.cogw)}, cogw --streams 1 "
        f"{_cpu(s.one_stream)}, curl {_cpu(s.curl)}."
    ]


def _notes() -> list[str]:
    if not NOTES.exists():
        return []
    return ["", NOTES.read_text().rstrip(), ""]


def analysis_lines(r: Results, verdicts: Sequence[Target]) -> list[str]:
    return [
        "## What limits us",
        "",
        *_load_lines(r),
        *_verdict_lines(verdicts),
        *_noisy_lines(r),
        *[_cpu_line(s) for s in r.sizes],
        *_streams_cpu_lines(r),
        *_profile_lines(r),
        "",
        *_notes(),
    ]
