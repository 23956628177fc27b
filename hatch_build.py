"""Build cogw's C extension, ``cogw/_goflate``, with the interpreter's own compiler settings.

The extension makes gzip layers with the exact bytes of Go's compress/flate (so layer
digests equal Cog's). It is compiled into the source tree, next to ``cogw/_goflate.c``, so
an editable install imports it, and it is shipped in wheels (which are then platform
wheels). Without a working C compiler the build still succeeds: cogw then compresses with
zlib and says so in its lockfiles' envelope format.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # no build running: the benchmarks build exported trees with build_extension
    BuildHookInterface = object

SOURCE = Path("cogw") / "_goflate.c"


def extension_path(root: Path) -> Path:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return root / "cogw" / ("_goflate" + suffix)


def compile_commands(source: Path, obj: Path, target: Path) -> list[list[str]]:
    """Compile, then link, the way the interpreter's own extensions were built."""
    cfg = sysconfig.get_config_var
    cc = os.environ.get("CC") or cfg("CC") or "cc"
    ldshared = os.environ.get("LDSHARED") or cfg("LDSHARED") or f"{cc} -shared"
    cflags = f"{cfg('CFLAGS') or ''} {cfg('CCSHARED') or ''} {os.environ.get('CFLAGS', '')}"
    include = sysconfig.get_paths()["include"]
    return [
        [*shlex.split(cc), *shlex.split(cflags), f"-I{include}", "-c", str(source), "-o", str(obj)],
        [*shlex.split(ldshared), str(obj), "-o", str(target)],
    ]


def build_extension(root: Path) -> Path | None:
    """The built extension, rebuilt only when its source is newer; None when it cannot be."""
    source, target = root / SOURCE, extension_path(root)
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        obj, built = Path(tmp) / "_goflate.o", Path(tmp) / target.name
        for command in compile_commands(source, obj, built):
            try:
                done = subprocess.run(command, capture_output=True, text=True, check=False)
            except OSError as err:
                print(f"cogw: no C compiler ({err}); gzip layers will use zlib", file=sys.stderr)
                return None
            if done.returncode != 0:
                print(
                    f"cogw: building {SOURCE} failed; gzip layers will use zlib\n"
                    f"{shlex.join(command)}\n{done.stderr}",
                    file=sys.stderr,
                )
                return None
        # Replace, never overwrite in place: a running cogw may have the old one mapped.
        staged = target.with_name(target.name + ".tmp")
        staged.write_bytes(built.read_bytes())
        staged.chmod(0o755)
        os.replace(staged, target)
    return target


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        built = build_extension(Path(self.root))
        if built is None:
            return
        # The built file is git-ignored, so it must be named to be shipped.
        build_data["artifacts"].append(built.relative_to(self.root).as_posix())
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
