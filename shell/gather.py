"""Gather: read cog.yaml, weights.lock, the store and sources into a Snapshot.

This module reads and never decides. Everything it finds wrong becomes a
Diagnostic naming the file, so the CLI can print all problems at once and
exit 1 without a traceback; the planner in cogw.core decides what to do.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pyrsistent import PVector, pmap, pvector
from returns.result import Failure, Result, Success

from cogw.core.artifact.inventory import Inventory
from cogw.core.artifact.packing import PackOptions, envelope_format
from cogw.core.cache.cachedir import resolve_weights_dir
from cogw.core.config.modelref import MODEL_ENV
from cogw.core.config.weights import DEFAULT_CONFIG, ProjectConfig, parse_config
from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.lock.lockfile import FILENAME as LOCK_FILENAME
from cogw.core.lock.lockfile import Lockfile, parse_lockfile, parse_lockfile_repairable
from cogw.core.plan.etagreuse import recorded_inventory
from cogw.core.plan.snapshot import Snapshot, make_inputs
from cogw.core.plan.sourcereads import shared_read_key, uses_recorded
from cogw.shell.yamlload import YamlProblem, load_yaml


@dataclass(frozen=True, slots=True)
class Project:
    """Where a project's files are. ``config_name`` is how messages name cog.yaml."""

    dir: Path
    config_path: Path
    config_name: str

    @property
    def lock_path(self) -> Path:
        return self.dir / LOCK_FILENAME


def locate_project(project_dir: str | None, config: str | None, cwd: Path) -> Project:
    """--project DIR (default: the nearest directory upwards holding the config file,
    else the working directory) and --config FILE (default cog.yaml, relative to it)."""
    name = config or DEFAULT_CONFIG
    if project_dir is not None:
        root = (cwd / project_dir).resolve()
    elif Path(name).is_absolute():
        root = Path(name).parent
    else:
        root = next((d for d in (cwd, *cwd.parents) if (d / name).is_file()), cwd)
    path = Path(name) if Path(name).is_absolute() else root / name
    return Project(root, path, name)


def _yaml_problem(project: Project, exc: YamlProblem) -> Diagnostic:
    where = f" (line {exc.line}, column {exc.column})" if exc.line is not None else ""
    return Diagnostic(
        f"invalid YAML{where}", exc.message, project.config_name, "fix the syntax of the file"
    )


def read_config(project: Project) -> Result[ProjectConfig, Problems]:
    try:
        data = project.config_path.read_bytes()
    except FileNotFoundError:
        return Failure(
            (
                Diagnostic(
                    f"{project.config_name} not found in {project.dir}",
                    subject=project.config_name,
                    hint="run cogw in the project directory, or pass --project / --config",
                ),
            )
        )
    except OSError as exc:
        return Failure(
            (
                Diagnostic(
                    f"cannot read {project.config_name}: {exc.strerror}",
                    subject=project.config_name,
                ),
            )
        )
    with _collector_paused():
        # Caught inside: YamlProblem (a frozen dataclass) cannot pass through the
        # context manager, which sets the __traceback__ of what it re-raises.
        try:
            raw = load_yaml(data)
        except YamlProblem as exc:
            return Failure((_yaml_problem(project, exc),))
        env = {key: os.environ[key] for key in MODEL_ENV if key in os.environ}
        return parse_config({} if raw is None else raw, project.config_name, env)


def read_lock_bytes(project: Project) -> Result[bytes | None, Problems]:
    try:
        return Success(project.lock_path.read_bytes())
    except FileNotFoundError:
        return Success(None)
    except OSError as exc:
        return Failure(
            (Diagnostic(f"cannot read weights.lock: {exc.strerror}", subject=LOCK_FILENAME),)
        )


def read_lockfile(
    project: Project, repairing: bool = False
) -> Result[tuple[Lockfile | None, bytes | None], Problems]:
    """weights.lock and its bytes (None, None when absent). ``repairing`` lets a
    repairable problem through, for the commands that repair it (prune, import)."""
    match read_lock_bytes(project):
        case Failure(problems):
            return Failure(problems)
        case Success(None):
            return Success((None, None))
        case Success(data) if repairing:
            with _collector_paused(keep=True):
                read = parse_lockfile_repairable(data, LOCK_FILENAME)
            return read.map(lambda found: (found[0], data))
        case Success(data):
            with _collector_paused(keep=True):
                return parse_lockfile(data, LOCK_FILENAME).map(lambda lock: (lock, data))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _collector_paused(keep: bool = False) -> Iterator[None]:
    """Decoding a lockfile makes a few objects per file and no reference cycles; the
    cyclic collector would only walk them again and again (40% of the CPU time of
    decoding 100 000 files). The same holds for a cog.yaml's nodes and records.

    ``keep``: what was made lives as long as the command, so it is moved out of the
    collector's sight (``gc.freeze``) and the collections later allocations trigger
    do not walk it either; reference counting still frees it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if keep:
            gc.freeze()
        if enabled:
            gc.enable()


def resolve_store_dir(cache_dir: str | None) -> Result[str, Diagnostic]:
    home = os.environ.get("HOME") or None
    return resolve_weights_dir(os.environ, home, os.getcwd(), cache_dir)


def present_digests(exists: Callable[[str], bool], digests: Iterable[str]) -> frozenset[str]:
    return frozenset(d for d in set(digests) if exists(d))


def _failures(result: Result[object, Problems]) -> Problems:
    return result.failure() if isinstance(result, Failure) else ()


# (weight name, source URI, what weights.lock recorded for them) -> the inventory.
InventoryReader = Callable[[str, str, Inventory | None], Result[Inventory, Diagnostic]]


def _sharing(read: InventoryReader) -> InventoryReader:
    """``read``, but a source read once answers for every later weight that reads a source
    of the same key (:func:`cogw.core.plan.sourcereads.shared_read_key`). A failure is not
    kept: each weight then reads again and reports it under its own name."""
    done: dict[str, Inventory] = {}

    def read_once(name: str, uri: str, recorded: Inventory | None) -> Result[Inventory, Diagnostic]:
        key = shared_read_key(uri)
        if key is not None and key in done:
            return Success(done[key])
        result = read(name, uri, recorded)
        if key is not None and isinstance(result, Success):
            done[key] = result.unwrap()
        return result

    return read_once


def gather_snapshot(
    project: Project,
    exists: Callable[[str], bool],
    compressor: str,
    inventory_names: Sequence[str] | None = None,
    read_inventory: InventoryReader | None = None,
    repairing: bool = False,
) -> Result[Snapshot, Problems]:
    """Everything a plan needs. Sources are inventoried only for ``inventory_names``
    (None: none at all; empty: every declared weight), since that hashes files.
    ``repairing``: the plan is one that repairs a repairable weights.lock."""
    config_r = read_config(project)
    lock_r = read_lockfile(project, repairing)
    problems = _failures(config_r) + _failures(lock_r)
    if problems:
        return Failure(problems)
    config = config_r.unwrap()
    lock, lock_bytes = lock_r.unwrap()
    inventories, more, errors = _inventories(config, lock, inventory_names, read_inventory)
    digests = [f.digest for e in (lock.weights if lock else []) for f in e.files]
    digests += [f.digest for inv in inventories.values() for f in inv.files]
    digests += [f.digest for invs in more.values() for inv in invs for f in inv.files]
    return Success(
        Snapshot(
            project_dir=str(project.dir),
            config_name=project.config_name,
            config=config,
            lock=lock,
            inputs=make_inputs(lock_bytes, config, pmap(inventories), pmap(more)),
            present=present_digests(exists, digests),
            inventories=pmap(inventories),
            source_errors=pmap(errors),
            more_inventories=pmap(more),
            envelope_format=envelope_format(PackOptions(), compressor),
        )
    )


def _inventories(
    config: ProjectConfig,
    lock: Lockfile | None,
    names: Sequence[str] | None,
    read: InventoryReader | None,
) -> tuple[dict[str, Inventory], dict[str, PVector[Inventory]], dict[str, Diagnostic]]:
    """Each selected weight's first source, the sources after it (several only), and
    why a weight's sources could not be read (the first failing source names itself)."""
    if names is None or read is None:
        return {}, {}, {}
    read = _sharing(read)
    wanted = set(names)
    inventories: dict[str, Inventory] = {}
    more: dict[str, PVector[Inventory]] = {}
    errors: dict[str, Diagnostic] = {}
    for spec in config.weights:
        if wanted and spec.name not in wanted:
            continue
        several = len(spec.sources) > 1
        read_all: list[Inventory] = []
        for i, source in enumerate(spec.sources):
            # What weights.lock recorded describes the merged files, never one of
            # several sources, so only a lone source may reuse it.
            lone = not several and uses_recorded(source.uri)
            recorded = recorded_inventory(lock, spec.name, source.uri) if lone else None
            match read(spec.name, source.uri, recorded):
                case Success(inv):
                    read_all.append(inv)
                case Failure(diag):
                    where = f"source[{i}] ({source.uri}): " if several else ""
                    errors[spec.name] = replace(diag, summary=where + diag.summary)
                    break
        if spec.name in errors:
            continue
        inventories[spec.name] = read_all[0]
        if several:
            more[spec.name] = pvector(read_all[1:])
    return inventories, more, errors
