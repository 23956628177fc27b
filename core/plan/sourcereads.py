"""Which source reads one snapshot may share, and which need what weights.lock recorded.

Gathering reads every selected weight's sources. Weights often share one: a project
that lists one directory under several names (or several targets) would otherwise walk
and stat-check it once per name. These rules say when one read answers for all, and
when a read needs the lockfile's record of the weight at all (building it costs one
object per locked file).
"""

from __future__ import annotations

from cogw.core.config.uri import scheme_of

_FILE_SCHEMES = frozenset({"file", ""})
_HTTP_SCHEMES = frozenset({"http", "https"})


def uses_recorded(uri: str) -> bool:
    """Whether reading ``uri`` looks at what weights.lock recorded for the weight: only
    an ``http(s)://`` source does (an unchanged strong ETag spares the download).

    >>> uses_recorded("https://host/model.bin"), uses_recorded("file://./w")
    (True, False)
    >>> uses_recorded("hf://org/repo")
    False
    """
    return scheme_of(uri) in _HTTP_SCHEMES


def shared_read_key(uri: str) -> str | None:
    """The key under which one successful read of ``uri`` answers for every weight of the
    same snapshot that reads a source of the same key; None: read it for each weight.

    A ``file://`` directory's inventory is decided by its URI alone (resolved against
    the snapshot's one project directory) and the files it names: it is unfiltered, and
    neither the weight's name, its filters nor its lock entry enter it. An ``hf://`` or
    ``http(s)://`` read asks the network, may use the lock entry and says what it
    downloaded per weight, so each weight reads its own.

    >>> shared_read_key("file://./weights/many"), shared_read_key("hf://org/repo")
    ('file://./weights/many', None)
    """
    return uri if scheme_of(uri) in _FILE_SCHEMES else None
