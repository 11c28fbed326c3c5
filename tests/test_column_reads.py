"""What each output column of a step depends on (fingerprint._column_reads): precise
for plain SELECTs over tables, everything wherever that is not sure."""

from __future__ import annotations

import pytest
import sqlglot

from toolkit import sql
from toolkit.fingerprint import _column_reads

SCHEMA = {"f": {"a": {"id": "int", "label": "varchar", "num": "double", "tags": "varchar[]"},
                "b": {"id": "int", "w": "double"}}}
ALIASES = {"a": {"up_a"}, "b": {"up_b"}}
READS = {"up_a": frozenset(), "up_b": frozenset()}


def reads(query: str) -> dict:
    tree, _ = sql.qualify_step(sqlglot.parse_one(query, read="duckdb"), SCHEMA, "duckdb")
    return {column: {u: set(cols) for u, cols in found.items() if cols} for column, found in _column_reads(tree, ALIASES, READS).items()}


@pytest.mark.parametrize("query, expected", [
    ("select id, num * 2 as d from f.a where label <> 'x'",
     {"id": {"up_a": {"id", "label"}}, "d": {"up_a": {"num", "label"}}}),
    ("select a.id, b.w from f.a as a join f.b as b on a.id = b.id",
     {"id": {"up_a": {"id"}, "up_b": {"id"}}, "w": {"up_a": {"id"}, "up_b": {"id", "w"}}}),
    ("select label, sum(num) as s from f.a group by 1",
     {"label": {"up_a": {"label"}}, "s": {"up_a": {"label", "num"}}}),
    ("select id, num from f.a order by num limit 3",  # which rows are kept depends on num
     {"id": {"up_a": {"id", "num"}}, "num": {"up_a": {"num"}}}),
    ("select count(*) as n from f.a", {"n": {}}),  # its rows: fingerprint._read takes the whole upstream
])
def test_each_output_column_depends_on_its_expression_and_the_shape(query, expected):
    assert reads(query) == expected


@pytest.mark.parametrize("query", [
    "select label, sum(num) as s from f.a group by all",  # the grouping is the select list
    "select id, unnest(tags) as tag from f.a",  # a set-returning call changes every column's rows
    "select id, my_udf(num) as u from f.a",  # an unknown call may be one
    "with c as (select id from f.a) select id from c",
    "select s.id from (select id from f.a) as s",
])
def test_not_sure_means_every_column_depends_on_everything(query):
    assert reads(query) == {}


def test_a_scalar_subquery_column_depends_on_everything_the_others_do_not():
    found = reads("select id, (select max(w) from f.b) as m from f.a")
    assert "m" not in found and found["id"] == {"up_a": {"id"}}


@pytest.mark.parametrize("query", [
    "select id, num * 2 as d from f.a where label <> 'x' order by num",
    "select a.id, b.w, (select max(w) from f.b as c where c.id = a.id) as m from f.a as a join f.b as b on a.id = b.id",
    "select id, unnest(tags) as tag from f.a",
    "select id, my_udf(num) as u from f.a",
    "with c as (select id, num from f.a) select id, num + 1 as n from c",
    "select id from f.a union all select id from f.b",
])
def test_one_walk_finds_what_a_walk_per_kind_found(query):
    """fingerprint._Nodes walks the tree once (lineage of a 500-step project walked every
    tree three or four times); it must find the very nodes find_all finds."""
    from toolkit.fingerprint import _ROW_MAKERS, _Nodes

    tree, _ = sql.qualify_step(sqlglot.parse_one(query, read="duckdb"), SCHEMA, "duckdb")
    nodes = _Nodes(tree)
    projections = tree.expressions if isinstance(tree, sqlglot.exp.Select) else []
    assert [id(t) for t in nodes.tables] == [id(t) for t in tree.find_all(sqlglot.exp.Table)]
    assert [id(c) for c in nodes.columns] == [id(c) for c in tree.find_all(sqlglot.exp.Column)]
    assert [sorted(map(id, cs)) for cs in nodes.projection_columns] == [sorted(map(id, p.find_all(sqlglot.exp.Column))) for p in projections]
    assert nodes.makes_rows == any(p.find(*_ROW_MAKERS) for p in projections)
