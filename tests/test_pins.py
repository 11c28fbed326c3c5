"""The pinned dependency combination works: sqlglot==30.17.0 with ibis-framework 12
(ibis 12.0.0 breaks with sqlglot >= 30.18.0: its create_table emits a nameless
DROP VIEW IF EXISTS), on the DuckDB the package installs."""

from __future__ import annotations

from importlib.metadata import version

import pytest


def test_sqlglot_is_the_pinned_version():
    import sqlglot

    assert version("sqlglot") == "30.17.0"
    assert sqlglot.__version__ == "30.17.0"


def test_ibis_is_version_12():
    import ibis

    assert version("ibis-framework").split(".")[0] == "12"
    assert ibis.__version__.split(".")[0] == "12"


@pytest.fixture
def con():
    import ibis

    connection = ibis.duckdb.connect()
    yield connection
    connection.disconnect()


def test_ibis_creates_a_duckdb_table_from_arrow_and_reads_it_back(con):
    import pyarrow as pa

    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", None], "score": [0.5, 1.5, 2.5]})
    table = con.create_table("t", data)
    back = table.to_pyarrow()
    assert back.column_names == ["id", "name", "score"]
    assert back.sort_by("id").to_pylist() == data.to_pylist()
    assert con.table("t").count().execute() == 3
    assert con.table("t").filter(con.table("t").score > 1).count().execute() == 2


def test_ibis_create_table_overwrite(con):
    import pyarrow as pa

    con.create_table("t", pa.table({"a": [1, 2, 3]}))
    with pytest.raises(Exception):
        con.create_table("t", pa.table({"a": [4]}))  # exists, no overwrite
    replaced = con.create_table("t", pa.table({"a": [9], "b": ["new"]}), overwrite=True)
    assert replaced.to_pyarrow().to_pylist() == [{"a": 9, "b": "new"}]
    assert con.table("t").to_pyarrow().to_pylist() == [{"a": 9, "b": "new"}]
    # and overwriting again, so the temporary name ibis uses is cleaned up each time
    con.create_table("t", pa.table({"a": [1]}), overwrite=True)
    assert con.table("t").to_pyarrow().to_pylist() == [{"a": 1}]


def test_ibis_reads_an_existing_duckdb_table(con):
    con.raw_sql("create table made_by_sql as select range as x from range(5)")
    assert sorted(con.table("made_by_sql").to_pyarrow().column("x").to_pylist()) == [0, 1, 2, 3, 4]


def test_ibis_sql_query(con):
    assert con.sql("select 1 as x").to_pyarrow().to_pylist() == [{"x": 1}]


def test_ibis_list_tables(con):
    import pyarrow as pa

    con.create_table("t", pa.table({"a": [1]}))
    assert "t" in con.list_tables()


def test_duckdb_is_below_2_for_ibis():
    """ibis 12 calls DuckDBPyConnection.fetch_arrow_table(), which duckdb 2.0 removed."""
    assert int(version("duckdb").split(".")[0]) < 2
