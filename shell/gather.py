"""Gather: read cog.yaml, weights.lock, the store and sources into a Snapshot.

This module reads and never decides. Everything it finds wrong becomes a
Diagnostic naming the file, so the CLI can print all problems at once and
exit 1 without a traceback; the planner in cogw.core decides what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pyrsistent import pmap
from returns.result import Failure, Result, Success

from cogw.core.cachedir import resolve_weights_dir
from cogw.core.config import DEFAULT_CONFIG, ProjectConfig, parse_config
from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.inventory import Inventory
from cogw.core.lockfile import FILENAME as LOCK_FILENAME
from cogw.core.lockfile import Lockfile, parse_lockfile
from cogw.core.packing import PackOptions, envelope_format
from cogw.core.snapshot import Snapshot, make_inputs


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


def _yaml_problem(project: Project, exc: yaml.YAMLError) -> Diagnostic:
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return Diagnostic(
        f"invalid YAML{where}", str(problem), project.config_name, "fix the syntax of the file"
    )


def _load_yaml(data: bytes) -> object:
    """``yaml.safe_load``, scanned by libyaml when PyYAML has it (a cog.yaml of 3 000 weights
    takes seconds in the pure-Python scanner). The constructor is the same Python one, so
    the values are identical; a syntax error is re-read by the pure-Python loader so its
    message and position read as they always have."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        return yaml.safe_load(data)
    try:
        return yaml.load(data, Loader=fast)  # CSafeLoader: the safe constructor
    except yaml.YAMLError:
        return yaml.safe_load(data)


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
    try:
        raw = _load_yaml(data)
    except yaml.YAMLError as exc:
        return Failure((_yaml_problem(project, exc),))
    return parse_config({} if raw is None else raw, project.config_name)


def read_lock_bytes(project: Project) -> Result[bytes | None, Problems]:
    try:
        return Success(project.lock_path.read_bytes())
    except FileNotFoundError:
        return Success(None)
    except OSError as exc:
        return Failure(
            (Diagnostic(f"cannot read weights.lock: {exc.strerror}", subject=LOCK_FILENAME),)
        )


def read_lockfile(project: Project) -> Result[tuple[Lockfile | None, bytes | None], Problems]:
    match read_lock_bytes(project):
        case Failure(problems):
            return Failure(problems)
        case Success(None):
            return Success((None, None))
        case Success(data):
            return parse_lockfile(data, LOCK_FILENAME).map(lambda lock: (lock, data))
    raise AssertionError("unreachable")


def resolve_store_dir(cache_dir: str | None) -> Result[str, Diagnostic]:
    home = os.environ.get("HOME") or None
    return resolve_weights_dir(os.environ, home, os.getcwd(), cache_dir)


def present_digests(exists: Callable[[str], bool], digests: Iterable[str]) -> frozenset[str]:
    return frozenset(d for d in set(digests) if exists(d))


def _failures(result: Result[object, Problems]) -> Problems:
    return result.failure() if isinstance(result, Failure) else ()


InventoryReader = Callable[[str, str], Result[Inventory, Diagnostic]]


def gather_snapshot(
    project: Project,
    exists: Callable[[str], bool],
    compressor: str,
    inventory_names: Sequence[str] | None = None,
    read_inventory: InventoryReader | None = None,
) -> Result[Snapshot, Problems]:
    """Everything a plan needs. Sources are inventoried only for ``inventory_names``
    (None: none at all; empty: every declared weight), since that hashes files."""
    config_r = read_config(project)
    lock_r = read_lockfile(project)
    problems = _failures(config_r) + _failures(lock_r)
    if problems:
        return Failure(problems)
    config = config_r.unwrap()
    lock, lock_bytes = lock_r.unwrap()
    inventories, errors = _inventories(config, inventory_names, read_inventory)
    digests = [f.digest for e in (lock.weights if lock else []) for f in e.files]
    digests += [f.digest for inv in inventories.values() for f in inv.files]
    return Success(
        Snapshot(
            project_dir=str(project.dir),
            config_name=project.config_name,
            config=config,
            lock=lock,
            inputs=make_inputs(lock_bytes, config, pmap(inventories)),
            present=present_digests(exists, digests),
            inventories=pmap(inventories),
            source_errors=pmap(errors),
            envelope_format=envelope_format(PackOptions(), compressor),
        )
    )


def _inventories(
    config: ProjectConfig, names: Sequence[str] | None, read: InventoryReader | None
) -> tuple[dict[str, Inventory], dict[str, Diagnostic]]:
    if names is None or read is None:
        return {}, {}
    wanted = set(names)
    inventories: dict[str, Inventory] = {}
    errors: dict[str, Diagnostic] = {}
    for spec in config.weights:
        if wanted and spec.name not in wanted:
            continue
        match read(spec.name, spec.uri):
            case Success(inv):
                inventories[spec.name] = inv
            case Failure(diag):
                errors[spec.name] = diag
    return inventories, errors
