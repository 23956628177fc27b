"""Ask the registry what it still holds of recorded weights: HEAD on each manifest,
layer blob. Gathers answers; what they mean is core/plan/remote.py's.

Used by ``cogw status --remote`` and by every import plan (``snapshot_for``), so
``cogw import`` pushes again what the registry lost. HEADs only, a few at a time; a
registry that cannot be asked gives each weight an ``error`` (Cog's soft failure),
never an exception, so planning an import offline still works.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import click
from pyrsistent import PMap, pmap
from returns.pipeline import is_successful

from cogw.core.lock.lockfile import WeightEntry
from cogw.core.plan.remotecheck import Probe, RemoteCheck, check_from, probe_for

if TYPE_CHECKING:
    from cogw.shell.registry.protocol import Registry

# As Cog's status check: HEADs are light, so more at once than transfers.
CHECK_CONCURRENCY = 8
# A check that fails is reported, not retried for minutes: one retry, then the answer.
CHECK_RETRIES = 1


def _asks(probe: Probe) -> list[tuple[str, bool]]:
    """(digest, is the manifest) for every blob of ``probe``."""
    return [(probe.manifest[0], True)] + [(digest, False) for digest, _ in probe.layers]


def check_entries(
    client: Registry, repo: str, entries: Sequence[WeightEntry], jobs: int = CHECK_CONCURRENCY
) -> dict[str, RemoteCheck]:
    """The registry's answer for each entry; a registry error marks that entry's check."""
    from cogw.shell.registry.errors import RegistryCancelled, RegistryError

    probes = [probe_for(e) for e in entries]
    asks = sorted({ask for p in probes for ask in _asks(p)})

    def ask(item: tuple[str, bool]) -> bool | str:
        digest, is_manifest = item
        try:
            if is_manifest:
                return client.head_manifest(repo, digest) is not None
            return client.blob_exists(repo, digest)
        except RegistryCancelled:
            raise
        except RegistryError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(asks) or 1))) as pool:
        answers = dict(zip(asks, pool.map(ask, asks), strict=True))
    checks = {}
    for probe in probes:
        mine = [answers[a] for a in _asks(probe)]
        error = next((a for a in mine if isinstance(a, str)), "")
        present = {d: a is True for (d, _), a in zip(_asks(probe), mine, strict=True)}
        checks[probe.weight] = check_from(probe, present, error)
    return checks


def _all_failed(entries: Sequence[WeightEntry], reason: str) -> dict[str, RemoteCheck]:
    return {p.weight: check_from(p, {}, reason) for p in map(probe_for, entries)}


def remote_checks(
    make: Callable[[], tuple[Registry, str]], repository: str, entries: Sequence[WeightEntry]
) -> PMap[str, RemoteCheck]:
    """What the project's registry (``make()``: its client and repository path) holds of
    ``entries``; empty when there is nothing to ask or no valid repository to ask (the
    plan says that itself)."""
    from cogw.core.registry.reference import parse_repository

    if not entries or not repository or not is_successful(parse_repository(repository)):
        return pmap()
    try:
        client, repo = make()
    except click.ClickException as exc:  # credentials that cannot be read, for one
        return pmap(_all_failed(entries, exc.format_message()))
    try:
        return pmap(check_entries(client, repo, entries))
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
