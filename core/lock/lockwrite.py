"""What an import's weights.lock write looks like, from the config the plan was made from.

The layout it is written in (the rule is :func:`cogw.core.lockshape.choose_shape`),
which entries it keeps (those cog.yaml declares, as Cog's import prunes). The importer
and ``cogw.core.plan.importrecord`` apply the answers.
"""

from __future__ import annotations

from returns.result import Result, Success

from cogw.core.config.weights import ProjectConfig
from cogw.core.diagnostics import Diagnostic
from cogw.core.lock.lockfile import Lockfile, Shape
from cogw.core.lock.lockshape import choose_shape


def write_shape(lock: Lockfile | None, config: ProjectConfig | None) -> Result[Shape, Diagnostic]:
    """The layout this import writes; without a config, the lockfile's own."""
    if config is None:
        return Success(lock.shape if lock is not None else Shape.SOURCE)
    counts = [(s.name, len(s.sources)) for s in config.weights]
    return choose_shape(lock, config.uses_model, counts)


def declared_names(config: ProjectConfig) -> list[str]:
    return [s.name for s in config.weights]
