"""Ask each weight's source what it holds now, for ``status --sources`` and ``check --sources``.

Gathers and never decides (:mod:`cogw.core.plan.sourcestatus` compares). A local
source is inventoried through the stat cache, so only files whose stat changed are
hashed again. A remote one is first asked for its version (an ``hf://`` ref's commit,
an ``http(s)://`` file's strong ETag): the locked version means nothing moved and
nothing is downloaded. A moved Hugging Face commit is listed (digests come from the
tree; only small inline files are fetched); a moved ETag is the answer itself, the
file is not downloaded. An http(s) file without a strong ETag can only be told by
its bytes, so it is fetched and hashed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from cogw.core.config.weights import WeightSpec
from cogw.core.diagnostics import Diagnostic
from cogw.core.lock.lockfile import WeightEntry
from cogw.core.plan.sourcestatus import Seen, SourceSeen
from cogw.shell.options import Options

OnBytes = Callable[[int], None]


def _seen(opts: Options, uri: str, locked: str, on_bytes: OnBytes | None) -> SourceSeen:
    from cogw.shell.hashing import STAT_CACHE_NAME, StatCache
    from cogw.shell.sources import HfSource, HttpSource, source_for

    with StatCache(opts.store.root / STAT_CACHE_NAME) as cache:
        source = source_for(uri, opts.project.dir, cache=cache)
        if isinstance(source, HfSource | HttpSource):
            version = source.version()
            if version is not None and (version == locked or isinstance(source, HttpSource)):
                return SourceSeen(version)
        inv = source.inventory(jobs=opts.jobs, on_bytes=on_bytes)
        return SourceSeen(inv.fingerprint, inv)


def observe(
    opts: Options, spec: WeightSpec, entry: WeightEntry, on_bytes: OnBytes | None = None
) -> Seen:
    """What ``spec``'s source holds now (each of several, in order), or why it cannot be
    read. ``entry`` records as many sources (cog.yaml and weights.lock agree)."""
    from cogw.shell.sources import SourceError

    subject = f'{opts.project.config_name}: weight "{spec.name}"'
    locked = [s.fingerprint for s in entry.sources]
    try:
        if len(spec.sources) > 1:
            return tuple(
                _seen(opts, source.uri, fingerprint, on_bytes)
                for source, fingerprint in zip(spec.sources, locked, strict=True)
            )
        return _seen(opts, spec.uri, entry.source.fingerprint, on_bytes)
    except SourceError as exc:
        return Diagnostic(str(exc), subject=subject, hint="fix the weight's source in cog.yaml")
    except OSError as exc:
        return Diagnostic(f"cannot read source {spec.uri}: {exc}", subject=subject)


def observe_sources(
    opts: Options,
    specs: Iterable[WeightSpec],
    entries: Mapping[str, WeightEntry],
    progress: bool = False,
) -> dict[str, Seen]:
    """Every weight of ``specs`` whose lock entry records as many sources, by name (a
    hashing bar on a terminal when ``progress``); another count is config drift, which
    status already reports."""
    from cogw.shell.output import user_errors
    from cogw.shell.progress import hashing_progress

    wanted = [
        s for s in specs if s.name in entries and len(s.sources) == len(entries[s.name].sources)
    ]
    on_bytes, finish = hashing_progress(progress and bool(wanted))
    try:
        with user_errors():
            return {s.name: observe(opts, s, entries[s.name], on_bytes) for s in wanted}
    finally:
        finish()
