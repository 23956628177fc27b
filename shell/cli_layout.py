"""Air-gapped transfer through OCI image layouts: `cogw export DIR|FILE.tar`,
`cogw push --from oci:DIR` and the `--from oci:DIR` option of `cogw pull`.

Registered into the main group by :func:`register`; `cogw pull --from` is the normal pull
(same plan, same verified steps) with the layout standing in for the registry
(``Options.layout_registry``, read by shell/compose.py's registry factory).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from returns.result import Failure

from cogw.core.diagnostics import Diagnostic
from cogw.shell.options import common_options, options_from


def open_layout(text: str) -> Any:
    """The layout ``text`` (``oci:DIR`` or ``oci:FILE.tar``) names; user errors exit 1."""
    from cogw.core.artifact.ocilayout import parse_layout_source
    from cogw.shell.ocilayout_read import LayoutError, LayoutRegistry
    from cogw.shell.output import fail
    from cogw.shell.runtime import ProblemsError

    source = parse_layout_source(text)
    if isinstance(source, Failure):
        fail((source.failure(),))
    try:
        return LayoutRegistry(source.unwrap())
    except LayoutError as exc:
        fail((Diagnostic(str(exc), hint="make one with 'cogw export DIR'"),))
    except ProblemsError as exc:
        fail(exc.problems)
    except OSError as exc:
        fail((Diagnostic(f"cannot read the layout: {exc}", subject=text),))


def use_layout(opts: Any, text: str, names: Sequence[str]) -> None:
    """Make ``opts``'s pulls read from the layout ``text`` instead of the registry."""
    from cogw.core.registry.refpull import looks_like_reference

    if any(looks_like_reference(n) for n in names):
        raise click.UsageError("--from pulls the project's weights; name weights, not a reference")
    opts.layout_registry = open_layout(text)


def _registry(opts: Any, image: str) -> tuple[Any, str]:
    from cogw.shell.compose import registry_factory

    return registry_factory(opts, image)()


def _snapshot(opts: Any) -> Any:
    from cogw.core.plan.planner import Operation
    from cogw.shell.compose import snapshot_for

    return snapshot_for(opts, Operation.PULL, [])


@click.command("export")
@click.argument("dest", metavar="DIR|FILE.tar")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@common_options
def export_command(dest: str, quiet: bool, **kwargs: Any) -> None:
    """Write the project's weights as an OCI image layout, for an air-gapped site.

    DEST is a directory (created; blobs already in it are kept) or FILE.tar. Manifests,
    config blobs and layers come from the registry, or are rebuilt from weights.lock and
    the local store where they can be, each checked against its digest;
    index.json tags every weight with its registry tag (org.opencontainers.image.ref.name),
    so 'skopeo inspect oci:DIR:TAG' reads it. Load it with 'cogw pull --from oci:DEST' or
    'cogw push --from oci:DEST'.
    """
    from cogw.core.artifact.ocilayout import export_entries
    from cogw.shell.ocilayout_ops import export_weights
    from cogw.shell.ocilayout_write import LayoutWriteError, layout_writer
    from cogw.shell.output import echo_err, fail, unwrap, user_errors
    from cogw.shell.registry import RegistryError
    from cogw.shell.runtime import ProblemsError

    opts = options_from(kwargs)
    snapshot = _snapshot(opts)
    entries = unwrap(export_entries(snapshot.lock, "weights.lock"))
    notify = (lambda _line: None) if quiet else echo_err
    try:
        with user_errors():
            from cogw.shell.compose import registry_factory

            writer = layout_writer(Path(dest))
            registry = registry_factory(opts, snapshot.config.image)
            done = export_weights(entries, registry, opts.store, writer, notify, opts.jobs)
    except ProblemsError as exc:
        fail(exc.problems)
    except (RegistryError, LayoutWriteError, ValueError, OSError) as exc:
        fail((Diagnostic(f"export failed: {exc}", subject=dest),))
    for e in done:
        click.echo(f"{e.name}\t{e.tag}\t{e.digest}")
    if not quiet:
        echo_err(f"Exported {len(done)} weight(s) to {dest}.")


@click.command("push")
@click.option("--from", "from_layout", metavar="oci:DIR", required=True, help="The layout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@common_options
def push_command(from_layout: str, quiet: bool, **kwargs: Any) -> None:
    """Upload an OCI image layout's weights to the project's registry (cog.yaml's image).

    Each manifest goes under its org.opencontainers.image.ref.name tag, after its blobs;
    blobs the registry has are not sent again. Every byte read from the layout is checked
    against its digest. A normal 'cogw pull' then works from that registry.
    """
    from cogw.shell.ocilayout_ops import push_layout
    from cogw.shell.output import echo_err, fail, user_errors
    from cogw.shell.registry import RegistryError
    from cogw.shell.runtime import ProblemsError

    opts = options_from(kwargs)
    layout = open_layout(from_layout)
    snapshot = _snapshot(opts)
    notify = (lambda _line: None) if quiet else echo_err
    try:
        with user_errors():
            client, repo = _registry(opts, snapshot.config.image)
            pushed = push_layout(layout, client, repo, notify)
    except ProblemsError as exc:
        fail(exc.problems)
    except (RegistryError, OSError) as exc:
        fail((Diagnostic(f"push failed: {exc}", subject=from_layout),))
    for p in pushed:
        click.echo(f"{p.ref}\t{p.digest}")
    if not quiet:
        echo_err(f"Pushed {len(pushed)} manifest(s) from {from_layout}.")
    sys.exit(0)


def register_layout(cli: click.Group) -> None:
    cli.add_command(export_command)
    cli.add_command(push_command)
