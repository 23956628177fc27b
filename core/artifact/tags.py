"""Registry tags for weight manifests, as each Cog makes them.

Current Cog (``pkg/model/tag.go``) tags a weight manifest
``cog-weight.<sanitized name>.<12 hex of the set digest>``: dots separate the
segments, so the name is reduced to ``[a-zA-Z0-9_-]`` (any other character,
counted per Unicode code point, becomes ``-``; runs of ``-`` collapse; leading
and trailing ``-`` go; at most 104 characters; ``unnamed`` when nothing is
left). Cog v0.19.3 tagged ``weights-<name>-<12 hex>`` (:func:`cogw.core.oci.weight_tag`).
Which one a project gets follows its weights.lock shape: the team's Cog looks
for its own tags. Pure.
"""

from __future__ import annotations

from cogw.core.artifact.oci import weight_tag
from cogw.core.lock.lockfile import Shape

RESERVED_PREFIX = "cog-"
WEIGHT_TAG_PREFIX = RESERVED_PREFIX + "weight."
MAX_SEGMENT = 104  # leaves room for the prefix and the short digest in 128 characters
UNNAMED = "unnamed"
_SEGMENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def sanitize_segment(text: str) -> str:
    """``text`` made safe for one dot-separated tag segment (never empty).

    >>> sanitize_segment("my model (v2)")
    'my-model-v2'
    """
    replaced = "".join(ch if ch in _SEGMENT_CHARS else "-" for ch in text)
    collapsed = "-".join(part for part in replaced.split("-") if part)
    if len(collapsed) > MAX_SEGMENT:
        collapsed = collapsed[:MAX_SEGMENT].rstrip("-")
    return collapsed or UNNAMED


def short_digest(digest: str) -> str:
    """The first 12 hex digits of ``algorithm:hex``; empty without an algorithm."""
    _, colon, hex_part = digest.partition(":")
    return hex_part[:12] if colon else ""


def layer_media_type_for(shape: Shape, media_type: str) -> str:
    """The ``OCI-Layer-Media-Type`` a layer's upload commit carries ("" for none).

    Current Cog (``pkg/model/weight_pusher.go``) sends each weight layer's media type
    so a registry can tell weight layers from image layers (whose size limits it then
    need not apply); Cog v0.19.3 sends nothing.

    >>> layer_media_type_for(Shape.SOURCE, "application/vnd.oci.image.layer.v1.tar")
    ''
    """
    return media_type if shape is Shape.SOURCES else ""


def cog_weight_tag(name: str, set_digest: str) -> str:
    """Current Cog's tag; without a usable digest, ``cog-weight.<name>`` (as Cog).

    >>> cog_weight_tag("minilm", "sha256:18074874da7f" + "0" * 52)
    'cog-weight.minilm.18074874da7f'
    """
    short = short_digest(set_digest)
    segment = sanitize_segment(name)
    return f"{WEIGHT_TAG_PREFIX}{segment}.{short}" if short else f"{WEIGHT_TAG_PREFIX}{segment}"


def parse_cog_weight_tag(tag: str) -> tuple[str, str] | None:
    """(sanitized name, short digest) of a current-Cog weight tag, or None."""
    if not tag.startswith(WEIGHT_TAG_PREFIX):
        return None
    name, dot, short = tag[len(WEIGHT_TAG_PREFIX) :].partition(".")
    if not dot or not name or not short or "." in short:
        return None
    return name, short


def tag_for(shape: Shape, name: str, set_digest: str) -> str:
    """The tag the Cog that reads a lockfile of ``shape`` gives this weight."""
    if shape is Shape.SOURCES:
        return cog_weight_tag(name, set_digest)
    return weight_tag(name, set_digest)
