"""`just bench`: run every scenario once against a private registry and write the report.

Usage: ``python -m benchmarks.run [--size-mib 1024] [--reps 3] [--out docs/benchmarks.md]``.
Builds the workload in a scratch directory (removed afterwards unless ``--keep``), starts
docker-registry on 127.0.0.1, runs import, pull, prepare/status and the profiles, stops
the registry and writes the Markdown report. Progress goes to stderr; nothing is timed
in-process except the physical floors.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.facts import load_average, machine_facts, revision
from benchmarks.measure import CommandFailed, peak_rss_tool
from benchmarks.profiling import Profile, summarize
from benchmarks.registry import RegistryError, local_registry
from benchmarks.report import render_report
from benchmarks.scenarios import (
    Bench,
    BenchError,
    bench_import,
    bench_local,
    bench_pull,
    empty_cache,
)
from benchmarks.targets import Results
from benchmarks.workload import make_workload, write_cog_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI_MAIN = "import sys; from cogw.shell.cli import main; sys.exit(main())"
PEERS = ("docker-registry", "skopeo", "curl")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="large file size (MiB)")
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
    if args.size_mib < 1 or args.reps < 1:
        parser.error("--size-mib and --reps must be at least 1")
    return args


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


def _from_tree(tree: Path, label: str) -> tuple[tuple[str, ...], str, str]:
    check_tools(sys.executable)
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


def run_all(args: argparse.Namespace, work: Path) -> Results:
    load_at_start = load_average()
    cogw, pythonpath, cogw_source = cogw_command(args, work)
    with local_registry(work / "registry") as registry:
        say(f"registry on {registry.host}; writing a {args.size_mib} MiB workload")
        workload = make_workload(work, args.size_mib, f"{registry.host}/bench/import-0")
        bench = Bench(
            work, registry, workload, cogw, pythonpath, sys.executable, work / "log", args.reps
        )
        say(f"import: {args.reps} cold + {args.reps} unchanged")
        imports = bench_import(bench)
        say(f"pull: {args.reps} × (cogw, skopeo, curl, floors)")
        pulls = bench_pull(bench)
        say("prepare and status")
        local = bench_local(bench)
        profiles = [] if args.no_profile else run_profiles(bench)
    small = workload.small_files
    return Results(
        machine_facts(work, cogw, bench.env, cogw_source, load_at_start),
        args.size_mib,
        args.reps,
        len(small),
        sum(p.stat().st_size for p in small),
        peak_rss_tool(),
        imports,
        pulls,
        local,
        profiles,
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
