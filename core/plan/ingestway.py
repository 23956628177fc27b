"""How a large local file, pushed as its own layer, gets into the store during an import.

Copying it costs a read, a hash and a write of every byte, and its push reads
and (to prove the upload) hashes the very same bytes. So when the bytes must be
copied at all, the copy is made from the push's own reads: one read and one
hash for both, and the file digest that proves the store copy proves the
upload too (``cogw.shell.import_tee``). When the store can take the file
without copying (a reflink, or a hardlink of a file already read-only and
ours), the ordinary ingest links it beside the push and the push hashes its
stream itself. An explicit ``--ingest hardlink``/``reflink`` is the ordinary
ingest's too: its errors are the user's to see, not a reason to copy.
"""

from __future__ import annotations

from collections.abc import Callable


def copies_with_push(mode: str, stored: bool, needs_copy: Callable[[], bool]) -> bool:
    """Whether the file's store copy is written from its push's reads.

    ``mode`` is the import's ``--ingest`` mode; ``stored`` says the store has the
    file already; ``needs_copy`` asks the store whether "auto" would have to
    copy (it tries a link, so it is only asked when the answer matters).

    >>> copies_with_push("copy", False, lambda: False)
    True
    >>> copies_with_push("auto", False, lambda: True)
    True
    >>> copies_with_push("auto", False, lambda: False), copies_with_push("auto", True, lambda: True)
    (False, False)
    >>> copies_with_push("hardlink", False, lambda: True)
    False
    """
    if stored:
        return False
    if mode == "copy":
        return True
    return mode == "auto" and needs_copy()
