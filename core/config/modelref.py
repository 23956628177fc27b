"""Where weights are pushed: cog.yaml's ``model:`` (current Cog) or ``image:`` (v0.19.3).

Current Cog names the bundle repository with ``model:`` and lets the
environment override it: ``COG_MODEL`` (a full reference) wins outright,
otherwise ``COG_MODEL_REGISTRY`` and ``COG_MODEL_REPO`` replace the host and
the path of ``model:``; the registry defaults to Replicate's when only the
path is known. ``COG_MODEL_TAG`` does not matter to weights (their tags are
generated) but a bad value is still refused, as Cog does. Every problem names
the variable or key at fault.

v0.19.3 named the repository with ``image:`` and knew no environment, so an
``image:`` project is left as it is -- except that combining ``image:`` with
a ``COG_MODEL*`` override that names a repository is refused, as current Cog
refuses it: the two would disagree about where the weights live.

Pure: the shell passes the environment in as a mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from returns.result import Failure, Result, Success

from cogw.core.digest import go_quote
from cogw.core.registry.reference import (
    Repository,
    is_registry_host,
    parse_reference,
    parse_repository,
    repository_path_problem,
)

ENV_MODEL = "COG_MODEL"
ENV_REGISTRY = "COG_MODEL_REGISTRY"
ENV_REPO = "COG_MODEL_REPO"
ENV_TAG = "COG_MODEL_TAG"
MODEL_ENV = (ENV_MODEL, ENV_REGISTRY, ENV_REPO, ENV_TAG)
REPLICATE_REGISTRY = "r8.im"
RESERVED_TAG_PREFIX = "cog-"
_OCI_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")

BOTH_SET = "'model' and 'image' cannot both be set"
NEEDS_MODEL = "weights require 'model' in cog.yaml — rename 'image' to 'model'"
IMAGE_WITH_ENV = (
    "'image' in cog.yaml cannot be combined with COG_MODEL* env vars\n"
    "  remove 'image' from cog.yaml (use 'model' instead), or\n"
    "  unset COG_MODEL, COG_MODEL_REGISTRY, COG_MODEL_REPO, COG_MODEL_TAG"
)


def model_field_problem(model: str) -> str | None:
    """Cog's check of ``model:`` itself: a bare repository, no tag or digest."""
    if not model:
        return None
    parsed = parse_reference(model)
    if isinstance(parsed, Failure):
        return f"invalid model {go_quote(model)}: invalid repository: {parsed.failure()}"
    _, pinned = parsed.unwrap()
    if pinned:
        reason = "must be a bare repository — tags and digests are not allowed"
        return f"invalid model {go_quote(model)}: {reason}"
    return None


def env_problems(env: Mapping[str, str]) -> list[str]:
    """Every malformed ``COG_MODEL_REGISTRY`` / ``_REPO`` / ``_TAG`` value, named.

    ``COG_MODEL`` is checked where it is used: when set, Cog ignores the others.
    """
    problems = []
    registry = env.get(ENV_REGISTRY, "")
    if registry and ("/" in registry or "@" in registry):
        reason = "must be a bare host (no path, tag, or digest)"
        problems.append(f"invalid {ENV_REGISTRY} {go_quote(registry)}: {reason}")
    elif registry and not is_registry_host(registry):
        problems.append(f"invalid {ENV_REGISTRY} {go_quote(registry)}: not a registry host")
    repo = env.get(ENV_REPO, "")
    repo_reason = repository_path_problem(repo) if repo else None
    if repo and (":" in repo or "@" in repo):
        repo_reason = "must be a bare repository path (no host, tag, or digest)"
    if repo_reason:
        problems.append(f"invalid {ENV_REPO} {go_quote(repo)}: {repo_reason}")
    tag = env.get(ENV_TAG, "")
    if tag.startswith(RESERVED_TAG_PREFIX):
        problems.append(
            f"invalid {ENV_TAG} {go_quote(tag)}: {go_quote(RESERVED_TAG_PREFIX)} is a reserved "
            "prefix — choose a different tag"
        )
    elif tag and not _OCI_TAG.fullmatch(tag):
        problems.append(
            f"invalid {ENV_TAG} {go_quote(tag)}: must match OCI tag regex ^{_OCI_TAG.pattern}$"
        )
    return problems


def resolve_model(model: str, env: Mapping[str, str]) -> Result[Repository | None, list[str]]:
    """The repository ``model:`` and the environment name together (None: none named).

    ``COG_MODEL`` wins outright; otherwise the registry is ``COG_MODEL_REGISTRY``,
    else ``model:``'s host, else ``r8.im``, and the path ``COG_MODEL_REPO``, else
    ``model:``'s path (with Docker Hub's ``library/`` for a one-part name).
    """
    full = env.get(ENV_MODEL, "")
    if full:
        parsed = parse_reference(full)
        if isinstance(parsed, Failure):
            reason = f"invalid image reference {go_quote(full)}: {parsed.failure()}"
            return Failure([f"invalid {ENV_MODEL} value: {reason}"])
        return Success(parsed.unwrap()[0])
    problems = env_problems(env)
    base = parse_repository(model) if model else None
    if isinstance(base, Failure):
        problems.append(f"invalid 'model' in cog.yaml: {base.failure()}")
    if problems:
        return Failure(problems)
    base_repo = base.unwrap() if base is not None else None
    registry = env.get(ENV_REGISTRY) or (base_repo.registry if base_repo else REPLICATE_REGISTRY)
    path = env.get(ENV_REPO) or (base_repo.path if base_repo else "")
    if not path:
        return Success(None)
    return Success(Repository(registry=registry, path=path))


def image_env_conflict(image: str, env: Mapping[str, str]) -> bool:
    """True when an ``image:`` project also has an environment that names a repository."""
    if not image:
        return False
    resolved = resolve_model("", env)
    return isinstance(resolved, Success) and resolved.unwrap() is not None
