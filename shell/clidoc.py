"""docs/cli.md's reference section, rendered from the commands' own --help.

`python -m cogw.shell.clidoc` rewrites the section between the markers;
`python -m cogw.shell.clidoc --check` exits 1 when it differs from what the
commands print now (tests/test_clidoc.py runs the check, so the two cannot drift).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

BEGIN = "<!-- BEGIN GENERATED: every command's --help (python -m cogw.shell.clidoc) -->"
END = "<!-- END GENERATED -->"
WIDTH = 88
DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _walk(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, str]]:
    yield ctx.command_path, command.get_help(ctx)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            yield from _walk(sub, _context(sub, name, ctx))


def _context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
    # The root's context_settings (-h) as click's own make_context applies them; children
    # inherit them. click caches each command's help option on first use, so a context
    # without them would print a different help depending on what ran before.
    settings = {} if parent is not None else dict(command.context_settings)
    return click.Context(
        command,
        info_name=name,
        parent=parent,
        terminal_width=WIDTH,
        max_content_width=WIDTH,
        **settings,
    )


def _routes(root: click.Context) -> Iterator[tuple[str, str]]:
    """Commands reached through another command's words (`cogw plan gc`, `release --stale`)."""
    from cogw.shell.cli_cache import apply_gc, plan_gc
    from cogw.shell.cli_verify import release_stale

    for first, second, command in (("plan", "gc", plan_gc), ("apply", "gc", apply_gc)):
        parent = _context(click.Group(first), first, root)  # no params: "cogw plan gc"
        yield from _walk(command, _context(command, second, parent))
    path, text = next(_walk(release_stale, _context(release_stale, "release", root)))
    yield f"{path} --stale", text


def render() -> str:
    """The generated section, markers included."""
    from cogw.shell.cli import cli

    root = _context(cli, "cogw", None)
    parts = [BEGIN, ""]
    for path, text in [*_walk(cli, root), *_routes(root)]:
        parts += [f"### {path}", "", "```text", text.rstrip(), "```", ""]
    parts.append(END)
    return "\n".join(parts)


def replaced(doc: str, section: str) -> str:
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        return doc.rstrip("\n") + "\n\n" + section + "\n"
    return doc[:start] + section + doc[end + len(END) :]


def main(argv: list[str]) -> int:
    doc = DOC.read_text(encoding="utf-8")
    wanted = replaced(doc, render())
    if "--check" in argv:
        if wanted != doc:
            print(f"{DOC} is out of date; run: python -m cogw.shell.clidoc", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
