"""Weight manifest tags as current Cog makes them (the cases of Cog's pkg/model/tag_test.go,
re-expressed), and which tag a project gets."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogw.core.artifact.tags import (
    MAX_SEGMENT,
    cog_weight_tag,
    layer_media_type_for,
    parse_cog_weight_tag,
    sanitize_segment,
    short_digest,
    tag_for,
)
from cogw.core.lock.lockfile import Shape

OCI_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
SET = "sha256:52924993c7ef0123456789abcdef0123456789abcdef0123456789abcdef0123"


@pytest.mark.parametrize(
    ("name", "digest", "expected"),
    [
        ("resnet50", SET, "cog-weight.resnet50.52924993c7ef"),
        ("my model (v2)", "sha256:abc123456789def0", "cog-weight.my-model-v2.abc123456789"),
        ("", "sha256:abc123456789def0", "cog-weight.unnamed.abc123456789"),
        ("resnet50", "", "cog-weight.resnet50"),
        ("resnet50", "abc123", "cog-weight.resnet50"),  # no algorithm: no digest segment
    ],
)
def test_weight_tag(name: str, digest: str, expected: str) -> None:
    tag = cog_weight_tag(name, digest)
    assert tag == expected
    assert OCI_TAG.fullmatch(tag)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("resnet50", "resnet50"),
        ("hello world!", "hello-world"),
        ("---foo---", "foo"),
        ("a---b---c", "a-b-c"),
        ("", "unnamed"),
        ("!!!", "unnamed"),
        ("my_name_here", "my_name_here"),
        ("résumé", "r-sum"),  # one "-" per code point, not per byte
        ("a.b.c", "a-b-c"),  # dots separate segments
        ("user/model", "user-model"),
    ],
)
def test_sanitize_segment(text: str, expected: str) -> None:
    assert sanitize_segment(text) == expected


def test_a_long_name_is_cut_to_the_segment_limit() -> None:
    assert sanitize_segment("a" * 200) == "a" * MAX_SEGMENT


def test_a_cut_that_lands_in_a_hyphen_run_drops_the_trailing_hyphen() -> None:
    cut = sanitize_segment("a" * 103 + "-" * 50 + "tail")
    assert cut == "a" * 103
    assert not cut.endswith("-")


@given(st.text(max_size=300), st.text("0123456789abcdef", min_size=12, max_size=64))
def test_every_tag_is_a_valid_oci_tag_and_parses_back(name: str, hex_digits: str) -> None:
    tag = cog_weight_tag(name, "sha256:" + hex_digits)
    assert OCI_TAG.fullmatch(tag)
    assert parse_cog_weight_tag(tag) == (sanitize_segment(name), hex_digits[:12])


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("cog-weight.resnet50.abc123456789", ("resnet50", "abc123456789")),
        ("cog-weight.my-model-v2.abc123456789", ("my-model-v2", "abc123456789")),
        ("something-else", None),
        ("cog-image.20260508T153042Z", None),
        ("cog-weight.", None),
        ("cog-weight.resnet50", None),
        ("cog-weight.name.digest.extra", None),
        ("v2-cog-weight.x.y", None),
    ],
)
def test_parse_weight_tag(tag: str, expected: tuple[str, str] | None) -> None:
    assert parse_cog_weight_tag(tag) == expected


def test_short_digest() -> None:
    assert short_digest(SET) == "52924993c7ef"
    assert short_digest("sha256:abc") == "abc"
    assert short_digest("abc") == ""


def test_each_shape_gets_its_own_cogs_tag() -> None:
    assert tag_for(Shape.SOURCES, "minilm", SET) == "cog-weight.minilm.52924993c7ef"
    assert tag_for(Shape.SOURCE, "minilm", SET) == "weights-minilm-52924993c7ef"


@pytest.mark.parametrize(
    "media_type",
    ["application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip"],
)
def test_only_current_cogs_shape_names_the_layer_media_type_on_the_commit(media_type):
    assert layer_media_type_for(Shape.SOURCES, media_type) == media_type
    assert layer_media_type_for(Shape.SOURCE, media_type) == ""
