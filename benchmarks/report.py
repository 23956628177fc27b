"""docs/benchmarks.md from measured results: machine facts, targets, one table per scenario.

Knows the issue's targets and how to judge and present them; every number in the page
comes from the results passed in, nothing is typed in by hand. Does not measure.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.analysis import analysis_lines
from benchmarks.measure import Measurement
from benchmarks.targets import Results, format_mb, format_seconds, targets


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _row(m: Measurement, ratio: str) -> list[str]:
    runs = ", ".join(f"{run.seconds:.3f}" for run in m.runs)
    rate = "–" if m.mb_per_s is None else f"{m.mb_per_s:.0f}"
    cpu = "–" if m.cpu_seconds is None else f"{m.cpu_seconds:.2f}"
    return [m.label, format_seconds(m.seconds), rate, cpu, runs, format_mb(m.peak_rss_mb), ratio]


HEADER = ("what", "median", "MB/s", "CPU s", "runs (s)", "peak RSS (MB)")


def _ratio(m: Measurement, base: Measurement) -> str:
    return f"{m.seconds / base.seconds:.2f}×"


def _pull_section(r: Results) -> list[str]:
    p = r.pulls
    rows = [_row(m, _ratio(m, p.cogw)) for m in (p.cogw, p.skopeo, p.curl, p.floor, p.floor_fsync)]
    return [
        "## Pull: cold store",
        "",
        f"`cogw pull` into an empty cache (the cache directory is removed before each run) of the "
        f"weight's {p.layers} layer blobs ({p.cogw.nbytes / 1e6:.0f} MB), next to its peers on the "
        "same blobs: `skopeo copy` (verifies digests) and one `curl -o` per layer blob (verifies "
        "nothing). The floors read the registry's own blob files (page cache), hash them with "
        "hashlib and write them out, with and without fsync. MB/s counts blob bytes.",
        "",
        *_table(rows, (*HEADER, "time vs cogw")),
    ]


def _import_section(r: Results) -> list[str]:
    i = r.imports
    rows = [_row(m, _ratio(m, i.cold)) for m in (i.cold, i.floor, i.hashing)]
    unchanged = "yes" if i.lock_unchanged else "NO"
    return [
        "## Import",
        "",
        "Cold: an empty cache, no weights.lock and a new registry repository for every run, so "
        "every byte is hashed, stored, packed and pushed. The floor is one hashlib pass over the "
        "source files plus a bare `curl -T` monolithic upload (POST, then one PUT) of the large "
        "file and of a tar of the small files, to a new repository each run. MB/s counts source "
        "bytes.",
        "",
        *_table(rows, (*HEADER, "time vs cogw")),
        "Unchanged: `cogw import` again with nothing changed (cache and stat cache warm).",
        f"weights.lock left byte-identical: {unchanged}.",
        "",
        *_table([_row(i.unchanged, "")[:-1]], HEADER),
    ]


def _local_section(r: Results) -> list[str]:
    local = r.local
    rows = [_row(m, "")[:-1] for m in (local.prepare, local.status, local.startup)]
    return [
        "## Prepare and status",
        "",
        "With every file in the store: `cogw prepare --json` hard-links the weight into a new "
        "mount directory (released, untimed, after each run); `cogw status` compares cog.yaml, "
        "weights.lock and the store; `cogw --help` is the start-up every command pays. MB/s for "
        "prepare is the bytes made visible, not bytes copied.",
        "",
        *_table(rows, HEADER),
    ]


def _profile_section(r: Results) -> list[str]:
    lines = ["## Profiles", ""]
    if not r.profiles:
        return [*lines, "Not run (`--no-profile`).", ""]
    lines += [
        "One extra run of each command under cProfile, in every thread "
        "(`benchmarks/profiling.py`), so it runs slower than above. Own time is wall time summed "
        "over threads (time a thread waits for a CPU counts too); threads waiting on locks or "
        "queues (pool results) are left out as idle.",
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
        lines += _table(rows, ("function", "calls", "own s", "share of busy"))
    return lines


def _facts_section(r: Results) -> list[str]:
    rows = [[name, value] for name, value in r.facts]
    rows += [
        [
            "workload",
            f"{r.size_mib} MiB model.safetensors + {r.small_files} small JSON files "
            f"({r.small_bytes / 1e6:.2f} MB)",
        ],
        ["repetitions", f"{r.reps} (medians reported)"],
        ["peak RSS measured by", r.rss_tool],
    ]
    return ["## Machine", "", *_table(rows, ("fact", "value"))]


def _targets_section(r: Results) -> list[str]:
    rows = [[t.goal, t.measured, "yes" if t.met else "**no**"] for t in targets(r)]
    return ["## Targets", "", *_table(rows, ("target", "measured (median)", "met"))]


def render_report(r: Results) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `just bench` (`python -m benchmarks.run --out docs/benchmarks.md`; options "
        "`--size-mib` (1024), `--reps` (3), `--revision REV` to measure a commit instead of the "
        "work tree, `--no-profile`, `--keep`). Every number below comes from that run. "
        "One run starts its own docker-registry on 127.0.0.1, "
        "imports and pulls a generated model, and compares cogw with its peers and the machine's "
        "physical floor. Registry, client and disk share the same CPUs; the data stays in the "
        "page cache (warm reads), and `sync` runs before every timed step. MB = 10⁶ bytes. "
        "Wall-clock medians decide the targets; CPU s is the client's user + system time "
        "(the registry's own CPU is not counted). cogw's modules are byte-compiled before the "
        "run, as a package install does.",
        "",
        *_facts_section(r),
        *_targets_section(r),
        *_pull_section(r),
        *_import_section(r),
        *_local_section(r),
        *_profile_section(r),
        *analysis_lines(r, targets(r)),
    ]
    return "\n".join(lines).rstrip() + "\n"
