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
from cogw.core.plan.sourcestatus import SourceSeen
from cogw.shell.options import Options

OnBytes = Callable[[int], None]


def _seen(opts: Options, spec: WeightSpec, locked: str, on_bytes: OnBytes | None) -> SourceSeen:
    from cogw.shell.hashing import STAT_CACHE_NAME, StatCache
    from cogw.shell.sources import HfSource, HttpSource, source_for

    with StatCache(opts.store.root / STAT_CACHE_NAME) as cache:
        source = source_for(spec.uri, opts.project.dir, cache=cache)
        if isinstance(source, HfSource | HttpSource):
            version = source.version()
            if version is not None and (version == locked or isinstance(source, HttpSource)):
                return SourceSeen(version)
        inv = source.inventory(jobs=opts.jobs, on_bytes=on_bytes)
        return SourceSeen(inv.fingerprint, inv)


def observe(
    opts: Options, spec: WeightSpec, entry: WeightEntry, on_bytes: OnBytes | None = None
) -> SourceSeen | Diagnostic:
    """What ``spec``'s source holds now, or why it cannot be read."""
    from cogw.shell.sources import SourceError

    subject = f'{opts.project.config_name}: weight "{spec.name}"'
    try:
        return _seen(opts, spec, entry.source.fingerprint, on_bytes)
    except SourceError as exc:
        return Diagnostic(str(exc), subject=subject, hint="fix the weight's source in cog.yaml")
    except OSError as exc:
        return Diagnostic(f"cannot read source {spec.uri}: {exc}", subject=subject)


def observe_sources(
    opts: Options,
    specs: Iterable[WeightSpec],
    entries: Mapping[str, WeightEntry],
    progress: bool = False,
) -> dict[str, SourceSeen | Diagnostic]:
    """Every one-source weight of ``specs`` that has a lock entry, by name (a hashing
    bar on a terminal when ``progress``). Weights of several sources are not asked:
    import refuses them, so there is nothing to compare a re-import with."""
    from cogw.shell.output import user_errors
    from cogw.shell.progress import hashing_progress

    wanted = [
        s
        for s in specs
        if s.name in entries and not s.more_sources and not entries[s.name].more_sources
    ]
    on_bytes, finish = hashing_progress(progress and bool(wanted))
    try:
        with user_errors():
            return {s.name: observe(opts, s, entries[s.name], on_bytes) for s in wanted}
    finally:
        finish()
