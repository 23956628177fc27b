"""The operations a plan can carry out; a module of its own so the CLI can name them
(its subcommands and their choices) without importing the planner."""

from __future__ import annotations

from enum import StrEnum


class Operation(StrEnum):
    SYNC = "sync"  # import what changed, prune orphans, pull what is missing
    IMPORT = "import"
    PULL = "pull"
    PREPARE = "prepare"
    PRUNE = "prune"
