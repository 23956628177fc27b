"""Where weights are pushed: ``model:`` and the COG_MODEL* environment as current Cog
resolves them (pkg/model/resolve.go, pkg/config/validate.go), ``image:`` as v0.19.3."""

from __future__ import annotations

from typing import Any

import pytest
from returns.result import Failure, Success

from cogw.core.config.modelref import resolve_model
from cogw.core.config.weights import parse_config
from cogw.core.registry.reference import Repository


def weights_config(**top: Any) -> dict[str, Any]:
    return {**top, "weights": [{"name": "w", "target": "/w", "source": {"uri": "weights"}}]}


@pytest.mark.parametrize(
    ("model", "env", "expected"),
    [
        ("acme/m", {}, "index.docker.io/acme/m"),
        ("m", {}, "index.docker.io/library/m"),
        ("docker.io/acme/m", {}, "index.docker.io/acme/m"),
        ("localhost:5000/acme/m", {}, "localhost:5000/acme/m"),
        # Cog's integration tests: model: names the path, the registry comes from the env.
        (
            "test/filter-model",
            {"COG_MODEL_REGISTRY": "127.0.0.1:5000"},
            "127.0.0.1:5000/test/filter-model",
        ),
        # The one-part name keeps Docker Hub's library/ even on another registry (as Cog).
        ("m", {"COG_MODEL_REGISTRY": "r.example.com"}, "r.example.com/library/m"),
        ("r.example.com/a/b", {"COG_MODEL_REPO": "acme/x"}, "r.example.com/acme/x"),
        ("", {"COG_MODEL_REPO": "acme/x"}, "r8.im/acme/x"),
        ("acme/m", {"COG_MODEL": "r8.im/other/m:v2"}, "r8.im/other/m"),
        ("acme/m", {"COG_MODEL": "other/m@sha256:" + "a" * 64}, "index.docker.io/other/m"),
        # COG_MODEL wins outright: the other variables are not even checked.
        ("acme/m", {"COG_MODEL": "h.io/o/m", "COG_MODEL_REPO": "bad:repo"}, "h.io/o/m"),
        ("acme/m", {"COG_MODEL_TAG": "v2"}, "index.docker.io/acme/m"),
    ],
)
def test_model_and_environment_resolve_as_cog(
    model: str, env: dict[str, str], expected: str
) -> None:
    resolved = resolve_model(model, env)
    assert isinstance(resolved, Success), resolved
    repository = resolved.unwrap()
    assert isinstance(repository, Repository)
    assert repository.name == expected


def test_no_model_and_no_repo_variable_names_nothing() -> None:
    assert resolve_model("", {"COG_MODEL_REGISTRY": "r.example.com"}) == Success(None)


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"COG_MODEL": "Bad Ref"}, "COG_MODEL value", "invalid image reference"),
        ({"COG_MODEL_REGISTRY": "r.io/acme"}, "COG_MODEL_REGISTRY", "must be a bare host"),
        ({"COG_MODEL_REGISTRY": "bad_host!"}, "COG_MODEL_REGISTRY", "not a registry host"),
        ({"COG_MODEL_REPO": "acme/m:v1"}, "COG_MODEL_REPO", "must be a bare repository path"),
        ({"COG_MODEL_REPO": "Acme/m"}, "COG_MODEL_REPO", "lowercase"),
        ({"COG_MODEL_TAG": "cog-weight.x"}, "COG_MODEL_TAG", "is a reserved prefix"),
        ({"COG_MODEL_TAG": "-v1"}, "COG_MODEL_TAG", "must match OCI tag regex"),
    ],
)
def test_an_invalid_value_names_the_variable_at_fault(
    env: dict[str, str], variable: str, reason: str
) -> None:
    resolved = resolve_model("acme/m", env)
    assert isinstance(resolved, Failure)
    (message,) = resolved.failure()
    assert message.startswith(f"invalid {variable}")
    assert reason in message


def test_every_bad_variable_is_reported_at_once() -> None:
    env = {"COG_MODEL_REGISTRY": "a/b", "COG_MODEL_REPO": "x@y", "COG_MODEL_TAG": "cog-1"}
    result = parse_config(weights_config(model="acme/m"), env=env)
    assert isinstance(result, Failure)
    summaries = [d.summary.split(" ")[1] for d in result.failure()]
    assert summaries == ["COG_MODEL_REGISTRY", "COG_MODEL_REPO", "COG_MODEL_TAG"]


def test_a_model_project_records_its_resolved_repository() -> None:
    env = {"COG_MODEL_REGISTRY": "localhost:5000"}
    config = parse_config(weights_config(model="acme/m"), env=env).unwrap()
    assert config.uses_model
    assert config.repository == "localhost:5000/acme/m"


def test_an_image_project_keeps_working_and_ignores_a_registry_override() -> None:
    env = {"COG_MODEL_REGISTRY": "localhost:5000"}
    config = parse_config(weights_config(image="r.example.com/acme/m"), env=env).unwrap()
    assert not config.uses_model
    assert config.repository == "r.example.com/acme/m"


def summaries(raw: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    result = parse_config(raw, env=env)
    assert isinstance(result, Failure), result
    return [d.summary for d in result.failure()]


def test_model_and_image_together_is_cogs_error() -> None:
    assert summaries(weights_config(model="a/m", image="a/m")) == [
        "invalid model: 'model' and 'image' cannot both be set"
    ]
    assert summaries({"model": "a/m", "image": "a/m"}) == [
        "invalid model: 'model' and 'image' cannot both be set"
    ]


def test_weights_without_model_or_image_is_cogs_error() -> None:
    assert summaries(weights_config(), {"COG_MODEL": "r8.im/a/m"}) == [
        "invalid model: weights require 'model' in cog.yaml — rename 'image' to 'model'"
    ]


def test_image_with_a_repository_override_is_cogs_error() -> None:
    (message,) = summaries(weights_config(image="a/m"), {"COG_MODEL_REPO": "a/other"})
    assert message.startswith("'image' in cog.yaml cannot be combined with COG_MODEL* env vars")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            "a/m:v1",
            'invalid model "a/m:v1": must be a bare repository — tags and digests are not allowed',
        ),
        ("a/M", 'invalid model "a/M": invalid repository: repository name must be lowercase'),
    ],
)
def test_model_must_be_a_bare_repository(model: str, expected: str) -> None:
    # Checked even without weights, as Cog's config validation does.
    assert summaries({"model": model}) == [expected]


def test_a_model_that_is_not_a_string_is_a_schema_error() -> None:
    assert summaries({"model": 3}) == ['schema error in "model": must be a string']
