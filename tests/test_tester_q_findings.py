"""Tester Q's findings (fixed on branch qfix):

1. an incremental step whose source gets new rows in the same run as the parent of its
   relationships test is edited was rebuilt from scratch (its history lost): it is updated,
   and the update re-runs its tests on the whole table;
2. a glob Parquet source whose column is int64 in one file and double in another published
   rounded values;
3. QUALIFY mixing a window with a plain column failed on PostgreSQL (the column left
   qualified outside the rewrite's subquery);
4. a Parquet/CSV column declared an integer over doubles was cast silently (2.675 -> 3).
"""

from __future__ import annotations

import duckdb
import pytest
from postgres_support import pg_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow  # end-to-end runs


def _rows(root, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse" / "test.duckdb")) as connection:
        return connection.execute(sql).fetchall()


def _sql(root, sql: str) -> None:
    with duckdb.connect(str(root / "warehouse" / "test.duckdb")) as connection:
        connection.execute(sql)


# -- 1. incremental step: new source rows and its relationships parent edited in one run ----

Z_SQL = """\
{{ config(materialized="incremental", unique_key="id", tests={"id": [{"relationships": {"to": "a", "field": "id"}}]}) }}
select id, ts from {{ source("app", "u_src") }}
{% if is_incremental() %} where ts > (select max(ts) from {{ this }}) {% endif %}
"""


@pytest.fixture
def rolling(make_project, run_cli):
    root = make_project(
        {"warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.a_src]\n[app.tables.u_src]\n',
         "features/a.sql": 'select id from {{ source("app", "a_src") }}\n', "features/z.sql": Z_SQL},
        source_rows={"app.a_src": "select * from (values (1), (2), (3)) t(id)",
                     "app.u_src": "select 1 as id, 1 as ts"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    _sql(root, "delete from app.u_src; insert into app.u_src values (2, 2)")  # a rolling source: id 1 gone
    return root


def test_incremental_keeps_history_when_its_tests_parent_changes_too(rolling, run_cli):
    (rolling / "features/a.sql").write_text('select id, 1 as extra from {{ source("app", "a_src") }}\n')
    code, out, err = run_cli("plan", cwd=rolling)
    assert code == 0, out + err
    z_line = next(line for line in out.splitlines() if line.startswith("z "))
    assert "incremental" in z_line and "rebuilt from scratch" not in out + err, out + err

    code, out, err = run_cli("run", cwd=rolling)
    assert code == 0, out + err
    assert _rows(rolling, "select id from features.z order by 1") == [(1,), (2,)]  # id 1 is history


def test_the_update_re_runs_the_relationships_test_against_the_edited_parent(rolling, run_cli):
    # a no longer holds id 1, which z keeps as history: the update's test sees it
    (rolling / "features/a.sql").write_text('select id from {{ source("app", "a_src") }} where id <> 1\n')
    code, out, err = run_cli("run", cwd=rolling)
    assert code != 0 and "relationships" in out + err, out + err
    assert _rows(rolling, "select id from features.z order by 1") == [(1,)]  # the failed update is not kept


# -- 2. a glob Parquet source: int64 in one file, double in another --------------------------

def _glob_project(root, url: str, columns: str = "") -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from postgres_support import two_target_project

    declared = f"columns = {{ {columns} }}\n" if columns else ""
    two_target_project(root, url, {"warehouse/sources.toml": f'[raw.tables.t]\npath = "data/*.parquet"\n{declared}',
                                   "features/s.sql": "select id, amount from {{ source('raw', 't') }}\n"})
    (root / "data").mkdir()
    pq.write_table(pa.table({"id": [1], "amount": [2]}), root / "data/a.parquet")
    pq.write_table(pa.table({"id": [2], "amount": [2.7]}), root / "data/b.parquet")


def test_glob_numbers_of_two_kinds_are_refused_undeclared(tmp_path, pg_url, run_cli):  # noqa: F811
    _glob_project(tmp_path, pg_url)
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=tmp_path)
        assert code == 2, out + err
        assert ("warehouse/sources.toml:1: source raw.t: data/b.parquet has column 'amount' as floating point, "
                "but data/a.parquet has it as integer") in err and "Traceback" not in err, err


def test_glob_numbers_of_two_kinds_are_read_as_declared_double(tmp_path, pg_url, run_cli):  # noqa: F811
    from postgres_support import built_on_both

    _glob_project(tmp_path, pg_url, 'id = "bigint", amount = "double"')
    _, duck_rows, _, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "s")
    assert duck_rows == [(1, 2.0), (2, 2.7)]
    assert [(i, float(a)) for i, a in pg_rows] == [(1, 2.0), (2, 2.7)]


# -- 3. QUALIFY with a window and a plain column, on PostgreSQL --------------------------------

def test_qualify_reading_a_plain_column_runs_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    from postgres_support import built_on_both, two_target_project

    window = "row_number() over (partition by g order by k)"
    two_target_project(tmp_path, pg_url, {
        "warehouse/seeds/s.csv": "id,g,x,k\n1,1,a,3\n2,1,b,1\n3,2,d,5\n4,3,e,2\n",
        # x selected; k read only by the filter; the alias-qualified form a join writes
        "features/q.sql": f"select id, g, x from {{{{ ref('s') }}}} qualify {window} = 1 and x <> 'd'\n",
        "features/q_unselected.sql": f"select id from {{{{ ref('s') }}}} as s qualify {window} = 1 and s.k > 1\n",
    })
    _, duck_rows, _, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "q")
    assert duck_rows == pg_rows == [(2, 1, "b"), (4, 3, "e")]
    assert pg_query_rows(pg_url, "select * from features.q_unselected order by id") == [(3,), (4,)]


def pg_query_rows(url: str, sql: str) -> list[tuple]:
    from postgres_support import pg_query

    return [tuple(row) for row in pg_query(url, sql)]


# -- 4. an integer declared over a file's fractions --------------------------------------------

@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_an_integer_declared_over_fractions_is_refused_at_its_line(kind, make_project, run_cli):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = make_project({
        "warehouse/sources.toml": f'[raw.tables.t]\npath = "data/a.{kind}"\ncolumns = {{ id = "bigint", amount = "bigint" }}\n',
        "features/s.sql": "select id, amount from {{ source('raw', 't') }}\n"})
    (root / "data").mkdir()
    if kind == "parquet":
        pq.write_table(pa.table({"id": [1], "amount": [2.675]}), root / "data/a.parquet")
    else:
        (root / "data/a.csv").write_text("id,amount\n1,2.675\n")
    code, out, err = run_cli("run", cwd=root)
    assert code == 2, out + err
    assert f"warehouse/sources.toml:3: source raw.t: column amount is declared bigint but is DOUBLE in 'data/a.{kind}'" in err, err
    assert "Traceback" not in err


def test_a_decimal_declared_over_doubles_is_still_read_as_declared(make_project, run_cli):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = make_project({
        "warehouse/sources.toml": '[raw.tables.t]\npath = "data/a.parquet"\ncolumns = { amount = "decimal(10,2)" }\n',
        "features/s.sql": "select amount from {{ source('raw', 't') }}\n"})
    (root / "data").mkdir()
    pq.write_table(pa.table({"amount": [2.5]}), root / "data/a.parquet")
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert [float(a) for (a,) in _rows(root, "select amount from features.s")] == [2.5]
