"""docs/benchmarks.md from measured results: machine facts, targets, one table per scenario.

Every number in the page comes from the results passed in, nothing is typed in by
hand; every figure is shown as min, median and max, with its spread flagged when it
is too wide to decide anything. Does not measure.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.analysis import analysis_lines
from benchmarks.measure import SPREAD_LIMIT, Measurement
from benchmarks.tables import (
    big_section,
    scale_section,
    startup_section,
    streams_section,
    table,
)
from benchmarks.targets import Results, SizeResults, format_mb, format_seconds, targets

HEADER = ("what", "min", "median", "max", "spread", "MB/s", "CPU s", "peak RSS (MB)")


def spread_cell(m: Measurement) -> str:
    """The spread in percent, flagged (⚠) above the limit."""
    text = f"{100 * m.spread:.0f}%"
    return f"⚠ {text}" if m.noisy else text


def row(m: Measurement, ratio: str | None = None) -> list[str]:
    rate = "–" if m.mb_per_s is None else f"{m.mb_per_s:.0f}"
    cpu = "–" if m.cpu_seconds is None else f"{m.cpu_seconds:.2f}"
    cells = [m.label, f"{m.min_seconds:.3f}", format_seconds(m.seconds), f"{m.max_seconds:.3f}"]
    cells += [spread_cell(m), rate, cpu, format_mb(m.peak_rss_mb)]
    return cells if ratio is None else [*cells, ratio]


def _ratio(m: Measurement, base: Measurement) -> str:
    return f"{m.seconds / base.seconds:.2f}×"


def _pull_section(s: SizeResults) -> list[str]:
    p = s.pulls
    ms = (p.cogw, p.skopeo, p.curl, p.curl_fsync, p.floor)
    return [
        f"## Pull: cold store, {s.size_mib} MiB",
        "",
        f"`cogw pull` into an empty cache of the weight's {p.layers} layer blobs "
        f"({p.cogw.nbytes / 1e6:.0f} MB), next to its peers on the same blobs from the same "
        "registry: `skopeo copy` (verifies digests), `curl -o` per blob (verifies nothing, "
        "durable only after `sync`), `curl -o` followed by an fsync of each file, and the pull "
        "floor: `benchmarks/pullfloor.py`, an HTTP GET streamed with `readinto` into one reused "
        "buffer, sha256 and write from that buffer, one fsync per blob (verified and durable, "
        "like cogw). The targets compare cogw with that floor. MB/s counts blob bytes.",
        "",
        *table([row(m, _ratio(m, p.cogw)) for m in ms], (*HEADER, "median vs cogw")),
    ]


def _import_section(s: SizeResults) -> list[str]:
    i = s.imports
    unchanged = "yes" if i.lock_unchanged else "NO"
    return [
        f"## Import, {s.size_mib} MiB",
        "",
        "Cold: an empty cache, no weights.lock and a new registry repository for every run. "
        "The floor is one hashlib pass over the source files plus a bare `curl -T` monolithic "
        "upload (POST, then one PUT) of the large file and of a tar of the small files, to a "
        "new repository each run. Unchanged: `cogw import` again with nothing changed "
        f"(weights.lock left byte-identical: {unchanged}). MB/s counts source bytes.",
        "",
        *table(
            [row(m, _ratio(m, i.cold)) for m in (i.cold, i.floor, i.hashing, i.unchanged)],
            (*HEADER, "median vs cogw"),
        ),
    ]


def _local_section(r: Results) -> list[str]:
    return [
        "## Prepare and status",
        "",
        "With every file in the store (last size): `cogw prepare --json` hard-links the weight "
        "into a new mount directory (released, untimed, after each run); `cogw status` "
        "compares cog.yaml, weights.lock and the store. Warm page cache.",
        "",
        *table([row(m) for m in (r.local.prepare, r.local.status)], HEADER),
    ]


def _profile_section(r: Results) -> list[str]:
    lines = ["## Profiles", ""]
    if not r.profiles:
        return [*lines, "Not run (`--no-profile`).", ""]
    lines += [
        "One extra run of each command under cProfile, in every thread "
        "(`benchmarks/profiling.py`), so it runs slower than above. Own time is wall time "
        "summed over threads; threads waiting on locks or queues are left out as idle.",
        "",
    ]
    for prof in r.profiles:
        rows = [
            [
                f"`{h.function}`",
                str(h.calls),
                f"{h.own_seconds:.3f}",
                f"{100 * h.own_seconds / prof.busy_seconds:.0f}%",
            ]
            for h in prof.hot_spots
        ]
        lines += [f"### `{prof.command}` (busy {prof.busy_seconds:.2f} s)", ""]
        lines += table(rows, ("function", "calls", "own s", "share of busy"))
    return lines


def _facts_section(r: Results) -> list[str]:
    rows = [[name, value] for name, value in r.facts]
    rows += [
        [
            "workload",
            f"model.safetensors of {', '.join(f'{s.size_mib} MiB' for s in r.sizes)} + "
            f"{r.small_files} small JSON files ({r.small_bytes / 1e6:.2f} MB)",
        ],
        ["repetitions", f"{r.reps}, interleaved (contender by contender, run by run)"],
        ["peak RSS measured by", r.rss_tool],
    ]
    return ["## Machine", "", *table(rows, ("fact", "value"))]


def _targets_section(r: Results) -> list[str]:
    rows = [[t.goal, t.measured, t.verdict.value] for t in targets(r)]
    return [
        "## Targets",
        "",
        "A target is met only when every run beats the bound applied to the reference's "
        "fastest run (e.g. cogw's slowest pull ≤ 1.3 × the floor's fastest), missed when "
        "even cogw's fastest run misses the bound applied to the reference's slowest, and "
        "undecided when the spread of the runs hides the gap.",
        "",
        *table(rows, ("target", "measured", "verdict")),
    ]


def _intro(r: Results) -> list[str]:
    cache = dict(r.facts).get("page cache (import, pull)", "?")
    return [
        "# Benchmarks",
        "",
        "Generated by `just bench` (`python -m benchmarks.run --out docs/benchmarks.md`; options "
        "`--sizes` (512,1024), `--reps` (3), `--scale-files` (10000), `--locked-files` "
        "(100000), `--config-weights` (3000), `--no-scale`, `--streams-mib` (256), "
        "`--throttle-mbps` (25), `--no-streams`, `--big-mib` (4096), `--no-big`, "
        "`--cache warm|drop|auto`, `--revision REV`, `--no-profile`, `--keep`). Every number "
        "below comes from that run. It starts its own docker-registry on 127.0.0.1 and runs "
        "every contender of a scenario in turn, repetition by repetition (ABCABC…), on the "
        f"same filesystem. Page cache for import and pull: {cache}; start-up, status and "
        "prepare run warm. Figures are min / median / max wall-clock seconds; a spread "
        f"((max − min) / median) above {100 * SPREAD_LIMIT:.0f}% is flagged ⚠. MB = 10⁶ "
        "bytes; CPU s is the client's user + system time (median).",
        "",
    ]


def render_report(r: Results) -> str:
    lines: list[str] = [*_intro(r), *_facts_section(r), *_targets_section(r)]
    for size in r.sizes:
        lines += [*_pull_section(size), *_import_section(size)]
    if r.streams is not None:
        lines += streams_section(r.streams, row, HEADER)
    if r.big is not None:
        lines += big_section(r.big, row, HEADER)
    lines += [*_local_section(r), *startup_section(r.startup, row, HEADER)]
    if r.scale is not None:
        lines += scale_section(r.scale, row, HEADER)
    lines += [*_profile_section(r), *analysis_lines(r, targets(r))]
    return "\n".join(lines).rstrip() + "\n"


__all__: Sequence[str] = ("render_report", "row", "spread_cell")
