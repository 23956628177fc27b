"""`just bench`: run every scenario once against a private registry and write the report.

Usage: ``python -m benchmarks.run [--sizes 512,1024] [--reps 3] [--streams-mib 256]
[--throttle-mbps 25] [--out docs/benchmarks.md]``. Builds the workloads in a scratch
directory (removed afterwards unless ``--keep``), starts docker-registry on 127.0.0.1,
runs import and pull per size, a pull of many streams through a throttling proxy,
the memory of a big weight's import and pull,
prepare/status, start-up, the profiles and the scale scenarios, stops the registry and
writes the Markdown report. Progress goes to stderr; nothing is timed in-process except
the import floor.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

from benchmarks.bigweight import BigResults, bench_big
from benchmarks.facts import load_average, machine_facts, revision
from benchmarks.local import bench_local, bench_startup
from benchmarks.measure import CommandFailed, Settle, can_drop_caches, peak_rss_tool
from benchmarks.profiling import Profile, summarize
from benchmarks.registry import RegistryError, local_registry
from benchmarks.report import render_report
from benchmarks.scale import bench_scale
from benchmarks.scenarios import Bench, BenchError, bench_import, bench_pull, empty_cache
from benchmarks.streams import RANGE_THRESHOLD_MIB, StreamsResults, bench_streams
from benchmarks.targets import Results, SizeResults
from benchmarks.workload import Workload, make_workload, write_cog_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI_MAIN = "import sys; from cogw.shell.cli import main; sys.exit(main())"
PEERS = ("docker-registry", "skopeo", "curl")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--sizes", default="512,1024", help="large file sizes in MiB, comma-separated"
    )
    parser.add_argument(
        "--cache",
        choices=("auto", "drop", "warm"),
        default="auto",
        help="page cache before each timed import/pull run (auto: drop when permitted)",
    )
    parser.add_argument("--scale-files", type=int, default=10_000, help="files of the scale weight")
    parser.add_argument("--locked-files", type=int, default=100_000, help="files in the wide lock")
    parser.add_argument("--config-weights", type=int, default=3_000, help="weights in cog.yaml")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale scenarios")
    parser.add_argument(
        "--streams-mib",
        type=int,
        default=256,
        help=f"size of the many-streams layer in MiB (at least {RANGE_THRESHOLD_MIB})",
    )
    parser.add_argument(
        "--throttle-mbps",
        type=float,
        default=25.0,
        help="many streams: the proxy's cap per connection, MB (10^6 bytes) per second",
    )
    parser.add_argument("--no-streams", action="store_true", help="skip the many-streams scenario")
    parser.add_argument(
        "--big-mib", type=int, default=4096, help="size of the big weight whose memory is measured"
    )
    parser.add_argument("--no-big", action="store_true", help="skip the big-weight memory scenario")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "bench-work")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile runs")
    parser.add_argument(
        "--cogw", default=str(Path(sys.executable).with_name("cogw")), help="cogw executable"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--revision",
        help="measure this commit of the repository (a `git archive` of it), not the work tree",
    )
    source.add_argument(
        "--cogw-src",
        type=Path,
        help="run cogw from this source tree instead (e.g. `git archive` of another commit)",
    )
    args = parser.parse_args(argv)
    try:
        args.size_list = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes is a comma-separated list of MiB, e.g. 512,1024")
    counts = (args.reps, args.scale_files, args.locked_files, args.config_weights)
    if min(args.size_list) < 1 or min(counts) < 1 or args.big_mib < 1:
        parser.error("sizes, --reps and the scale counts must be at least 1")
    if args.streams_mib < RANGE_THRESHOLD_MIB or args.throttle_mbps <= 0:
        parser.error(
            f"--streams-mib must be at least {RANGE_THRESHOLD_MIB} (smaller layers are fetched "
            "in one stream) and --throttle-mbps above 0"
        )
    return args


def choose_settle(choice: str) -> Settle:
    if choice == "warm":
        return Settle(drop=False)
    permitted = can_drop_caches()
    if choice == "drop" and not permitted:
        raise BenchError("--cache drop: cannot write /proc/sys/vm/drop_caches (not root?)")
    return Settle(drop=permitted)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def check_tools(cogw: str) -> None:
    missing = [tool for tool in (cogw, *PEERS) if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"missing tools: {', '.join(missing)} (see ./scripts/setup.sh)")


def compile_sources(tree: Path) -> None:
    """Write the bytecode of cogw's modules now, untimed, as installing a package does."""
    dirs = [str(tree / name) for name in ("core", "shell", "cogw") if (tree / name).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True)


def export_revision(revision: str, work: Path) -> tuple[Path, str]:
    """The tree of ``revision`` unpacked under ``work``, and its short commit id."""
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = work / "cogw-src"
    archive = subprocess.Popen(
        ["git", "-C", str(REPO_ROOT), "archive", commit], stdout=subprocess.PIPE
    )
    tree.mkdir()
    subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise BenchError(f"git archive {commit} failed")
    return tree, commit


def build_compressor(tree: Path) -> None:
    """Build the C compressor into ``tree`` as installing does. Without it the tree's
    cogw deflates with zlib, about a third slower on a bundle: a before/after run
    would credit the other tree with a gain it did not make."""
    if not (tree / "cogw" / "_goflate.c").is_file():
        return
    spec = importlib.util.spec_from_file_location("cogw_build", REPO_ROOT / "hatch_build.py")
    if spec is None or spec.loader is None:
        raise BenchError("cannot load hatch_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.build_extension(tree) is None:
        raise BenchError(f"building {tree}/cogw/_goflate.c failed")


def _from_tree(tree: Path, label: str) -> tuple[tuple[str, ...], str, str]:
    check_tools(sys.executable)
    build_compressor(tree)
    compile_sources(tree)
    return (sys.executable, "-c", CLI_MAIN), f"{tree}{os.pathsep}{REPO_ROOT}", label


def cogw_command(args: argparse.Namespace, work: Path) -> tuple[tuple[str, ...], str, str]:
    """How to run cogw, the PYTHONPATH for it and the profiler, and where its code is from."""
    if args.revision is not None:
        tree, commit = export_revision(args.revision, work)
        return _from_tree(tree, f"commit {commit} ({args.revision}), exported with git archive")
    if args.cogw_src is not None:
        source = args.cogw_src.resolve()
        return _from_tree(source, str(source))
    check_tools(args.cogw)
    compile_sources(REPO_ROOT)
    return (args.cogw,), str(REPO_ROOT), f"{REPO_ROOT} at {revision(REPO_ROOT)}"


def profile_command(bench: Bench, name: str, args: Sequence[str], label: str) -> Profile:
    out = bench.work / f"{name}.prof"
    # By path, not -m: a --cogw-src tree may hold its own (older) benchmarks package.
    argv = [bench.python, str(Path(__file__).with_name("profiling.py")), str(out), "--", *args]
    with bench.log.open("ab") as log:
        subprocess.run(
            argv, cwd=bench.workload.project, env=bench.env, stdout=log, stderr=log, check=True
        )
    return summarize(out, label)


def run_profiles(bench: Bench) -> list[Profile]:
    say("profiles: cogw pull, cold and unchanged cogw import under cProfile")
    empty_cache(bench)
    pull = profile_command(bench, "pull", ["pull"], "cogw pull")
    write_cog_yaml(bench.workload.project, f"{bench.registry.host}/bench/profile-import")
    bench.lock_path.unlink()
    empty_cache(bench)
    cold = profile_command(bench, "import", ["import"], "cogw import")
    unchanged = profile_command(bench, "reimport", ["import"], "cogw import (unchanged)")
    return [pull, cold, unchanged]


def one_size(base: Bench, size_mib: int) -> tuple[Bench, SizeResults]:
    work = base.work.parent / f"size-{size_mib}"
    work.mkdir()
    say(f"{size_mib} MiB: writing the workload")
    image = f"{base.registry.host}/bench/import-{size_mib}"
    bench = replace(base, work=work, workload=make_workload(work, size_mib, image))
    say(f"{size_mib} MiB import: {bench.reps} × (cold, floor, hashing) + unchanged")
    imports = bench_import(bench)
    say(f"{size_mib} MiB pull: {bench.reps} × (cogw, skopeo, curl, curl + fsync, floor)")
    return bench, SizeResults(size_mib, imports, bench_pull(bench))


def run_sizes(base: Bench, size_list: Sequence[int]) -> tuple[Bench, list[SizeResults]]:
    """Import and pull at every size; the Bench of the last size (its files kept) with them."""
    sizes: list[SizeResults] = []
    bench = base
    for size in size_list:
        if sizes:
            shutil.rmtree(bench.work)  # disk is limited: keep only the current size
        bench, measured = one_size(base, size)
        sizes.append(measured)
    return bench, sizes


def run_streams(base: Bench, args: argparse.Namespace) -> StreamsResults | None:
    if args.no_streams:
        return None
    say(
        f"many streams, {args.streams_mib} MiB through {args.throttle_mbps:g} MB/s per "
        f"connection: {base.reps} × (cogw, cogw --streams 1, curl)"
    )
    return bench_streams(base, args.streams_mib, args.throttle_mbps * 1e6)


def run_big(base: Bench, args: argparse.Namespace) -> BigResults | None:
    if args.no_big:
        return None
    say(f"big weight, {args.big_mib} MiB: {base.reps} × (cogw import, cogw pull), peak RSS")
    return bench_big(base, args.big_mib, base.reps)


def scale_bench(bench: Bench, work: Path) -> Bench:
    project = work / "scale" / "project"
    (project / "weights").mkdir(parents=True)
    return replace(bench, work=work / "scale", workload=replace(bench.workload, project=project))


def run_all(args: argparse.Namespace, work: Path) -> Results:
    load_at_start = load_average()
    cogw, pythonpath, cogw_source = cogw_command(args, work)
    settle = choose_settle(args.cache)
    with local_registry(work / "registry") as registry:
        # The base has no workload yet: one_size gives every size its own.
        base = Bench(
            work / "base",
            registry,
            cast(Workload, None),
            cogw,
            pythonpath,
            sys.executable,
            work / "log",
            args.reps,
            settle,
        )
        bench, sizes = run_sizes(base, args.size_list)
        streams = run_streams(base, args)
        big = run_big(base, args)
        say("prepare, status and start-up")
        local, startup = bench_local(bench), bench_startup(bench)
        profiles = [] if args.no_profile else run_profiles(bench)
        scale = None
        if not args.no_scale:
            say(f"scale: {args.scale_files} files, {args.reps} reps")
            scale = bench_scale(
                scale_bench(bench, work), args.scale_files, args.locked_files, args.config_weights
            )
    facts = machine_facts(work, cogw, bench.env, cogw_source, load_at_start)
    facts.append(("page cache (import, pull)", settle.description))
    small = bench.workload.small_files
    return Results(
        facts,
        args.reps,
        len(small),
        sum(p.stat().st_size for p in small),
        peak_rss_tool(),
        sizes,
        local,
        startup,
        scale,
        profiles,
        streams,
        big,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    work = args.work_dir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        results = run_all(args, work)
    except (BenchError, CommandFailed, RegistryError, subprocess.CalledProcessError) as exc:
        say(f"failed: {exc} (log: {work / 'log'})")
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work / "registry", ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_report(results))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
