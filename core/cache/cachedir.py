"""Where the local weights store lives: the pure rules, no disk and no environment.

This module knows the precedence of the settings that name the cache directory
(``--cache-dir``, ``COG_CACHE_DIR``, ``XDG_CACHE_HOME``, the home directory) and
Go's ``filepath.Join``/``Clean`` semantics, so cogw and Cog resolve the same
directory from the same settings. It does not read the environment, look up the
home directory, create anything or check that anything exists: the shell passes
those facts in.

Two Cog v0.19.3 bugs are fixed here (runtime spec §15.2):
* a relative ``COG_CACHE_DIR`` (or ``--cache-dir``) is made absolute against the
  working directory, so the store does not move when a command runs elsewhere;
* a relative ``XDG_CACHE_HOME`` is ignored, as the XDG Base Directory spec says
  ("If an implementation encounters a relative path … it should consider the
  path invalid and ignore it").
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic

CACHE_DIR_ENV = "COG_CACHE_DIR"
XDG_CACHE_HOME_ENV = "XDG_CACHE_HOME"
WEIGHTS_SUBDIR = "weights"


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a POSIX path.

    posixpath.normpath keeps a leading ``//`` (POSIX allows it to mean something
    special); Go collapses it, and so must we to name the same directory as Cog.

    >>> go_clean("//cache//cog/./weights/")
    '/cache/cog/weights'
    >>> go_clean("")
    '.'
    """
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def go_join(*parts: str) -> str:
    """Go's ``filepath.Join``: skip empty parts, join with ``/``, then clean.

    Unlike os.path.join, a later absolute part does not discard earlier ones.

    >>> go_join("/a", "/b", "", "c/")
    '/a/b/c'
    >>> go_join("", "")
    ''
    """
    kept = [p for p in parts if p]
    if not kept:
        return ""
    return go_clean("/".join(kept))


def _absolute(path: str, cwd: str) -> str:
    """``path`` made absolute against ``cwd`` (which must itself be absolute)."""
    if posixpath.isabs(path):
        return go_clean(path)
    if not posixpath.isabs(cwd):
        raise ValueError(f"working directory must be absolute, got {cwd!r}")
    return go_join(cwd, path)


def _missing_home() -> Diagnostic:
    return Diagnostic(
        summary="resolve user home dir: $HOME is not defined",
        detail="The weights cache defaults to $HOME/.cache/cog/weights, "
        "but no home directory is known.",
        hint=f"set HOME, or set {CACHE_DIR_ENV} (or pass --cache-dir) to choose the cache dir",
    )


def resolve_weights_dir(
    env: Mapping[str, str],
    home: str | None,
    cwd: str,
    flag: str | None = None,
) -> Result[str, Diagnostic]:
    """The weights store root, by Cog's precedence, with its relative-path bugs fixed.

    1. ``flag`` (``--cache-dir DIR``) names the cache dir like COG_CACHE_DIR → DIR/weights
    2. ``COG_CACHE_DIR`` → $COG_CACHE_DIR/weights
    3. ``XDG_CACHE_HOME`` (only if absolute) → $XDG_CACHE_HOME/cog/weights
    4. ``home`` → home/.cache/cog/weights

    An empty value counts as unset. The result is always absolute and clean.
    The function is pure: the caller passes the environment, home and cwd.

    >>> resolve_weights_dir({"COG_CACHE_DIR": "c"}, "/home/u", "/proj").unwrap()
    '/proj/c/weights'
    """
    for chosen in (flag, env.get(CACHE_DIR_ENV)):
        if chosen:
            return Success(go_join(_absolute(chosen, cwd), WEIGHTS_SUBDIR))
    xdg = env.get(XDG_CACHE_HOME_ENV)
    if xdg and posixpath.isabs(xdg):
        return Success(go_join(xdg, "cog", WEIGHTS_SUBDIR))
    if not home:
        return Failure(_missing_home())
    return Success(go_join(_absolute(home, cwd), ".cache", "cog", WEIGHTS_SUBDIR))


def cross_filesystem_problem(
    cache_dir: str, project_dir: str, mode: str = "hardlink"
) -> Diagnostic:
    """A hardlink (or reflink) from the cache into the project cannot cross filesystems.

    One wording for both moments it is found: while planning (the devices differ) and
    while linking (a link failed with EXDEV after the plan passed, e.g. the store moved).
    Each path appears once; the hint names both ways out.

    >>> for line in cross_filesystem_problem("/mnt/c", "/work/p").lines():
    ...     print(line)
    error: the cache and the project are on different filesystems; hardlinks cannot cross
      cache: /mnt/c
      project: /work/p
      hint: use --link-mode copy,
            or put the cache on the project's filesystem: --cache-dir DIR or COG_CACHE_DIR=DIR
    """
    links = "reflinks" if mode == "reflink" else "hardlinks"
    return Diagnostic(
        summary=f"the cache and the project are on different filesystems; {links} cannot cross",
        detail=f"cache: {cache_dir}\nproject: {project_dir}",
        hint="use --link-mode copy,\n"
        f"or put the cache on the project's filesystem: --cache-dir DIR or {CACHE_DIR_ENV}=DIR",
    )
