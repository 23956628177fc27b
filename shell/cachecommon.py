"""What the cache commands and the project commands share: recording a project in the
cache (and holding the store lock for the command's life), and the store's directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def hold_cache(weights_dir: Path, project_dir: Path) -> None:
    """Record the project in the cache and hold the store lock shared until the
    command ends (released when its click context closes)."""
    from cogw.shell.cacheindex import enter_cache

    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().call_on_close(enter_cache(weights_dir, project_dir))


def unwrap_one(result: Any) -> Any:
    """The value of a Result carrying one Diagnostic; on failure print it and exit 1."""
    from returns.result import Success

    from cogw.shell.output import fail

    if isinstance(result, Success):
        return result.unwrap()
    fail((result.failure(),))


def weights_dir(cache_dir: str | None) -> Path:
    from cogw.shell.gather import resolve_store_dir

    return Path(unwrap_one(resolve_store_dir(cache_dir)))
