"""Which large files an import starts uploading before its plan is made.

``cogw import`` hashes every new file to plan, then uploads: for a large file,
a read at disk speed and then an upload at the network's, one after the other.
Starting the upload of a file the plan will almost surely push, while it is
being hashed, overlaps the two (``cogw.shell.import_early``). An upload the plan
does not adopt is cancelled and costs only bandwidth, so only files worth the
bet are chosen: a large file (one that is read, not answered from the stat
cache, and gets a standalone layer), kept by the filters of a weight that lists
its source, and not recorded in weights.lock under its path with its size. A
recorded one is most likely unchanged and its layer already in the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


def uploads_early(is_import: bool, saved_plan: bool, confirmed: bool) -> bool:
    """Whether a command may upload before its plan is made: only an import that runs
    the plan it makes now, without asking first (``cogw import``, ``cogw apply import
    --yes``). A saved plan was hashed when it was made; a question must come before
    any byte is sent.

    >>> uploads_early(True, False, True), uploads_early(True, False, False)
    (True, False)
    >>> uploads_early(True, True, True), uploads_early(False, False, True)
    (False, False)
    """
    return is_import and not saved_plan and confirmed


def early_push_wanted(
    path: str, size: int, recorded_sizes: Mapping[str, int], kept: Callable[[str], bool]
) -> bool:
    """Whether to start uploading ``path`` (``size`` bytes, about to be read) before the
    plan; ``recorded_sizes``: path -> size of the files weights.lock records for this
    source; ``kept``: whether some weight's filters keep the path.

    >>> early_push_wanted("model.bin", 10, {}, lambda _: True)
    True
    >>> early_push_wanted("model.bin", 10, {"model.bin": 10}, lambda _: True)
    False
    >>> early_push_wanted("model.bin", 10, {"model.bin": 9}, lambda _: True)
    True
    >>> early_push_wanted("model.bin", 10, {}, lambda p: not p.endswith(".bin"))
    False
    """
    if recorded_sizes.get(path) == size:
        return False
    return kept(path)
