"""dag.py: dependency order, cycles and dbt-style selectors."""

from __future__ import annotations

import pytest

from toolkit.dag import Dag
from toolkit.errors import ProjectError

#   seed_a -> clean -> features -> report
#   seed_b ----------^         \-> export
#   lonely
UPSTREAM = {
    "seed_a": set(),
    "seed_b": set(),
    "clean": {"seed_a"},
    "features": {"clean", "seed_b"},
    "report": {"features"},
    "export": {"features"},
    "lonely": set(),
}
TAGS = {"report": {"daily"}, "export": {"daily", "external"}, "clean": {"hourly"}, "lonely": {"daily"}}


@pytest.fixture
def dag() -> Dag:
    return Dag(UPSTREAM, TAGS)


def test_order_respects_dependencies(dag):
    order = dag.order()
    assert sorted(order) == sorted(UPSTREAM)
    for name, parents in UPSTREAM.items():
        assert all(order.index(parent) < order.index(name) for parent in parents)


def test_order_is_stable():
    assert Dag(UPSTREAM).order() == Dag(dict(reversed(list(UPSTREAM.items())))).order()


def test_no_cycle(dag):
    assert dag.find_cycle() is None


def test_self_cycle():
    assert Dag({"a": {"a"}}).find_cycle() == ["a", "a"]


@pytest.mark.parametrize(
    "upstream",
    [
        {"a": {"b"}, "b": {"c"}, "c": {"a"}},
        {"c": {"a"}, "b": {"c"}, "a": {"b"}},
        {"b": {"c"}, "a": {"b"}, "c": {"a"}, "d": {"a"}, "x": set()},
    ],
)
def test_cycle_reads_naturally_and_stably(upstream):
    # a reads b, b reads c, c reads a: "a -> b -> c -> a" whatever the dict order
    assert Dag(upstream).find_cycle() == ["a", "b", "c", "a"]


def test_ancestors_and_descendants(dag):
    assert dag.ancestors("features") == {"clean", "seed_a", "seed_b"}
    assert dag.descendants("clean") == {"features", "report", "export"}
    assert dag.ancestors("lonely") == dag.descendants("lonely") == set()


@pytest.mark.parametrize(
    "select, exclude, expected",
    [
        ((), (), set(UPSTREAM)),
        (("features",), (), {"features"}),
        (("+features",), (), {"features", "clean", "seed_a", "seed_b"}),
        (("clean+",), (), {"clean", "features", "report", "export"}),
        (("+clean+",), (), {"seed_a", "clean", "features", "report", "export"}),
        (("tag:daily",), (), {"report", "export", "lonely"}),
        (("tag:daily+",), (), {"report", "export", "lonely"}),
        (("+tag:hourly",), (), {"clean", "seed_a"}),
        (("report export",), (), {"report", "export"}),  # space: union
        (("report", "lonely"), (), {"report", "lonely"}),  # repeated --select: union
        (("tag:daily,features+",), (), {"report", "export"}),  # comma: intersection
        (("tag:daily,tag:external",), (), {"export"}),
        (("tag:daily clean",), (), {"report", "export", "lonely", "clean"}),
        (("+report",), ("seed_a seed_b",), {"clean", "features", "report"}),
        ((), ("tag:daily",), {"seed_a", "seed_b", "clean", "features"}),
        ((), ("clean+",), {"seed_a", "seed_b", "lonely"}),
        (("clean+",), ("tag:daily,tag:external",), {"clean", "features", "report"}),
    ],
)
def test_select(dag, select, exclude, expected):
    assert dag.select(select, exclude) == expected


@pytest.mark.parametrize(
    "selector, message, hint",
    [
        ("featurs", "no step, seed or model is named 'featurs'", "did you mean 'features'?"),
        ("+featurs+", "named 'featurs'", "did you mean 'features'?"),
        ("tag:daly", "no step has tag 'daly'", "did you mean 'daily'?"),
    ],
)
def test_unknown_selector(dag, selector, message, hint):
    with pytest.raises(ProjectError) as caught:
        dag.select((selector,))
    assert message in caught.value.message
    assert caught.value.hint == hint
    assert caught.value.exit_code == 2
