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
