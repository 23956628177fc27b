"""The habits users bring from Terraform and Cog: `cogw apply FILE`, `cogw weights
import|pull|status`, and shell completion of weight names from cog.yaml.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

OPERATIONS = ("sync", "import", "pull", "prepare", "prune", "gc")
# Options of `cogw apply` that take a value: the word after them is not a plan file.
_VALUED = {"--plan", "--project", "--config", "-f", "--file", "--cache-dir", "--ca-bundle"}
_VALUED |= {"--insecure-registry", "-j", "--jobs", "--mirror", "--ingest", "--debug-file"}


def is_plan_file(data: bytes) -> bool:
    """A plan saved by `cogw plan --out` or `cogw plan gc --out`, of any format version."""
    import orjson

    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    kind = value.get("format") if isinstance(value, dict) else None
    return isinstance(kind, str) and kind.startswith("cogw-")


def _positional(args: list[str]) -> int | None:
    for i, arg in enumerate(args):
        if arg == "--":
            return i + 1 if i + 1 < len(args) else None
        if arg.startswith("-"):
            continue
        if i and args[i - 1] in _VALUED:
            continue
        return i
    return None


def plan_file_args(args: list[str]) -> list[str]:
    """`cogw apply FILE ...` as `cogw apply --plan FILE ...`, as Terraform reads it: a
    path that exists and is a plan file wins over a weight name; a file that exists
    but is no plan is an error, never a silent guess."""
    from cogw.core.diagnostics import Diagnostic
    from cogw.shell.output import fail

    i = _positional(args)
    if i is None or args[i] in OPERATIONS or not Path(args[i]).is_file():
        return args
    path = args[i]
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        fail((Diagnostic(f"cannot read plan file: {exc.strerror}", subject=path),))
    if not is_plan_file(data):
        fail(
            (
                Diagnostic(
                    "not a saved plan",
                    subject=path,
                    detail="the file exists, so it is not read as a weight name",
                    hint="save a plan with 'cogw plan --out FILE'; "
                    f"for a weight of that name: cogw apply sync {path}",
                ),
            )
        )
    return [*args[:i], "--plan", path, *args[i + 1 :]]


def rewrite_args(command: click.Command, rewrite: Callable[[list[str]], list[str]]) -> None:
    """Let ``rewrite`` change ``command``'s arguments before it parses them."""
    original = command.make_context

    def make_context(
        info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        return original(info_name, rewrite(args), parent, **extra)

    setattr(command, "make_context", make_context)  # noqa: B010


def declared_names(ctx: click.Context) -> list[str]:
    """Weight names in the project's cog.yaml and weights.lock; none when unreadable."""
    from cogw.shell.gather import locate_project, read_config, read_lockfile

    root = ctx.find_root().params
    params = {**root, **ctx.params}
    try:
        project = locate_project(params.get("project"), params.get("config"), Path.cwd())
        config = read_config(project).value_or(None)
        lock = read_lockfile(project).value_or((None, None))[0]
    except Exception:  # completion must never print a traceback
        return []
    names = [s.name for s in config.weights] if config is not None else []
    names += [e.name for e in lock.weights] if lock is not None else []
    return list(dict.fromkeys(names))


def complete_names(ctx: click.Context, _param: Any, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in declared_names(ctx) if n.startswith(incomplete)]


def complete_operation_or_names(
    ctx: click.Context, param: Any, incomplete: str
) -> list[CompletionItem]:
    """`cogw plan|apply [OPERATION] [NAME]...`: operations first, then weight names."""
    given = ctx.params.get(param.name) or ()
    ops = [] if given else [CompletionItem(o) for o in OPERATIONS if o.startswith(incomplete)]
    return ops + complete_names(ctx, param, incomplete)


def weights_group(cli: click.Group) -> click.Group:
    """Cog's spellings: `cogw weights import|pull|status` are the same commands."""

    @click.group("weights", short_help="Cog's spellings: weights import, pull and status.")
    def weights() -> None:
        """The same commands under Cog's names: 'cog weights import' is 'cogw weights
        import' is 'cogw import'."""

    for name in ("import", "pull", "status"):
        weights.add_command(cli.commands[name], name)
    return weights


def register(cli: click.Group) -> None:
    cli.add_command(weights_group(cli))
    rewrite_args(cli.commands["apply"], plan_file_args)
