"""Listing the store: every blob under ``files/sha256``, in lexical digest order.

Stricter than Cog, which keeps any 64-character name: a name that is not
lowercase hex, or sits in the wrong prefix dir, is unreachable through the
store's ``path`` and so is not listed either (list and exists must agree).
Temp files and strays are skipped; a prefix deleted while it is listed is too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cogw.core.digest import PREFIX
from cogw.shell.blobio import StoreError

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One blob in the store: its digest and its size in bytes."""

    digest: str
    size: int


def list_blobs(files_dir: Path) -> Iterator[FileInfo]:
    """Every blob under ``files_dir`` (``<root>/files/sha256``) in lexical digest order."""
    try:
        prefixes = sorted(_dir_names(files_dir))
    except FileNotFoundError:
        return
    except OSError as err:
        raise StoreError(f"list store: {err}") from err
    for prefix in prefixes:
        yield from _list_prefix(files_dir, prefix)


def _list_prefix(files_dir: Path, prefix: str) -> Iterator[FileInfo]:
    directory = files_dir / prefix
    try:
        names = sorted(_dir_names(directory))
    except (FileNotFoundError, NotADirectoryError):
        return  # deleted meanwhile, or a stray file where a prefix dir belongs
    except OSError as err:
        raise StoreError(f"list store: {err}") from err
    for name in names:
        if not (_is_blob_name(name) and name.startswith(prefix)):
            continue
        try:
            info = (directory / name).stat()
        except FileNotFoundError:
            continue  # deleted between listing and stat
        if stat.S_ISREG(info.st_mode):
            yield FileInfo(digest=PREFIX + name, size=info.st_size)


def _is_blob_name(name: str) -> bool:
    return len(name) == 64 and set(name) <= _HEX


def _dir_names(directory: Path) -> list[str]:
    with os.scandir(directory) as entries:
        return [entry.name for entry in entries]
