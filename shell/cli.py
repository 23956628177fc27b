"""The cogw command line (skeleton)."""

import click


@click.group()
def cli() -> None:
    """Manage ML model weights as content-addressed OCI artifacts."""


def main() -> None:
    cli()
