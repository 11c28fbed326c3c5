"""COLLATE "C" (toolkit/pgmeanings.py) never written where PostgreSQL refuses it: steps that
ran there before text was collated still run, with DuckDB's rows (code point order).

Each step is compiled for PostgreSQL as `toolkit compile` does, run on a fresh ICU en-US
database ('a' < 'B' there) holding the seed as raw.t, and compared with DuckDB's rows.
"""

from __future__ import annotations

import duckdb
import pytest

from postgres_support import pg_query
from postgres_support import icu_url  # noqa: F401 (a fixture)
from test_postgres_collation import SEED, _compiled_for_postgres

# step -> SQL over the seed t (id, name), whose PostgreSQL SQL was refused or failed to compile
STEPS = {
    "max_distinct": "select max(distinct name) as hi, min(distinct name) as lo from {{ ref('t') }}",
    "string_agg_distinct": "select string_agg(distinct name, ',' order by name) as joined from {{ ref('t') }}",
    "paren_except": "(select name from {{ ref('t') }} except select name from {{ ref('t') }} where id > 5) "
                    "order by name limit 3",
    # not collated before (ORDER BY 1, 2 had no type): rows sorted by the database's collation
    "order_all": "select name, id from {{ ref('t') }} order by all limit 3",
    "distinct_on_expression": "select distinct on (lower(name)) lower(name) as low, name from {{ ref('t') }} "
                              "order by lower(name), name desc",
    "distinct_on_star": "select distinct on (name) * from {{ ref('t') }} order by name, id",
    "distinct_order_all": "select distinct id % 2 as odd, name from {{ ref('t') }} order by all desc",
}


def _seeded(url: str) -> None:
    rows = ", ".join(f"({number}, '{name}')" for number, name in (line.split(",") for line in SEED.splitlines()[1:]))
    pg_query(url, "create schema raw")
    # varchar, as a source's column may be (string_agg casts its argument to text, not the key)
    pg_query(url, f"create table raw.t as select id, cast(name as varchar) as name from (values {rows}) as v(id, name)")


def _duckdb_rows(step_sql: str) -> list:
    duck = duckdb.connect()
    duck.execute("create table t (id integer, name varchar)")
    duck.executemany("insert into t values (?, ?)", [line.split(",") for line in SEED.splitlines()[1:]])
    return duck.sql(step_sql.replace("{{ ref('t') }}", "t")).fetchall()


@pytest.mark.parametrize("name", sorted(STEPS))
def test_runs_on_postgres_with_duckdbs_rows(name, tmp_path, icu_url):  # noqa: F811
    _seeded(icu_url)
    compiled = _compiled_for_postgres(STEPS[name], tmp_path)
    assert 'COLLATE "C"' in compiled, compiled
    assert pg_query(icu_url, compiled) == _duckdb_rows(STEPS[name]), compiled


def test_a_data_tests_text_comparison_is_collated(tmp_path, icu_url, run_cli):  # noqa: F811
    """A table_tests expression compares text by code point there too: w < 'b' holds for 'B'
    (the test's query was left untyped, so in the database's collation: 'B' > 'b' failed)."""
    from test_postgres_collation import _project

    root = tmp_path / "project"
    _project(root, icu_url)
    (root / "features/tested.sql").write_text(
        "{{ config(materialized='table', table_tests=[{'expression': \"name < 'b'\"}]) }}\n"
        "select id, name from {{ ref('t') }} where name < 'b'\n", encoding="utf-8")
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, "--select", "+tested", cwd=root)
        assert code == 0, out + err
