"""Markdown tables, and the sections for many streams, the big weight, start-up and the
scale scenarios."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchmarks.bigweight import BigResults
from benchmarks.local import STARTUP_BATCH, StartupResults
from benchmarks.measure import Measurement
from benchmarks.scale import ScaleResults
from benchmarks.streams import StreamsResults

Row = Callable[[Measurement, str | None], list[str]]


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _vs(m: Measurement, base: Measurement) -> str:
    return f"{m.seconds / base.seconds:.2f}×"


def _most(counts: Sequence[int]) -> str:
    return str(max(counts)) if counts else "?"


def streams_section(s: StreamsResults, row: Row, header: Sequence[str]) -> list[str]:
    ms = (s.cogw, s.one_stream, s.curl)
    more = "" if s.layers == 1 else f" (cogw pulls the weight's {s.layers} layer blobs)"
    seen = s.connections
    return [
        f"## Pull: many streams through a throttled link, {s.size_mib} MiB",
        "",
        f"A weight of one {s.size_mib} MiB .safetensors file, one standalone layer blob of "
        f"{s.curl.nbytes / 1e6:.0f} MB{more}, imported once (untimed) into the run's registry. "
        "Every contender fetches it through `benchmarks/throttleproxy.py`, a loopback TCP "
        f"proxy in front of that registry that caps each connection at {s.rate / 1e6:g} MB/s, "
        "as a remote registry or CDN caps a single stream (a kept-alive connection earns no "
        "burst from its idle time): `cogw pull` into an empty cache with its default streams "
        "(it times the first range in one stream and splits the rest into parallel byte "
        "ranges when that stream is slow), `cogw pull --streams 1`, and one `curl -o` of the "
        "layer blob (a single stream; verifies nothing, no fsync). Connections opened through "
        f"the proxy per run (most): cogw {_most(seen['cogw'])}, `--streams 1` "
        f"{_most(seen['one_stream'])}, curl {_most(seen['curl'])}. The target compares cogw "
        "with curl. MB/s counts blob bytes.",
        "",
        *table([row(m, _vs(m, s.cogw)) for m in ms], (*header, "median vs cogw")),
    ]


def big_section(b: BigResults, row: Row, header: Sequence[str]) -> list[str]:
    runs = len(b.pulls.runs)
    return [
        f"## Memory on a big weight, {b.size_mib} MiB",
        "",
        f"A weight of one {b.size_mib} MiB .safetensors file: `cogw import` with an empty "
        "cache, no weights.lock and a new registry repository, then `cogw pull` into an empty "
        f"cache, {runs} time(s) each, page cache as for the other imports and pulls. Peak RSS "
        "is what is asked of it (flat as the weight grows: compare the sizes above); the times "
        "are shown, not targeted. MB/s counts source bytes for the import, blob bytes for the "
        "pull.",
        "",
        *table([row(m, None) for m in (b.imports, b.pulls)], header),
    ]


def startup_section(st: StartupResults, row: Row, header: Sequence[str]) -> list[str]:
    ms = (st.python, *st.commands)
    return [
        "## Start-up",
        "",
        "The interpreter alone (`python -c pass`, the same interpreter cogw runs on) next to "
        "`cogw --help`, `cogw --version` and `cogw status` on the benchmark's project, "
        f"interleaved, warm page cache; each run is the mean of {STARTUP_BATCH} invocations "
        "back to back (one shell runs them), so a burst of other work on the machine moves "
        "it less. tests/test_startup.py keeps the imports of each command in check "
        "(modules, not times).",
        "",
        *table([row(m, _vs(m, st.python)) for m in ms], (*header, "median vs python")),
    ]


def scale_section(s: ScaleResults, row: Row, header: Sequence[str]) -> list[str]:
    pairs = (s.imports, s.pulls, s.prepares)
    rows = [
        row(m, _vs(m, floor))
        for pair in pairs
        for m, floor in ((pair[0], pair[1]), (pair[1], pair[1]))
    ]
    alone = [[*row(m, None), "–"] for m in (s.status, s.plan, s.config)]
    return [
        "## Scale",
        "",
        f"A weight of {s.files} small files (4 B to 100 KiB, log-uniform; half random, half "
        "hex text): cold import next to hashing its files and uploading one tar of them; cold "
        "pull next to `tar -x` of that tar followed by `sync -f`; prepare next to `cp -al` of "
        f"the tree. Then the same weight listed under enough names to lock {s.locked_files} "
        "files (`cogw status`, `cogw plan`; the stat cache warmed by one untimed plan first), "
        f"and a cog.yaml of {s.config_weights} weights without a lockfile (`cogw status`, "
        "which checks the config; it exits 1: all pending).",
        "",
        *table([*rows, *alone], (*header, "median vs floor")),
    ]
