"""Disjoint weight targets: the linear index finds exactly what comparing every pair finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure

from cogw.core.config.disjoint import DisjointTargets
from cogw.core.config.weights import parse_config
from cogw.core.paths import go_clean, is_subpath

# Few short components, so that duplicates, nesting and near-misses (/a/b vs /a/bc) are common.
COMPONENT = st.sampled_from(["a", "b", "bc", "w", "."])
TARGET = st.lists(COMPONENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


def pairwise_problems(targets: list[str]) -> list[str]:
    """The quadratic rule the index replaces: the earliest earlier target that nests."""
    seen: list[str] = []
    problems = []
    for index, target in enumerate(targets):
        clean = go_clean(target)
        if clean == "/":
            problems.append(f"{index} root")
        elif clean in seen:
            problems.append(f"{index} duplicate")
        else:
            overlap = next((t for t in seen if is_subpath(clean, t) or is_subpath(t, clean)), None)
            if overlap is not None:
                problems.append(f"{index} overlaps {overlap}")
            seen.append(clean)
    return problems


def indexed_problems(targets: list[str]) -> list[str]:
    index_of = DisjointTargets()
    problems = []
    for index, target in enumerate(targets):
        clean = go_clean(target)
        if clean == "/":
            problems.append(f"{index} root")
        elif clean in index_of:
            problems.append(f"{index} duplicate")
        else:
            overlap = index_of.first_overlap(clean)
            if overlap is not None:
                problems.append(f"{index} overlaps {overlap}")
            index_of.add(clean)
    return problems


@given(st.lists(TARGET, max_size=12))
def test_index_reports_what_pairwise_comparison_reports(targets: list[str]) -> None:
    assert indexed_problems(targets) == pairwise_problems(targets)


def test_earliest_overlap_is_named_whether_it_encloses_or_nests() -> None:
    index = DisjointTargets()
    for target in ("/src/w/deep/x", "/src/w", "/other"):
        index.add(target)
    assert index.first_overlap("/src/w/deep") == "/src/w/deep/x"
    assert index.first_overlap("/src/w/z") == "/src/w"
    assert index.first_overlap("/src/wx") is None
    assert index.first_overlap("/src") == "/src/w/deep/x"


def test_a_large_config_names_the_earliest_target_an_enclosing_one_overlaps() -> None:
    # 2 000 disjoint weights at depths 1-40 (/src/d/d-1, /src/d/d/d-2, ...), then one
    # target that encloses many of them: the earliest one inside it is named.
    weights = [
        {"name": f"w{i}", "target": "/src" + "/d" * (i % 40 + 1) + f"-{i}", "source": {"uri": "w"}}
        for i in range(2000)
    ]
    weights += [{"name": "inner", "target": "/src/d/d", "source": {"uri": "w"}}]
    result = parse_config({"image": "x", "weights": weights})
    assert isinstance(result, Failure)
    summaries = [d.summary for d in result.failure()]
    assert summaries == [
        'invalid weights[2000].target "/src/d/d": '
        'target overlaps with "/src/d/d/d-2"; weight targets must be disjoint'
    ]
