"""What the command line prints and how it exits: problems, JSON, outcomes, mounts.

Results go to stdout (JSON, mount lists); everything a person reads while a
command runs (steps, summaries, errors) goes to stderr. Expected failures are
`error:` lines and exit 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
import orjson
from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Problems, distinct

if TYPE_CHECKING:
    from cogw.core.plan.outcome import Mounted, Outcome

T = TypeVar("T")


def echo_err(line: str) -> None:
    click.echo(line, err=True)


def print_problems(problems: Problems) -> None:
    for problem in problems:
        for line in problem.lines():
            echo_err(line)


def fail(problems: Problems) -> NoReturn:
    print_problems(problems)
    sys.exit(1)


def fail_as(problems: Problems, as_json: bool) -> NoReturn:
    """Problems as ``{"problems": [...]}`` on stdout in JSON mode (the same summary,
    detail and hint as the text), else as error lines; exit 1 either way."""
    if as_json:
        print_json({"problems": [p.to_json() for p in problems]})
        sys.exit(1)
    fail(problems)


def unwrap(result: Result[T, Problems]) -> T:
    match result:
        case Success(value):
            return value  # type: ignore[no-any-return]
        case Failure(problems):
            fail(problems)
    raise AssertionError("unreachable")


def doing(operation: str) -> None:
    """Say what the command is about to do, for the line Ctrl-C prints ("read": only
    reads; an Operation's value: executes it)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta["cogw.doing"] = operation


def interrupted() -> NoReturn:
    """Ctrl-C, wherever it lands: one line saying what was left as it was, exit 130."""
    from cogw.core.plan.render import interrupted_line

    ctx = click.get_current_context(silent=True)
    echo_err(interrupted_line(ctx.meta.get("cogw.doing", "") if ctx else ""))
    sys.exit(130)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Expected failures become one clear line and exit 1; Ctrl-C exits 130."""
    from cogw.shell.fs import LinkError, ProjectLocked
    from cogw.shell.store import StoreError

    try:
        yield
    except KeyboardInterrupt:
        interrupted()
    except (StoreError, LinkError, ProjectLocked, PermissionError) as exc:
        echo_err(f"error: {exc}")
        sys.exit(1)


def print_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def report(outcome: Outcome, as_json: bool, silent: bool = False) -> NoReturn:
    """The outcome as JSON on stdout or as result lines; ``silent`` (-qq) keeps only
    the error lines."""
    from cogw.core.plan.render import outcome_json, outcome_lines

    if as_json:
        print_json(outcome_json(outcome))
    elif not silent:
        for line in outcome_lines(outcome):
            echo_err(line)
    if not as_json:  # in JSON mode stderr carries only JSON lines; errors are in the outcome
        print_problems(distinct(r.diagnostic for r in outcome.failed if r.diagnostic))
    sys.exit(outcome.exit_code)


def print_mounts(
    made: Sequence[Mounted], as_json: bool, docker: bool, silent: bool = False
) -> None:
    mount_id = Path(made[0].path).parent.name if made else ""
    if as_json:
        print_json(
            {
                "id": mount_id,
                "mounts": [{"source": m.path, "target": m.target, "readOnly": True} for m in made],
            }
        )
    elif docker:
        click.echo(" ".join(f"-v {shlex.quote(f'{m.path}:{m.target}:ro')}" for m in made))
    elif not made:
        if not silent:
            echo_err("No weights to mount.")
    else:
        if not silent:
            echo_err(f"Prepared mounts {mount_id} (release with: cogw release {mount_id})")
        for m in made:
            click.echo(f"{m.path} -> {m.target} (read-only)")
