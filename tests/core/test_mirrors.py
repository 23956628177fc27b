"""registries.conf v2 parsing and the pure mirror resolver (containers-registries.conf(5))."""

from __future__ import annotations

from returns.result import Failure, Success

from cogw.core.mirrors import (
    Endpoint,
    Mirror,
    MirrorConfig,
    RegistryRule,
    config_candidates,
    mirror_note,
    parse_mirror_overrides,
    parse_registries_conf,
    prefix_matches,
    pull_endpoints,
)
from cogw.core.reference import Repository

CONF = """
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "registry.example.com"
location = "registry.example.com"

[[registry.mirror]]
location = "mirror-a.local:5000"

[[registry.mirror]]
location = "mirror-b.local/cache"
insecure = true
pull-from-mirror = "digest-only"

[[registry.mirror]]
location = "tags.local"
pull-from-mirror = "tag-only"

[[registry]]
prefix = "registry.example.com/team/special"
location = "special.example.com/models"
insecure = true
"""

REPO = Repository("registry.example.com", "acme/model")


def config() -> MirrorConfig:
    return parse_registries_conf(CONF, "registries.conf").unwrap()


def names(endpoints: tuple[Endpoint, ...]) -> list[str]:
    return [e.name for e in endpoints]


def test_parses_registries_and_their_mirrors_in_order() -> None:
    rule = config().rules[0]
    assert rule.prefix == "registry.example.com"
    assert [m.location for m in rule.mirrors] == [
        "mirror-a.local:5000",
        "mirror-b.local/cache",
        "tags.local",
    ]
    assert rule.mirrors[1] == Mirror("mirror-b.local/cache", True, "digest-only")


def test_digest_pulls_try_digest_mirrors_in_order_then_the_origin() -> None:
    endpoints = pull_endpoints(REPO, config(), by_digest=True).unwrap()
    assert names(endpoints) == [
        "mirror-a.local:5000/acme/model",
        "mirror-b.local/cache/acme/model",
        "registry.example.com/acme/model",
    ]
    assert [e.mirror for e in endpoints] == [True, True, False]
    assert endpoints[1].insecure and not endpoints[0].insecure


def test_tag_pulls_skip_digest_only_mirrors() -> None:
    endpoints = pull_endpoints(REPO, config(), by_digest=False).unwrap()
    assert names(endpoints) == [
        "mirror-a.local:5000/acme/model",
        "tags.local/acme/model",
        "registry.example.com/acme/model",
    ]


def test_mirror_by_digest_only_keeps_tag_pulls_at_the_origin() -> None:
    text = CONF.replace(
        'location = "registry.example.com"\n',
        'location = "registry.example.com"\nmirror-by-digest-only = true\n',
        1,
    )
    conf = parse_registries_conf(text, "r.conf").unwrap()
    assert names(pull_endpoints(REPO, conf, by_digest=False).unwrap()) == [
        "registry.example.com/acme/model"
    ]
    assert len(pull_endpoints(REPO, conf, by_digest=True).unwrap()) == 3


def test_longest_prefix_wins_and_rewrites_the_location() -> None:
    repo = Repository("registry.example.com", "team/special/bert")
    endpoints = pull_endpoints(repo, config()).unwrap()
    assert endpoints == (Endpoint("special.example.com", "models/bert", insecure=True),)


def test_prefix_matches_whole_components_only() -> None:
    assert prefix_matches("example.com/foo", "example.com/foo/bar")
    assert prefix_matches("example.com/foo", "example.com/foo")
    assert not prefix_matches("example.com/foo", "example.com/foobar")
    assert prefix_matches("*.example.com", "a.b.example.com/x")
    assert not prefix_matches("*.example.com", "example.com/x")


def test_wildcard_rule_mirrors_replace_the_host() -> None:
    conf = parse_registries_conf(
        '[[registry]]\nprefix = "*.example.com"\n[[registry.mirror]]\nlocation = "m.local/c"\n',
        "r.conf",
    ).unwrap()
    endpoints = pull_endpoints(Repository("eu.example.com", "a/b"), conf).unwrap()
    assert names(endpoints) == ["m.local/c/a/b", "eu.example.com/a/b"]


def test_unmatched_repository_goes_to_its_origin_only() -> None:
    repo = Repository("other.io", "x/y")
    assert pull_endpoints(repo, config()).unwrap() == (Endpoint("other.io", "x/y"),)


def test_overrides_replace_configured_mirrors() -> None:
    overrides = parse_mirror_overrides(["fast.local:5000", "", "slow.local/pfx/"], "--mirror")
    endpoints = pull_endpoints(REPO, config(), overrides.unwrap()).unwrap()
    assert names(endpoints) == [
        "fast.local:5000/acme/model",
        "slow.local/pfx/acme/model",
        "registry.example.com/acme/model",
    ]


def test_a_mirror_equal_to_the_origin_is_not_tried_twice() -> None:
    endpoints = pull_endpoints(REPO, MirrorConfig(), (Mirror("registry.example.com"),)).unwrap()
    assert endpoints == (Endpoint("registry.example.com", "acme/model"),)


def test_blocked_registry_is_refused_with_the_config_file_named() -> None:
    conf = MirrorConfig(
        (RegistryRule("registry.example.com", "registry.example.com", blocked=True),), "/etc/r.conf"
    )
    result = pull_endpoints(REPO, conf)
    assert isinstance(result, Failure)
    assert "blocked" in result.failure().summary
    assert result.failure().subject == "/etc/r.conf"


def test_every_problem_is_reported_at_once() -> None:
    text = """
[[registry]]
prefix = "a.io"
insecure = "yes"
colour = 1
[[registry.mirror]]
pull-from-mirror = "sometimes"
[[registry]]
blocked = false
"""
    result = parse_registries_conf(text, "r.conf")
    assert isinstance(result, Failure)
    summaries = [p.summary for p in result.failure()]
    assert '"insecure" must be true or false' in summaries
    assert 'unknown key "colour"' in summaries
    assert 'needs a "location"' in summaries
    assert any("sometimes" in s for s in summaries)
    assert 'needs a "prefix" or a "location"' in summaries


def test_invalid_toml_is_a_diagnostic() -> None:
    result = parse_registries_conf("[[registry]\n", "r.conf")
    assert isinstance(result, Failure)
    assert result.failure()[0].subject == "r.conf"


def test_empty_file_means_no_rules() -> None:
    assert parse_registries_conf("", "r.conf") == Success(MirrorConfig((), "r.conf"))


def test_override_with_a_scheme_is_refused() -> None:
    result = parse_mirror_overrides(["http://m.local"], "COGW_REGISTRY_MIRRORS")
    assert isinstance(result, Failure)
    assert result.failure()[0].subject == "COGW_REGISTRY_MIRRORS"


def test_config_lookup_order() -> None:
    assert config_candidates({"CONTAINERS_REGISTRIES_CONF": "/x.conf"}, "/home/u") == (
        "/x.conf",
        "/home/u/.config/containers/registries.conf",
        "/etc/containers/registries.conf",
    )
    assert config_candidates({}, "/h")[0] == "/h/.config/containers/registries.conf"


def test_plan_note_names_the_mirrors_then_the_origin() -> None:
    endpoints = pull_endpoints(REPO, config()).unwrap()
    assert mirror_note(endpoints) == (
        "layers will be tried from mirror mirror-a.local:5000, then mirror-b.local,"
        " then origin registry.example.com"
    )
    assert "no mirror" in mirror_note(endpoints[-1:])
