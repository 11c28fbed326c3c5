"""The pinned dependency combination works: duckdb 2, sqlglot 30.30.0 and ibis-framework 12
used only as a compiler (its DuckDB *backend* breaks with duckdb 2 and sqlglot >= 30.18;
toolkit never connects ibis to anything)."""

from __future__ import annotations

from importlib.metadata import version

import pytest


def test_sqlglot_is_the_pinned_version():
    import sqlglot

    assert version("sqlglot") == "30.30.0"
    assert sqlglot.__version__ == "30.30.0"


def test_duckdb_is_2():
    import duckdb

    assert int(version("duckdb").split(".")[0]) == 2
    assert duckdb.__version__.split(".")[0] == "2"


def test_ibis_is_version_12():
    import ibis

    assert version("ibis-framework").split(".")[0] == "12"
    assert ibis.__version__.split(".")[0] == "12"


# Spark projects compile through ibis' databricks compiler: its pyspark one needs a live session
@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "databricks", "snowflake"])
def test_ibis_compiles_an_unbound_table_without_a_backend(dialect):
    import ibis
    import sqlglot

    orders = ibis.table({"customer_id": "int64", "amount": "float64", "status": "string"}, name="orders", database="raw")
    paid = orders.filter(orders.status == "paid")
    expr = paid.group_by("customer_id").aggregate(revenue=paid.amount.sum(), n=paid.count())
    text = ibis.to_sql(expr, dialect=dialect)
    tree = sqlglot.parse_one(text, read=dialect)
    assert {t.name for t in tree.find_all(sqlglot.exp.Table)} == {"orders"}
    assert [s.alias_or_name for s in tree.selects] == ["customer_id", "revenue", "n"]
