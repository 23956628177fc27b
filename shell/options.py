"""Options the commands share, as click decorators and as the values they resolve to.

The decorators are declared at import, so this module imports click and the standard
library only (`cogw --help` loads it); what an option resolves to is imported when used.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cogw.shell.httptrace import debug_options

if TYPE_CHECKING:
    from cogw.shell.gather import Project

F = TypeVar("F", bound=Callable[..., Any])


def require_project(project: Project, given: bool = False) -> Project:
    """The project, or exit 1 saying the command needs one (before the cache is touched,
    so a command run in the wrong directory does not record it as a project)."""
    from cogw.core.diagnostics import Diagnostic
    from cogw.shell.output import fail

    if project.config_path.is_file():
        return project
    where = (
        str(project.dir)
        if given or project.config_path.parent != Path.cwd()
        else f"{project.dir} or any directory above it"
    )
    fail(
        (
            Diagnostic(
                f"not in a project: no {project.config_name} in {where}",
                hint="run cogw in the project directory, or pass --project DIR or -f FILE",
            ),
        )
    )


class Options:
    """Options every command shares, resolved lazily into project, store and registry."""

    def __init__(
        self,
        project: str | None,
        config: str | None,
        cache_dir: str | None,
        insecure: Sequence[str],
        ca_bundle: str | None,
        jobs: int,
    ) -> None:
        from cogw.shell.gather import locate_project

        self.project = locate_project(project, config, Path.cwd())
        self.cache_dir = cache_dir
        self.insecure = frozenset(insecure) | frozenset(
            h for h in os.environ.get("COGW_INSECURE_REGISTRIES", "").split(",") if h
        )
        self.ca_bundle = ca_bundle or os.environ.get("COGW_CA_BUNDLE") or None
        self.jobs = jobs
        self.streams_flag: int | None = None  # --streams; else COGW_STREAMS, else the default
        self.ingest_mode = "auto"  # set by the commands that import (--ingest)
        self.mirrors: Sequence[str] = ()  # --mirror (shell/cli_fleet.py)
        self.layout_registry: Any = None  # pull --from oci:DIR (shell/cli_layout.py)

    @functools.cached_property
    def mirror_setup(self) -> Any:
        from cogw.shell.mirrorsetup import mirror_setup
        from cogw.shell.output import unwrap

        return unwrap(mirror_setup(self.mirrors))

    @functools.cached_property
    def streams(self) -> int:
        """Byte ranges fetched at once for one large layer: --streams, COGW_STREAMS, or 4."""
        from returns.result import Failure, Success

        from cogw.core.artifact.ranges import DEFAULT_STREAMS, STREAMS_ENV, parse_streams
        from cogw.shell.output import fail

        if self.streams_flag is not None:
            return self.streams_flag
        value = os.environ.get(STREAMS_ENV)
        if value is None:
            return DEFAULT_STREAMS
        match parse_streams(value, STREAMS_ENV):
            case Success(count):
                return int(count)
            case Failure(diag):
                fail((diag,))
        raise AssertionError("unreachable")

    @property
    def streams_probe(self) -> bool:
        """Whether the link's speed decides the streams: only when nobody asked for a number."""
        from cogw.core.artifact.ranges import STREAMS_ENV

        return self.streams_flag is None and STREAMS_ENV not in os.environ

    @functools.cached_property
    def store(self) -> Any:
        from returns.result import Failure, Success

        from cogw.shell.cachecommon import hold_cache
        from cogw.shell.gather import resolve_store_dir
        from cogw.shell.output import fail
        from cogw.shell.store import open_store

        match resolve_store_dir(self.cache_dir):
            case Success(path):
                store = open_store(path)
                hold_cache(store.root, self.project.dir)  # gc's roots and lock
                return store
            case Failure(diag):
                fail((diag,))
        raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Output:
    """How a command that applies reports: JSON on stdout, quiet, or verbose progress."""

    as_json: bool = False
    quiet: int = 0  # -q: no progress, results only; -qq: nothing but errors
    verbose: bool = False

    @property
    def interactive(self) -> bool:
        """Plan lines and progress bars are for a person reading stderr."""
        return not (self.as_json or self.quiet)

    @property
    def silent(self) -> bool:
        """-qq: stderr carries errors only (stdout still carries JSON or mounts)."""
        return self.quiet >= 2


mirror_option = click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    metavar="HOST[/PATH]",
    help="Pull by digest from this registry mirror first, falling back to the origin "
    "(repeatable; replaces registries.conf mirrors). Also COGW_REGISTRY_MIRRORS.",
)

_COMMON = [
    click.option(
        "--project",
        "project",
        metavar="DIR",
        help="Project directory (default: nearest directory upwards with the config file).",
    ),
    click.option(
        "-f",
        "--file",
        "--config",
        "config",
        metavar="FILE",
        help="Config file, relative to the project (default cog.yaml).",
    ),
    click.option(
        "--cache-dir",
        metavar="DIR",
        help="Cache directory; the store is DIR/weights "
        "(default: $COG_CACHE_DIR, $XDG_CACHE_HOME/cog, ~/.cache/cog).",
    ),
    click.option(
        "--insecure-registry",
        "insecure",
        multiple=True,
        metavar="HOST",
        help="Allow plain HTTP to HOST (loopback hosts always are). Also COGW_INSECURE_REGISTRIES.",
    ),
    click.option(
        "--ca-bundle",
        metavar="FILE",
        help="CA certificates to trust for the registry. Also COGW_CA_BUNDLE.",
    ),
    click.option(
        "-j",
        "--jobs",
        type=click.IntRange(1, 64),
        default=4,
        show_default=True,
        help="Parallel layer transfers and hashing threads.",
    ),
    click.option(
        "--streams",
        type=click.IntRange(1, 16),
        default=None,
        metavar="N",
        help="Byte ranges fetched at once for one layer above 64 MiB (1 = one stream). "
        "Also COGW_STREAMS. Unset: up to 8, after a timed first 16 MiB shows one stream "
        "is slow (a fast local registry keeps one).",
    ),
    mirror_option,
    *debug_options,
]


def common_options(fn: F) -> F:
    for decorator in reversed(_COMMON):
        fn = decorator(fn)
    return fn


def project_options(fn: F) -> F:
    """Only --project, -f/--config and --cache-dir: for commands that read no registry
    and no source (status), so their help lists only flags they use."""
    for decorator in reversed(_COMMON[:3]):
        fn = decorator(fn)
    return fn


def options_from(kwargs: dict[str, Any]) -> Options:
    ingest_mode = kwargs.pop("ingest_mode", "auto")
    opts = Options(
        kwargs.pop("project"),
        kwargs.pop("config"),
        kwargs.pop("cache_dir"),
        kwargs.pop("insecure", ()),
        kwargs.pop("ca_bundle", None),
        kwargs.pop("jobs", 4),
    )
    opts.ingest_mode = ingest_mode
    opts.streams_flag = kwargs.pop("streams", None)
    opts.mirrors = kwargs.pop("mirrors", ())
    return opts


quiet_option = click.option(
    "-q",
    "--quiet",
    count=True,
    help="No progress, results only; -qq: nothing but errors.",
)

output_options = [
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print the result as JSON on stdout; progress as JSON lines on stderr.",
    ),
    quiet_option,
    click.option("-v", "--verbose", is_flag=True, help="Per-layer and per-file lines."),
]


ingest_option = click.option(
    "--ingest",
    "ingest_mode",
    type=click.Choice(["auto", "reflink", "hardlink", "copy"]),
    default="auto",
    show_default=True,
    help="How local source files enter the store: auto reflinks where possible, hardlinks "
    "read-only files, else copies (verified); hardlink makes the source files themselves "
    "read-only store blobs (no copy).",
)


def with_output(fn: F) -> F:
    for decorator in reversed(output_options):
        fn = decorator(fn)
    return fn


dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Show the plan and change nothing (as 'cogw plan import')."
)

# pull's options for a reference and an OCI layout (shell/cli_fleet.py, shell/cli_layout.py)
to_option = click.option(
    "--to",
    "to",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="With a REGISTRY/REPO@DIGEST reference: link the weight's files into DIR "
    "(a bundle's weights into DIR/<name>).",
)
pull_link_option = click.option(
    "--link-mode",
    type=click.Choice(["hardlink", "reflink", "copy"]),
    default="hardlink",
    show_default=True,
    help="With --to: how files enter DIR, as for prepare.",
)
from_option = click.option(
    "--from",
    "from_layout",
    metavar="oci:DIR",
    help="Pull from an OCI image layout (a directory or FILE.tar, as 'cogw export' writes) "
    "instead of the registry; every byte is verified as in a normal pull.",
)


SOURCES_HELP = (
    "Also compare each weight's source with weights.lock: local files are hashed "
    "(unchanged ones come from the stat cache), remote sources are asked for their version."
)


def status_source_options(fn: F) -> F:
    """``status``'s --sources, --remote and -v (the detail of either)."""
    fn = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="With --sources: every changed, added and removed file; with --remote: "
        "the manifest and each layer, present or missing.",
    )(fn)
    fn = click.option(
        "--remote",
        is_flag=True,
        help="Also ask the registry for each weight's manifest and layers (HEAD only): "
        "incomplete when it lost any (run 'cogw import').",
    )(fn)
    return click.option("--sources", is_flag=True, help=SOURCES_HELP)(fn)


def force_option(fn: F) -> F:
    """``--force`` for ``cogw import`` and ``cogw plan import``."""
    return click.option(
        "--force",
        is_flag=True,
        help="Push every recorded weight again, manifest and all layers, even what the "
        "registry has (weights.lock unchanged).",
    )(fn)
