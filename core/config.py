"""cog.yaml's ``image:`` and ``weights:`` section as validated, normalised values.

The shell parses YAML into plain Python data; this module validates that data
with every rule of Cog v0.19.3 and reports all problems at once.

TYPES ONLY IN THE SKELETON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyrsistent import PVector, pvector

DEFAULT_CONFIG = "cog.yaml"


@dataclass(frozen=True, slots=True)
class WeightSpec:
    """User intent for one weight. ``uri`` is normalised; include/exclude are
    trimmed and sorted; ``target`` is verbatim (Cog compares it uncleaned)."""

    name: str
    target: str
    uri: str
    include: PVector[str] = field(default_factory=pvector)
    exclude: PVector[str] = field(default_factory=pvector)


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    image: str = ""
    weights: PVector[WeightSpec] = field(default_factory=pvector)
